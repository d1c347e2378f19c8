"""Tokenizers: word, wordpiece and char kinds, from text to ids and back, in models."""

import dataclasses
import json
import pathlib
import unicodedata

import keras
import numpy as np
import pytest
import tensorflow as tf

from nmt_keras import Translator, load_translator, save_translator
from nmt_keras.cli import main
from nmt_keras.config import Config, ConfigError
from nmt_keras.constants import SPECIAL_TOKENS, UNK_ID
from nmt_keras.data.corpora import load_corpus
from nmt_keras.data.tokenizers import (
    SPACE_TOKEN,
    SUFFIX_INDICATOR,
    TOKENIZER_KINDS,
    SubwordVectorizer,
    detokenize,
    learn_tokens,
    JOINER,
    make_vectorizer,
    normalize,
    source_tokens,
    standardize_texts,
    words,
)
from nmt_keras.saving import TRANSLATOR_FILE, ModelDirError
from nmt_keras.training.train import prepare_data, train_and_evaluate

SPA_ENG = pathlib.Path(__file__).resolve().parents[2] / "shared" / "corpora" / "spa-eng.zip"

SAMPLES = [
    "¿Todavía está en casa?",
    "Él tiene 72 años y 3 gatos.",
    "¡Qué frío hace en São Paulo!",
    "Los niños pequeños cantan canciones.",
    "",
]
# A tiny corpus whose words share stems and endings, for learning word pieces.
CORPUS = [
    "el gato come", "los gatos comen", "la gata come", "las gatas comen",
    "el perro bebe", "los perros beben", "la perra bebe", "las perras beben",
    "el gato pequeno.", "los perros pequenos.", "la gata, pequena.", "las perras pequenas.",
] * 3


def ids_to_text(kind, vectorizer, texts, casing="cased"):
    """texts -> ids -> token strings -> detokenized text, all with TensorFlow ops."""
    ids = vectorizer(tf.constant(texts, tf.string))
    vocabulary = tf.constant(vectorizer.get_vocabulary())
    tokens = tf.gather(vocabulary, ids).to_tensor(default_value="")
    return [t.decode("utf-8") for t in detokenize(kind, tokens, casing).numpy()]


@pytest.mark.parametrize("kind", TOKENIZER_KINDS)
def test_round_trip_text_ids_text_gives_the_text_back_or_the_standardized_text(kind):
    cased = make_vectorizer(kind, learn_tokens(kind, SAMPLES))
    assert UNK_ID not in cased(tf.constant(SAMPLES)).flat_values.numpy()
    assert ids_to_text(kind, cased, SAMPLES) == SAMPLES  # case, accents, "¿" attached
    lower = make_vectorizer(kind, learn_tokens(kind, SAMPLES, casing="lower"), casing="lower")
    expected = standardize_texts(SAMPLES)
    assert expected[0] == "¿ todavia esta en casa ?"
    assert ids_to_text(kind, lower, SAMPLES, "lower") == expected


def _corpus_sentences():
    """Both sides of the embedded corpus (a sample), of the tricky sentences of
    test_languages, and of spa-eng when its offline copy is there."""
    from test_languages import PAIRS

    pairs = load_corpus("synthetic").pairs[::25]
    sentences = [p.source for p in pairs] + [p.target for p in pairs]
    sentences += [text for language in PAIRS.values() for pair in language for text in pair]
    if SPA_ENG.is_file():
        spa_eng = load_corpus(str(SPA_ENG)).pairs[::20]
        sentences += [p.source for p in spa_eng] + [p.target for p in spa_eng]
    return sentences


@pytest.mark.parametrize("kind", TOKENIZER_KINDS)
def test_detokenize_of_tokenize_is_the_text_up_to_nfc_and_whitespace(kind):
    """The property cased tokens are made for: for every sentence s of the corpora,
    detokenize(tokenize(s)) == normalize(s) (Unicode NFC, runs of whitespace as one
    space, control characters as spaces), with no vocabulary in between."""
    sentences = _corpus_sentences()
    if kind == "wordpiece":
        vectorizer = make_vectorizer(kind, learn_tokens(kind, sentences, max_vocab_size=3000))
        split = vectorizer.split
    elif kind == "char":
        split = make_vectorizer(kind, []).split
    else:
        split = words
    texts = tf.constant(sentences)
    got = [t.decode("utf-8") for t in detokenize(kind, split(texts).to_tensor(default_value="")).numpy()]
    expected = [t.decode("utf-8") for t in normalize(texts).numpy()]
    assert got == expected
    assert all(unicodedata.is_normalized("NFC", text) for text in got)
    assert any("á" in text for text in got) and any(text[:1].isupper() for text in got)


def test_cased_tokens_attach_punctuation_with_joiners_and_index_like_standardized_words():
    sentence = "¿Vio Ana a tres \"gatos\" negros?"
    tokens = [t.decode("utf-8") for t in words(tf.constant([sentence])).to_list()[0]]
    assert tokens == [f"¿{JOINER}", "Vio", "Ana", "a", "tres", f'"{JOINER}', "gatos", f'{JOINER}"', "negros", f"{JOINER}?"]
    assert len(tokens) == len(standardize_texts([sentence])[0].split())  # gold alignments index both


@pytest.mark.parametrize("kind", TOKENIZER_KINDS)
def test_every_kind_keeps_the_special_ids_and_traces_in_a_tf_function(kind):
    tokens = learn_tokens(kind, SAMPLES)
    vectorizer = make_vectorizer(kind, tokens)
    assert tuple(vectorizer.get_vocabulary()[: len(SPECIAL_TOKENS)]) == SPECIAL_TOKENS
    assert vectorizer.get_vocabulary()[len(SPECIAL_TOKENS) :] == tokens
    graph = tf.function(
        lambda texts: vectorizer(texts).to_tensor(),
        input_signature=[tf.TensorSpec([None], tf.string)],
    )
    eager = vectorizer(tf.constant(SAMPLES)).to_tensor()
    np.testing.assert_array_equal(graph(tf.constant(SAMPLES)).numpy(), eager.numpy())
    unknown = vectorizer(tf.constant(["ж"])).flat_values.numpy()
    assert list(unknown) == [UNK_ID]


def test_wordpiece_learns_continuation_pieces_and_splits_unseen_words_into_them():
    # Too small a vocabulary for the corpus's 20 words: the learner must share pieces.
    pieces = learn_tokens("wordpiece", CORPUS, max_vocab_size=40)
    continuations = [p for p in pieces if p.startswith(SUFFIX_INDICATOR)]
    # Longer than one character: endings learned from the corpus, not just the alphabet.
    assert {"##os", "##as"} <= set(continuations)
    vectorizer = make_vectorizer("wordpiece", pieces)
    unseen = "comemos pan, bebemos."  # the words are not in the corpus, "," and "." are
    assert not {"comemos", "pan", "bebemos"} & set(pieces)
    split = [t.decode() for t in vectorizer.split(tf.constant([unseen]))[0].numpy()]
    assert len(split) > 4 and any(t.startswith(SUFFIX_INDICATOR) for t in split)
    assert UNK_ID not in vectorizer(tf.constant([unseen])).flat_values.numpy()
    assert ids_to_text("wordpiece", vectorizer, [unseen]) == [unseen]
    lower = make_vectorizer("wordpiece", learn_tokens("wordpiece", CORPUS, 40, "lower"), casing="lower")
    capitalized = "Comemos pan, bebemos."
    assert UNK_ID not in lower(tf.constant([capitalized])).flat_values.numpy()
    assert ids_to_text("wordpiece", lower, [capitalized], "lower") == ["comemos pan , bebemos ."]


def test_wordpiece_detokenizer_joins_pieces_without_stray_spaces():
    tokens = tf.constant([
        ["¿", "gat", "##it", "##os", "?", ""],
        ["##os", "gat", "##o", ".", "", ""],  # a stray leading continuation
    ])
    assert detokenize("wordpiece", tokens).numpy().tolist() == [b"\xc2\xbf gatitos ?", b"os gato ."]


def test_char_kind_has_one_token_per_character_and_a_visible_space():
    tokens = learn_tokens("char", ["Él come."])
    assert sorted(tokens) == sorted(["É", "l", SPACE_TOKEN, "c", "o", "m", "e", "."])
    split = make_vectorizer("char", tokens).split(tf.constant(["Él come."]))[0].numpy()
    assert [t.decode() for t in split] == list("Él▁come.")
    tokens = learn_tokens("char", ["Él come."], casing="lower")
    assert sorted(tokens) == sorted(["e", "l", SPACE_TOKEN, "c", "o", "m", "."])
    vectorizer = make_vectorizer("char", tokens, casing="lower")
    split = vectorizer.split(tf.constant(["Él come."]))[0].numpy()
    assert [t.decode() for t in split] == list("el▁come▁.")
    padded = tf.constant([["e", "l", SPACE_TOKEN, SPACE_TOKEN, "c", "o", ""]])
    assert detokenize("char", padded).numpy().tolist() == [b"el co"]


def test_char_vocabulary_size_limit_keeps_the_most_frequent_characters():
    tokens = learn_tokens("char", ["aaaa b c"], max_vocab_size=len(SPECIAL_TOKENS) + 2)
    assert tokens == ["a", SPACE_TOKEN]


def test_source_tokens_show_what_the_encoder_reads():
    for kind, casing, expected in (
        ("word", "cased", ["El", "gato", "\uffed."]),
        ("char", "cased", list("El▁gato.")),
        ("word", "lower", ["el", "gato", "."]),
        ("char", "lower", list("el▁gato▁.")),
    ):
        vectorizer = make_vectorizer(kind, learn_tokens(kind, ["el gato."], casing=casing), casing=casing)
        got = source_tokens(kind, vectorizer, tf.constant(["El gato."]), casing)[0].numpy()
        assert [t.decode() for t in got] == expected


def test_subword_vectorizer_config_round_trip():
    vectorizer = make_vectorizer("wordpiece", learn_tokens("wordpiece", CORPUS))
    clone = SubwordVectorizer.from_config(vectorizer.get_config())
    assert clone.get_config() == vectorizer.get_config()
    texts = tf.constant(["los gatitos beben"])
    np.testing.assert_array_equal(
        clone(texts).flat_values.numpy(), vectorizer(texts).flat_values.numpy()
    )


# -------------------------------------------------------------------------- models

SOURCES = ["El gato negro come.", "¿Come el perro pan?", "Tengo 3 gatos pequeños."]
TARGETS = ["The black cat eats.", "Does the dog eat bread?", "I have 3 small cats."]


def tiny_translator(kind):
    return Translator(
        learn_tokens(kind, SOURCES), learn_tokens(kind, TARGETS),
        embedding_dim=8, units=8, max_output_length=12, tokenizer=kind,
    )


@pytest.mark.parametrize("kind", TOKENIZER_KINDS)
def test_save_and_load_give_identical_translations(kind, tmp_path, seeded):
    translator = tiny_translator(kind)
    before = translator.translate(SOURCES)
    save_translator(translator, tmp_path)
    assert json.loads((tmp_path / TRANSLATOR_FILE).read_text())["settings"]["tokenizer"] == kind
    loaded = load_translator(tmp_path)
    assert loaded.tokenizer == kind
    assert loaded.source_vocabulary == translator.source_vocabulary
    after = loaded.translate(SOURCES)
    assert list(after["text"]) == list(before["text"])
    np.testing.assert_array_equal(after["token_ids"], before["token_ids"])
    beam = loaded.translate(SOURCES[:1], method="beam", beam_width=2, n_best=2)
    assert beam["n_best_text"].shape == (1, 2)


@pytest.mark.parametrize("kind", ("wordpiece", "char"))
def test_translator_config_round_trip_keeps_the_tokenizer(kind):
    translator = tiny_translator(kind)
    clone = Translator.from_config(translator.get_config())
    assert clone.tokenizer == kind
    assert clone.get_config() == translator.get_config()
    assert isinstance(clone.source_vectorizer, SubwordVectorizer)


def test_word_mode_is_the_default_and_a_model_dir_without_it_loads(tmp_path):
    translator = Translator(["el", "gato"], ["the", "cat"], embedding_dim=8, units=8)
    assert translator.tokenizer == "word" and Config().tokenizer == "word"
    assert isinstance(translator.source_vectorizer, keras.layers.TextVectorization)
    save_translator(translator, tmp_path)
    record = json.loads((tmp_path / TRANSLATOR_FILE).read_text())
    del record["settings"]["tokenizer"]  # a setting left out takes its default
    (tmp_path / TRANSLATOR_FILE).write_text(json.dumps(record))
    assert load_translator(tmp_path).tokenizer == "word"


def test_unknown_tokenizer_kind_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(ConfigError, match="tokenizer must be one of"):
        Config(tokenizer="bpe").validate()
    with pytest.raises(ConfigError, match="tokenizer must be one of .*, got 'bpe'"):
        Translator(["a"], ["b"], embedding_dim=8, units=8, tokenizer="bpe")
    with pytest.raises(ValueError, match="unknown tokenizer"):
        learn_tokens("bpe", ["a b"])
    with pytest.raises(ValueError, match="leaves no room"):
        learn_tokens("wordpiece", ["a b"], max_vocab_size=len(SPECIAL_TOKENS))
    translator = tiny_translator("char")
    save_translator(translator, tmp_path)
    record = json.loads((tmp_path / TRANSLATOR_FILE).read_text())
    record["settings"]["tokenizer"] = "bpe"
    (tmp_path / TRANSLATOR_FILE).write_text(json.dumps(record))
    with pytest.raises(ModelDirError, match="tokenizer must be one of .*, got 'bpe'") as info:
        load_translator(tmp_path)
    assert TRANSLATOR_FILE in str(info.value)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--tokenizer", "bpe", "--output", str(tmp_path / "x")])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert len(error.splitlines()) == 1 and "invalid choice: 'bpe'" in error


def tiny_config(kind):
    return Config(
        tokenizer=kind, validation_size=16, test_size=8, max_train_pairs=160,
        max_vocab_size=300, embedding_dim=16, units=16, epochs=1, batch_size=16,
        learning_rate=0.02, max_output_length=80 if kind == "char" else 30,
        patience=1,
    )


def assert_clean(text):
    assert text and text == text.strip() and "  " not in text
    assert SUFFIX_INDICATOR not in text and SPACE_TOKEN not in text and JOINER not in text
    assert not any(special in text for special in SPECIAL_TOKENS[1:])


@pytest.fixture(scope="module")
def synthetic_data():
    return prepare_data(tiny_config("word"))


@pytest.mark.parametrize("kind", ("wordpiece", "char"))
def test_tiny_model_trains_through_the_normal_path_and_translates_to_clean_text(
    kind, synthetic_data, tmp_path
):
    config = tiny_config(kind)
    data = dataclasses.replace(synthetic_data)
    translator, _, report = train_and_evaluate(config, tmp_path, data, verbose=0)
    assert report["training_steps"] >= len(data.train) // config.batch_size
    assert report["config"]["tokenizer"] == kind
    assert report["alignment_error_rate"] is None  # gold alignments link words, not pieces
    lines = (tmp_path / "test_translations.tsv").read_text(encoding="utf-8").splitlines()[1:]
    references = [line.split("\t")[1] for line in lines]
    assert references == [p.target for p in data.test]  # scored against the raw references
    result = translator.translate([p.source for p in data.test[:4]])
    for text in result["text"]:
        assert_clean(text)
    tokens = [t for t in result["tokens"][0] if t]
    if kind == "char":
        assert all(len(t) == 1 for t in tokens)
    # The heatmap labels its axes with the model's own tokens.
    from nmt_keras import plots

    figure = plots.translation_heatmap(result)
    labels = [label.get_text() for label in figure.axes[0].get_xticklabels()]
    assert labels == [t for t in result["source_tokens"][0] if t]
    plots.plt.close(figure)


def test_cli_trains_with_a_tokenizer_and_translate_reads_it_from_the_model_dir(
    tmp_path, capsys
):
    lines = [f"the cat {i}\tel gato {i}" for i in range(6)] * 6
    data = tmp_path / "tiny.tsv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    output = tmp_path / "model"
    sizes = [
        "--units", "8", "--embedding-dim", "8", "--epochs", "1", "--batch-size", "8",
        "--validation-size", "4", "--test-size", "4", "--max-output-length", "20",
    ]
    assert main(["train", "--data", str(data), "--output", str(output),
                 "--tokenizer", "char", *sizes]) == 0
    assert json.loads((output / "config.json").read_text())["tokenizer"] == "char"
    capsys.readouterr()
    assert main(["translate", str(output), "el gato 3"]) == 0
    printed = capsys.readouterr().out
    assert SPACE_TOKEN not in printed and printed.endswith("\n")
    assert main(["evaluate", str(output), "--output", str(tmp_path / "evaluation")]) == 0
    report = json.loads((tmp_path / "evaluation" / "report.json").read_text())
    assert 0.0 <= report["bleu"] <= 100.0
