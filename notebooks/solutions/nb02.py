"""Reference solutions to the coding exercises of notebook 2 (encoder, attention, decoder)."""

import numpy as np
import tensorflow as tf

from nmt_keras.constants import NEG_INF


def my_masked_softmax(scores, mask):
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


def my_general_scores(query, values, W_a):
    """Exercise 2: h_t^T W_a h_j for every step t and position j.

    query: (batch, target_len, query_dim); values: (batch, source_len, value_dim);
    W_a: (value_dim, query_dim), the kernel of the Dense layer applied to the values.
    """
    keys = np.asarray(values) @ np.asarray(W_a)  # (batch, source_len, query_dim)
    return np.asarray(query) @ keys.transpose(0, 2, 1)  # (batch, target_len, source_len)


def my_decoder_step(decoder, previous_ids, s_prev, annotations, keys, source_mask):
    """Exercise 3: one step of a Bahdanau `Decoder` from its sublayers.

    previous_ids: (batch,); s_prev: (batch, units); annotations: (batch, source_len,
    value_dim); keys: (batch, source_len, attention_units), W_h h_j; source_mask: bool
    (batch, source_len). Returns logits (batch, target_vocab), s_t (batch, units) and
    the attention weights (batch, source_len).
    """
    attention = decoder.attention
    embedded = decoder.embedding(previous_ids)  # E y_{t-1}: (batch, embedding_dim)
    query = attention.query_projection(s_prev)  # W_s s_{t-1}: (batch, attention_units)
    hidden = tf.tanh(query[:, None, :] + keys)  # (batch, source_len, attention_units)
    scores = tf.reduce_sum(hidden * attention.v, axis=-1)  # e_tj: (batch, source_len)
    scores = tf.where(source_mask, scores, NEG_INF)
    weights = tf.nn.softmax(scores, axis=-1) * tf.cast(source_mask, scores.dtype)  # alpha_tj
    context = tf.einsum("bj,bjd->bd", weights, annotations)  # c_t: (batch, value_dim)
    s_t, _ = decoder.cell(tf.concat([embedded, context], axis=-1), [s_prev])  # GRU([E y; c], s)
    logits = decoder.output_layer.projection(tf.concat([s_t, context, embedded], axis=-1))  # W_o o_t + b_o
    return logits, s_t, weights
