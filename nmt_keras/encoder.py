"""The encoder: source token ids -> one annotation vector per source position."""

import keras

from nmt_keras.checks import require_positive
from nmt_keras.constants import PAD_ID


@keras.saving.register_keras_serializable(package="nmt_keras")
class Encoder(keras.layers.Layer):
    """Embedding plus a bidirectional GRU, as in Bahdanau et al. (2015), section 3.2.

    Each source position j gets the annotation `h_j = [h_j_forward; h_j_backward]`,
    which summarizes the words around j in both directions. The attention layer reads
    these annotations; the decoder's initial state is computed from the final forward
    and backward states.

    Masking: `Embedding(mask_zero=True)` marks `PAD_ID` positions and the GRU skips them
    (it carries its state over padded steps), so trailing padding changes neither the
    annotations at real positions nor the final states. Annotations at padded positions
    are undefined; `BahdanauAttention` gives them exactly zero weight.

    The GRU keeps Keras' cuDNN-eligible defaults (tanh/sigmoid activations,
    `recurrent_dropout=0`, `unroll=False`, `use_bias=True`, `reset_after=True`), so on a
    GPU with right-padded batches it runs as one fused cuDNN kernel.

    Args:
        vocab_size: int. Size of the source vocabulary, special tokens included.
        embedding_dim: int. Size of each word embedding.
        units: int. GRU units per direction; annotations have `2 * units` features.

    Example:
    >>> encoder = Encoder(vocab_size=100, embedding_dim=8, units=16)
    >>> states, forward, backward = encoder(np.array([[2, 7, 9, 3, 0]]))
    >>> states.shape, forward.shape, backward.shape
    (TensorShape([1, 5, 32]), TensorShape([1, 16]), TensorShape([1, 16]))
    """

    def __init__(self, vocab_size, embedding_dim, units, **kwargs):
        super().__init__(**kwargs)
        require_positive("Encoder", vocab_size=vocab_size, embedding_dim=embedding_dim, units=units)
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.embedding = keras.layers.Embedding(
            vocab_size, embedding_dim, mask_zero=True, name="embedding"
        )
        self.rnn = keras.layers.Bidirectional(
            keras.layers.GRU(units, return_sequences=True, return_state=True),
            merge_mode="concat",
            name="bidirectional_gru",
        )

    def build(self, source_ids_shape):
        self.embedding.build(source_ids_shape)
        self.rnn.build(tuple(source_ids_shape) + (self.embedding_dim,))
        self.built = True

    def call(self, source_ids, training=None):
        """Encodes a batch of source sentences.

        Args:
            source_ids: int tensor `(batch, source_len)`, right-padded with `PAD_ID`.

        Returns:
            states: `(batch, source_len, 2 * units)`, the annotations h_j.
            forward_state: `(batch, units)`, the forward GRU's state after the last
                real token.
            backward_state: `(batch, units)`, the backward GRU's state after reading
                back to the first token.
        """
        embedded = self.embedding(source_ids)  # (batch, source_len, embedding_dim)
        mask = source_ids != PAD_ID  # (batch, source_len)
        states, forward_state, backward_state = self.rnn(
            embedded, mask=mask, training=training
        )
        return states, forward_state, backward_state

    def compute_mask(self, source_ids, mask=None):
        # Outputs are a tuple; callers build their own source mask from the ids.
        return None

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            embedding_dim=self.embedding_dim,
            units=self.units,
        )
        return config
