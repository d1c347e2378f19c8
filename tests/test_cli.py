"""The command line and the whole training run, on tiny data and tiny models."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nmt_keras.cli import EXIT_BAD_INPUT, main

ROOT = Path(__file__).resolve().parents[1]
TINY_SIZES = [
    "--units", "8", "--embedding-dim", "8", "--epochs", "2", "--batch-size", "8",
    "--validation-size", "4", "--test-size", "4", "--seed", "3",
]

ENGLISH = ["the cat", "the dog", "a black cat", "a white dog", "the house", "a big house"]
SPANISH = ["el gato", "el perro", "un gato negro", "un perro blanco", "la casa", "una casa grande"]


@pytest.fixture(scope="module")
def tiny_tsv(tmp_path_factory):
    """48 English<TAB>Spanish lines (the Anki column order), with repeats of 6 pairs."""
    path = tmp_path_factory.mktemp("data") / "tiny.tsv"
    lines = [f"{e} {i}\t{s} {i}" for i in range(8) for e, s in zip(ENGLISH, SPANISH)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def model_dir(tiny_tsv, tmp_path_factory):
    output = tmp_path_factory.mktemp("model")
    assert main(["train", "--data", str(tiny_tsv), "--output", str(output), *TINY_SIZES]) == 0
    return output


def test_train_writes_a_model_dir_and_a_report(model_dir):
    for name in (
        "config.json", "translator.json", "source_vocab.txt", "target_vocab.txt",
        "model.weights.h5", "report.json", "history.json", "history.png",
        "test_translations.tsv",
    ):
        assert (model_dir / name).is_file(), name
    report = json.loads((model_dir / "report.json").read_text())
    assert report["pairs"]["test"] >= 4 and report["pairs"]["train"] > 0
    assert 0.0 <= report["bleu"] <= 100.0
    assert report["epochs"] == 2 and report["training_steps"] > 0
    assert report["target_tokens_per_second"] > 0
    assert report["direction"] == "column 2 -> English"
    assert not (model_dir / "backup").exists()  # removed once training finished


def test_vocabulary_comes_from_the_training_split_only(model_dir, tiny_tsv):
    from nmt_keras.config import Config
    from nmt_keras.training import prepare_data

    config = Config.from_dict(json.loads((model_dir / "config.json").read_text()))
    data = prepare_data(config)
    source_vocab = set((model_dir / "source_vocab.txt").read_text().split())
    train_words = {w for p in data.train for w in p.source.split()}
    test_only = {w for p in data.test for w in p.source.split()} - train_words
    assert source_vocab <= train_words | {"[UNK]"}
    assert not (test_only & source_vocab)


def test_translate_from_arguments(model_dir, capsys):
    assert main(["translate", str(model_dir), "el gato 1", "", "una casa grande 2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[1] == ""


def test_evaluate_writes_report_json(model_dir, tmp_path, capsys):
    assert main(["evaluate", str(model_dir), "--output", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    training_report = json.loads((model_dir / "report.json").read_text())
    assert report["split"] == "test" and report["pairs"] == training_report["pairs"]["test"]
    assert report["bleu"] == pytest.approx(training_report["bleu"])


def run_module(*args, stdin=""):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "nmt_keras", *args],
        input=stdin, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300,
    )


def test_translate_reads_stdin_in_a_real_process(model_dir):
    result = run_module("translate", str(model_dir), stdin="el gato 1\nla casa 3\n")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2


def test_bad_data_is_one_clear_line_without_traceback(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("the cat\tel gato\nno tab on this line\n", encoding="utf-8")
    result = run_module("train", "--data", str(bad), "--output", str(tmp_path / "out"))
    assert result.returncode == EXIT_BAD_INPUT
    assert "Traceback" not in result.stderr
    assert "bad.tsv" in result.stderr and "line 2" in result.stderr


def test_missing_model_dir_is_a_clear_error(tmp_path, capsys):
    assert main(["translate", str(tmp_path / "nothing"), "hola"]) == EXIT_BAD_INPUT
    assert "model directory not found" in capsys.readouterr().err


def test_bad_settings_are_a_clear_error(tiny_tsv, tmp_path, capsys):
    code = main(["train", "--data", str(tiny_tsv), "--output", str(tmp_path), "--units", "0"])
    assert code == EXIT_BAD_INPUT
    assert "units must be >= 1, got 0" in capsys.readouterr().err
