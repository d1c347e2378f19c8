"""The small pieces the encoder and both decoders share.

    make_embedding       a word embedding with the chosen initialization
    recurrent_layer      keras.layers.GRU / LSTM, or the fused GRU (`kernels="fused"`)
    recurrent_cell       keras.layers.GRUCell / LSTMCell, or the fused GRU cell
    Bridge               encoder final states -> the decoder's initial state
    OutputLayer          decoder output o_t -> logits (plain, or maxout; source prior)
    Memory               what a decoder attends over, computed once per source batch
    teacher_forced_steps runs a decoder's `step` over the gold previous words
    scheduled_sampling_steps  the same, sometimes feeding the decoder's own sample
    sampling_probability      how often it does, by training step

A recurrent state is always a tuple of tensors: `(h,)` for a GRU, `(h, c)` for an LSTM;
`h` comes first.
"""

import collections

import keras
import tensorflow as tf
from keras import ops

from nmt_keras.constants import CELLS, EMBEDDING_INITS, KERNELS

# Maxout takes the maximum over pieces of this size (Bahdanau et al. use pairs).
MAXOUT_POOL = 2
# Initial weight of the source prior: logits of source words start e^1 ~ 2.7x likelier.
SOURCE_PRIOR_INIT = 1.0
# Standard deviation of the "normal" embedding initialization.
NORMAL_EMBEDDING_STDDEV = 1.0


def require_positive(owner, **sizes):
    """Raises ValueError unless every size is an int >= 1 (`owner` names the layer)."""
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{owner} {name} must be an int >= 1, got {value!r}")


def require_choice(owner, name, value, choices):
    if value not in choices:
        raise ValueError(f"{owner} {name} must be one of {choices}, got {value!r}")


def require_rate(owner, name, value):
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{owner} {name} must be in [0, 1), got {value!r}")


def make_embedding(vocab_size, embedding_dim, init, name, mask_zero=False):
    """A `keras.layers.Embedding` starting from `init`: "uniform" (Keras' default,
    uniform in [-0.05, 0.05]) or "normal" (unit variance)."""
    require_choice("Embedding", "init", init, EMBEDDING_INITS)
    initializer = {
        "uniform": "uniform",
        "normal": keras.initializers.RandomNormal(stddev=NORMAL_EMBEDDING_STDDEV),
    }[init]
    return keras.layers.Embedding(
        vocab_size, embedding_dim, embeddings_initializer=initializer, mask_zero=mask_zero,
        name=name,
    )


def recurrent_layer(cell_type, kernels):
    """The recurrent layer class: `keras.layers.GRU` or `LSTM`, or with
    `kernels="fused"` the GRU of `nmt_keras.fast` (same weights and function, faster
    on CPUs)."""
    require_choice("recurrent layer", "cell_type", cell_type, CELLS)
    require_choice("recurrent layer", "kernels", kernels, KERNELS[1:])
    if cell_type == "gru" and kernels == "fused":
        from nmt_keras.fast import FusedGRU

        return FusedGRU
    return {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM}[cell_type]


def recurrent_cell(cell_type, kernels):
    """The cell class of `recurrent_layer(cell_type, kernels)`, for step-by-step loops."""
    require_choice("recurrent cell", "cell_type", cell_type, CELLS)
    require_choice("recurrent cell", "kernels", kernels, KERNELS[1:])
    if cell_type == "gru" and kernels == "fused":
        from nmt_keras.fast import FusedGRUCell

        return FusedGRUCell
    return {"gru": keras.layers.GRUCell, "lstm": keras.layers.LSTMCell}[cell_type]


def state_count(cell_type):
    """Tensors in one recurrent state: 1 for a GRU (h), 2 for an LSTM (h, c)."""
    return {"gru": 1, "lstm": 2}[cell_type]


@keras.saving.register_keras_serializable(package="nmt_keras")
class Bridge(keras.layers.Layer):
    """Maps the encoder's final states to a decoder's initial recurrent state.

        h_0 = tanh(W_h f + b_h)           (GRU and LSTM)
        c_0 = W_c f + b_c                 (LSTM only: the memory cell is not squashed)

    where f concatenates the encoder's final states (forward and backward).

    Args:
        units: int. The decoder's state size.
        cell_type: str. "gru" or "lstm".
    """

    def __init__(self, units, cell_type="gru", **kwargs):
        super().__init__(**kwargs)
        require_positive("Bridge", units=units)
        require_choice("Bridge", "cell_type", cell_type, CELLS)
        self.units = units
        self.cell_type = cell_type
        self.to_hidden = keras.layers.Dense(units, activation="tanh", name="to_hidden")
        self.to_memory = keras.layers.Dense(units, name="to_memory") if cell_type == "lstm" else None

    def build(self, final_state_shape):
        self.to_hidden.build(final_state_shape)
        if self.to_memory is not None:
            self.to_memory.build(final_state_shape)

    def call(self, final_state):
        """`(batch, final_dim)` -> tuple of `(batch, units)`: `(h_0,)` or `(h_0, c_0)`."""
        if self.to_memory is None:
            return (self.to_hidden(final_state),)
        return self.to_hidden(final_state), self.to_memory(final_state)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "cell_type": self.cell_type}


@keras.saving.register_keras_serializable(package="nmt_keras")
class Projection(keras.layers.Dense):
    """`keras.layers.Dense` (no activation) whose output is float32 and whose bias is
    added in float32.

    Under a mixed policy the matrix product runs in the compute dtype (bfloat16 or
    float16) like any `Dense`; the bias is then added to the product cast to float32.
    The bias's gradient is the sum of the logits' gradients over every token of the
    batch, and summed in bfloat16 (8 significant bits) it would lose most of them; here
    it is summed in float32. Under float32 it is `Dense`.

    Call: `(..., input_dim)` -> float32 `(..., units)`.
    """

    def call(self, inputs, training=None):
        product = ops.matmul(inputs, self.kernel)  # (..., units), compute dtype
        return ops.cast(product, "float32") + ops.cast(self.bias, "float32")

    def quantize(self, mode=None, type_check=True, **kwargs):
        """`Dense.quantize` (which refuses subclasses unless told otherwise): quantized,
        the layer computes as a quantized `Dense` does."""
        return super().quantize(mode, type_check=False, **kwargs)


@keras.saving.register_keras_serializable(package="nmt_keras")
class OutputLayer(keras.layers.Layer):
    """A decoder's output o_t -> logits over the target vocabulary.

    Plain (default), one affine map:

        logits = W_o o_t + b_o

    Deep output with maxout (Bahdanau et al. 2015, appendix A.2.2), `maxout_units=l`:

        t~     = U o_t + b            (2l,)   i.e. U_o s_t + V_o c_t + C_o E y_{t-1}
        t_i    = max(t~_2i, t~_2i+1)  (l,)    maxout over pairs
        logits = W_o t + b_o

    Source prior (`source_prior=True`): `logits += w * prior`, where `prior` marks with
    1.0 the target words that also occur in the source sentence (numbers, names, shared
    spellings) and `w` is one learned scalar, starting at `SOURCE_PRIOR_INIT`.

    Args:
        vocab_size: int. Target vocabulary size.
        maxout_units: int or None. Size l of the maxout layer; None: plain.
        source_prior: bool. Add the learned source-word bonus.
        dropout: float. Dropout on o_t before the projection.

    Example:
    >>> OutputLayer(50, maxout_units=8)(np.random.rand(2, 3, 20).astype("float32")).shape
    TensorShape([2, 3, 50])
    """

    def __init__(self, vocab_size, maxout_units=None, source_prior=False, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        require_positive("OutputLayer", vocab_size=vocab_size)
        if maxout_units is not None:
            require_positive("OutputLayer", maxout_units=maxout_units)
        require_rate("OutputLayer", "dropout", dropout)
        self.vocab_size = vocab_size
        self.maxout_units = maxout_units
        self.source_prior = source_prior
        self.dropout = dropout
        self.output_dropout = keras.layers.Dropout(dropout, name="dropout")
        self.maxout_input = (
            keras.layers.Dense(MAXOUT_POOL * maxout_units, name="maxout_input")
            if maxout_units else None
        )
        self.projection = Projection(vocab_size, name="projection")

    def build(self, outputs_shape):
        shape = tuple(outputs_shape)
        if self.maxout_input is not None:
            self.maxout_input.build(shape)
            shape = shape[:-1] + (self.maxout_units,)
        self.projection.build(shape)
        if self.source_prior:
            self.prior_weight = self.add_weight(
                shape=(), initializer=keras.initializers.Constant(SOURCE_PRIOR_INIT),
                name="source_prior_weight",
            )

    def call(self, outputs, prior=None, target_mask=None, training=None):
        """Logits from decoder outputs.

        Args:
            outputs: `(batch, [target_len,] output_dim)`, the o_t.
            prior: `(batch, vocab_size)` 0/1 floats, or None; used only with
                `source_prior=True`.
            target_mask: bool `(batch, target_len)` or None. If given, only the True
                positions are projected (training skips the padding this way).

        Returns:
            float32 logits `(batch, [target_len,] vocab_size)`, or `(tokens, vocab_size)`
            for the True positions of `target_mask` in row-major order. Always float32,
            whatever the dtype policy: the softmax and the loss need its range.
        """
        if target_mask is not None:
            positions = tf.where(target_mask)  # (tokens, 2): (sentence, step)
            outputs = tf.gather_nd(outputs, positions)  # (tokens, output_dim)
            if prior is not None:
                prior = tf.gather(prior, positions[:, 0])  # (tokens, vocab_size)
        outputs = self.output_dropout(outputs, training=training)
        if self.maxout_input is not None:
            pieces = self.maxout_input(outputs)  # (..., pool * l)
            pieces = ops.reshape(
                pieces, tuple(ops.shape(pieces)[:-1]) + (self.maxout_units, MAXOUT_POOL)
            )  # (..., l, pool)
            outputs = ops.max(pieces, axis=-1)  # (..., l)
        logits = self.projection(outputs)  # float32
        if self.source_prior and prior is not None:
            if len(logits.shape) == 3:
                prior = ops.expand_dims(prior, 1)  # (batch, 1, vocab_size)
            logits = logits + ops.cast(self.prior_weight * prior, logits.dtype)
        return ops.cast(logits, "float32")

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "maxout_units": self.maxout_units,
            "source_prior": self.source_prior,
            "dropout": self.dropout,
        }


# What a decoder attends over, computed once per source batch by `decoder.start`:
#   values  (batch, source_len, value_dim)    the encoder annotations h_j
#   keys    attention.keys(values)            e.g. W_h h_j
#   mask    bool (batch, source_len)          True at real source positions
#   prior   (batch, target_vocab) or None     target words present in the source
Memory = collections.namedtuple("Memory", ["values", "keys", "mask", "prior"])


def teacher_forced_steps(step, embedded, state, memory, training=None):
    """Runs `step` over every target position, feeding the gold previous words.

    One symbolic `tf.while_loop` (a single op in the graph, whatever the length).

    Args:
        step: a decoder's `step(previous, state, memory, training)` ->
            `(output, state, weights)`.
        embedded: `(batch, target_len, embedding_dim)`, E y_{t-1} for every t.
        state: the initial recurrent state (a tuple).
        memory: `Memory`.

    Returns:
        outputs `(batch, target_len, output_dim)`, attention weights
        `(batch, target_len, source_len)`.
    """
    inputs = tf.transpose(embedded, [1, 0, 2])  # (target_len, batch, embedding_dim)
    target_len = tf.shape(inputs)[0]
    gold = tf.TensorArray(inputs.dtype, size=target_len).unstack(inputs)

    def body(t, state, outputs, weights):
        output, state, weights_t = step(gold.read(t), state, memory, training=training)
        return t + 1, state, outputs.write(t, output), weights.write(t, weights_t)

    _, _, outputs, weights = tf.while_loop(
        lambda t, *_: t < target_len,
        body,
        (0, state, tf.TensorArray(inputs.dtype, size=target_len),
         tf.TensorArray(tf.float32, size=target_len)),
        maximum_iterations=target_len,  # XLA needs the bound
    )
    return _batch_major(outputs.stack()), _batch_major(weights.stack())


def scheduled_sampling_steps(
    step, embedded, state, memory, embed, output_layer, probability, training=None
):
    """Like `teacher_forced_steps`, but at each step t > 0, with `probability`, the
    decoder is fed a word sampled from its own previous output distribution instead of
    the gold word (Bengio et al. 2015, "Scheduled Sampling").

    The coin flips and the uniform numbers for inverse-CDF sampling are drawn once,
    before the loop. Logits inside the loop only choose the fed word (no dropout there);
    the loss reads logits computed from the returned outputs.

    Args:
        embed: the decoder's embedding layer, for the sampled words.
        output_layer: the decoder's `OutputLayer`.
        probability: float scalar, the chance of feeding a sample.
        (others as for `teacher_forced_steps`)
    """
    inputs = tf.transpose(embedded, [1, 0, 2])  # (target_len, batch, embedding_dim)
    target_len, batch = tf.shape(inputs)[0], tf.shape(inputs)[1]
    gold = tf.TensorArray(inputs.dtype, size=target_len).unstack(inputs)
    coins = tf.random.uniform([target_len, batch]) < tf.cast(probability, tf.float32)
    coins = tf.concat([tf.zeros([1, batch], tf.bool), coins[1:]], axis=0)  # never at t=0
    uniforms = tf.random.uniform([target_len, batch])

    def body(t, state, previous_logits, outputs, weights):
        sampled = sample_from_logits(previous_logits, uniforms[t])  # (batch,)
        fed = tf.where(coins[t][:, None], embed(sampled), gold.read(t))
        output, state, weights_t = step(fed, state, memory, training=training)
        logits = output_layer(output, memory.prior, training=False)  # (batch, vocab)
        return t + 1, state, logits, outputs.write(t, output), weights.write(t, weights_t)

    _, _, _, outputs, weights = tf.while_loop(
        lambda t, *_: t < target_len,
        body,
        (0, state, tf.zeros([batch, output_layer.vocab_size], tf.float32),
         tf.TensorArray(inputs.dtype, size=target_len),
         tf.TensorArray(tf.float32, size=target_len)),
        maximum_iterations=target_len,
    )
    return _batch_major(outputs.stack()), _batch_major(weights.stack())


def _batch_major(steps):
    """`(target_len, batch, ...)` -> `(batch, target_len, ...)`."""
    return tf.transpose(steps, [1, 0, *range(2, len(steps.shape))])


def sample_from_logits(logits, uniform):
    """One token per row from softmax(logits), by inverse-CDF sampling.

    Args:
        logits: `(batch, vocab_size)`.
        uniform: `(batch,)` numbers in [0, 1).

    Returns:
        int64 `(batch,)`.
    """
    cumulative = tf.cumsum(tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1), axis=-1)
    below = tf.reduce_sum(tf.cast(cumulative < uniform[:, None], tf.int64), axis=-1)
    return tf.minimum(below, tf.cast(tf.shape(logits)[-1] - 1, tf.int64))


# ------------------------------------------------------------------ the schedules
# Scheduled sampling (Bengio, Vinyals, Jaitly and Shazeer, 2015): how often the
# decoder is fed its own previous prediction instead of the gold word during training.
#
# Bengio et al. decay the probability eps_i of feeding the *gold* word with the training
# step i; the probability of feeding the model's own sample is `1 - eps_i`, capped at
# `maximum` (a model fed only its own guesses early in training learns little):
#
#     linear           eps_i = max(0, 1 - k * i)        k > 0: slope per step
#     exponential      eps_i = k ** i                   0 < k < 1
#     inverse-sigmoid  eps_i = k / (k + exp(i / k))     k >= 1

# Default decay constant of each schedule (chosen so the sampling probability reaches
# about one half after roughly 5,000 steps); `Config.validate` checks given ones.
DEFAULT_DECAY = {"linear": 1e-4, "exponential": 0.99986, "inverse-sigmoid": 600.0}


def teacher_forcing_probability(schedule, step, decay=None):
    """eps_i, the probability of feeding the gold word at training step `step`
    (`decay` None: the schedule's default)."""
    if decay is None and schedule in DEFAULT_DECAY:
        decay = DEFAULT_DECAY[schedule]
    i = tf.cast(step, tf.float32)
    if schedule == "linear":
        return tf.maximum(0.0, 1.0 - decay * i)
    if schedule == "exponential":
        return tf.pow(tf.constant(decay, tf.float32), i)
    if schedule == "inverse-sigmoid":
        return decay / (decay + tf.exp(tf.minimum(i / decay, 80.0)))  # no overflow
    return tf.constant(1.0)


def sampling_probability(schedule, step, decay=None, maximum=0.25):
    """`min(maximum, 1 - eps_i)`: the probability of feeding the model's own sample."""
    return tf.minimum(
        tf.constant(maximum, tf.float32), 1.0 - teacher_forcing_probability(schedule, step, decay)
    )
