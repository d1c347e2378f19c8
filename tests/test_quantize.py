"""int8 weights for translation: `load_translator(..., quantize="int8")`,
`Translator.quantize_weights`, `translate --quantize int8` and `export --quantize int8`."""

import contextlib
import io
import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from nmt_keras.cli import EXIT_BAD_INPUT, main
from nmt_keras.data.corpora import load_corpus
from nmt_keras.inference.translator import Translator
from nmt_keras.saving import ModelDirError, load_translator, save_keras, save_translator

TINY_RUN = [
    "--data", "synthetic", "--units", "32", "--embedding-dim", "16", "--epochs", "2",
    "--steps-per-epoch", "40", "--batch-size", "32", "--max-train-pairs", "3000",
    "--validation-size", "16", "--test-size", "16", "--beam-width", "1",
    "--max-output-length", "16", "--seed", "5",
]
# The sentences of the embedded corpus that the tests translate.
HELD_OUT = slice(-200, None)
WORDS = ["el", "gato", "negro", "come", "la", "casa", "blanca"]

# Run by a fresh interpreter: argv = SavedModel dir, JSON output file, batch as JSON.
SERVE_SCRIPT = """
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401

out_dir, out_file, batch = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
loaded = tf.saved_model.load(out_dir)
outputs = loaded.signatures["translate"](texts=tf.constant(batch, tf.string))
with open(out_file, "w") as f:
    json.dump({
        "text": [t.decode("utf-8") for t in outputs["text"].numpy()],
        "dtypes": sorted({v.dtype.name for v in loaded.variables}),
        "nmt_keras_imported": any(name.split(".")[0] == "nmt_keras" for name in sys.modules),
    }, f)
"""


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny model trained for a few steps on the embedded corpus."""
    output = tmp_path_factory.mktemp("model")
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["train", "--output", str(output), *TINY_RUN]) == 0
    return output


@pytest.fixture(scope="module")
def translators(model_dir):
    """`(float32, int8)` translators of the same model."""
    return load_translator(model_dir), load_translator(model_dir, quantize="int8")


@pytest.fixture(scope="module")
def held_out():
    return [pair.source for pair in load_corpus("synthetic").pairs[HELD_OUT]]


def weight_dtypes(model):
    """`{variable path: dtype name}` of a model's variables."""
    return {v.path: keras.backend.standardize_dtype(v.dtype) for v in model.weights}


def int8_paths(model):
    return {path for path, dtype in weight_dtypes(model).items() if dtype == "int8"}


def test_embeddings_and_dense_kernels_are_int8_and_the_gru_cells_stay_float(translators):
    float32, int8 = translators
    assert float32.quantization is None and int8.quantization == "int8"
    assert int8_paths(float32.model) == set()
    quantized = int8_paths(int8.model)
    assert {path.rsplit("/", 2)[-2] + "/" + path.rsplit("/", 1)[-1] for path in quantized} == {
        "embedding/embeddings",  # source and target embeddings, in the encoder and decoder
        "to_hidden/kernel",  # the bridge
        "W_s/kernel", "W_h/kernel",  # Bahdanau attention's projections
        "projection/kernel",  # the output projection
    }
    assert len(quantized) == 6  # two embeddings
    dtypes = weight_dtypes(int8.model)
    cells = {path: dtype for path, dtype in dtypes.items() if "gru_cell" in path}
    assert len(cells) == 9  # forward, backward and decoder cell: kernel, recurrent kernel, bias
    assert set(cells.values()) == {"float32"}
    for path in quantized:  # each int8 matrix has its float32 scale beside it
        assert dtypes[path + "_scale"] == "float32"


@pytest.mark.parametrize("options, expected", [
    ({"decoder": "luong", "attention": "luong-general", "maxout_units": 8, "cell_type": "lstm"},
     {"W_c/kernel", "W_a/kernel", "maxout_input/kernel", "projection/kernel", "to_hidden/kernel",
      "to_memory/kernel", "embedding/embeddings"}),
    ({"attention": "luong-concat"},
     {"W_q/kernel", "W_k/kernel", "projection/kernel", "to_hidden/kernel", "embedding/embeddings"}),
])
def test_every_dense_and_embedding_of_other_variants_is_int8(options, expected):
    translator = Translator(WORDS, WORDS, embedding_dim=8, units=8, **options)
    before = translator.translate(["el gato negro"])["token_ids"].shape
    translator.quantize_weights("int8")
    quantized = {path.rsplit("/", 2)[-2] + "/" + path.rsplit("/", 1)[-1] for path in int8_paths(translator.model)}
    assert quantized == expected
    recurrent = [path for path, dtype in weight_dtypes(translator.model).items() if "_cell" in path]
    assert recurrent and all(weight_dtypes(translator.model)[path] == "float32" for path in recurrent)
    # The searches were traced again: they translate with the int8 weights.
    assert translator.translate(["el gato negro"])["token_ids"].shape[0] == before[0]


def test_int8_logits_stay_close_to_float32(translators, held_out):
    """Per-column (kernels) and per-row (embeddings, inputs) abs-max scales round each
    number to within 1/254 of its row's or column's largest value, i.e. within 0.4%
    of it; summed over a product of a few dozen terms with errors of both signs, the
    logits move by a few percent of their spread at most. 5% leaves room for that and
    still fails if a scale were applied on the wrong axis (errors of 100% and more)."""
    float32, int8 = translators
    source, target_in, _ = float32.prepare_batch(held_out[:64], ["x"] * 64)
    expected = np.asarray(float32.model((source, target_in)))  # (batch, target_len, vocab)
    got = np.asarray(int8.model((source, target_in)))
    spread = expected.max(axis=-1) - expected.min(axis=-1)  # (batch, target_len)
    assert np.all(np.abs(got - expected).max(axis=-1) <= 0.05 * spread)


def test_int8_greedy_translations_mostly_equal_float32(translators, held_out):
    """Greedy search changes a word only where the two best logits are closer than the
    int8 error; after a few steps, ties that close are uncommon but not absent, and one
    change alters the rest of its sentence. Nine sentences in ten kept whole allows
    that and fails if quantization changed the model's function."""
    float32, int8 = translators
    expected = float32.translate(held_out, method="greedy")
    got = int8.translate(held_out, method="greedy")
    same = np.mean([a == b for a, b in zip(expected["text"], got["text"])])
    assert same >= 0.9, f"{same:.1%} of the int8 translations equal the float32 ones"
    assert set(expected["text"]) != {""}  # the model translates something


def test_quantized_translators_are_not_saved(translators, tmp_path):
    _, int8 = translators
    with pytest.raises(ModelDirError, match="quantized .*int8.*cannot be saved"):
        save_translator(int8, tmp_path / "model")
    with pytest.raises(ModelDirError, match="cannot be saved"):
        save_keras(int8, tmp_path / "model.keras")
    assert list(tmp_path.iterdir()) == []


def test_bad_modes_and_a_second_quantization_are_refused(translators, tmp_path):
    _, int8 = translators
    with pytest.raises(ValueError, match=r"quantize must be one of \('int8',\) or None, got 'int4'"):
        load_translator(tmp_path / "never read", quantize="int4")
    with pytest.raises(ValueError, match="quantize mode must be one of"):
        Translator(WORDS, WORDS, embedding_dim=8, units=8).quantize_weights(None)
    with pytest.raises(ValueError, match="already quantized"):
        int8.quantize_weights("int8")


def test_translate_flag_uses_int8_weights(model_dir, translators, held_out, capsys):
    _, int8 = translators
    sentences = held_out[:5]
    assert main(["translate", str(model_dir), "--quantize", "int8", *sentences]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == list(int8.translate(sentences)["text"])


@pytest.mark.parametrize("command", ["translate", "export"])
def test_an_unknown_quantization_is_one_line(model_dir, tmp_path, command, capsys):
    args = [command, str(model_dir), "--quantize", "int4"]
    args += [str(tmp_path / "out")] if command == "export" else ["el gato"]
    with pytest.raises(SystemExit) as stopped:
        main(args)
    assert stopped.value.code == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--quantize: invalid choice: 'int4'" in err


def test_exported_int8_model_runs_in_a_fresh_process(model_dir, translators, held_out, tmp_path):
    _, int8 = translators
    out_dir = tmp_path / "saved"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["export", str(model_dir), str(out_dir), "--quantize", "int8"]) == 0
    assert "int8 embeddings and Dense kernels" in printed.getvalue()
    batch = held_out[:8] + [""]
    out_file = tmp_path / "served.json"
    process = subprocess.run(
        [sys.executable, "-c", SERVE_SCRIPT, str(out_dir), str(out_file), json.dumps(batch)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    served = json.loads(out_file.read_text())
    assert served["nmt_keras_imported"] is False
    assert "int8" in served["dtypes"] and "float32" in served["dtypes"]
    assert served["text"] == list(int8.translate(batch)["text"])
