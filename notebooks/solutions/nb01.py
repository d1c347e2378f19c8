"""Reference solutions to the coding exercises of notebook 1 (data and tokenization)."""

import collections
import re
import unicodedata

import numpy as np

from nmt_keras import constants
from nmt_keras.data import tokenizers


def my_standardize(sentence):
    """Exercise 1: one sentence -> its standardized form, like `tokenizers.standardize`."""
    sentence = "".join(" " if unicodedata.category(c) in ("Cc", "Cf") else c for c in sentence)
    sentence = unicodedata.normalize("NFKD", sentence).lower()
    sentence = "".join(c for c in sentence if unicodedata.category(c) != "Mn")
    sentence = re.sub("[\u2018\u2019\u02bc]", "'", sentence)
    sentence = "".join(
        c if c.isalpha() or c.isnumeric() or c.isspace() or c == "'" else f" {c} " for c in sentence
    )
    return " ".join(sentence.split())


def my_learn_vocabulary(sentences, max_tokens=None):
    """Exercise 2: the most frequent standardized words first, ties alphabetically, at most
    `max_tokens - 4` of them (the special ids take the first four)."""
    counts = collections.Counter(
        word for line in tokenizers.standardize_texts(list(sentences)) for word in line.split()
    )
    words = sorted(counts, key=lambda word: (-counts[word], word))
    if max_tokens is not None:
        words = words[: max_tokens - len(constants.SPECIAL_TOKENS)]
    return words


def my_pad_batch(rows):
    """Exercise 3: `[START] ids [END]` per row, right-padded: `(ids, mask)`."""
    rows = [[constants.START_ID, *row, constants.END_ID] for row in rows]
    ids = np.full((len(rows), max(map(len, rows))), constants.PAD_ID, dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
    return ids, ids != constants.PAD_ID
