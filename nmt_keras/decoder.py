"""The Bahdanau decoder: attend with the previous state, then update the state."""

import keras
import tensorflow as tf

from nmt_keras.decoder_base import AttentionDecoder
from nmt_keras.recurrent import run_cell


@keras.saving.register_keras_serializable(package="nmt_keras")
class Decoder(AttentionDecoder):
    """Bahdanau et al. (2015) decoder, in the paper's order.

    At target step t, with previous word y_{t-1} and previous state s_{t-1}:

        c_t, a_t = attention(query=s_{t-1}, annotations h)      # context and weights
        s_t      = RNN([E y_{t-1}; c_t], s_{t-1})               # s_t = f(s_{t-1}, y_{t-1}, c_t)
        logits_t = output([s_t; c_t; E y_{t-1}])                 # plain or maxout deep output

    The initial state comes from the encoder's final forward and backward states through
    a dense bridge with tanh (`StateBridge`).

    The time loop is a symbolic `tf.scan` (one `while` op in the graph whatever the
    sentence length). Only the recurrence (attention + RNN cell) runs inside it; the
    output layer, which does not feed back under teacher forcing, runs once over all
    steps. The attention keys (`W_h h_j`) are computed once per batch, outside the loop.

    Masking: padded target steps are computed like real ones and ignored by the masked
    loss; padded source positions get zero attention weight via `source_mask`.

    Args:
        vocab_size: int. Size of the target vocabulary, special tokens included.
        embedding_dim: int. Size of each target word embedding.
        units: int. Size of the decoder state s_t.
        attention_units: int. Hidden size of the attention's scoring network.
            Defaults to `units`.
        attention: str. The score: "bahdanau" (additive, default), "luong-dot",
            "luong-general" or "luong-concat".
        cell: str. "gru" (default) or "lstm".
        maxout_units: int or None. Use the maxout deep output with this many units.
        source_prior: bool. Learned bonus for target words present in the source.
        dropout: float. Dropout on embeddings and output features.

    Example:
    >>> decoder = Decoder(vocab_size=50, embedding_dim=8, units=16)
    >>> encoder_states = np.random.rand(2, 5, 32).astype("float32")
    >>> final_state = np.random.rand(2, 32).astype("float32")
    >>> logits, weights = decoder(np.array([[2, 7, 9], [2, 4, 0]]), encoder_states,
    ...                           final_state, source_mask=np.ones((2, 5), bool))
    >>> logits.shape, weights.shape
    (TensorShape([2, 3, 50]), TensorShape([2, 3, 5]))
    """

    def __init__(self, vocab_size, embedding_dim, units, attention_units=None, **kwargs):
        super().__init__(vocab_size, embedding_dim, units, attention_units=attention_units, **kwargs)

    def _rnn_input_dim(self, value_dim):
        return self.embedding_dim + value_dim  # [E y_{t-1}; c_t]

    def _feature_dim(self, value_dim):
        return self.units + value_dim + self.embedding_dim  # [s_t; c_t; E y_{t-1}]

    def _step(self, embedded_previous, carry, memory, training=None):
        """One step: attend with s_{t-1}, then update the recurrent state.

        Args:
            embedded_previous: `(batch, embedding_dim)`, E y_{t-1}.
            carry: the recurrent state tuple `(s_{t-1},)` (GRU) or `(s_{t-1}, m_{t-1})`.
            memory: `Memory`.

        Returns:
            features `(batch, units + value_dim + embedding_dim)`, new carry,
            weights `(batch, source_len)`.
        """
        context, weights = self.attention(
            carry[0], memory.states, keys=memory.keys, source_mask=memory.mask
        )
        cell_input = tf.concat([embedded_previous, context], axis=-1)  # (batch, E + value_dim)
        carry = run_cell(self.rnn.cell, cell_input, carry, training=training)
        features = tf.concat([carry[0], context, embedded_previous], axis=-1)
        return features, carry, weights
