"""What every attention decoder shares: embedding, initial state, attention, output
layer, the step function used by inference, and the scheduled-sampling training loop.

A decoder subclass supplies the recurrence:

    _step(embedded_previous, carry, memory, training) -> features, carry, weights
    _feature_dim(value_dim) -> int
    _teacher_forced(embedded, carry, memory, training) -> features, weights   (optional)

`carry` is a tuple of tensors: the recurrent state (`(h,)` or `(h, c)`) and anything
else the decoder feeds from one step to the next. `features` is what the output layer
reads at each step.
"""

import collections

import keras
import tensorflow as tf

from nmt_keras.attention import make_attention
from nmt_keras.checks import require_positive
from nmt_keras.embeddings import DEFAULT_EMBEDDING_INIT, make_embedding
from nmt_keras.output_layer import OutputLayer
from nmt_keras.recurrent import StateBridge, check_cell, make_rnn

# What a decoder attends over, computed once per source batch.
#   states  (batch, source_len, value_dim)    the encoder annotations h_j
#   keys    attention.project_values(states)  e.g. W_h h_j
#   mask    bool (batch, source_len)          True at real source positions
#   prior   (batch, target_vocab) or None     target words present in the source
Memory = collections.namedtuple("Memory", ["states", "keys", "mask", "prior"])


def tile_memory(memory, multiple):
    """Repeats each sentence's memory `multiple` times (beam search): batch -> batch*k."""
    return Memory(*(None if m is None else tf.repeat(m, multiple, axis=0) for m in memory))


class AttentionDecoder(keras.layers.Layer):
    """Base class of the decoders (see the module docstring).

    Args:
        vocab_size: int. Target vocabulary size, special tokens included.
        embedding_dim: int. Target word embedding size.
        units: int. Decoder recurrent state size.
        attention: str. One of `nmt_keras.attention.ATTENTION_TYPES`.
        attention_units: int. Hidden size of additive/concat scorers. Defaults to `units`.
        cell: str. "gru" or "lstm".
        maxout_units: int or None. Deep output with maxout (see `OutputLayer`).
        source_prior: bool. Learned bonus for target words present in the source.
        dropout: float. Dropout on target embeddings and on output features.
        embedding_init: str. The target embeddings' initial distribution, one of
            `nmt_keras.embeddings.EMBEDDING_INITS`.
    """

    def __init__(
        self,
        vocab_size,
        embedding_dim,
        units,
        attention="bahdanau",
        attention_units=None,
        cell="gru",
        maxout_units=None,
        source_prior=False,
        dropout=0.0,
        embedding_init=DEFAULT_EMBEDDING_INIT,
        **kwargs,
    ):
        super().__init__(**kwargs)
        attention_units = attention_units or units
        require_positive(
            type(self).__name__, vocab_size=vocab_size, embedding_dim=embedding_dim,
            units=units, attention_units=attention_units,
        )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"{type(self).__name__} dropout must be in [0, 1), got {dropout}")
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.attention_type = attention
        self.attention_units = attention_units
        self.cell_type = check_cell(cell)
        self.maxout_units = maxout_units
        self.source_prior = source_prior
        self.dropout = dropout
        # No Keras mask on the target side: padded target steps are computed and then
        # ignored by the masked loss, which is simpler than carrying masks through loops.
        self.embedding_init = embedding_init
        self.embedding = make_embedding(vocab_size, embedding_dim, embedding_init, name="embedding")
        self.embedding_dropout = keras.layers.Dropout(dropout, name="embedding_dropout")
        self.bridge = StateBridge(units, cell, name="state_bridge")
        self.attention = make_attention(attention, attention_units, name="attention")
        # The recurrent layer: its cell runs the step-by-step loops; decoders that can
        # run the whole target sequence at once call the layer itself (cuDNN-eligible).
        self.rnn = make_rnn(cell, units, name="rnn", return_sequences=True)
        self.head = OutputLayer(
            vocab_size, maxout_units=maxout_units, source_prior=source_prior,
            dropout=dropout, name="output",
        )

    # ------------------------------------------------------------- subclass hooks

    def _rnn_input_dim(self, value_dim):
        raise NotImplementedError

    def _feature_dim(self, value_dim):
        raise NotImplementedError

    def _extra_build(self, value_dim):
        """Builds subclass-specific sublayers."""

    def _initial_carry(self, state, value_dim):
        """The carry at step 0 from the initial recurrent state."""
        return state

    def _step(self, embedded_previous, carry, memory, training=None):
        raise NotImplementedError

    def _teacher_forced(self, embedded, carry, memory, training=None):
        """All steps with the gold previous words. Default: the step loop."""
        return self._loop(embedded, carry, memory, training)

    # -------------------------------------------------------------------- building

    def build(self, target_in_shape, encoder_states_shape, encoder_final_state_shape):
        batch = target_in_shape[0]
        value_dim = encoder_states_shape[-1]
        # Everything used inside the symbolic loops must exist before a loop runs.
        self.embedding.build(target_in_shape)
        self.bridge.build(encoder_final_state_shape)
        self.attention.build((batch, self.units), encoder_states_shape)
        self.rnn.build((batch, None, self._rnn_input_dim(value_dim)))
        self._extra_build(value_dim)
        self.head.build((batch, None, self._feature_dim(value_dim)))
        self.built = True

    # ------------------------------------------------------------------- interface

    def memory(self, encoder_states, source_mask, source_prior=None):
        """The `Memory` the decoder attends over, computed once per source batch."""
        keys = self.attention.project_values(encoder_states)
        return Memory(encoder_states, keys, source_mask, source_prior)

    def initial_state(self, encoder_final_state, memory):
        """The carry at step 0, from the encoder's final states through the bridge."""
        state = self.bridge(encoder_final_state)
        return self._initial_carry(state, memory.states.shape[-1])

    def call(
        self,
        target_in,
        encoder_states,
        encoder_final_state,
        source_mask=None,
        source_prior=None,
        sampling_probability=None,
        training=None,
    ):
        """Decodes a whole target batch with the gold previous words (teacher forcing),
        or, when `sampling_probability` is given, with scheduled sampling.

        Args:
            target_in: int `(batch, target_len)`, `[START] y_1 ... y_{n-1}` + padding.
            encoder_states: `(batch, source_len, value_dim)`.
            encoder_final_state: `(batch, final_dim)`, the concatenated final encoder
                states.
            source_mask: bool `(batch, source_len)`, True at real source positions.
            source_prior: `(batch, vocab_size)` 0/1, target words present in the source.
            sampling_probability: scalar float or None. At each step after the first,
                with this probability the word fed in is sampled from the decoder's own
                previous output distribution instead of the gold word (Bengio et al.
                2015). None or 0 is teacher forcing, with identical results.

        Returns:
            logits `(batch, target_len, vocab_size)`, attention weights
            `(batch, target_len, source_len)`.
        """
        features, weights = self.output_features(
            target_in, encoder_states, encoder_final_state, source_mask, source_prior,
            sampling_probability, training=training,
        )
        return self.head(features, source_prior, training=training), weights

    def output_features(
        self,
        target_in,
        encoder_states,
        encoder_final_state,
        source_mask=None,
        source_prior=None,
        sampling_probability=None,
        training=None,
    ):
        """What `call` computes before the output layer: the features `self.head`
        turns into logits. Training uses it to run the output layer (the largest
        matrix product of the model) on real target positions only.

        Arguments as for `call` (the layer must be built).

        Returns:
            features `(batch, target_len, feature_dim)`, attention weights
            `(batch, target_len, source_len)`.
        """
        if source_mask is None:
            source_mask = tf.ones(tf.shape(encoder_states)[:2], dtype=tf.bool)
        memory = self.memory(encoder_states, source_mask, source_prior)
        carry = self.initial_state(encoder_final_state, memory)
        embedded = self.embedding_dropout(self.embedding(target_in), training=training)
        if sampling_probability is None:
            return self._teacher_forced(embedded, carry, memory, training)
        return self._loop(embedded, carry, memory, training, sampling_probability)

    def step(self, token_ids, carry, memory):
        """One inference step.

        Args:
            token_ids: int `(batch,)`, the previous output words y_{t-1}.
            carry: tuple, from `initial_state` or the previous `step`.
            memory: `Memory`.

        Returns:
            logits `(batch, vocab_size)`, the new carry, weights `(batch, source_len)`.
        """
        embedded = self.embedding(token_ids)  # (batch, E)
        features, carry, weights = self._step(embedded, carry, memory)
        return self.head(features, memory.prior), carry, weights

    # --------------------------------------------------------------- the step loop

    def _loop(self, embedded, carry, memory, training=None, sampling_probability=None):
        """Runs `_step` over time in one symbolic `tf.scan`.

        With `sampling_probability`, the word fed at step t > 0 is, with that
        probability, drawn from softmax(logits_{t-1}) instead of the gold word; the
        coin flips and the uniform numbers for inverse-CDF sampling are drawn once,
        before the loop.

        Returns:
            features `(batch, target_len, F)`, weights `(batch, target_len, source_len)`.
        """
        batch = tf.shape(embedded)[0]
        steps = tf.shape(embedded)[1]
        time_major = tf.transpose(embedded, [1, 0, 2])  # (target_len, batch, E)
        value_dim = memory.states.shape[-1]
        zeros_features = tf.zeros([batch, self._feature_dim(value_dim)], embedded.dtype)
        zeros_weights = tf.zeros([batch, tf.shape(memory.states)[1]], tf.float32)

        if sampling_probability is None:

            def scan_step(previous, gold_t):
                features, new_carry, weights = self._step(gold_t, previous[0], memory, training)
                return new_carry, features, weights

            initializer = (carry, zeros_features, zeros_weights)
            _, features, weights = tf.scan(scan_step, time_major, initializer=initializer)
        else:
            probability = tf.cast(sampling_probability, tf.float32)
            coins = tf.random.uniform([steps, batch]) < probability  # (target_len, batch)
            coins = tf.concat([tf.zeros([1, batch], tf.bool), coins[1:]], axis=0)  # never at t=0
            uniforms = tf.random.uniform([steps, batch])  # (target_len, batch)

            def scan_step(previous, inputs):
                carry, _, _, previous_logits = previous
                gold_t, coin_t, uniform_t = inputs
                sampled = sample_from_logits(previous_logits, uniform_t)  # (batch,)
                fed_t = tf.where(coin_t[:, None], self.embedding(sampled), gold_t)
                features, new_carry, weights = self._step(fed_t, carry, memory, training)
                # Logits inside the loop only choose the next sampled word; the loss uses
                # logits computed once from all features, as in teacher forcing.
                # (training=False: no dropout draws inside the loop.)
                logits = tf.cast(self.head(features, memory.prior, training=False), tf.float32)
                return new_carry, features, weights, logits

            initializer = (
                carry,
                zeros_features,
                zeros_weights,
                tf.zeros([batch, self.vocab_size], tf.float32),
            )
            _, features, weights, _ = tf.scan(
                scan_step, (time_major, coins, uniforms), initializer=initializer
            )
        features = tf.transpose(features, [1, 0, 2])  # (batch, target_len, F)
        weights = tf.transpose(weights, [1, 0, 2])  # (batch, target_len, source_len)
        return features, weights

    def compute_mask(self, *args, **kwargs):
        return None

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            embedding_dim=self.embedding_dim,
            units=self.units,
            attention=self.attention_type,
            attention_units=self.attention_units,
            cell=self.cell_type,
            maxout_units=self.maxout_units,
            source_prior=self.source_prior,
            dropout=self.dropout,
            embedding_init=self.embedding_init,
        )
        return config


def sample_from_logits(logits, uniform):
    """Draws one token per row from softmax(logits) by inverse-CDF sampling.

    Args:
        logits: `(batch, vocab_size)`.
        uniform: `(batch,)` numbers in [0, 1).

    Returns:
        int64 `(batch,)`.
    """
    probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
    cumulative = tf.cumsum(probabilities, axis=-1)  # (batch, vocab_size)
    below = tf.reduce_sum(tf.cast(cumulative < uniform[:, None], tf.int64), axis=-1)
    return tf.minimum(below, tf.cast(tf.shape(logits)[-1] - 1, tf.int64))
