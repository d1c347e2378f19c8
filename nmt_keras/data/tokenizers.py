"""Tokenizers: how text becomes tokens and tokens become text again, for three kinds of
token and two casings.

    word       words and punctuation marks (the default);
    wordpiece  subwords: a WordPiece vocabulary learned from the training split with
               tensorflow-text's `bert_vocab_from_dataset`; a word that is not in the
               vocabulary is split into pieces, "##" marking a piece that continues a word
               ("gatitos" -> "gat ##itos");
    char       the characters of the text, the space kept as a token of its own, written
               `SPACE_TOKEN` ("▁") so it shows in vocabularies and plots.

The casing says what the tokens keep of the text:

    cased      everything (the default): case, accents, and where punctuation attaches.
               The text is normalized (`normalize`: control characters out, Unicode NFC,
               runs of whitespace as one space) and cut into words and standalone
               characters (punctuation, symbols, the characters of scripts written
               without spaces); a standalone character written against its neighbour
               carries `JOINER` ("￭") on that side: "¿Vio Ana?" -> "¿￭ Vio Ana ￭?".
               `detokenize` joins the tokens with spaces and removes each joiner with
               the space beside it, so detokenize(tokenize(s)) == normalize(s): output is
               text as a person writes it, sentence case, names and accents included.
    lower      the TensorFlow tutorial's standardized text (`standardize`, below:
               lower case, Latin accents dropped, punctuation spaced off); output is
               standardized text too.

Words are the same pieces in both casings (a standalone character is a token of its own
either way), so a gold word alignment indexes the tokens of both. Each kind's vocabulary
is a list of tokens
*without* the special tokens; the id layout is always that of `nmt_keras.constants`
(PAD 0, UNK 1, START 2, END 3, then the tokens in order).

The text -> ids layers (`make_vectorizer`) are Keras layers made of TensorFlow and
tensorflow-text ops only, so they trace inside a `tf.function` and export with a
SavedModel: `TextVectorization` for words, and
`SubwordVectorizer` (splitting, then a `StringLookup`) for wordpieces and characters.

Example:
>>> kind = "wordpiece"
>>> tokens = learn_tokens(kind, train_texts, max_vocab_size=8000)   # list of str, cased
>>> vectorizer = make_vectorizer(kind, tokens)
>>> ids = vectorizer(tf.constant(["Los gatitos."]))     # ragged int64 (batch, (num_tokens))
>>> vectorizer.split(tf.constant(["Los gatitos."]))      # e.g. [["Los", "gat", "##itos", "￭."]]
>>> detokenize(kind, tf.constant([["Los", "gat", "##itos", "￭."]]))   # ["Los gatitos."]

The tutorial's standardization (casing "lower")
-----------------------------------------------
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
    CASINGS,
    END_ID,
    END_TOKEN,
    NUM_SPECIAL_TOKENS,
    PAD_TOKEN,
    SPECIAL_TOKENS,
    START_ID,
    START_TOKEN,
    TOKENIZERS,
    UNK_TOKEN,
)

# ---------------------------------------------------------------- standardization

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


# ------------------------------------------------------------------ cased tokens

# Marks the side on which a standalone character is written against its neighbour.
JOINER = "\uffed"  # "￭"
# A token of its own in the cased tokens: a character that is not a letter, mark, digit,
# apostrophe (any of them: a word keeps "don't") or space, or one of a script written
# without spaces, with its marks.
_CASED_STANDALONE = (
    r"[^\p{L}\p{M}\p{N}\s'\x{2018}\x{2019}\x{02BC}]"
    r"|[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}]\p{M}*"
)


@keras.saving.register_keras_serializable(package="nmt_keras")
def normalize(text):
    """The text the cased tokens keep: control and format characters and `JOINER` as
    spaces, Unicode NFC, runs of whitespace as one space, no space at the ends."""
    text = tf.strings.regex_replace(text, f"{_CONTROL_AND_FORMAT}|{JOINER}", " ")
    text = tf_text.normalize_utf8(text, "NFC")
    return tf.strings.strip(tf.strings.regex_replace(text, _WHITESPACE_RUN, " "))


def _next(flags):
    """Ragged bools `(batch, (n))` -> each row shifted left by one, False at the end."""
    return tf.concat([flags[:, 1:], tf.zeros_like(flags[:, :1])], axis=1)


@keras.saving.register_keras_serializable(package="nmt_keras")
def cased_words(texts):
    """`(batch,)` strings -> ragged cased tokens `(batch, (num_tokens))`: the words and
    standalone characters of `normalize(texts)`, each standalone character marked with
    `JOINER` on the side where no space separates it from its neighbour."""
    tokens, starts, ends = tf_text.regex_split_with_offsets(
        normalize(texts), _WHITESPACE_RUN + "|" + _CASED_STANDALONE, _CASED_STANDALONE
    )
    standalone = tokens.with_flat_values(tf.strings.regex_full_match(tokens.flat_values, _CASED_STANDALONE))
    # touches[i]: no space between token i - 1 and token i.
    touches = tf.concat([tf.zeros_like(standalone[:, :1]), starts[:, 1:] == ends[:, :-1]], axis=1)
    # The joiner goes on the standalone side of each touching pair: the right token if it
    # is standalone, else the left one.
    left = (touches & standalone).flat_values
    right = (_next(touches) & ~_next(standalone) & standalone).flat_values
    values = tokens.flat_values
    values = tf.where(left, JOINER + values, values)
    return tokens.with_flat_values(tf.where(right, values + JOINER, values))


def words(texts, casing="cased"):
    """`(batch,)` strings -> ragged word-level tokens of `casing`."""
    check_casing(casing)
    return cased_words(texts) if casing == "cased" else tf.strings.split(standardize(texts))


def check_casing(casing):
    """Raises ValueError naming `casing` unless it is one of `CASINGS`."""
    if casing not in CASINGS:
        raise ValueError(f"unknown casing {casing!r}; choose one of {CASINGS}")
    return casing


def tokenize_words(texts, batch_size=4096, casing="cased"):
    """Yields the word-level token list of each text, batching the TensorFlow calls."""
    texts = list(texts)
    for start in range(0, len(texts), batch_size):
        for row in words(tf.constant(texts[start : start + batch_size], tf.string), casing).to_list():
            yield [token.decode("utf-8") for token in row]


def learn_vocabulary(texts, max_tokens=None, min_count=1, casing="cased"):
    """Learns a word vocabulary from `texts` (call it on the training split only).

    Returns the list of words, most frequent first (ties broken alphabetically, so the
    result is deterministic), without the special tokens.

    Args:
        texts: iterable of str. Raw sentences; tokenized here.
        max_tokens: int or None. Size limit of the *whole* vocabulary, special tokens
            included (like `TextVectorization(max_tokens=...)`). Defaults to no limit.
        min_count: int. Words seen fewer times are left out (they become `[UNK]`).
        casing: one of `CASINGS`.
    """
    counts = Counter()
    for tokens in tokenize_words(texts, casing=casing):
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


def word_vectorizer(tokens, name=None, casing="cased"):
    """Builds a `TextVectorization` whose ids are `[pad, [UNK], [START], [END], *tokens]`.

    Output is ragged int64 ids of shape `(batch, (num_words))`, without start/end ids;
    `add_start_end` adds them.
    """
    tokens = [w for w in tokens if w not in SPECIAL_TOKENS]
    cased = check_casing(casing) == "cased"
    layer = keras.layers.TextVectorization(
        standardize=None if cased else standardize,
        split=cased_words if cased else "whitespace",
        vocabulary=list(SPECIAL_TOKENS[NUM_SPECIAL_TOKENS - 2 :]) + tokens,
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


# -------------------------------------------------------------------- tokenizers

TOKENIZER_KINDS = TOKENIZERS

# WordPiece marks a piece that continues the previous piece of the same word.
SUFFIX_INDICATOR = "##"
# The character kind writes the space between words as this visible token.
SPACE_TOKEN = "\u2581"  # "▁", as SentencePiece does
# Target WordPiece vocabulary size (special tokens included) when `max_vocab_size` is None.
DEFAULT_WORDPIECE_VOCAB_SIZE = 8000
# A word longer than this (in UTF-8 bytes) becomes one [UNK] piece.
MAX_BYTES_PER_WORD = 100
# The WordPiece learner keeps a piece seen at least this often (its binary search on the
# count threshold starts from here; tensorflow-text's default of 10 suits only large
# corpora: smaller training sets would learn single characters only).
WORDPIECE_MIN_COUNT = 2
# Sentences are standardized this many at a time while learning a vocabulary.
_LEARN_BATCH = 4096

_SPACE = " "


def check_kind(kind):
    """Raises ValueError naming `kind` unless it is one of `TOKENIZER_KINDS`."""
    if kind not in TOKENIZER_KINDS:
        raise ValueError(f"unknown tokenizer {kind!r}; choose one of {TOKENIZER_KINDS}")
    return kind


# ------------------------------------------------------------------------- learning


def learn_tokens(kind, texts, max_vocab_size=None, casing="cased"):
    """Learns the token vocabulary of `kind` from `texts` (call it on the training split).

    Args:
        kind: one of `TOKENIZER_KINDS`.
        texts: list of str, raw sentences (tokenized here).
        max_vocab_size: int or None. Size of the whole vocabulary, special tokens
            included. word and char: the most frequent tokens are kept (None: all);
            wordpiece: the learner's target size (None: `DEFAULT_WORDPIECE_VOCAB_SIZE`).
            The learner always keeps every character seen, alone and as a "##"
            continuation, so a tiny target can be exceeded.
        casing: one of `CASINGS`.

    Returns:
        list of str, the tokens without the special tokens; their ids follow the
        special ids in this order.
    """
    check_kind(kind)
    if max_vocab_size is not None and max_vocab_size <= NUM_SPECIAL_TOKENS:
        raise ValueError(
            f"max_vocab_size={max_vocab_size} leaves no room for tokens: it must exceed the "
            f"{NUM_SPECIAL_TOKENS} special tokens {SPECIAL_TOKENS}."
        )
    texts = list(texts)
    if kind == "word":
        return learn_vocabulary(texts, max_vocab_size, casing=casing)
    if kind == "char":
        return _learn_characters(texts, max_vocab_size, casing)
    return _learn_wordpieces(texts, max_vocab_size or DEFAULT_WORDPIECE_VOCAB_SIZE, casing)


def _lines(texts, casing):
    """The text each kind cuts up: standardized ("lower") or normalized ("cased")."""
    clean = normalize if check_casing(casing) == "cased" else standardize
    for start in range(0, len(texts), _LEARN_BATCH):
        for line in clean(tf.constant(texts[start : start + _LEARN_BATCH], tf.string)).numpy():
            yield line.decode("utf-8")


def _storable(token):
    """Vocabulary files hold one token per line: a token must not break a line."""
    return token not in SPECIAL_TOKENS and len((token + "x").splitlines()) == 1


def _learn_characters(texts, max_vocab_size, casing):
    counts = Counter()
    for line in _lines(texts, casing):
        counts.update(line.replace(_SPACE, SPACE_TOKEN))
    tokens = sorted((c for c in counts if _storable(c)), key=lambda c: (-counts[c], c))
    if max_vocab_size is not None:
        tokens = tokens[: max_vocab_size - NUM_SPECIAL_TOKENS]
    return tokens


def _learn_wordpieces(texts, vocab_size, casing):
    from tensorflow_text.tools.wordpiece_vocab import bert_vocab_from_dataset as bert_vocab

    tokens = list(tokenize_words(texts, casing=casing))
    if not any(tokens):
        return []
    # Standalone characters (with their joiners) are whole tokens of their own; the
    # learner cuts the words into pieces.
    standalone = Counter(t for row in tokens for t in row if not _is_word(t))
    lines = [" ".join(t for t in row if _is_word(t)) for row in tokens]
    dataset = tf.data.Dataset.from_tensor_slices(tf.constant(lines, tf.string)).batch(
        _LEARN_BATCH
    )
    pieces = bert_vocab.bert_vocab_from_dataset(
        dataset,
        vocab_size=vocab_size - NUM_SPECIAL_TOKENS,
        reserved_tokens=[],
        # The text is standardized already: no further lower-casing or normalization.
        bert_tokenizer_params={"lower_case": False},
        learn_params={"lower_thresh": WORDPIECE_MIN_COUNT, "joiner": SUFFIX_INDICATOR},
    )
    whole = sorted(standalone, key=lambda t: (-standalone[t], t))
    return [piece for piece in dict.fromkeys(whole + pieces) if _storable(piece)]


def _is_word(token):
    """False for a punctuation mark or symbol, with or without joiners."""
    return any(character.isalnum() for character in token)


# ---------------------------------------------------------------------- text -> ids


def make_vectorizer(kind, tokens, name=None, casing="cased"):
    """The Keras layer mapping `(batch,)` strings to ragged int64 ids `(batch, (len))`
    (without `[START]`/`[END]`; see `add_start_end`).

    word: `word_vectorizer` (a `TextVectorization`); the others: a
    `SubwordVectorizer`. Both have `get_vocabulary()` (special tokens first).
    """
    check_kind(kind)
    if kind == "word":
        return word_vectorizer(tokens, name=name, casing=casing)
    return SubwordVectorizer(kind, tokens, casing=casing, name=name)


@keras.saving.register_keras_serializable(package="nmt_keras")
class SubwordVectorizer(keras.layers.Layer):
    """Strings -> wordpiece or character ids, with TensorFlow ops only (no weights).

    `split` standardizes and cuts the text into token strings; a `StringLookup` with
    the project's special tokens first maps them to ids (anything unknown to `[UNK]`).

    Args:
        kind: "wordpiece" or "char".
        tokens: list of str, the vocabulary without the special tokens.
        casing: one of `CASINGS`. Defaults to "lower", the only casing of the files
            written before casings existed.
    """

    def __init__(self, kind, tokens, casing="lower", **kwargs):
        super().__init__(**kwargs)
        if check_kind(kind) == "word":
            raise ValueError("words are vectorized by word_vectorizer")
        self.kind = kind
        self.casing = check_casing(casing)
        self.tokens = [t for t in tokens if t not in SPECIAL_TOKENS]
        self.lookup = keras.layers.StringLookup(
            vocabulary=[START_TOKEN, END_TOKEN] + self.tokens,
            mask_token=PAD_TOKEN,
            oov_token=UNK_TOKEN,
            num_oov_indices=1,
            output_mode="int",
            name="lookup",
        )
        vocabulary = self.lookup.get_vocabulary()
        if tuple(vocabulary[:NUM_SPECIAL_TOKENS]) != SPECIAL_TOKENS:
            raise AssertionError(
                f"StringLookup put the special tokens at unexpected ids: "
                f"{vocabulary[:NUM_SPECIAL_TOKENS]} instead of {SPECIAL_TOKENS}"
            )
        if kind == "wordpiece":
            # An empty vocabulary (empty training texts) still needs its unknown token.
            self.wordpiece = tf_text.FastWordpieceTokenizer(
                self.tokens + [UNK_TOKEN],
                suffix_indicator=SUFFIX_INDICATOR,
                max_bytes_per_word=MAX_BYTES_PER_WORD,
                token_out_type=tf.string,
                unknown_token=UNK_TOKEN,
                no_pretokenization=True,
            )
        self.built = True

    def split(self, texts):
        """`(batch,)` strings -> ragged str tokens `(batch, (num_tokens))`."""
        if self.kind == "char":
            text = normalize(texts) if self.casing == "cased" else standardize(texts)
            return tf.strings.unicode_split(tf.strings.regex_replace(text, _SPACE, SPACE_TOKEN), "UTF-8")
        pieces = self.wordpiece.tokenize(words(texts, self.casing))  # (batch, (num_words), (num_pieces))
        return pieces.merge_dims(1, 2)

    def __call__(self, texts, **kwargs):
        # Like `TextVectorization`, accept a Python list of str as well as a tensor.
        if not tf.is_tensor(texts):
            texts = tf.constant(texts, tf.string)
        return super().__call__(texts, **kwargs)

    def call(self, texts):
        tokens = self.split(texts)
        return tf.ragged.map_flat_values(self.lookup, tokens)

    def get_vocabulary(self):
        return self.lookup.get_vocabulary()

    def compute_output_spec(self, texts):
        return keras.KerasTensor([texts.shape[0], None], dtype="int64", ragged=True)

    def get_config(self):
        config = super().get_config()
        config.update(kind=self.kind, tokens=list(self.tokens), casing=self.casing)
        return config


# ---------------------------------------------------------------------- ids -> text


def detokenize(kind, tokens, casing="cased"):
    """Token strings -> text, inside or outside a `tf.function`.

    Args:
        kind: one of `TOKENIZER_KINDS`.
        tokens: str `(batch, len)`, "" for padding and for special tokens.
        casing: one of `CASINGS`.

    Returns:
        str `(batch,)`, no leading or trailing space. word: the tokens joined with
        spaces; wordpiece: "##" pieces glued to the piece before them; char: the
        characters joined, `SPACE_TOKEN` -> " ". Cased tokens then lose their joiners
        with the space beside each, so punctuation attaches as written ("¿Vio Ana?");
        "lower" tokens keep the spacing of `standardize` ("¿ vio ana ?").
    """
    check_kind(kind)
    tokens = tf.ragged.boolean_mask(tokens, tokens != PAD_TOKEN)
    text = tf.strings.reduce_join(tokens, axis=-1, separator="" if kind == "char" else _SPACE)
    if kind == "wordpiece":
        # A continuation glues to what precedes it (a stray leading one just loses "##").
        text = tf.strings.regex_replace(text, "(^| )" + SUFFIX_INDICATOR, "")
    if kind == "char":
        text = tf.strings.regex_replace(text, SPACE_TOKEN, _SPACE)
    if check_casing(casing) == "cased":
        text = tf.strings.regex_replace(text, f" ?{JOINER} ?", "")
    return tf.strings.strip(tf.strings.regex_replace(text, _WHITESPACE_RUN, _SPACE))


def source_tokens(kind, vectorizer, texts, casing="cased"):
    """`(batch,)` strings -> ragged str `(batch, (num_tokens))`, the tokens the encoder
    reads: words as written (an unknown word keeps its spelling), word pieces, or
    characters."""
    check_kind(kind)
    if kind == "word":
        return words(texts, casing)
    return vectorizer.split(texts)
