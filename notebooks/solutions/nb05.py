"""Reference solutions to the coding exercises of notebook 5 (beyond teacher forcing)."""

import collections
import math


def my_sentence_bleu(hypothesis, reference):
    """Exercise 1: BLEU of one sentence, orders 1 .. min(4, hypothesis length)."""
    hypothesis, reference = hypothesis.split(), reference.split()
    orders = min(4, len(hypothesis))
    log_precision = 0.0
    for n in range(1, orders + 1):
        counts = collections.Counter(tuple(hypothesis[i : i + n]) for i in range(len(hypothesis) - n + 1))
        reference_counts = collections.Counter(tuple(reference[i : i + n]) for i in range(len(reference) - n + 1))
        clipped = sum(min(count, reference_counts[gram]) for gram, count in counts.items())
        log_precision += math.log(clipped / sum(counts.values()))
    brevity = min(1.0, math.exp(1 - len(reference) / len(hypothesis)))
    return 100 * brevity * math.exp(log_precision / orders)


def my_beam_search(next_log_probs, beam_width, max_length):
    """Exercise 2: plain beam search; hypotheses are (prefix tuple, score)."""
    beam, finished = [(("<s>",), 0.0)], []
    for _ in range(max_length):
        extensions = [
            (prefix + (word,), score + log_probability)
            for prefix, score in beam
            for word, log_probability in next_log_probs(prefix).items()
        ]
        extensions.sort(key=lambda hypothesis: -hypothesis[1])  # stable: ties keep their order
        beam = []
        for prefix, score in extensions[:beam_width]:
            (finished if prefix[-1] == "</s>" else beam).append((prefix, score))
        if not beam:
            break
    prefix, score = max(finished, key=lambda hypothesis: hypothesis[1])
    return list(prefix[1:-1]), score


def my_rerank(candidates, alpha):
    """Exercise 3: the candidate with the best score / ((5 + |Y|) / 6) ** alpha."""
    words, _ = max(candidates, key=lambda c: c[1] / ((5 + len(c[0])) / 6) ** alpha)
    return words
