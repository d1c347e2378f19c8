"""The Translator and its Seq2Seq model: training behaviour, greedy translation, saving
and loading."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import nmt_keras
from nmt_keras import Seq2Seq, Translator, load_translator, save_translator
from nmt_keras.constants import END_ID, PAD_ID
from nmt_keras.data.tokenizers import learn_vocabulary
from nmt_keras.model import masked_loss_sums
from nmt_keras.saving import TRANSLATOR_FILE, WEIGHTS_FILE, ModelDirError

SOURCES = [
    "El gato negro come.",
    "La casa blanca.",
    "¿Come el perro pan?",
    "No bebo agua.",
    "Ana ve a los dos gatos pequeños.",
    "Los niños cantan.",
]
TARGETS = [
    "The black cat eats.",
    "The white house.",
    "Does the dog eat bread?",
    "I do not drink water.",
    "Ana sees the two small cats.",
    "The children sing.",
]


def tiny_translator(units=32, embedding_dim=16, learning_rate=0.02):
    translator = Translator(
        learn_vocabulary(SOURCES), learn_vocabulary(TARGETS), embedding_dim=embedding_dim, units=units
    )
    translator.model.compile(optimizer=keras.optimizers.Adam(learning_rate))
    return translator


def one_batch(translator):
    source, target_in, target_out = translator.prepare_batch(SOURCES, TARGETS)
    return tf.data.Dataset.from_tensors(((source, target_in), target_out))


def test_untrained_loss_is_about_log_vocabulary_size(seeded):
    translator = tiny_translator()
    results = translator.model.evaluate(one_batch(translator), verbose=0, return_dict=True)
    vocab = len(translator.target_vocabulary)
    assert abs(results["loss"] - np.log(vocab)) < 0.1 * np.log(vocab)


@pytest.mark.parametrize("options", [{}, {"decoder": "luong", "attention": "luong-general"},
                                     {"source_prior": True, "maxout_units": 8}],
                         ids=["bahdanau", "luong", "prior+maxout"])
def test_loss_on_real_positions_only_equals_the_masked_loss_over_all_positions(seeded, options):
    translator = Translator(
        learn_vocabulary(SOURCES), learn_vocabulary(TARGETS), embedding_dim=16, units=32, **options
    )
    model = translator.model
    source, target_in, target_out = translator.prepare_batch(SOURCES, TARGETS)
    assert np.any(target_out.numpy() == PAD_ID)  # the batch has padding to skip
    results = []
    for static in (False, True):
        model.needs_static_shapes = lambda static=static: static
        with tf.GradientTape() as tape:
            logits, labels = model.token_logits(source, target_in, target_out, training=False)
            loss_sum, _, count = masked_loss_sums(labels, logits)
        results.append((loss_sum / count, tape.gradient(loss_sum, model.trainable_variables), logits))
    (real, real_gradients, real_logits), (full, full_gradients, full_logits) = results
    assert real_logits.shape == (np.sum(target_out.numpy() != PAD_ID), len(translator.target_vocabulary))
    assert full_logits.shape == target_out.shape + (len(translator.target_vocabulary),)
    np.testing.assert_allclose(real.numpy(), full.numpy(), rtol=1e-6)
    for a, b in zip(real_gradients, full_gradients, strict=True):
        np.testing.assert_allclose(tf.convert_to_tensor(a).numpy(), tf.convert_to_tensor(b).numpy(), rtol=1e-4, atol=1e-6)


@pytest.fixture(scope="module")
def overfit_translator():
    keras.utils.set_random_seed(7)
    translator = tiny_translator()
    history = translator.model.fit(one_batch(translator).repeat(150), epochs=1, verbose=0)
    return translator, history.history


def test_overfits_one_batch_to_near_zero_loss(overfit_translator):
    translator, history = overfit_translator
    results = translator.model.evaluate(one_batch(translator), verbose=0, return_dict=True)
    assert results["loss"] < 0.05
    assert results["accuracy"] == 1.0


def test_greedy_decoding_reproduces_the_overfit_targets(overfit_translator):
    translator, _ = overfit_translator
    result = translator.translate(SOURCES)
    assert list(result["text"]) == TARGETS  # as written: case and punctuation kept


def test_translate_shapes_and_attention(overfit_translator):
    translator, _ = overfit_translator
    result = translator.translate(SOURCES[:2])
    batch, steps, source_len = result["attention"].shape
    assert batch == 2 and result["tokens"].shape == (2, steps)
    assert result["source_tokens"].shape == (2, source_len)
    assert list(result["source_tokens"][0][:3]) == ["[START]", "El", "gato"]
    for row, ids in zip(result["attention"], result["token_ids"]):
        length = int(np.argmax(ids == END_ID)) + 1  # steps up to and including [END]
        np.testing.assert_allclose(row[:length].sum(-1), 1.0, rtol=1e-5)
        assert np.all(row[length:] == 0.0)
        assert np.all(ids[length:] == PAD_ID)


def test_greedy_loop_stops_when_every_sentence_has_ended(overfit_translator):
    translator, _ = overfit_translator
    result = translator.translate(SOURCES, max_length=40)
    longest = max(int(np.argmax(ids == END_ID)) + 1 for ids in result["token_ids"])  # with [END]
    assert all(END_ID in ids for ids in result["token_ids"])
    assert result["token_ids"].shape[1] == longest < 40


def test_max_length_caps_the_output(overfit_translator):
    translator, _ = overfit_translator
    result = translator.translate(SOURCES, max_length=2)
    assert result["token_ids"].shape[1] == 2
    assert all(len(t.split()) <= 2 for t in result["text"])


def test_empty_unknown_and_odd_inputs_do_not_crash(overfit_translator):
    translator, _ = overfit_translator
    texts = ["", "   ", "zzz qqq xxx", "😀 東京 مرحبا", "a\x00b", "El gato negro come."]
    result = translator.translate(texts)
    assert result["text"][0] == "" and result["text"][1] == ""
    assert result["text"][-1] == "The black cat eats."
    assert len(result["text"]) == len(texts)


def test_a_single_string_is_a_batch_of_one(overfit_translator):
    translator, _ = overfit_translator
    assert list(translator.translate("La casa blanca.")["text"]) == ["The white house."]


@pytest.mark.parametrize("bad", [None, 3, [b"ok", 5], {"a": 1}, [["nested"]]])
def test_non_string_input_gives_a_clear_type_error(overfit_translator, bad):
    translator, _ = overfit_translator
    with pytest.raises(TypeError, match="str"):
        translator.translate(bad)


def test_translate_traces_once_for_many_batch_shapes(overfit_translator):
    translator, _ = overfit_translator
    translator.translate(["a"])
    before = translator.greedy.experimental_get_tracing_count()
    for batch in (SOURCES, SOURCES[:1], SOURCES * 3, ["x y z w v u t"]):
        translator.translate(batch, max_length=7)
    assert translator.greedy.experimental_get_tracing_count() == before


def test_fixed_seed_gives_identical_losses_twice():
    def losses():
        keras.utils.set_random_seed(99)
        translator = tiny_translator(units=16, embedding_dim=8)
        history = translator.model.fit(one_batch(translator).repeat(5), epochs=2, verbose=0)
        return history.history["loss"]

    first, second = losses(), losses()
    assert first == second
    assert first[1] < first[0]


def test_save_and_load_gives_the_same_translations(overfit_translator, tmp_path):
    translator, _ = overfit_translator
    save_translator(translator, tmp_path)
    loaded = load_translator(tmp_path)
    original = translator.translate(SOURCES)
    reloaded = loaded.translate(SOURCES)
    assert list(reloaded["text"]) == list(original["text"])
    np.testing.assert_allclose(reloaded["attention"], original["attention"], atol=1e-6)


def test_loading_a_missing_or_mismatched_model_dir_is_a_clear_error(overfit_translator, tmp_path):
    translator, _ = overfit_translator
    with pytest.raises(ModelDirError, match="model directory not found"):
        load_translator(tmp_path / "nope")
    save_translator(translator, tmp_path)
    (tmp_path / WEIGHTS_FILE).unlink()
    with pytest.raises(ModelDirError, match="missing model.weights.h5"):
        load_translator(tmp_path)
    save_translator(translator, tmp_path)
    (tmp_path / "target_vocab.txt").write_text("only\nthree\nwords\n")
    with pytest.raises(ModelDirError, match="cannot load"):
        load_translator(tmp_path)


def test_the_model_dir_records_its_format_and_version(overfit_translator, tmp_path):
    translator, _ = overfit_translator
    save_translator(translator, tmp_path)
    record = json.loads((tmp_path / TRANSLATOR_FILE).read_text())
    assert record["format"] == 3 and record["nmt_keras_version"] == nmt_keras.__version__
    assert record["settings"]["units"] == 32 and record["settings"]["tokenizer"] == "word"
    assert "epochs" not in record["settings"]  # model and text settings only


def test_a_model_dir_of_format_1_is_refused_naming_both_versions(overfit_translator, tmp_path):
    translator, _ = overfit_translator
    save_translator(translator, tmp_path)
    record = json.loads((tmp_path / TRANSLATOR_FILE).read_text())
    # Format 1 (nmt_keras 0.1.0): the settings themselves, without "format".
    (tmp_path / TRANSLATOR_FILE).write_text(json.dumps(record["settings"]))
    with pytest.raises(ModelDirError) as info:
        load_translator(tmp_path)
    message = str(info.value)
    assert "format 1, written by nmt_keras 0.1.0" in message
    assert f"this is nmt_keras {nmt_keras.__version__}, which reads formats 2 and 3" in message
    (tmp_path / TRANSLATOR_FILE).write_text(json.dumps({**record, "format": 4}))
    with pytest.raises(ModelDirError, match="format 4, written by nmt_keras another release"):
        load_translator(tmp_path)


def test_train_on_batch_works_as_the_docstring_shows(seeded):
    translator = tiny_translator()
    source, target_in, target_out = translator.prepare_batch(SOURCES, TARGETS)
    first = translator.model.train_on_batch((source, target_in), target_out, return_dict=True)
    for _ in range(5):
        last = translator.model.train_on_batch((source, target_in), target_out, return_dict=True)
    assert last["loss"] < first["loss"]
    with pytest.raises(ValueError, match="takes no sample weights"):
        translator.model.train_on_batch(
            (source, target_in), target_out, sample_weight=np.ones(len(SOURCES))
        )


def test_the_model_is_built_by_the_translator_and_stands_alone(seeded):
    """The Translator builds its Seq2Seq (no dummy batch); a Seq2Seq made from the same
    sizes and settings holds the same weights and computes the same logits."""
    translator = tiny_translator()
    model = translator.model
    assert isinstance(model, Seq2Seq) and model.built and model.encoder.built and model.decoder.built
    assert model.source_vocab_size == len(translator.source_vocabulary)
    assert model.target_vocab_size == len(translator.target_vocabulary)
    twin = Seq2Seq.from_config(model.get_config())
    twin.build()
    twin.set_weights(model.get_weights())
    source, target_in, _ = translator.prepare_batch(SOURCES, TARGETS)
    np.testing.assert_allclose(
        twin((source, target_in)).numpy(), model((source, target_in)).numpy(), rtol=1e-5, atol=1e-6
    )
