"""The decoder of Bahdanau et al.: attend with the previous state, then update it."""

import keras
from keras import ops

from nmt_keras.constants import ATTENTION_TYPES
from nmt_keras.layers.bahdanau_attention import BahdanauAttention
from nmt_keras.layers.blocks import (
    Bridge,
    Memory,
    OutputLayer,
    make_embedding,
    recurrent_cell,
    require_choice,
    require_positive,
    require_rate,
    scheduled_sampling_steps,
    teacher_forced_steps,
)


def make_attention(kind, units, name="attention"):
    """An attention layer from its name, one of `ATTENTION_TYPES`: Bahdanau's additive
    score, or one of Luong's ("luong-general", ...), imported only then."""
    require_choice("attention", "kind", kind, ATTENTION_TYPES)
    if kind == "bahdanau":
        return BahdanauAttention(units, name=name)
    from nmt_keras.layers.luong_attention import LuongAttention

    return LuongAttention(kind.split("-", 1)[1], units=units, name=name)


@keras.saving.register_keras_serializable(package="nmt_keras")
class Decoder(keras.layers.Layer):
    """The attention decoder of Bahdanau, Cho and Bengio (2015), in the paper's order.

    At target step t, with the previous word y_{t-1} and the previous state s_{t-1}:

        c_t, a_t = attention(s_{t-1}, h_1 ... h_n)       context vector and weights
        s_t      = GRU([E y_{t-1}; c_t], s_{t-1})        s_t = f(s_{t-1}, y_{t-1}, c_t)
        o_t      = [s_t; c_t; E y_{t-1}]                 the output layer's input
        logits_t = OutputLayer(o_t)                      plain, or maxout (appendix A.2.2)

    and the initial state s_0 = tanh(W_init [->h_n; <-h_1] + b) comes from the encoder's
    final states through a `Bridge`.

    `step` computes one t; inference calls it once per generated word. `call` trains:
    it runs `step` over every target position in one symbolic loop, feeding the gold
    previous word (teacher forcing) or, with `sampling_probability`, sometimes the
    decoder's own sample (scheduled sampling), then applies the output layer to all
    positions at once, outside the loop.

    Masking: padded target positions are computed like real ones and left out by the
    loss (or by `target_mask`); padded source positions get zero attention weight.

    Args:
        vocab_size: int. Target vocabulary size, special tokens included.
        embedding_dim: int. Size of each target word embedding.
        units: int. Size of the state s_t.
        attention: str. The score: "bahdanau" (additive, default), or Luong's
            "luong-dot", "luong-general", "luong-concat" in Bahdanau's order.
        attention_units: int. Hidden size of the additive scorer. Defaults to `units`.
        cell_type: str. "gru" (default) or "lstm".
        maxout_units: int or None. Maxout deep output of this size; None: plain.
        source_prior: bool. Learned logit bonus for target words in the source.
        dropout: float. Dropout on the embeddings and on o_t.
        embedding_init: str. "uniform" (default) or "normal".
        kernels: str. "keras" (default) or "fused" (`nmt_keras.fast`'s GRU cell).

    Example:
    >>> decoder = Decoder(vocab_size=50, embedding_dim=8, units=16)
    >>> annotations = np.random.rand(2, 5, 32).astype("float32")   # (batch, source_len, 32)
    >>> final_state = np.random.rand(2, 32).astype("float32")
    >>> logits, weights = decoder(np.array([[2, 7, 9], [2, 4, 0]]), annotations, final_state)
    >>> logits.shape, weights.shape         # (batch, target_len, vocab), (batch, target_len, source_len)
    (TensorShape([2, 3, 50]), TensorShape([2, 3, 5]))
    """

    def __init__(
        self,
        vocab_size,
        embedding_dim,
        units,
        attention="bahdanau",
        attention_units=None,
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
            "Decoder", vocab_size=vocab_size, embedding_dim=embedding_dim, units=units,
            attention_units=attention_units,
        )
        require_rate("Decoder", "dropout", dropout)
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.attention_type = attention
        self.attention_units = attention_units
        self.cell_type = cell_type
        self.maxout_units = maxout_units
        self.source_prior = source_prior
        self.dropout = dropout
        self.embedding_init = embedding_init
        self.kernels = kernels

        self.embedding = make_embedding(vocab_size, embedding_dim, embedding_init, name="embedding")
        self.embedding_dropout = keras.layers.Dropout(dropout, name="embedding_dropout")
        self.bridge = Bridge(units, cell_type, name="bridge")
        self.attention = make_attention(attention, attention_units)
        self.cell = recurrent_cell(cell_type, kernels)(units, name=f"{cell_type}_cell")
        self.output_layer = OutputLayer(
            vocab_size, maxout_units=maxout_units, source_prior=source_prior, dropout=dropout,
            name="output_layer",
        )

    def build(self, target_in_shape, annotations_shape, final_state_shape):
        # Everything the loop uses must exist before it runs.
        batch, value_dim = target_in_shape[0], annotations_shape[-1]
        self.embedding.build(target_in_shape)
        self.bridge.build(final_state_shape)
        self.attention.build((batch, self.units), annotations_shape)
        self.cell.build((batch, self.embedding_dim + value_dim))
        self.output_layer.build((batch, None, self.units + value_dim + self.embedding_dim))

    def start(self, annotations, final_state, source_mask, prior=None):
        """The initial state s_0 and the `Memory` every step attends over.

        Args:
            annotations: `(batch, source_len, value_dim)`, the encoder's h_j.
            final_state: `(batch, final_dim)`, the encoder's final states.
            source_mask: bool `(batch, source_len)`, True at real positions.
            prior: `(batch, vocab_size)` 0/1, the target words in the source, or None.

        Returns:
            `(state, memory)`: the state tuple `(s_0,)` (GRU) or `(s_0, m_0)` (LSTM).
        """
        memory = Memory(annotations, self.attention.keys(annotations), source_mask, prior)
        return self.bridge(final_state), memory

    def step(self, previous, state, memory, training=None):
        """One decoder step t.

        Args:
            previous: `(batch, embedding_dim)`, E y_{t-1}.
            state: `(s_{t-1},)` or, for an LSTM, `(s_{t-1}, m_{t-1})`.
            memory: `Memory`.

        Returns:
            o_t `(batch, units + value_dim + embedding_dim)` (logits_t is
            `self.output_layer(o_t, memory.prior)`), the new state, and the attention
            weights a_t `(batch, source_len)`.
        """
        context, weights = self.attention(
            state[0], memory.values, keys=memory.keys, source_mask=memory.mask
        )  # c_t (batch, value_dim), a_t (batch, source_len)
        rnn_input = ops.concatenate([previous, context], axis=-1)  # [E y_{t-1}; c_t]
        s_t, state = self.cell(rnn_input, list(state), training=training)
        return ops.concatenate([s_t, context, previous], axis=-1), tuple(state), weights

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
        """Decodes a target batch with the gold previous words.

        Args:
            target_in: int `(batch, target_len)`, `[START] y_1 ... y_{m-1}` + padding.
            annotations: `(batch, source_len, value_dim)`.
            final_state: `(batch, final_dim)`.
            source_mask: bool `(batch, source_len)`; None: no source padding.
            prior: `(batch, vocab_size)` 0/1, the target words in the source, or None.
            sampling_probability: float scalar or None. With a value, scheduled
                sampling (see `scheduled_sampling_steps`); None: teacher forcing.
            target_mask: bool `(batch, target_len)` or None. If given, logits are
                computed at the True positions only (training skips the padding).

        Returns:
            logits `(batch, target_len, vocab_size)`, or `(tokens, vocab_size)` for the
            True positions of `target_mask` in row-major order; attention weights
            `(batch, target_len, source_len)`.
        """
        if source_mask is None:
            source_mask = ops.ones(ops.shape(annotations)[:2], dtype="bool")
        state, memory = self.start(annotations, final_state, source_mask, prior)
        embedded = self.embedding_dropout(self.embedding(target_in), training=training)
        if sampling_probability is None:
            outputs, weights = teacher_forced_steps(self.step, embedded, state, memory, training)
        else:
            outputs, weights = scheduled_sampling_steps(
                self.step, embedded, state, memory, self.embedding, self.output_layer,
                sampling_probability, training,
            )
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
            "cell_type": self.cell_type,
            "maxout_units": self.maxout_units,
            "source_prior": self.source_prior,
            "dropout": self.dropout,
            "embedding_init": self.embedding_init,
            "kernels": self.kernels,
        }
