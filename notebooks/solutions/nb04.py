"""Reference solutions to the coding exercises of notebook 4 (attention heatmaps)."""

import numpy as np

from nmt_keras.constants import END_TOKEN, PAD_TOKEN, START_TOKEN, UNK_TOKEN


def alignment_error_rate(predicted, gold):
    """Exercise 1: 1 - 2|A ∩ S| / (|A| + |S|), counts summed over the sentences."""
    hits = sum(len(set(a) & set(s)) for a, s in zip(predicted, gold))
    total = sum(len(a) for a in predicted) + sum(len(s) for s in gold)
    return 1.0 - 2.0 * hits / total


def attention_coverage(weights, threshold=0.5):
    """Exercise 2: the attention each source position received, and the neglected ones."""
    coverage = np.asarray(weights).sum(axis=0)  # (source_len,): summed over the output steps
    return coverage, [int(j) for j in np.flatnonzero(coverage < threshold)]


def replace_unknown(tokens, source_tokens, attention):
    """Exercise 3: each [UNK] becomes the most-attended source word of its step."""
    is_word = np.array([token not in (START_TOKEN, END_TOKEN, PAD_TOKEN) for token in source_tokens])
    replaced = list(tokens)
    for t, token in enumerate(tokens):
        if token == UNK_TOKEN and is_word.any():
            weights = np.where(is_word, np.asarray(attention)[t], -1.0)  # markers and padding never win
            replaced[t] = source_tokens[int(np.argmax(weights))]
    return replaced
