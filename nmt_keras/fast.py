"""Fast kernels for training on a CPU: drop-in replacements for Keras pieces, chosen
once when a model is built (`nmt_keras.model.resolve_kernels`), each computing the same
function as the original with the same weights (tests check values and gradients):

    FusedGRU                 `keras.layers.GRU` with a hand-written backward pass
    sparse_cross_entropy     softmax cross-entropy from one softmax pass
    FusedAdam                `keras.optimizers.Adam` with one fused update kernel
    FusedGRUCell, gru_step   one GRU step with whole-gate splits

The teaching layers never branch on them: `kernels="fused"` is passed to the layers,
which pick the recurrent layer and cell through `nmt_keras.layers.blocks`, and picks the
loss (`nmt_keras.model`) and the optimizer (`nmt_keras.training.distribute`).

The GRU
-------
`FusedGRU` is a `keras.layers.GRU` and `FusedGRUCell` a `keras.layers.GRUCell`: same
constructor, same weights, same config and the same function (Keras' GRU with
`reset_after=True`). Only the arithmetic differs.

Away from cuDNN, Keras' GRU runs its cell step by step in a `while` loop and lets
TensorFlow differentiate through the loop: every step multiplies the input by the input
kernel, slices the gates out of a wider product (and the gradient of each slice writes
a zero tensor of the full width), and the weight gradients are accumulated one step at
a time. `FusedGRU` computes

    x_t  = W x_t + b_x                  all steps at once, one large matrix product
    loop over t:  z_t, r_t, h~_t, h_t   only the recurrent product U h_{t-1} inside
    backward loop over t:               only dh_{t-1} = U^T d(inner)_t inside
    dU = sum_t h_{t-1}^T d(inner)_t     after the loop, one large matrix product

with `inner = U h_{t-1} + b_h` split into its z, r and h parts:

    z_t  = sigmoid(x_z + inner_z)
    r_t  = sigmoid(x_r + inner_r)
    h~_t = tanh(x_h + r_t * inner_h)
    h_t  = z_t * h_{t-1} + (1 - z_t) * h~_t
    h_t  = h_{t-1} where the time step is masked (the state carries over)

`FusedGRUCell` computes one step with whole-gate splits instead of slices. Tests check
outputs, final states and every gradient against Keras' layers.

Under a mixed policy ("mixed_bfloat16" on a CPU) the GRU computes in the compute dtype
(its matrix products take bfloat16 operands, which a CPU with bfloat16 units multiplies
in hardware) and keeps Keras' float32 weights; the bias gradients, sums over steps and
sentences, are summed in float32. `sparse_cross_entropy` takes float32 logits and
`FusedAdam` updates float32 weights with float32 gradients, whatever the policy
(`tests/test_bfloat16.py` bounds the difference to float32).
"""

import keras
import tensorflow as tf

from nmt_keras.compat import adam_slots

# Below this gold-word probability, -log(p) loses precision (float32's smallest normal
# number is ~1.2e-38), so the loss is recomputed from a log-sum-exp instead.
MIN_GOLD_PROBABILITY = 1e-30


def check_fusable(cell):
    """Raises ValueError unless `cell` (a `keras.layers.GRUCell`) computes what this
    module computes: tanh and sigmoid, biases with `reset_after=True`, no dropout."""
    problems = [
        name for name, ok in (
            ("reset_after=True", cell.reset_after),
            ("use_bias=True", cell.use_bias),
            ("activation='tanh'", cell.activation is keras.activations.tanh),
            ("recurrent_activation='sigmoid'", cell.recurrent_activation is keras.activations.sigmoid),
            ("dropout=0", cell.dropout == 0),
            ("recurrent_dropout=0", cell.recurrent_dropout == 0),
        ) if not ok
    ]
    if problems:
        raise ValueError(f"the fused GRU needs {', '.join(problems)}; use keras.layers.GRU")


@keras.saving.register_keras_serializable(package="nmt_keras")
class FusedGRUCell(keras.layers.GRUCell):
    """`keras.layers.GRUCell` whose step uses whole-gate splits: the same function as
    Keras' cell (which slices its gates out of wider products; the gradient of every
    slice writes a zero tensor of the full width, at every step of a loop)."""

    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        check_fusable(self)

    def call(self, inputs, states, training=False):
        nested = isinstance(states, (list, tuple))
        h = gru_step(self, inputs, states[0] if nested else states)
        return h, [h] if nested else h


@keras.saving.register_keras_serializable(package="nmt_keras")
class FusedGRU(keras.layers.GRU):
    """`keras.layers.GRU` that runs whole sequences with the hand-written forward and
    backward loops of this module. Everything else, its cell (Keras' `GRUCell`, which
    holds the weights), masks, `go_backwards`, `Bidirectional`, `return_state`,
    `zero_output_for_mask`, serialization, is Keras' own."""

    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        check_fusable(self.cell)

    def inner_loop(self, sequences, initial_state, mask, training=False):
        """What `keras.layers.RNN.inner_loop` returns: `(last_output, outputs, states)`."""
        state = initial_state[0] if isinstance(initial_state, (list, tuple)) else initial_state
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if self.go_backwards:  # Keras' convention: read in reverse, return in reading order
            sequences = tf.reverse(sequences, axis=[1])
            mask = None if mask is None else tf.reverse(mask, axis=[1])
        outputs, last = gru_sequence(self.cell, sequences, state, mask, self.zero_output_for_mask)
        return last, outputs, [last]


def gru_sequence(cell, inputs, initial_state, mask=None, zero_output_for_mask=False):
    """Runs a built `GRUCell` over whole sequences.

    Args:
        cell: `keras.layers.GRUCell` (see `check_fusable`).
        inputs: `(batch, time, input_dim)`.
        initial_state: `(batch, units)`.
        mask: bool `(batch, time)`, True at real steps, or None.
        zero_output_for_mask: bool. Output zeros at masked steps (else, as Keras
            does, the output of the last real step, and zeros before the first one).

    Returns:
        outputs `(batch, time, units)` and the final state `(batch, units)`.
    """
    dtype = inputs.dtype  # the compute dtype: float32, or bfloat16 under "mixed_bfloat16"
    units = cell.units
    kernel = tf.cast(cell.kernel, dtype)  # (input_dim, 3 * units)
    # The biases stay in the weights' dtype (float32), so that their gradients, sums
    # over every step of every sentence, are accumulated in float32 (see `_gru_recurrence`).
    input_bias, recurrent_bias = tf.unstack(tf.convert_to_tensor(cell.bias))  # (3 * units,) each
    time_major = tf.transpose(inputs, [1, 0, 2])  # (time, batch, input_dim)
    time, batch = tf.shape(time_major)[0], tf.shape(time_major)[1]
    product = tf.matmul(tf.reshape(time_major, [-1, inputs.shape[-1]]), kernel)  # (time * batch, 3 * units)
    projected = tf.reshape(
        tf.cast(tf.cast(product, input_bias.dtype) + input_bias, dtype),
        [time, batch, 3 * units],
    )  # (time, batch, 3 * units): W x_t + b_x for every step, in one product
    if mask is None:
        steps = tf.ones_like(projected[:, :, :1])  # (time, batch, 1)
    else:
        steps = tf.cast(tf.transpose(mask)[:, :, None], dtype)  # (time, batch, 1)
    states = _gru_recurrence(
        projected, tf.cast(initial_state, dtype), tf.convert_to_tensor(cell.recurrent_kernel),
        recurrent_bias, steps,
    )  # (time, batch, units)
    if zero_output_for_mask:
        outputs = states * steps
    elif mask is None:
        outputs = states
    else:  # Keras' masked output starts at zero, not at the initial state
        outputs = states * tf.cast(tf.cumsum(steps, axis=0) > 0, dtype)
    return tf.transpose(outputs, [1, 0, 2]), states[-1]


def gru_step(cell, inputs, state):
    """One step of a built `GRUCell`: the same function as `GRUCell.call`.

    Args:
        cell: `keras.layers.GRUCell` (see `check_fusable`).
        inputs: `(batch, input_dim)`, x_t.
        state: `(batch, units)`, h_{t-1}.

    Returns:
        h_t `(batch, units)`.
    """
    with tf.name_scope("gru_step"):
        return _gru_step(cell, inputs, state)


def _gru_step(cell, inputs, state):
    dtype = state.dtype
    units = cell.units
    input_bias, recurrent_bias = tf.unstack(tf.cast(cell.bias, dtype))  # (3 * units,) each
    projected = tf.matmul(inputs, tf.cast(cell.kernel, dtype)) + input_bias  # (batch, 3 * units)
    inner = tf.matmul(state, tf.cast(cell.recurrent_kernel, dtype)) + recurrent_bias
    x_zr, x_h = tf.split(projected, [2 * units, units], axis=-1)
    inner_zr, inner_h = tf.split(inner, [2 * units, units], axis=-1)
    update, reset = tf.split(tf.sigmoid(x_zr + inner_zr), 2, axis=-1)
    candidate = tf.tanh(x_h + reset * inner_h)
    return candidate + update * (state - candidate)


@tf.autograph.experimental.do_not_convert
@tf.custom_gradient
def _gru_recurrence(projected, initial_state, recurrent_kernel, recurrent_bias, steps):
    """The GRU loop with its backward pass written out.

    Both loops are `tf.while_loop`s that read step t of their inputs by indexing and
    write their per-step results to `TensorArray`s; the backward loop keeps only what
    feeds back (dh) and the two products with the recurrent kernel's gate blocks.

    The loops compute in the dtype of `projected` (the compute dtype). The recurrent
    weights come in their own dtype (float32 master weights, also under
    "mixed_bfloat16") and are cast for the loops; their gradients are sums over all
    steps and sentences, returned in the weights' dtype (the bias's summed in float32).

    Args:
        projected: `(time, batch, 3 * units)`, `W x_t + b_x` for every step.
        initial_state: `(batch, units)`, in the compute dtype.
        recurrent_kernel: `(units, 3 * units)`, blocks [U_z U_r U_h].
        recurrent_bias: `(3 * units,)`.
        steps: `(time, batch, 1)`, 1.0 at real steps and 0.0 at padding.

    Returns:
        states `(time, batch, units)`: h_t after every step.
    """
    units = recurrent_kernel.shape[0]
    time_steps = tf.shape(projected)[0]
    dtype = projected.dtype
    weights_dtype = recurrent_kernel.dtype
    recurrent_kernel = tf.cast(recurrent_kernel, dtype)
    recurrent_bias = tf.cast(recurrent_bias, dtype)

    def per_step(width):
        return tf.TensorArray(dtype, size=time_steps, element_shape=[None, width])

    def forward(t, state, states, gates, candidates, inner_hs):
        inner = tf.matmul(state, recurrent_kernel) + recurrent_bias  # (batch, 3 * units)
        x_zr, x_h = tf.split(projected[t], [2 * units, units], axis=-1)
        inner_zr, inner_h = tf.split(inner, [2 * units, units], axis=-1)
        gates_t = tf.sigmoid(x_zr + inner_zr)  # (batch, 2 * units): [z; r]
        candidate = tf.tanh(x_h + gates_t[:, units:] * inner_h)
        new_state = candidate + gates_t[:, :units] * (state - candidate)
        new_state = state + steps[t] * (new_state - state)  # padding keeps the state
        return (
            t + 1, new_state, states.write(t, new_state), gates.write(t, gates_t),
            candidates.write(t, candidate), inner_hs.write(t, inner_h),
        )

    _, _, states, gates, candidates, inner_hs = tf.while_loop(
        lambda t, *_: t < time_steps,
        forward,
        (0, initial_state, per_step(units), per_step(2 * units), per_step(units), per_step(units)),
    )
    states = states.stack()  # (time, batch, units)
    gates, candidates, inner_hs = gates.stack(), candidates.stack(), inner_hs.stack()
    updates, resets = tf.split(gates, 2, axis=-1)  # (time, batch, units) each
    previous = tf.concat([initial_state[None], states[:-1]], axis=0)  # h_{t-1}

    def gradient(d_states):
        kernel_zr, kernel_h = tf.split(recurrent_kernel, [2 * units, units], axis=1)
        kernel_zr_t, kernel_h_t = tf.transpose(kernel_zr), tf.transpose(kernel_h)

        def backward(t, d_state, d_gates, d_candidates):
            d_total = d_state + d_states[t]  # dLoss/dh_t, from later steps and the output
            d_new = steps[t] * d_total  # through the real update
            update, reset, candidate = updates[t], resets[t], candidates[t]
            d_candidate_in = d_new * (1.0 - update) * (1.0 - candidate * candidate)
            d_gates_in = tf.concat(
                [
                    d_new * (previous[t] - candidate) * update * (1.0 - update),
                    d_candidate_in * inner_hs[t] * reset * (1.0 - reset),
                ],
                axis=-1,
            )  # (batch, 2 * units)
            d_previous = (
                d_total - d_new  # padding: the state was carried over
                + d_new * update
                + tf.matmul(d_gates_in, kernel_zr_t)
                + tf.matmul(d_candidate_in * reset, kernel_h_t)
            )
            return t - 1, d_previous, d_gates.write(t, d_gates_in), d_candidates.write(t, d_candidate_in)

        _, d_initial, d_gates, d_candidates = tf.while_loop(
            lambda t, *_: t >= 0,
            backward,
            (time_steps - 1, tf.zeros_like(initial_state), per_step(2 * units), per_step(units)),
        )
        d_gates, d_candidates = d_gates.stack(), d_candidates.stack()
        d_projected = tf.concat([d_gates, d_candidates], axis=-1)  # (time, batch, 3 * units)
        d_inner = tf.concat([d_gates, d_candidates * resets], axis=-1)  # (time, batch, 3 * units)
        flat_previous = tf.reshape(previous, [-1, units])  # (time * batch, units)
        flat_d_inner = tf.reshape(d_inner, [-1, 3 * units])  # (time * batch, 3 * units)
        # Returned in the weights' dtype; the bias's sum over steps and sentences is
        # done in float32.
        d_recurrent_kernel = tf.cast(
            tf.matmul(flat_previous, flat_d_inner, transpose_a=True), weights_dtype
        )  # (units, 3 * units)
        d_recurrent_bias = tf.reduce_sum(tf.cast(flat_d_inner, weights_dtype), axis=0)
        return d_projected, d_initial, d_recurrent_kernel, d_recurrent_bias, None

    return states, gradient


# ---------------------------------------------------------------- cross-entropy


@tf.custom_gradient
def sparse_cross_entropy(logits, labels):
    """`-log softmax(logits)[label]` per row, and its gradient `softmax - one_hot`.

    The same function as `tf.nn.sparse_softmax_cross_entropy_with_logits`, computed
    from one `tf.nn.softmax` (a oneDNN kernel on x86 CPUs), whose result the gradient
    reuses: one pass over the logits instead of two (see `docs/performance.md`). A test
    checks values and gradients against TensorFlow's op.

    Args:
        logits: float32 `(tokens, vocab_size)`.
        labels: int `(tokens,)`.

    Returns:
        float32 `(tokens,)`.
    """
    probabilities = tf.nn.softmax(logits, axis=-1)  # (tokens, vocab_size)
    gold = tf.gather(probabilities, labels, axis=1, batch_dims=1)  # (tokens,)

    def from_probabilities():
        return -tf.math.log(gold)

    def from_logits():  # a gold probability too small for float32's log
        gold_logit = tf.gather(logits, labels, axis=1, batch_dims=1)
        return tf.reduce_logsumexp(logits, axis=-1) - gold_logit

    loss = tf.cond(
        tf.reduce_all(gold > MIN_GOLD_PROBABILITY), from_probabilities, from_logits
    )

    def gradient(upstream):  # upstream: (tokens,)
        rows = tf.range(tf.shape(labels, out_type=labels.dtype)[0], dtype=labels.dtype)
        gold_positions = tf.stack([rows, labels], axis=1)  # (tokens, 2)
        scaled = probabilities * upstream[:, None]  # (tokens, vocab_size)
        return tf.tensor_scatter_nd_sub(scaled, gold_positions, upstream), None

    return loss, gradient


# ------------------------------------------------------------------------ Adam


@keras.saving.register_keras_serializable(package="nmt_keras")
class FusedAdam(keras.optimizers.Adam):
    """`keras.optimizers.Adam` with the update done by TensorFlow's `ResourceApplyAdam`.

    Keras' Adam updates each variable with about ten separate element-wise operations,
    each a pass over memory; for the translator's large matrices (the embeddings and
    the vocabulary projection) that is a sizeable share of a CPU training step. `ResourceApplyAdam` does the same update in
    one pass:

        lr_t = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
        m    = beta_1 * m + (1 - beta_1) * g
        v    = beta_2 * v + (1 - beta_2) * g^2
        w    = w - lr_t * m / (sqrt(v) + epsilon)

    which is Keras' Adam formula, so both give the same weights up to float rounding
    (a test checks it), and the optimizer's variables (`iterations`, momentums,
    velocities) are the same, so checkpoints and backups are interchangeable.

    Sparse gradients (`tf.IndexedSlices`, from embedding lookups) go through Keras'
    own update, because Keras treats them in a way no fused kernel reproduces: it
    squares each slice before the slices of a repeated word are summed, so the second
    moment of an embedding row gets the sum of the squared per-occurrence gradients
    rather than the square of their sum (TensorFlow's dense `ResourceApplyAdam`, like
    the textbook algorithm, uses the latter), and the difference changes what the model
    learns (docs/performance.md, "Adam"). With `amsgrad=True`, or
    for variables the kernel does not take, it also falls back to Keras' update.

    Args: those of `keras.optimizers.Adam`.

    Example:
    >>> optimizer = FusedAdam(learning_rate=1e-3)
    >>> weights = keras.Variable(np.ones((2, 3), "float32"))
    >>> optimizer.apply_gradients([(np.ones((2, 3), "float32"), weights)])
    """

    def update_step(self, gradient, variable, learning_rate):
        target = variable.value if isinstance(variable, keras.Variable) else variable
        if (
            self.amsgrad
            or isinstance(gradient, tf.IndexedSlices)
            or not isinstance(target, tf.Variable)
        ):
            return super().update_step(gradient, variable, learning_rate)
        dtype = target.dtype
        momentum, velocity = (slot.value for slot in adam_slots(self, variable))
        step = tf.cast(self.iterations + 1, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        return tf.raw_ops.ResourceApplyAdam(
            var=target.handle,
            m=momentum.handle,
            v=velocity.handle,
            beta1_power=tf.pow(beta_1, step),
            beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype),
            beta1=beta_1,
            beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype),
            use_locking=False,
        )
