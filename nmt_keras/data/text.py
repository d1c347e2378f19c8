"""Text standardization and word-level vectorization.

One rule turns raw text into tokens, for both languages and for every corpus:

1. control and format characters (NUL, zero-width, direction marks) become spaces;
2. Unicode NFKD normalization with tensorflow-text's `normalize_utf8`, so "á" becomes
   "a" + a combining accent, and compatibility forms ("ﬁ", full-width letters) are unfolded;
3. lower-casing (Unicode-aware);
4. the accents of Latin letters are dropped ("está" -> "esta"), as the TensorFlow
   tutorial does; the marks of other scripts are kept and recomposed (NFC), because
   they are part of the letter ("й" is not "и", "が" is not "か");
5. every character that is not a letter, mark, digit, apostrophe or space (punctuation
   such as "¿ ? ¡ ! . ,", symbols, emoji) becomes a token of its own;
6. in scripts written without spaces between words (Chinese, Japanese, Thai, Lao,
   Khmer, Burmese) every character, with its marks, is a token of its own: a sentence
   never becomes one token;
7. runs of whitespace collapse to one space; the ends are stripped.

Tokens are then the space-separated pieces. `TextVectorization` maps them to ids with a
vocabulary learned from the *training split only*; its first ids are the special tokens
of `nmt_keras.constants`, and any other word maps to `[UNK]`, so no input can crash it.
"""

from collections import Counter

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from nmt_keras.constants import (
    END_ID,
    NUM_SPECIAL_TOKENS,
    PAD_TOKEN,
    SPECIAL_TOKENS,
    START_ID,
    UNK_TOKEN,
)

_LATIN_ACCENTS = r"(\p{Latin})\p{Mn}+"
_CONTROL_AND_FORMAT = r"[\p{Cc}\p{Cf}]"
_TYPOGRAPHIC_APOSTROPHES = r"[\x{2018}\x{2019}\x{02BC}]"
_STANDALONE_CHARACTER = r"([^\p{L}\p{M}\p{N}\s'])"
# Characters of scripts written without spaces, each with the marks that follow it.
_UNSPACED_CHARACTER = r"([\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}]\p{M}*)"
_WHITESPACE_RUN = r"\s+"


@keras.saving.register_keras_serializable(package="nmt_keras")
def standardize(text):
    """Standardizes a string tensor of any shape (see the module docstring).

    Examples: `standardize(["¿Todavía está en casa?"])` -> `["¿ todavia esta en casa ?"]`;
    `standardize(["猫が好き。"])` -> `["猫 が 好 き 。"]`.
    """
    # Control characters go first: `tf.strings.lower` stops at a NUL byte.
    text = tf.strings.regex_replace(text, _CONTROL_AND_FORMAT, " ")
    text = tf_text.normalize_utf8(text, "NFKD")
    text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, _LATIN_ACCENTS, r"\1")
    text = tf_text.normalize_utf8(text, "NFC")
    text = tf.strings.regex_replace(text, _TYPOGRAPHIC_APOSTROPHES, "'")
    text = tf.strings.regex_replace(text, _STANDALONE_CHARACTER, r" \1 ")
    text = tf.strings.regex_replace(text, _UNSPACED_CHARACTER, r" \1 ")
    text = tf.strings.regex_replace(text, _WHITESPACE_RUN, " ")
    return tf.strings.strip(text)


def standardize_texts(texts):
    """Standardizes a Python list of strings; returns a list of str (for evaluation)."""
    if not texts:
        return []
    out = standardize(tf.constant(list(texts), dtype=tf.string)).numpy()
    return [t.decode("utf-8") for t in out]


def tokenize_words(texts, batch_size=4096):
    """Yields the standardized token list of each text, batching the TensorFlow calls."""
    texts = list(texts)
    for start in range(0, len(texts), batch_size):
        for line in standardize_texts(texts[start : start + batch_size]):
            yield line.split()


def learn_vocabulary(texts, max_tokens=None, min_count=1):
    """Learns a word vocabulary from `texts` (call it on the training split only).

    Returns the list of words, most frequent first (ties broken alphabetically, so the
    result is deterministic), without the special tokens.

    Args:
        texts: iterable of str. Raw sentences; standardized here.
        max_tokens: int or None. Size limit of the *whole* vocabulary, special tokens
            included (like `TextVectorization(max_tokens=...)`). Defaults to no limit.
        min_count: int. Words seen fewer times are left out (they become `[UNK]`).
    """
    counts = Counter()
    for tokens in tokenize_words(texts):
        counts.update(tokens)
    for special in SPECIAL_TOKENS:
        counts.pop(special, None)
    words = sorted(
        (w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w)
    )
    if max_tokens is not None:
        if max_tokens <= NUM_SPECIAL_TOKENS:
            raise ValueError(
                f"max_tokens={max_tokens} leaves no room for words: it must exceed the "
                f"{NUM_SPECIAL_TOKENS} special tokens {SPECIAL_TOKENS}."
            )
        words = words[: max_tokens - NUM_SPECIAL_TOKENS]
    return words


def word_vectorizer(words, name=None):
    """Builds a `TextVectorization` whose ids are `[pad, [UNK], [START], [END], *words]`.

    Output is ragged int64 ids of shape `(batch, (num_words))`, without start/end ids;
    `add_start_end` adds them.
    """
    words = [w for w in words if w not in SPECIAL_TOKENS]
    layer = keras.layers.TextVectorization(
        standardize=standardize,
        split="whitespace",
        vocabulary=list(SPECIAL_TOKENS[NUM_SPECIAL_TOKENS - 2 :]) + words,
        ragged=True,
        name=name,
    )
    vocabulary = layer.get_vocabulary()
    if tuple(vocabulary[:NUM_SPECIAL_TOKENS]) != SPECIAL_TOKENS:
        raise AssertionError(
            f"TextVectorization put the special tokens at unexpected ids: "
            f"{vocabulary[:NUM_SPECIAL_TOKENS]} instead of {SPECIAL_TOKENS}"
        )
    return layer


def vocabulary_of(vectorizer):
    """The full id -> token list of a vectorizer, special tokens included."""
    vocabulary = vectorizer.get_vocabulary()
    # Keras reports the padding token as "" and the OOV token as "[UNK]".
    assert vocabulary[0] == PAD_TOKEN and vocabulary[1] == UNK_TOKEN, vocabulary[:2]
    return vocabulary


def add_start_end(ids):
    """`(batch, (len))` ragged ids -> `(batch, (len + 2))` with `[START]` ... `[END]`."""
    batch = ids.nrows()
    start = tf.fill([batch, 1], tf.cast(START_ID, ids.dtype))
    end = tf.fill([batch, 1], tf.cast(END_ID, ids.dtype))
    return tf.concat([start, ids, end], axis=1)
