"""Standardization and vectorization."""

import numpy as np
import pytest
import tensorflow as tf

from nmt_keras.constants import END_ID, PAD_ID, SPECIAL_TOKENS, START_ID, UNK_ID
from nmt_keras.data.tokenizers import (
    add_start_end,
    learn_vocabulary,
    standardize_texts,
    tokenize_words,
    word_vectorizer,
)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("¿Todavía está en casa?", "¿ todavia esta en casa ?"),
        ("  Él   COMIÓ 15 manzanas,y ella no. ", "el comio 15 manzanas , y ella no ."),
        ("I don’t know!", "i don't know !"),
        ("a\x00b\u200fc", "a b c"),  # NUL and a direction mark become spaces
        ("ＡＢＣ ﬁn", "abc fin"),  # compatibility forms unfolded by NFKD
        ("😀hola", "😀 hola"),
        ("", ""),
        ("   \t ", ""),
    ],
)
def test_standardize(raw, expected):
    assert standardize_texts([raw]) == [expected]


def test_learn_vocabulary_orders_by_count_then_alphabetically():
    words = learn_vocabulary(["b a a", "c b a", "d e"])
    assert words == ["a", "b", "c", "d", "e"]  # a:3, b:2, then the rest by name


def test_text_cannot_inject_special_tokens():
    # Brackets are punctuation, so "[END]" typed by a user is three ordinary tokens.
    assert sorted(learn_vocabulary(["[END] [START]"])) == sorted(["END", "START", "[\uffed", "\uffed]"])
    assert learn_vocabulary(["[END] [START]"], casing="lower") == ["[", "]", "end", "start"]


def test_learn_vocabulary_respects_max_tokens_including_specials():
    words = learn_vocabulary(["b a a", "c b a", "d"], max_tokens=len(SPECIAL_TOKENS) + 2)
    assert words == ["a", "b"]
    with pytest.raises(ValueError, match="max_tokens=4 leaves no room"):
        learn_vocabulary(["a"], max_tokens=4)


def test_vectorizer_special_ids_are_the_named_constants():
    vectorizer = word_vectorizer(["gato", "el"])
    vocabulary = vectorizer.get_vocabulary()
    assert vocabulary.index("") == PAD_ID
    assert vocabulary.index("[UNK]") == UNK_ID
    assert vocabulary.index("[START]") == START_ID
    assert vocabulary.index("[END]") == END_ID
    assert vocabulary[4:] == ["gato", "el"]


@pytest.mark.parametrize("casing, known", [("cased", "El"), ("lower", "el")])
def test_unknown_words_and_empty_text_never_crash(casing, known):
    vectorizer = word_vectorizer([known, "gato"], casing=casing)
    ids = add_start_end(vectorizer(tf.constant(["El perro", "", "¡¿😀?!"])))
    rows = ids.to_list()
    assert rows[0] == [START_ID, vectorizer.get_vocabulary().index(known), UNK_ID, END_ID]
    assert rows[1] == [START_ID, END_ID]
    assert rows[2] == [START_ID] + [UNK_ID] * 5 + [END_ID]


def test_tokenize_words_batches_and_keeps_order():
    texts = [f"Word{i}." for i in range(10)]
    assert list(tokenize_words(texts, batch_size=3)) == [[f"Word{i}", "\uffed."] for i in range(10)]
    lower = list(tokenize_words(texts, batch_size=3, casing="lower"))
    assert lower == [[f"word{i}", "."] for i in range(10)]


def test_vectorizer_is_consistent_with_tokenize_words():
    texts = ["¿Dónde duerme el ornitorrinco?", "El gato negro."]
    words = learn_vocabulary(texts)
    vectorizer = word_vectorizer(words)
    vocabulary = np.array(vectorizer.get_vocabulary())
    for text, ids in zip(texts, vectorizer(tf.constant(texts)).to_list()):
        assert list(vocabulary[ids]) == next(tokenize_words([text]))
