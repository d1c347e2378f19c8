"""SavedModel export: `python -m nmt_keras export`, then serving from a fresh Python
process that imports only tensorflow and tensorflow_text."""

import contextlib
import errno
import io
import json
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from nmt_keras.cli import EXIT_BAD_INPUT, build_parser, main, run_export
from nmt_keras.inference.export import ExportError, check_out_dir, export_translator
from nmt_keras.saving import load_translator, save_translator
from test_variants import SOURCES, make_translator, one_batch

UNKNOWN = "Xyzzy plugh gato frobnicate"
LONG = " ".join(SOURCES * 6)  # about 40 words, longer than any training sentence
BATCH = ["El gato negro come.", "", UNKNOWN, LONG, "¿Come el perro pan?"]
BEAM_WIDTH = 3
LENGTH_PENALTY = 0.6
MAX_OUTPUT_LENGTH = 12

# Run by a fresh interpreter: argv = SavedModel dir, JSON output file, batch as JSON.
SERVE_SCRIPT = """
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401  registers NormalizeUTF8 and the other text ops

out_dir, out_file, batch = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
loaded = tf.saved_model.load(out_dir)
texts = tf.constant(batch, tf.string)
width, alpha = tf.constant({width}, tf.int32), tf.constant({alpha}, tf.float32)

def plain(outputs):
    return {{k: v.numpy().tolist() for k, v in outputs.items()}}

def decoded(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, list):
        return [decoded(v) for v in value]
    if isinstance(value, dict):
        return {{k: decoded(v) for k, v in value.items()}}
    return value

results = {{
    "signature_greedy": plain(loaded.signatures["translate"](texts=texts)),
    "function_greedy": plain(loaded.translate(texts)),
    "signature_beam": plain(
        loaded.signatures["translate_beam"](texts=texts, beam_width=width, length_penalty=alpha)
    ),
    "function_beam": plain(loaded.translate_beam(texts, width, alpha)),
    "empty_batch": plain(loaded.translate(tf.constant([], tf.string))),
    "empty_batch_beam": plain(loaded.translate_beam(tf.constant([], tf.string), width, alpha)),
    "only_empty": plain(loaded.translate(tf.constant(["", "  "]))),
    "signatures": sorted(loaded.signatures),
    "nmt_keras_imported": any(name.split(".")[0] == "nmt_keras" for name in sys.modules),
}}
with open(out_file, "w") as f:
    json.dump(decoded(results), f)
"""


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny model trained a few steps (some outputs end with [END], some do not)."""
    keras.utils.set_random_seed(31)
    translator = make_translator(units=16, embedding_dim=8, max_output_length=MAX_OUTPUT_LENGTH)
    translator.model.fit(one_batch(translator).repeat(15), epochs=1, verbose=0)
    path = tmp_path_factory.mktemp("model")
    save_translator(translator, path)
    return path


@pytest.fixture(scope="module")
def in_memory(model_dir):
    """The translator the CLI exported, loaded from the same model directory."""
    return load_translator(model_dir)


@pytest.fixture(scope="module")
def exported(model_dir, tmp_path_factory):
    """The SavedModel written by the CLI, and what the CLI printed."""
    out_dir = tmp_path_factory.mktemp("export") / "saved"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["export", str(model_dir), str(out_dir)]) == 0
    return out_dir, printed.getvalue()


@pytest.fixture(scope="module")
def served(exported, tmp_path_factory):
    """The outputs of the exported model, computed by a fresh Python process."""
    out_dir, _ = exported
    work = tmp_path_factory.mktemp("serve")
    out_file = work / "outputs.json"
    script = SERVE_SCRIPT.format(width=BEAM_WIDTH, alpha=LENGTH_PENALTY)
    process = subprocess.run(
        [sys.executable, "-c", script, str(out_dir), str(out_file), json.dumps(BATCH)],
        cwd=work, capture_output=True, text=True, timeout=300,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    return json.loads(out_file.read_text())


def test_cli_prints_the_signatures(exported):
    out_dir, printed = exported
    assert (out_dir / "saved_model.pb").is_file()
    assert "translate(texts: string[None])" in printed
    assert "translate_beam(beam_width: int32[], length_penalty: float32[], texts: string[None])" in printed
    assert "texts: string[None, None]" in printed


def test_fresh_process_does_not_import_nmt_keras(served):
    assert served["nmt_keras_imported"] is False
    assert {"translate", "translate_beam", "serving_default"} <= set(served["signatures"])


def test_greedy_signature_equals_in_memory_translate(in_memory, served):
    expected = in_memory.translate(BATCH)
    for key in ("signature_greedy", "function_greedy"):
        got = served[key]
        assert got["text"] == list(expected["text"])
        assert got["tokens"] == expected["tokens"].tolist()
        assert got["source_tokens"] == expected["source_tokens"].tolist()
        np.testing.assert_array_equal(np.array(got["attention"], np.float32), expected["attention"])
        np.testing.assert_array_equal(np.array(got["score"], np.float32), expected["score"])
    assert served["signature_greedy"]["text"][1] == ""  # the empty sentence
    # Unknown words reach the encoder as [UNK] ids; the reported source tokens keep
    # them as written (so attention plots show the real words).
    assert "Xyzzy" in served["signature_greedy"]["source_tokens"][2]


def test_beam_signature_equals_in_memory_beam_search(in_memory, served):
    expected = in_memory.translate(
        BATCH, method="beam", beam_width=BEAM_WIDTH, length_penalty=LENGTH_PENALTY, n_best=BEAM_WIDTH
    )
    for key in ("signature_beam", "function_beam"):
        got = served[key]
        assert got["texts"] == [list(row) for row in expected["n_best_text"]]
        np.testing.assert_array_equal(np.array(got["scores"], np.float32), expected["n_best_score"])
        assert got["text"] == list(expected["text"])
        np.testing.assert_array_equal(np.array(got["score"], np.float32), expected["score"])
        assert np.array(got["texts"]).shape == (len(BATCH), BEAM_WIDTH)


def test_empty_batches_and_empty_sentences(served):
    assert served["empty_batch"]["text"] == []
    assert served["empty_batch_beam"]["texts"] == []
    assert served["only_empty"]["text"] == ["", ""]
    assert served["only_empty"]["tokens"] == [[], []]


def test_export_refuses_a_non_empty_directory(model_dir, tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("precious")
    assert main(["export", str(model_dir), str(tmp_path)]) == EXIT_BAD_INPUT
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "keep.txt").read_text() == "precious"


def test_export_reports_a_missing_model_dir(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nope"), str(tmp_path / "out")]) == EXIT_BAD_INPUT
    assert "model directory not found" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_overwrite_replaces_the_destination_only_once_the_export_is_complete(
    in_memory, tmp_path, monkeypatch
):
    # (Unit-level, with a stand-in for Keras' writer: a second full export would double
    # this module's run time.)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "old.txt").write_text("stale")
    with pytest.raises(ExportError, match="--overwrite"):
        check_out_dir(out_dir)
    check_out_dir(out_dir, overwrite=True)
    assert (out_dir / "old.txt").read_text() == "stale"  # checking removes nothing

    def fails(self, filepath, verbose=None):
        (pathlib.Path(filepath) / "saved_model.pb").write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    archive_class = type(keras.export.ExportArchive())  # the backend's class
    monkeypatch.setattr(archive_class, "write_out", fails)
    with pytest.raises(OSError):
        export_translator(in_memory, out_dir)
    assert sorted(p.name for p in out_dir.iterdir()) == ["old.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary left

    def writes(self, filepath, verbose=None):
        (pathlib.Path(filepath) / "saved_model.pb").write_bytes(b"complete")

    monkeypatch.setattr(archive_class, "write_out", writes)
    export_translator(in_memory, out_dir)
    assert sorted(p.name for p in out_dir.iterdir()) == ["saved_model.pb"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    args = build_parser().parse_args(["export", "model", str(out_dir), "--overwrite"])
    assert args.overwrite and args.run is run_export


@pytest.mark.parametrize("destination", ["the-model-dir", "its-parent"])
def test_export_never_replaces_the_model_it_exports(model_dir, destination, capsys):
    out_dir = model_dir if destination == "the-model-dir" else model_dir.parent
    before = {p.name: p.read_bytes() for p in model_dir.iterdir() if p.is_file()}
    assert main(["export", str(model_dir), str(out_dir), "--overwrite"]) == EXIT_BAD_INPUT
    error = capsys.readouterr().err
    assert len(error.splitlines()) == 1 and "holds the model directory" in error
    assert {p.name: p.read_bytes() for p in model_dir.iterdir() if p.is_file()} == before


def test_export_refuses_a_file_as_destination(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExportError, match="not a directory"):
        check_out_dir(tmp_path / "file", overwrite=True)
