"""The encoder: source token ids -> one annotation vector per source position."""

import keras
import tensorflow as tf

from nmt_keras.checks import require_positive
from nmt_keras.constants import PAD_ID
from nmt_keras.embeddings import DEFAULT_EMBEDDING_INIT, make_embedding
from nmt_keras.recurrent import check_cell, make_rnn, run_rnn, state_count


@keras.saving.register_keras_serializable(package="nmt_keras")
class Encoder(keras.layers.Layer):
    """Embedding plus a (by default bidirectional, one-layer) GRU, as in Bahdanau et al.
    (2015), section 3.2.

    Each source position j gets the annotation `h_j = [h_j_forward; h_j_backward]`,
    which summarizes the words around j in both directions. The attention layer reads
    these annotations; the decoder's initial state is computed from the final states.

    Stacked layers (`num_layers > 1`) feed each layer's annotations to the next, with
    dropout in between; the annotations and final states are the top layer's.

    Masking: `Embedding(mask_zero=True)` marks `PAD_ID` positions and the RNN skips them
    (it carries its state over padded steps), so trailing padding changes neither the
    annotations at real positions nor the final states. Annotations at padded positions
    are undefined; attention gives them exactly zero weight.

    The RNNs keep Keras' cuDNN-eligible defaults (tanh/sigmoid activations,
    `recurrent_dropout=0`, `unroll=False`, `use_bias=True`, GRU `reset_after=True`), so
    on a GPU with right-padded batches each runs as one fused cuDNN kernel.

    Args:
        vocab_size: int. Size of the source vocabulary, special tokens included.
        embedding_dim: int. Size of each word embedding.
        units: int. RNN units per direction; annotations have `2 * units` features when
            bidirectional, `units` otherwise.
        cell: str. "gru" (default) or "lstm".
        num_layers: int. Stacked RNN layers. Defaults to 1.
        bidirectional: bool. Read the source in both directions. Defaults to True.
        dropout: float. Dropout on the embeddings and between stacked layers.
        embedding_init: str. The embeddings' initial distribution, one of
            `nmt_keras.embeddings.EMBEDDING_INITS`. Defaults to `DEFAULT_EMBEDDING_INIT`.

    Example:
    >>> encoder = Encoder(vocab_size=100, embedding_dim=8, units=16)
    >>> states, (forward, backward) = encoder(np.array([[2, 7, 9, 3, 0]]))
    >>> states.shape, forward.shape, backward.shape
    (TensorShape([1, 5, 32]), TensorShape([1, 16]), TensorShape([1, 16]))
    """

    def __init__(
        self,
        vocab_size,
        embedding_dim,
        units,
        cell="gru",
        num_layers=1,
        bidirectional=True,
        dropout=0.0,
        embedding_init=DEFAULT_EMBEDDING_INIT,
        **kwargs,
    ):
        super().__init__(**kwargs)
        require_positive(
            "Encoder", vocab_size=vocab_size, embedding_dim=embedding_dim, units=units,
            num_layers=num_layers,
        )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"Encoder dropout must be in [0, 1), got {dropout}")
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.cell = check_cell(cell)
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.embedding_init = embedding_init
        self.embedding = make_embedding(
            vocab_size, embedding_dim, embedding_init, name="embedding", mask_zero=True
        )
        self.dropouts = [
            keras.layers.Dropout(dropout, name=f"dropout_{i}") for i in range(num_layers)
        ]
        self.rnns = []
        for i in range(num_layers):
            rnn = make_rnn(cell, units, name=f"{cell}_{i}", return_sequences=True, return_state=True)
            if bidirectional:
                rnn = keras.layers.Bidirectional(rnn, merge_mode="concat", name=f"bidirectional_{cell}_{i}")
            self.rnns.append(rnn)

    @property
    def output_dim(self):
        """Size of each annotation h_j."""
        return self.units * (2 if self.bidirectional else 1)

    @property
    def final_state_dim(self):
        """Size of the concatenated final states the decoder's bridge reads."""
        return self.output_dim * state_count(self.cell)

    def build(self, source_ids_shape):
        self.embedding.build(source_ids_shape)
        input_dim = self.embedding_dim
        for rnn in self.rnns:
            rnn.build(tuple(source_ids_shape) + (input_dim,))
            input_dim = self.output_dim
        self.built = True

    def call(self, source_ids, training=None):
        """Encodes a batch of source sentences.

        Args:
            source_ids: int tensor `(batch, source_len)`, right-padded with `PAD_ID`.

        Returns:
            states: `(batch, source_len, output_dim)`, the annotations h_j.
            final_states: tuple with one tensor per direction, `(forward, backward)` or
                `(forward,)`: the top layer's state after reading the whole sentence in
                that direction, `(batch, units)` for a GRU and `[h; c]`,
                `(batch, 2 * units)`, for an LSTM.
        """
        mask = source_ids != PAD_ID  # (batch, source_len)
        states = self.embedding(source_ids)  # (batch, source_len, embedding_dim)
        per_direction = state_count(self.cell)
        for dropout, rnn in zip(self.dropouts, self.rnns):
            outputs = run_rnn(rnn, dropout(states, training=training), mask=mask, training=training)
            states, finals = outputs[0], outputs[1:]
        # finals: h (GRU) or h, c (LSTM), for each direction in turn.
        final_states = tuple(
            tf.concat(finals[i : i + per_direction], axis=-1)
            for i in range(0, len(finals), per_direction)
        )
        return states, final_states

    def compute_mask(self, source_ids, mask=None):
        # Outputs are a tuple; callers build their own source mask from the ids.
        return None

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            embedding_dim=self.embedding_dim,
            units=self.units,
            cell=self.cell,
            num_layers=self.num_layers,
            bidirectional=self.bidirectional,
            dropout=self.dropout,
            embedding_init=self.embedding_init,
        )
        return config
