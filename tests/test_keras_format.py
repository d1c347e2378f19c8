"""Keras-native `.keras` files: every custom layer is registered, the Translator's
config is complete, and a fresh process loads the file with `safe_mode=True` and
computes exactly what the saved model computed (greedy translations, attention,
scores and teacher-forced logits)."""

import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from nmt_keras.inference.translator import Translator
from nmt_keras.saving import ModelDirError, load_keras, load_translator, save_keras
from test_variants import SOURCES, make_translator, one_batch

ROOT = pathlib.Path(__file__).resolve().parents[1]
BATCH = ["El gato negro come.", "", "Xyzzy plugh gato", " ".join(SOURCES * 4)]
# Two models that between them use every registered layer class.
VARIANTS = {
    "bahdanau-gru": {},
    "luong-lstm": {
        "decoder": "luong", "attention": "luong-general", "input_feeding": True,
        "cell_type": "lstm", "encoder_layers": 2, "maxout_units": 8, "source_prior": True,
        "reverse_source": True,
    },
}

# Run by a fresh interpreter: argv = JSON {variant: .keras path}, output .npz file, batch.
LOAD_SCRIPT = """
import json, sys
import keras
import numpy as np
import nmt_keras.inference.translator  # noqa: F401  importing it registers the nmt_keras classes

paths, out_file, batch = json.loads(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
arrays = {}
for variant, path in paths.items():
    translator = keras.saving.load_model(path, safe_mode=True)
    arrays[variant + "/class"] = np.array(type(translator).__name__)
    for key, value in translator.translate(batch).items():
        arrays[variant + "/greedy/" + key] = value.astype(str) if value.dtype == object else value
    source, target_in, _ = translator.prepare_batch(batch, batch)
    arrays[variant + "/logits"] = translator.model((source, target_in), training=False).numpy()
np.savez(out_file, **arrays)
"""


def trained(options):
    keras.utils.set_random_seed(41)
    translator = make_translator(units=16, embedding_dim=8, max_output_length=10, **options)
    translator.model.fit(one_batch(translator).repeat(5), epochs=1, verbose=0)
    return translator


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """{variant: (translator, path of its .keras file)}."""
    folder = tmp_path_factory.mktemp("keras")
    models = {}
    for variant, options in VARIANTS.items():
        translator = trained(options)
        save_keras(translator, folder / f"{variant}.keras")
        models[variant] = (translator, folder / f"{variant}.keras")
    return models


def expected_outputs(translator):
    outputs = {}
    for key, value in translator.translate(BATCH).items():
        outputs["greedy/" + key] = value.astype(str) if value.dtype == object else value
    source, target_in, _ = translator.prepare_batch(BATCH, BATCH)
    outputs["logits"] = translator.model((source, target_in), training=False).numpy()
    return outputs


def test_fresh_process_loads_with_safe_mode_and_computes_the_same(saved, tmp_path):
    paths = {variant: str(path) for variant, (_, path) in saved.items()}
    out_file = tmp_path / "outputs.npz"
    process = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, json.dumps(paths), str(out_file), json.dumps(BATCH)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},  # this checkout's nmt_keras
    )
    assert process.returncode == 0, process.stderr[-3000:]
    loaded = np.load(out_file)
    for variant, (translator, _) in saved.items():
        assert str(loaded[variant + "/class"]) == "Translator"
        for key, value in expected_outputs(translator).items():
            got = loaded[f"{variant}/{key}"]
            if np.issubdtype(value.dtype, np.floating):
                # Another process may sum in another order (threaded matrix products):
                # equal up to float32 rounding.
                np.testing.assert_allclose(got, value, rtol=1e-5, atol=1e-6, err_msg=f"{variant} {key}")
            else:  # texts, tokens and token ids: identical
                np.testing.assert_array_equal(got, value, err_msg=f"{variant} {key}")


def test_config_round_trip_keeps_vocabularies_and_options(saved):
    translator, path = saved["luong-lstm"]
    config = translator.get_config()
    assert config["source_words"] == translator.source_words
    assert config["target_words"] == translator.target_words
    clone = Translator.from_config(config)
    assert clone.get_config() == config
    assert clone.source_vocabulary == translator.source_vocabulary
    assert clone.target_vocabulary == translator.target_vocabulary


def test_load_keras_and_load_translator_accept_a_keras_file(saved):
    translator, path = saved["bahdanau-gru"]
    for loaded in (load_keras(path), load_translator(path)):
        assert isinstance(loaded, Translator)
        weights = translator.model.get_weights()
        assert len(loaded.model.get_weights()) == len(weights) > 0
        for got, expected in zip(loaded.model.get_weights(), weights, strict=True):
            np.testing.assert_array_equal(got, expected)
        # The optimizer state travels with the file: training can resume from it.
        optimizer = translator.model.optimizer
        assert type(loaded.model.optimizer) is type(optimizer)
        assert loaded.model.optimizer.get_config() == optimizer.get_config()
        assert loaded.model.optimizer.iterations.numpy() == optimizer.iterations.numpy() == 5
        for got, expected in zip(loaded.model.optimizer.variables, optimizer.variables, strict=True):
            np.testing.assert_array_equal(got.numpy(), expected.numpy())


def test_keras_file_errors_name_the_problem(tmp_path):
    with pytest.raises(ModelDirError, match="not found"):
        load_keras(tmp_path / "missing.keras")
    not_zip = tmp_path / "broken.keras"
    not_zip.write_text("not a zip")
    with pytest.raises(ModelDirError, match="not a .keras file"):
        load_translator(not_zip)
    with pytest.raises(ModelDirError, match="must end in .keras"):
        save_keras(make_translator(units=8, embedding_dim=8), tmp_path / "model.h5")


def test_every_layer_class_is_registered():
    from nmt_keras.data.tokenizers import SubwordVectorizer
    from nmt_keras.fast import FusedAdam, FusedGRU, FusedGRUCell
    from nmt_keras.layers import (
        BahdanauAttention,
        Bridge,
        Decoder,
        Encoder,
        LuongAttention,
        LuongDecoder,
        OutputLayer,
    )
    from nmt_keras.model import LastValue, TokenMean
    from nmt_keras.model import Seq2Seq

    classes = (
        Translator, Seq2Seq, Encoder, Decoder, LuongDecoder, BahdanauAttention, LuongAttention,
        OutputLayer, Bridge, TokenMean, LastValue, FusedGRU, FusedGRUCell, FusedAdam,
        SubwordVectorizer,
    )
    for cls in classes:
        name = keras.saving.get_registered_name(cls)
        assert name == f"nmt_keras>{cls.__name__}"
        assert keras.saving.get_registered_object(name) is cls
