"""The encoder: source token ids -> one annotation vector per source position."""

import keras
from keras import ops

from nmt_keras.constants import PAD_ID
from nmt_keras.layers.blocks import (
    make_embedding,
    recurrent_layer,
    require_positive,
    require_rate,
    state_count,
)


@keras.saving.register_keras_serializable(package="nmt_keras")
class Encoder(keras.layers.Layer):
    """The bidirectional RNN encoder of Bahdanau, Cho and Bengio (2015), section 3.2.

    For a source sentence w_1 ... w_n, with word embeddings x_j = E w_j:

        ->h_j = GRU_forward(x_j, ->h_{j-1})         reads w_1 ... w_n
        <-h_j = GRU_backward(x_j, <-h_{j+1})        reads w_n ... w_1
        h_j   = [->h_j; <-h_j]                      the annotation of position j

    so each annotation summarizes the words on both sides of w_j. The attention layer
    reads the annotations; the decoder's initial state comes from the final states
    (->h_n and <-h_1) through a `Bridge`.

    With `num_layers > 1` the RNNs are stacked: each layer reads the annotations of the
    one below (with dropout in between); the top layer's are returned.

    Masking: `PAD_ID` positions are masked, and the RNNs skip them (the state carries
    over a padded step), so trailing padding changes neither the annotations at real
    positions nor the final states. Annotations at padded positions are zero; attention
    gives them zero weight.

    Args:
        vocab_size: int. Source vocabulary size, special tokens included.
        embedding_dim: int. Size of each word embedding.
        units: int. RNN units per direction: annotations have `2 * units` features when
            bidirectional, `units` otherwise.
        cell_type: str. "gru" (default) or "lstm".
        num_layers: int. Stacked RNN layers. Defaults to 1.
        bidirectional: bool. Read the source in both directions. Defaults to True.
        dropout: float. Dropout on the embeddings and between stacked layers.
        embedding_init: str. "uniform" (default) or "normal" (see `make_embedding`).
        kernels: str. "keras" (default): `keras.layers.GRU`; "fused": the drop-in GRU
            of `nmt_keras.fast`, faster on CPUs.

    Example:
    >>> encoder = Encoder(vocab_size=100, embedding_dim=8, units=16)
    >>> annotations, final_state = encoder(np.array([[2, 7, 9, 3, 0]]))
    >>> annotations.shape, final_state.shape    # (batch, source_len, 2 * units), (batch, 2 * units)
    (TensorShape([1, 5, 32]), TensorShape([1, 32]))
    """

    def __init__(
        self,
        vocab_size,
        embedding_dim,
        units,
        cell_type="gru",
        num_layers=1,
        bidirectional=True,
        dropout=0.0,
        embedding_init="uniform",
        kernels="keras",
        **kwargs,
    ):
        super().__init__(**kwargs)
        require_positive(
            "Encoder", vocab_size=vocab_size, embedding_dim=embedding_dim, units=units,
            num_layers=num_layers,
        )
        require_rate("Encoder", "dropout", dropout)
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.cell_type = cell_type
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.embedding_init = embedding_init
        self.kernels = kernels

        self.embedding = make_embedding(
            vocab_size, embedding_dim, embedding_init, mask_zero=True, name="embedding"
        )
        RNN = recurrent_layer(cell_type, kernels)
        self.dropouts = [keras.layers.Dropout(dropout, name=f"dropout_{i}") for i in range(num_layers)]
        self.rnns = []
        for i in range(num_layers):
            rnn = RNN(
                units, return_sequences=True, return_state=True, zero_output_for_mask=True,
                name=f"{cell_type}_{i}",
            )
            if bidirectional:
                rnn = keras.layers.Bidirectional(rnn, name=f"bidirectional_{cell_type}_{i}")
            self.rnns.append(rnn)

    @property
    def output_dim(self):
        """Size of each annotation h_j."""
        return self.units * (2 if self.bidirectional else 1)

    @property
    def final_state_dim(self):
        """Size of the concatenated final states that `call` returns."""
        return self.output_dim * state_count(self.cell_type)

    def build(self, source_ids_shape):
        self.embedding.build(source_ids_shape)
        features = self.embedding_dim
        for rnn in self.rnns:
            rnn.build(tuple(source_ids_shape) + (features,))
            features = self.output_dim

    def call(self, source_ids, training=None):
        """Encodes a batch of source sentences.

        Args:
            source_ids: int `(batch, source_len)`, right-padded with `PAD_ID`.

        Returns:
            annotations: `(batch, source_len, output_dim)`, the h_j.
            final_state: `(batch, final_state_dim)`, the top layer's final states
                concatenated: `[->h_n; <-h_1]` for a bidirectional GRU, each direction's
                `[h; c]` for an LSTM.
        """
        mask = source_ids != PAD_ID  # (batch, source_len)
        annotations = self.embedding(source_ids)  # (batch, source_len, embedding_dim)
        for dropout, rnn in zip(self.dropouts, self.rnns):
            outputs = rnn(dropout(annotations, training=training), mask=mask, training=training)
            annotations, final_states = outputs[0], outputs[1:]
        return annotations, ops.concatenate(final_states, axis=-1)

    def compute_mask(self, source_ids, mask=None):
        return None  # callers build the source mask from the ids

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "cell_type": self.cell_type,
            "num_layers": self.num_layers,
            "bidirectional": self.bidirectional,
            "dropout": self.dropout,
            "embedding_init": self.embedding_init,
            "kernels": self.kernels,
        }
