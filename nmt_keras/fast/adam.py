"""Adam whose update runs as one fused TensorFlow kernel per variable."""

import keras
import tensorflow as tf

from nmt_keras.compat import adam_slots


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
    the textbook algorithm, uses the latter). The difference changes training: on the
    embedded corpus, the demo's attention crosses on noun-adjective pairs with Keras'
    update and not with the dense one. With `amsgrad=True`, or
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
