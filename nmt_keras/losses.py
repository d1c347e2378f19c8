"""Masked token-level loss and accuracy, and a metric that averages them exactly."""

import keras
import tensorflow as tf

from nmt_keras.constants import PAD_ID


def masked_cross_entropy(labels, logits, label_smoothing=0.0):
    """Sum of per-token cross-entropies over real (non-padding) tokens, and their count.

    Padding (`PAD_ID`) is excluded from both: the mean loss is `loss_sum / token_count`,
    so a batch's loss does not depend on how much padding it carries.

    With label smoothing `e`, the target distribution is `(1 - e)` on the gold word plus
    `e` spread uniformly over the vocabulary: per token,
    `(1 - e) * (-log p_gold) + e * mean_k(-log p_k)`.

    Args:
        labels: int `(batch, target_len)`, the gold next tokens, `PAD_ID`-padded.
        logits: `(batch, target_len, vocab_size)`; computed in float32.
        label_smoothing: float in [0, 1).

    Returns:
        `(loss_sum, token_count)`, two float32 scalars.
    """
    logits = tf.cast(logits, tf.float32)
    mask = tf.cast(labels != PAD_ID, tf.float32)  # (batch, target_len)
    per_token = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(labels, tf.int32), logits=logits
    )  # (batch, target_len)
    if label_smoothing:
        # mean_k(-log p_k) = logsumexp(logits) - mean_k(logits)
        uniform = tf.reduce_logsumexp(logits, axis=-1) - tf.reduce_mean(logits, axis=-1)
        per_token = (1.0 - label_smoothing) * per_token + label_smoothing * uniform
    return tf.reduce_sum(per_token * mask), tf.reduce_sum(mask)


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
