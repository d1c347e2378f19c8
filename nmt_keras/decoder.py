"""The decoder: a GRU that reads the previous word and a fresh context vector each step."""

import keras
import tensorflow as tf

from nmt_keras.attention import BahdanauAttention
from nmt_keras.checks import require_positive


@keras.saving.register_keras_serializable(package="nmt_keras")
class Decoder(keras.layers.Layer):
    """Bahdanau et al. (2015) decoder with additive attention, in the paper's order.

    At target step t, with previous word y_{t-1} and previous state s_{t-1}:

        c_t, a_t = attention(query=s_{t-1}, annotations h)      # context and weights
        s_t      = GRU([E y_{t-1}; c_t], s_{t-1})               # s_t = f(s_{t-1}, y_{t-1}, c_t)
        logits_t = W_o [s_t; c_t; E y_{t-1}] + b_o               # over the target vocabulary

    The initial state is `s_0 = tanh(W_init [h_last_forward; h_first_backward] + b)`,
    a dense "bridge" from the encoder's final states.

    The time loop is a symbolic `tf.scan` (one `while` op in the graph whatever the
    sentence length). Only the recurrence (attention + GRU) runs inside it; the output
    projection, which does not feed back under teacher forcing, runs once over all
    steps. `W_h h_j` of the attention is computed once per batch, outside the loop.

    Masking: padded target steps are computed like real ones and ignored by the masked
    loss; padded source positions get zero attention weight via `source_mask`.

    Args:
        vocab_size: int. Size of the target vocabulary, special tokens included.
        embedding_dim: int. Size of each target word embedding.
        units: int. Size of the decoder GRU state s_t.
        attention_units: int. Hidden size of the attention's scoring network.
            Defaults to `units`.

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
        super().__init__(**kwargs)
        attention_units = attention_units or units
        require_positive(
            "Decoder", vocab_size=vocab_size, embedding_dim=embedding_dim, units=units,
            attention_units=attention_units,
        )
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.attention_units = attention_units
        self.embedding = keras.layers.Embedding(
            vocab_size, embedding_dim, mask_zero=True, name="embedding"
        )
        self.bridge = keras.layers.Dense(units, activation="tanh", name="bridge")
        self.attention = BahdanauAttention(self.attention_units, name="attention")
        self.cell = keras.layers.GRUCell(units, name="gru_cell")
        self.output_projection = keras.layers.Dense(vocab_size, name="output_projection")

    def build(self, target_in_shape, encoder_states_shape, encoder_final_state_shape):
        batch = target_in_shape[0]
        value_dim = encoder_states_shape[-1]
        # Everything used inside the symbolic loop must exist before the loop runs.
        self.embedding.build(target_in_shape)
        self.bridge.build(encoder_final_state_shape)
        self.attention.build((batch, self.units), encoder_states_shape)
        self.cell.build((batch, self.embedding_dim + value_dim))
        self.output_projection.build((batch, None, self.units + value_dim + self.embedding_dim))
        self.built = True

    def initial_state(self, encoder_final_state):
        """`(batch, encoder_final_dim)` -> s_0, `(batch, units)`."""
        return self.bridge(encoder_final_state)

    def recurrence(self, embedded_previous, state, encoder_states, keys, source_mask, training=None):
        """One step of the recurrence (no output projection).

        Args:
            embedded_previous: `(batch, embedding_dim)`, E y_{t-1}.
            state: `(batch, units)`, s_{t-1}.
            encoder_states: `(batch, source_len, value_dim)`, the annotations.
            keys: `(batch, source_len, attention_units)`, from `attention.project_values`.
            source_mask: bool `(batch, source_len)`.

        Returns:
            new_state `(batch, units)`, context `(batch, value_dim)`,
            weights `(batch, source_len)`.
        """
        context, weights = self.attention(
            state, encoder_states, keys=keys, source_mask=source_mask
        )
        cell_input = tf.concat([embedded_previous, context], axis=-1)  # (batch, E + value_dim)
        new_state, _ = self.cell(cell_input, state, training=training)
        return new_state, context, weights

    def output_logits(self, state, context, embedded_previous):
        """`[s_t; c_t; E y_{t-1}]` -> logits; works on `(batch, ...)` with any middle axes."""
        return self.output_projection(tf.concat([state, context, embedded_previous], axis=-1))

    def call(self, target_in, encoder_states, encoder_final_state, source_mask=None, training=None):
        """Teacher-forced decoding of a whole target batch.

        Args:
            target_in: int `(batch, target_len)`, `[START] y_1 ... y_{n-1}` + padding.
            encoder_states: `(batch, source_len, value_dim)`.
            encoder_final_state: `(batch, encoder_final_dim)`, the concatenated final
                forward and backward encoder states.
            source_mask: bool `(batch, source_len)`, True at real source positions.

        Returns:
            logits: `(batch, target_len, vocab_size)`.
            weights: `(batch, target_len, source_len)`, attention of every step.
        """
        if source_mask is None:
            source_mask = tf.ones(tf.shape(encoder_states)[:2], dtype=tf.bool)
        embedded = self.embedding(target_in)  # (batch, target_len, E)
        keys = self.attention.project_values(encoder_states)  # (batch, source_len, A)
        state = self.initial_state(encoder_final_state)  # (batch, units)

        def scan_step(carry, embedded_t):
            previous_state = carry[0]
            return self.recurrence(
                embedded_t, previous_state, encoder_states, keys, source_mask, training
            )

        batch = tf.shape(encoder_states)[0]
        source_len = tf.shape(encoder_states)[1]
        initializer = (
            state,
            tf.zeros([batch, encoder_states.shape[-1]], encoder_states.dtype),
            tf.zeros([batch, source_len], tf.float32),
        )
        states, contexts, weights = tf.scan(
            scan_step, tf.transpose(embedded, [1, 0, 2]), initializer=initializer
        )  # each (target_len, batch, ...)
        states = tf.transpose(states, [1, 0, 2])  # (batch, target_len, units)
        contexts = tf.transpose(contexts, [1, 0, 2])  # (batch, target_len, value_dim)
        weights = tf.transpose(weights, [1, 0, 2])  # (batch, target_len, source_len)
        logits = self.output_logits(states, contexts, embedded)
        return logits, weights

    def step(self, token_ids, state, encoder_states, keys, source_mask):
        """One inference step from the previous tokens.

        Args:
            token_ids: int `(batch,)`, y_{t-1}.
            state: `(batch, units)`, s_{t-1}.
            encoder_states, keys, source_mask: as in `recurrence`.

        Returns:
            logits `(batch, vocab_size)`, new_state `(batch, units)`,
            weights `(batch, source_len)`.
        """
        embedded = self.embedding(token_ids)  # (batch, E)
        new_state, context, weights = self.recurrence(
            embedded, state, encoder_states, keys, source_mask
        )
        return self.output_logits(new_state, context, embedded), new_state, weights

    def compute_mask(self, *args, **kwargs):
        return None

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            embedding_dim=self.embedding_dim,
            units=self.units,
            attention_units=self.attention_units,
        )
        return config
