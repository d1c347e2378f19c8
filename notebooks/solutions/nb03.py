"""Reference solutions to the coding exercises of notebook 3 (training)."""

import numpy as np
import tensorflow as tf

from nmt_keras.model import masked_cross_entropy
from nmt_keras.constants import PAD_ID


def my_shift_targets(rows):
    """Exercise 1: `[START] y_1 ... y_m [END]` rows -> `(target_in, target_out)`."""
    width = max(len(row) for row in rows) - 1
    target_in = np.full((len(rows), width), PAD_ID, dtype=np.int64)
    target_out = np.full((len(rows), width), PAD_ID, dtype=np.int64)
    for i, row in enumerate(rows):
        target_in[i, : len(row) - 1] = row[:-1]  # what the decoder reads
        target_out[i, : len(row) - 1] = row[1:]  # what it must predict
    return target_in, target_out


def my_smoothed_cross_entropy(labels, logits, epsilon):
    """Exercise 2: `(1 - e) (-log p_gold) + e mean_k(-log p_k)` per token."""
    logits = np.asarray(logits, dtype=np.float64)
    peak = logits.max(axis=-1, keepdims=True)
    log_normalizer = peak[..., 0] + np.log(np.exp(logits - peak).sum(axis=-1))  # logsumexp
    log_probs = logits - log_normalizer[..., None]  # (batch, target_len, vocab)
    gold = np.take_along_axis(log_probs, np.asarray(labels)[..., None], axis=-1)[..., 0]
    return (1.0 - epsilon) * -gold + epsilon * -log_probs.mean(axis=-1)


def my_accumulated_gradients(model, parts):
    """Exercise 3: each part's masked loss *sum* divided by the token count of all parts
    together, differentiated, and the gradients added."""
    total_tokens = sum(float(tf.reduce_sum(tf.cast(target_out != PAD_ID, tf.float32)))
                       for _, _, target_out in parts)
    total = None
    for source_ids, target_in, target_out in parts:
        with tf.GradientTape() as tape:
            logits = model((source_ids, target_in), training=False)
            loss_sum, _ = masked_cross_entropy(target_out, logits)
            loss = loss_sum / total_tokens
        gradients = [tf.convert_to_tensor(g) for g in tape.gradient(loss, model.trainable_variables)]
        total = gradients if total is None else [a + b for a, b in zip(total, gradients)]
    return total
