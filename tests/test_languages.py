"""Nothing in the default recipe is specific to Spanish: pairs files in other languages,
made up here, go through the same loading, tokenization, vocabularies, training and
detokenization, with the cased tokens (the default) and with the tutorial's
standardized ones.

Three invented files, each English (column 1) and another language (column 2):
French (accents, apostrophes), Russian (a non-Latin script whose marks are part of the
letters: "й" is not "и") and Japanese (written without spaces between words, so the
word tokenizer must cut it into characters, never one token per sentence).
"""

import dataclasses

import keras
import pytest

from nmt_keras.config import Config
from nmt_keras.data.batching import encode_pairs, make_dataset
from nmt_keras.data.tokenizers import JOINER, standardize_texts, tokenize_words
from nmt_keras.training.train import build_translator, prepare_data

PAIRS = {
    "french": [
        ("The man was there.", "L’homme était là."),
        ("The tea is hot.", "Le thé est chaud."),
        ("I love summer.", "J'aime l'été."),
        ("Where is the water?", "Où est l'eau ?"),
        ("The child eats bread.", "L'enfant mange du pain."),
        ("We are happy.", "Nous sommes contents."),
    ],
    "russian": [
        ("Where is my tea?", "Где мой чай?"),
        ("And my house.", "И мой дом."),
        ("The cat sleeps.", "Кошка спит."),
        ("I see the sea.", "Я вижу море."),
        ("Good evening!", "Добрый вечер!"),
        ("Whose book is this?", "Чья это книга?"),
    ],
    "japanese": [
        ("I like cats.", "私は猫が好きです。"),
        ("This is water.", "これは水です。"),
        ("The dog runs.", "犬が走ります。"),
        ("Good morning.", "おはようございます。"),
        ("I read a book.", "私は本を読みます。"),
        ("It is raining.", "雨が降っています。"),
    ],
}
# Expected standardized forms (what the vocabulary and the references hold).
STANDARDIZED = {
    "french": ("L’homme était là.", "l'homme etait la ."),
    "russian": ("Чья это книга?", "чья это книга ?"),
    "japanese": ("私は猫が好きです。", "私 は 猫 が 好 き で す 。"),
}


def _accented_latin(token):
    return any(ch in token for ch in "àâäçéèêëîïôöùûüÿñáíóú")


# What every token of each target vocabulary must satisfy, standardized...
TOKEN_RULES = {
    "french": lambda token: not _accented_latin(token) and "’" not in token,
    "russian": lambda token: token in "?!." or all("а" <= ch <= "я" or ch == "ё" for ch in token),
    "japanese": lambda token: len(token) == 1,  # one character each
}
# ... and cased (a punctuation mark carries the joiner on the side it is attached).
CASED_TOKEN_RULES = {
    "french": lambda token: token.strip(JOINER) in ".,?!" or token.isalpha() or "'" in token or "’" in token,
    "russian": lambda token: token.strip(JOINER) in ".,?!" or all("а" <= ch.lower() <= "я" or ch.lower() == "ё" for ch in token),
    "japanese": lambda token: len(token.strip(JOINER)) == 1,
}
# Letters a standardized vocabulary loses and a cased one must keep.
KEPT = {"french": "éàL’", "russian": "Ч", "japanese": ""}


@pytest.mark.parametrize("language", PAIRS)
def test_the_standardizer_keeps_each_language_readable(language):
    raw, expected = STANDARDIZED[language]
    assert standardize_texts([raw]) == [expected]


@pytest.mark.parametrize("language", PAIRS)
@pytest.mark.parametrize("casing", ["cased", "lower"])
def test_a_made_up_language_pair_trains_and_translates_back(language, casing, tmp_path):
    path = tmp_path / f"{language}.tsv"
    path.write_text("".join(f"{en}\t{other}\n" for en, other in PAIRS[language]), encoding="utf-8")
    config = dataclasses.replace(
        Config(), data=str(path), direction="from-english", validation_size=1, test_size=1,
        max_vocab_size=None, embedding_dim=16, units=32, batch_size=12, seed=1, casing=casing,
    )
    data = prepare_data(config)
    keras.utils.set_random_seed(1)
    translator = build_translator(config, data.train)
    vocabulary = set(translator.target_vocabulary[4:])  # after the special tokens
    targets = [p.target for p in data.train]
    tokenized = list(tokenize_words(targets, casing=casing))
    assert vocabulary == {t for line in tokenized for t in line}
    rules = CASED_TOKEN_RULES if casing == "cased" else TOKEN_RULES
    assert all(rules[language](token) for token in vocabulary), sorted(vocabulary)
    letters = "".join(vocabulary)
    assert all((ch in letters) == (casing == "cased") for ch in KEPT[language])
    if language == "french":
        assert any("'" in token for token in vocabulary)  # "l'homme", "j'aime" stay whole
    if language == "russian":
        assert any("й" in token for token in vocabulary)  # "мой", not "мои"
    assert min(len(line) for line in tokenized) >= 3  # no sentence is one token
    translator.model.optimizer.learning_rate = 0.02
    batches = make_dataset(encode_pairs(translator, data.train), config.batch_size, shuffle_seed=1)
    translator.model.fit(batches.repeat(), steps_per_epoch=150, epochs=1, verbose=0, shuffle=False)
    outputs = translator.translate([p.source for p in data.train])["text"].tolist()
    # Memorized: the output of every training sentence is its reference, as written
    # (cased) or in the standardized form (lower).
    assert outputs == (targets if casing == "cased" else standardize_texts(targets))
