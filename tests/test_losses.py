"""Masked cross-entropy, masked accuracy and the exact token-mean metric."""

import numpy as np
import pytest
import tensorflow as tf

from nmt_keras.constants import PAD_ID
from nmt_keras.fast import sparse_cross_entropy
from nmt_keras.model import (
    TokenMean,
    masked_correct,
    masked_loss_sums,
    token_cross_entropy,
)

# Two target sentences over a vocabulary of 5; the second has one padded step.
LABELS = np.array([[4, 2, 3], [1, 3, PAD_ID]], dtype=np.int64)
LOGITS = np.array(
    [
        [[0.1, 0.2, 0.3, 0.4, 2.0], [0.0, 1.0, 3.0, 0.0, 0.0], [0.5, 0.5, 0.5, 0.9, 0.1]],
        [[0.0, 2.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0, 4.0], [9.0, 9.0, 9.0, 9.0, 9.0]],
    ],
    dtype=np.float32,
)


def hand_cross_entropy(logits, label):
    """-log softmax(logits)[label], written out."""
    shifted = logits - logits.max()
    return -(shifted[label] - np.log(np.exp(shifted).sum()))


def test_masked_cross_entropy_equals_a_hand_computation():
    loss_sum, _, count = masked_loss_sums(tf.constant(LABELS), tf.constant(LOGITS))
    expected = [
        hand_cross_entropy(LOGITS[b, t], LABELS[b, t])
        for b in range(2)
        for t in range(3)
        if LABELS[b, t] != PAD_ID
    ]
    assert count.numpy() == 5.0
    np.testing.assert_allclose(loss_sum.numpy(), np.sum(expected), rtol=1e-6)
    np.testing.assert_allclose((loss_sum / count).numpy(), np.mean(expected), rtol=1e-6)


def test_padding_is_excluded_from_numerator_and_denominator():
    loss_sum, _, count = masked_loss_sums(tf.constant(LABELS), tf.constant(LOGITS))
    # Twice as much padding, with wild logits there: the mean must not move.
    labels = np.pad(LABELS, ((0, 0), (0, 3)), constant_values=PAD_ID)
    logits = np.concatenate([LOGITS, np.full((2, 3, 5), 50.0, np.float32)], axis=1)
    padded_sum, _, padded_count = masked_loss_sums(tf.constant(labels), tf.constant(logits))
    assert padded_count.numpy() == count.numpy()
    np.testing.assert_allclose(padded_sum.numpy(), loss_sum.numpy(), rtol=1e-6)


def test_masked_accuracy_counts_only_real_tokens():
    correct, count = masked_correct(tf.constant(LABELS), tf.constant(LOGITS))
    # Arg-maxes: [4, 2, 3] and [1, 4, (pad)] -> 4 of 5 real tokens right.
    assert count.numpy() == 5.0
    assert correct.numpy() == 4.0


def test_token_mean_is_exact_over_uneven_batches():
    metric = TokenMean()
    metric.update_state(10.0, 2.0)  # batch mean 5 over 2 tokens
    metric.update_state(3.0, 6.0)  # batch mean 0.5 over 6 tokens
    np.testing.assert_allclose(metric.result().numpy(), 13.0 / 8.0)
    metric.reset_state()
    assert metric.result().numpy() == 0.0


@pytest.mark.parametrize("scale", [1.0, 80.0], ids=["ordinary", "extreme"])
def test_fast_cross_entropy_matches_tensorflow_values_and_gradients(scale):
    """`nmt_keras.fast.sparse_cross_entropy`, through `token_cross_entropy`, against
    TensorFlow's op."""
    # `scale` 80 makes some gold probabilities underflow float32 (the log-sum-exp branch).
    rng = np.random.default_rng(0)
    logits = tf.constant(rng.normal(size=(2, 7, 11)) * scale, tf.float32)
    labels = tf.constant(rng.integers(0, 11, size=(2, 7)), tf.int64)
    weights = tf.constant(rng.normal(size=(2, 7)), tf.float32)
    results = []
    fast = lambda y, x: token_cross_entropy(y, x, cross_entropy=sparse_cross_entropy)[1]  # noqa: E731
    for compute in (fast, tensorflow_cross_entropy):
        with tf.GradientTape() as tape:
            tape.watch(logits)
            per_token = compute(labels, logits)
            total = tf.reduce_sum(per_token * weights)
        results.append((per_token.numpy(), tape.gradient(total, logits).numpy()))
    (fast, fast_gradient), (expected, expected_gradient) = results
    assert np.all(np.isfinite(fast))
    np.testing.assert_allclose(fast, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fast_gradient, expected_gradient, rtol=1e-5, atol=1e-6)


def tensorflow_cross_entropy(labels, logits):
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)


def test_loss_sums_report_plain_cross_entropy_beside_the_smoothed_loss():
    labels, logits = tf.constant(LABELS), tf.constant(LOGITS)
    smoothed, plain, count = masked_loss_sums(labels, logits, label_smoothing=0.1)
    expected_plain, _, _ = masked_loss_sums(labels, logits)
    expected_smoothed, _, _ = masked_loss_sums(labels, logits, label_smoothing=0.1)
    assert count.numpy() == 5.0
    np.testing.assert_allclose(plain.numpy(), expected_plain.numpy(), rtol=1e-6)
    np.testing.assert_allclose(smoothed.numpy(), expected_smoothed.numpy(), rtol=1e-6)
    assert smoothed.numpy() != plain.numpy()


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_loss_sums_are_the_same_with_either_cross_entropy(label_smoothing):
    labels, logits = tf.constant(LABELS), tf.constant(LOGITS)
    keras_sums = masked_loss_sums(labels, logits, label_smoothing)
    fast_sums = masked_loss_sums(labels, logits, label_smoothing, cross_entropy=sparse_cross_entropy)
    for a, b in zip(fast_sums, keras_sums, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)
