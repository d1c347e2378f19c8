"""Reference solutions to the coding exercises of notebook 2 (encoder, attention, decoder)."""

import numpy as np


def masked_softmax(scores, mask):
    """Exercise 1: softmax over the source positions, exactly 0.0 where `mask` is False.

    scores: (batch, target_len, source_len); mask: bool (batch, source_len).
    """
    scores = np.asarray(scores, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)[:, None, :]  # (batch, 1, source_len)
    scores = np.where(mask, scores, -np.inf)
    peak = scores.max(axis=-1, keepdims=True)  # a row with a real position has a finite peak
    exponentials = np.where(mask, np.exp(scores - np.where(np.isfinite(peak), peak, 0.0)), 0.0)
    total = exponentials.sum(axis=-1, keepdims=True)
    return exponentials / np.where(total > 0, total, 1.0)


def general_scores(query, values, W_a):
    """Exercise 2: h_t^T W_a h_j for every step t and position j.

    query: (batch, target_len, query_dim); values: (batch, source_len, value_dim);
    W_a: (value_dim, query_dim), the kernel of the Dense layer applied to the values.
    """
    keys = np.asarray(values) @ np.asarray(W_a)  # (batch, source_len, query_dim)
    return np.asarray(query) @ keys.transpose(0, 2, 1)  # (batch, target_len, source_len)


def attention_parameters(query_dim, value_dim, units):
    """Exercise 3: W_s (query_dim x units), W_h (value_dim x units) and v (units)."""
    return query_dim * units + value_dim * units + units
