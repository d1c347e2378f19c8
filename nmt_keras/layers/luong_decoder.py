"""The decoder of Luong et al.: update the state first, then attend with it."""

import keras
from keras import ops

from nmt_keras.layers.blocks import (
    Bridge,
    Memory,
    OutputLayer,
    make_embedding,
    recurrent_layer,
    require_positive,
    require_rate,
    scheduled_sampling_steps,
    teacher_forced_steps,
)
from nmt_keras.layers.decoder import make_attention


@keras.saving.register_keras_serializable(package="nmt_keras")
class LuongDecoder(keras.layers.Layer):
    """The global-attention decoder of Luong, Pham and Manning (2015), section 3.

    At target step t:

        h_t      = GRU(x_t, h_{t-1})                 x_t = E y_{t-1}
                                                     (input feeding: [E y_{t-1}; h~_{t-1}])
        c_t, a_t = attention(h_t, h_1 ... h_n)       the query is the *current* state
        h~_t     = tanh(W_c [c_t; h_t])              the attentional vector, o_t
        logits_t = OutputLayer(h~_t)

    Without input feeding nothing in the recurrence depends on attention, so under
    teacher forcing `call` runs the GRU layer over the whole target sequence at once and
    attends for all steps in one batched product. With input feeding (as in the paper,
    section 3.3) h~_{t-1} is part of the next input, and `call` runs `step` in a loop,
    like `Decoder`. Scheduled sampling also runs the loop.

    Args:
        vocab_size, embedding_dim, units, attention_units, cell_type, maxout_units,
        source_prior, dropout, embedding_init, kernels: as for `Decoder`.
        attention: str. The score; defaults to "luong-general".
        input_feeding: bool. Feed h~_{t-1} into the RNN at step t.

    Example:
    >>> decoder = LuongDecoder(vocab_size=50, embedding_dim=8, units=16)
    >>> logits, weights = decoder(np.array([[2, 7, 9]]), np.random.rand(1, 5, 32),
    ...                           np.random.rand(1, 32))
    >>> logits.shape, weights.shape
    (TensorShape([1, 3, 50]), TensorShape([1, 3, 5]))
    """

    def __init__(
        self,
        vocab_size,
        embedding_dim,
        units,
        attention="luong-general",
        attention_units=None,
        input_feeding=False,
        cell_type="gru",
        maxout_units=None,
        source_prior=False,
        dropout=0.0,
        embedding_init="uniform",
        kernels="keras",
        **kwargs,
    ):
        super().__init__(**kwargs)
        attention_units = attention_units or units
        require_positive(
            "LuongDecoder", vocab_size=vocab_size, embedding_dim=embedding_dim, units=units,
            attention_units=attention_units,
        )
        require_rate("LuongDecoder", "dropout", dropout)
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.attention_type = attention
        self.attention_units = attention_units
        self.input_feeding = input_feeding
        self.cell_type = cell_type
        self.maxout_units = maxout_units
        self.source_prior = source_prior
        self.dropout = dropout
        self.embedding_init = embedding_init
        self.kernels = kernels

        self.embedding = make_embedding(vocab_size, embedding_dim, embedding_init, name="embedding")
        self.embedding_dropout = keras.layers.Dropout(dropout, name="embedding_dropout")
        self.bridge = Bridge(units, cell_type, name="bridge")
        # One recurrent layer: called on whole sequences, or its cell one step at a time.
        self.rnn = recurrent_layer(cell_type, kernels)(units, return_sequences=True, name=cell_type)
        self.attention = make_attention(attention, attention_units)
        self.combine = keras.layers.Dense(units, activation="tanh", use_bias=False, name="W_c")
        self.output_layer = OutputLayer(
            vocab_size, maxout_units=maxout_units, source_prior=source_prior, dropout=dropout,
            name="output_layer",
        )

    def build(self, target_in_shape, annotations_shape, final_state_shape):
        batch, value_dim = target_in_shape[0], annotations_shape[-1]
        rnn_input_dim = self.embedding_dim + (self.units if self.input_feeding else 0)
        self.embedding.build(target_in_shape)
        self.bridge.build(final_state_shape)
        self.rnn.build((batch, None, rnn_input_dim))
        self.attention.build((batch, None, self.units), annotations_shape)
        self.combine.build((batch, None, value_dim + self.units))
        self.output_layer.build((batch, None, self.units))

    def start(self, annotations, final_state, source_mask, prior=None):
        """The initial state and the `Memory`, as `Decoder.start`; with input feeding
        the state also carries h~_0 = 0."""
        memory = Memory(annotations, self.attention.keys(annotations), source_mask, prior)
        state = self.bridge(final_state)
        if self.input_feeding:
            state = state + (ops.zeros_like(state[0]),)
        return state, memory

    def attend(self, hidden, memory):
        """h_t (any leading axes) -> (h~_t, attention weights)."""
        context, weights = self.attention(
            hidden, memory.values, keys=memory.keys, source_mask=memory.mask
        )
        return self.combine(ops.concatenate([context, hidden], axis=-1)), weights

    def step(self, previous, state, memory, training=None):
        """One decoder step t.

        Args:
            previous: `(batch, embedding_dim)`, E y_{t-1}.
            state: `(h_{t-1},)`, `(h_{t-1}, c_{t-1})` for an LSTM, and h~_{t-1} last
                with input feeding.
            memory: `Memory`.

        Returns:
            h~_t `(batch, units)` (logits_t is `self.output_layer(h~_t, memory.prior)`),
            the new state, and the attention weights a_t `(batch, source_len)`.
        """
        if self.input_feeding:
            state, fed_back = state[:-1], state[-1]
            previous = ops.concatenate([previous, fed_back], axis=-1)  # [E y_{t-1}; h~_{t-1}]
        h_t, state = self.rnn.cell(previous, list(state), training=training)
        attentional, weights = self.attend(h_t, memory)
        state = tuple(state) + ((attentional,) if self.input_feeding else ())
        return attentional, state, weights

    def call(
        self,
        target_in,
        annotations,
        final_state,
        source_mask=None,
        prior=None,
        sampling_probability=None,
        target_mask=None,
        training=None,
    ):
        """Decodes a target batch with the gold previous words; arguments and results
        as for `Decoder.call`."""
        if source_mask is None:
            source_mask = ops.ones(ops.shape(annotations)[:2], dtype="bool")
        state, memory = self.start(annotations, final_state, source_mask, prior)
        embedded = self.embedding_dropout(self.embedding(target_in), training=training)
        if sampling_probability is not None:
            outputs, weights = scheduled_sampling_steps(
                self.step, embedded, state, memory, self.embedding, self.output_layer,
                sampling_probability, training,
            )
        elif self.input_feeding:
            outputs, weights = teacher_forced_steps(self.step, embedded, state, memory, training)
        else:
            hidden = self.rnn(embedded, initial_state=list(state), training=training)  # (batch, target_len, units)
            outputs, weights = self.attend(hidden, memory)
        logits = self.output_layer(outputs, prior, target_mask=target_mask, training=training)
        return logits, weights

    def compute_mask(self, *args, **kwargs):
        return None

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "attention": self.attention_type,
            "attention_units": self.attention_units,
            "input_feeding": self.input_feeding,
            "cell_type": self.cell_type,
            "maxout_units": self.maxout_units,
            "source_prior": self.source_prior,
            "dropout": self.dropout,
            "embedding_init": self.embedding_init,
            "kernels": self.kernels,
        }
