"""Masked token-level loss and accuracy, and metrics that average them exactly.

The cross-entropy itself is passed in (`cross_entropy=`): TensorFlow's
`sparse_softmax_cross_entropy_with_logits` (`keras_cross_entropy`), or the one-pass
kernel of `nmt_keras.fast`; the model picks one when it is built.
"""

import keras
import tensorflow as tf

from nmt_keras.constants import PAD_ID

def keras_cross_entropy(logits, labels):
    """`-log softmax(logits)[label]` per row: TensorFlow's fused op."""
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)


def token_cross_entropy(labels, logits, label_smoothing=0.0, cross_entropy=keras_cross_entropy):
    """Per-token training loss and plain cross-entropy.

    With label smoothing `e`, the target distribution is `(1 - e)` on the gold word plus
    `e` spread uniformly over the vocabulary: per token,
    `(1 - e) * (-log p_gold) + e * mean_k(-log p_k)`.

    Args:
        labels: int `(...)`, the gold next tokens.
        logits: `(..., vocab_size)`; computed in float32.
        label_smoothing: float in [0, 1).
        cross_entropy: function(logits `(tokens, vocab)`, labels `(tokens,)`) ->
            `(tokens,)`, the plain cross-entropy.

    Returns:
        `(loss, cross_entropy)`, float32 `(...)`: the label-smoothed training loss and
        the plain `-log p_gold` (equal without smoothing). Padding is not masked here.
    """
    logits = tf.cast(logits, tf.float32)
    vocab_size = tf.shape(logits)[-1]
    flat_logits = tf.reshape(logits, [-1, vocab_size])  # (tokens, vocab_size)
    flat_labels = tf.reshape(tf.cast(labels, tf.int64), [-1])  # (tokens,)
    plain = tf.reshape(cross_entropy(flat_logits, flat_labels), tf.shape(labels))
    if not label_smoothing:
        return plain, plain
    # mean_k(-log p_k) = logsumexp(logits) - mean_k(logits), and
    # logsumexp(logits) = -log p_gold + gold logit.
    gold_logit = tf.gather(logits, tf.cast(labels, tf.int64), axis=-1, batch_dims=len(labels.shape))
    uniform = plain + gold_logit - tf.reduce_mean(logits, axis=-1)
    return (1.0 - label_smoothing) * plain + label_smoothing * uniform, plain


def masked_loss_sums(labels, logits, label_smoothing=0.0, cross_entropy=keras_cross_entropy):
    """Loss sums over real (non-padding) tokens, and their count.

    Padding (`PAD_ID`) is excluded from both the sums and the count, so a batch's mean
    loss does not depend on how much padding it carries.

    Args:
        labels: int `(...)`, the gold next tokens, `PAD_ID`-padded.
        logits: `(..., vocab_size)`.
        label_smoothing: float in [0, 1).

    Returns:
        `(loss_sum, cross_entropy_sum, token_count)`, float32 scalars: the training loss
        (label-smoothed) summed, the plain cross-entropy summed (what is reported), and
        the number of real tokens.
    """
    loss, plain = token_cross_entropy(labels, logits, label_smoothing, cross_entropy)
    mask = tf.cast(labels != PAD_ID, tf.float32)
    return tf.reduce_sum(loss * mask), tf.reduce_sum(plain * mask), tf.reduce_sum(mask)


def masked_cross_entropy(labels, logits, label_smoothing=0.0):
    """Sum of per-token losses over real (non-padding) tokens, and their count.

    Args:
        labels: int `(batch, target_len)`, the gold next tokens, `PAD_ID`-padded.
        logits: `(batch, target_len, vocab_size)`; computed in float32.
        label_smoothing: float in [0, 1) (see `token_cross_entropy`).

    Returns:
        `(loss_sum, token_count)`, two float32 scalars.
    """
    loss_sum, _, token_count = masked_loss_sums(labels, logits, label_smoothing)
    return loss_sum, token_count


def masked_correct(labels, logits):
    """Number of real tokens whose arg-max prediction is right, and the token count."""
    mask = labels != PAD_ID
    predictions = tf.argmax(logits, axis=-1, output_type=labels.dtype)
    correct = tf.logical_and(mask, tf.equal(predictions, labels))
    return tf.reduce_sum(tf.cast(correct, tf.float32)), tf.reduce_sum(tf.cast(mask, tf.float32))


@keras.saving.register_keras_serializable(package="nmt_keras")
class TokenMean(keras.metrics.Metric):
    """Running `sum(numerators) / sum(denominators)`: an exact per-token mean over an
    epoch, unlike the mean of per-batch means (batches hold different token counts)."""

    def __init__(self, name="token_mean", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, numerator, denominator):
        self.total.assign_add(tf.cast(numerator, self.dtype))
        self.count.assign_add(tf.cast(denominator, self.dtype))

    def result(self):
        return tf.math.divide_no_nan(self.total, self.count)


@keras.saving.register_keras_serializable(package="nmt_keras")
class LastValue(keras.metrics.Metric):
    """Reports the last value it was given (e.g. the current scheduled-sampling
    probability at the end of an epoch)."""

    def __init__(self, name="last_value", **kwargs):
        super().__init__(name=name, **kwargs)
        self.value = self.add_variable(shape=(), initializer="zeros", name="value", aggregation="mean")

    def update_state(self, value):
        self.value.assign(tf.cast(value, self.dtype))

    def result(self):
        return tf.identity(self.value)
