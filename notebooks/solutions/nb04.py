"""Reference solutions to the coding exercises of notebook 4 (attention heatmaps)."""

import numpy as np
import tensorflow as tf

from nmt_keras.constants import END_ID, END_TOKEN, PAD_ID, PAD_TOKEN, START_ID, START_TOKEN, UNK_TOKEN
from nmt_keras.inference import search


def my_alignment_error_rate(predicted, gold):
    """Exercise 1: 1 - 2|A ∩ S| / (|A| + |S|), counts summed over the sentences."""
    hits = sum(len(set(a) & set(s)) for a, s in zip(predicted, gold))
    total = sum(len(a) for a in predicted) + sum(len(s) for s in gold)
    return 1.0 - 2.0 * hits / total


def my_greedy_decode(model, source_ids, max_length):
    """Exercise 2: greedy search, one step at a time; token ids (batch, steps)."""
    state, memory = model.start(source_ids)
    batch = source_ids.shape[0]
    previous = tf.fill([batch], tf.constant(START_ID, tf.int64))
    done = np.zeros(batch, bool)
    steps = []
    for _ in range(max_length):
        if done.all():
            break
        logits, state, _ = model.next_logits(previous, state, memory)  # (batch, vocab)
        logits = search.suppress_tokens(logits, search.NEVER_EMITTED)
        chosen = np.where(done, PAD_ID, np.argmax(logits.numpy(), axis=-1))  # (batch,)
        steps.append(chosen)
        done |= chosen == END_ID
        previous = tf.constant(chosen, tf.int64)
    return np.stack(steps, axis=1) if steps else np.zeros([batch, 0], np.int64)


def my_replace_unknown(tokens, source_tokens, attention):
    """Exercise 3: each [UNK] becomes the most-attended source word of its step."""
    is_word = np.array([token not in (START_TOKEN, END_TOKEN, PAD_TOKEN) for token in source_tokens])
    replaced = list(tokens)
    for t, token in enumerate(tokens):
        if token == UNK_TOKEN and is_word.any():
            weights = np.where(is_word, np.asarray(attention)[t], -1.0)  # markers and padding never win
            replaced[t] = source_tokens[int(np.argmax(weights))]
    return replaced
