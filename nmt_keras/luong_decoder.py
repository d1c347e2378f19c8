"""The Luong decoder: update the state first, then attend with it."""

import keras
import tensorflow as tf

from nmt_keras.decoder_base import AttentionDecoder
from nmt_keras.recurrent import run_cell, run_rnn


@keras.saving.register_keras_serializable(package="nmt_keras")
class LuongDecoder(AttentionDecoder):
    """Luong, Pham and Manning (2015) global-attention decoder.

    At target step t:

        h_t      = RNN(x_t, h_{t-1})                      x_t = E y_{t-1}, or [E y_{t-1}; h~_{t-1}]
        c_t, a_t = attention(query=h_t, annotations h)    with input feeding
        h~_t     = tanh(W_c [c_t; h_t])                   the attentional vector
        logits_t = output(h~_t)

    Without input feeding nothing in the loop depends on attention, so under teacher
    forcing the RNN runs over the whole target sequence in one call of the Keras layer
    (cuDNN-eligible on a GPU) and attention is computed for all steps at once, in one
    batched matrix product: the fast path. With input feeding (`input_feeding=True`)
    h~_{t-1} is part of the next input, as in the paper, and the steps run in a symbolic
    loop.

    Args:
        vocab_size, embedding_dim, units, attention_units, cell, maxout_units,
        source_prior, dropout: as for `Decoder`.
        attention: str. The score; defaults to "luong-general".
        input_feeding: bool. Feed h~_{t-1} into the RNN at step t.

    Example:
    >>> decoder = LuongDecoder(vocab_size=50, embedding_dim=8, units=16)
    >>> logits, weights = decoder(np.array([[2, 7, 9]]), np.random.rand(1, 5, 32),
    ...                           np.random.rand(1, 32), source_mask=np.ones((1, 5), bool))
    >>> logits.shape, weights.shape
    (TensorShape([1, 3, 50]), TensorShape([1, 3, 5]))
    """

    def __init__(
        self,
        vocab_size,
        embedding_dim,
        units,
        attention="luong-general",
        input_feeding=False,
        **kwargs,
    ):
        super().__init__(vocab_size, embedding_dim, units, attention=attention, **kwargs)
        self.input_feeding = input_feeding
        self.combine = keras.layers.Dense(units, activation="tanh", use_bias=False, name="W_c")

    def _rnn_input_dim(self, value_dim):
        return self.embedding_dim + (self.units if self.input_feeding else 0)

    def _feature_dim(self, value_dim):
        return self.units  # h~_t

    def _extra_build(self, value_dim):
        self.combine.build((None, None, value_dim + self.units))

    def _initial_carry(self, state, value_dim):
        if not self.input_feeding:
            return state
        attentional = tf.zeros_like(state[0])  # h~_0 = 0
        return state + (attentional,)

    def _attentional(self, hidden, memory):
        """h_t (any leading axes) -> (h~_t, weights)."""
        context, weights = self.attention(
            hidden, memory.states, keys=memory.keys, source_mask=memory.mask
        )
        return self.combine(tf.concat([context, hidden], axis=-1)), weights

    def _step(self, embedded_previous, carry, memory, training=None):
        """One step: update the recurrent state, then attend with it.

        Returns:
            features h~_t `(batch, units)`, new carry, weights `(batch, source_len)`.
        """
        if self.input_feeding:
            state, attentional = carry[:-1], carry[-1]
            cell_input = tf.concat([embedded_previous, attentional], axis=-1)
        else:
            state, cell_input = carry, embedded_previous
        state = run_cell(self.rnn.cell, cell_input, state, training=training)
        attentional, weights = self._attentional(state[0], memory)
        carry = state + (attentional,) if self.input_feeding else state
        return attentional, carry, weights

    def _teacher_forced(self, embedded, carry, memory, training=None):
        if self.input_feeding:
            return self._loop(embedded, carry, memory, training)
        hidden = run_rnn(self.rnn, embedded, initial_state=list(carry), training=training)  # (batch, target_len, units)
        return self._attentional(hidden, memory)

    def get_config(self):
        config = super().get_config()
        config.update(input_feeding=self.input_feeding)
        return config
