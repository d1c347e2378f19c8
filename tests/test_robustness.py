"""Robustness: killed-and-resumed training, determinism, NaN losses, bad input."""

import io
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from nmt_keras import Translator, atomic, load_translator, save_translator, saving
from nmt_keras.cli import EXIT_BAD_INPUT, EXIT_TRAINING_FAILED, main
from nmt_keras.config import Config
from nmt_keras.data import corpora
from nmt_keras.data.corpora import CorpusError
from nmt_keras.data.tokenizers import learn_vocabulary
from nmt_keras.inference.translator import translate_all
from nmt_keras.saving import MODEL_FILES, SOURCE_VOCAB_FILE, WEIGHTS_FILE, ModelDirError
from nmt_keras.training import train as training
from nmt_keras.training.callbacks import STATE_FILE, NonFiniteLossError
from nmt_keras.training.train import BACKUP_DIR, BEST_WEIGHTS, prepare_data, train_and_evaluate

ROOT = Path(__file__).resolve().parents[1]
# Runs a `train` command with a callback that SIGKILLs the process after a given step.
KILL_SCRIPT = Path(__file__).resolve().parent / "kill_at_step.py"
ENGLISH = ["the cat", "the dog", "a black cat", "a white dog", "the house", "a big house"]
SPANISH = ["el gato", "el perro", "un gato negro", "un perro blanco", "la casa", "una casa grande"]
# 3 epochs of 6 batches (40 training pairs in length buckets); a backup every 2 steps;
# the kill comes after step 7, in the middle of epoch 2, one step after the last backup
# (step 6), which is thus redone. The learning rate decays linearly over the 18 steps,
# so the resumed run must also take up the schedule where the killed one left it.
RUN_ARGS = [
    "--units", "8", "--embedding-dim", "8", "--epochs", "3", "--batch-size", "8",
    "--validation-size", "4", "--test-size", "4", "--seed", "3", "--patience", "5",
    "--max-output-length", "6", "--deterministic", "--backup-every", "2",
    "--learning-rate-schedule", "linear", "--decay-steps", "18",
]
KILL_AT_STEP = 7


def write_tsv(path, repeats=8):
    lines = [f"{e} {i}\t{s} {i}" for i in range(repeats) for e, s in zip(ENGLISH, SPANISH)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def train_process(data, output, kill_at_step=None):
    """Starts `python -m nmt_keras train` (the same command every time) in a subprocess;
    with `kill_at_step`, the same training killed with SIGKILL after that step."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    train = ["train", "--data", str(data), "--output", str(output), *RUN_ARGS]
    if kill_at_step is None:
        command = [sys.executable, "-m", "nmt_keras", *train]
    else:
        command = [sys.executable, str(KILL_SCRIPT), str(kill_at_step), *train]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(process):
    stdout, stderr = process.communicate(timeout=600)
    return process.returncode, stdout, stderr


def read_weights(path):
    """Every dataset of an HDF5 weights file, by its path in the file."""
    arrays = {}
    with h5py.File(path, "r") as handle:
        handle.visititems(
            lambda name, item: arrays.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None
        )
    return arrays


def wait_for_lock(directory, pid):
    """Returns once process `pid` holds the lock of `directory` (it names itself in the
    lock file); fails the test after a minute."""
    lock = directory / atomic.LOCK_FILE
    deadline = time.monotonic() + 60
    while not (lock.is_file() and lock.read_text().startswith(f"pid {pid},")):
        assert time.monotonic() < deadline, f"{pid} never locked {directory}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two uninterrupted runs and one killed-then-resumed run of the same command, and a
    fourth run into the first one's directory while that one trains."""
    root = tmp_path_factory.mktemp("runs")
    data = write_tsv(root / "tiny.tsv")
    first = train_process(data, root / "first")
    wait_for_lock(root / "first", first.pid)
    intruder = finish(train_process(data, root / "first"))
    second = train_process(data, root / "second")
    killed = train_process(data, root / "killed", kill_at_step=KILL_AT_STEP)
    outcomes = {"first": finish(first), "second": finish(second), "killed": finish(killed),
                "intruder": intruder, "first_pid": first.pid}
    state_after_kill = json.loads((root / "killed" / BACKUP_DIR / STATE_FILE).read_text())
    state_after_kill["report_written"] = (root / "killed" / "report.json").exists()
    outcomes["resumed"] = finish(train_process(data, root / "killed"))
    return root, outcomes, state_after_kill


def test_killed_run_resumes_to_the_same_steps_and_weights(runs):
    root, outcomes, state_after_kill = runs
    assert outcomes["killed"][0] == -signal.SIGKILL
    assert not state_after_kill["report_written"]
    # The kill came one step after the backup of step 6, in the middle of epoch 2.
    assert state_after_kill["step"] == KILL_AT_STEP - 1
    assert state_after_kill["epoch"] == 1 and len(state_after_kill["history"]["loss"]) == 1
    for name in ("first", "resumed"):
        assert outcomes[name][0] == 0, outcomes[name][2][-2000:]
    uninterrupted = json.loads((root / "first" / "report.json").read_text())
    resumed = json.loads((root / "killed" / "report.json").read_text())
    assert resumed["resumed_from_step"] == KILL_AT_STEP - 1
    assert uninterrupted["resumed_from_step"] is None
    assert resumed["training_steps"] == uninterrupted["training_steps"] == 3 * uninterrupted["steps_per_epoch"] == 18
    assert resumed["epochs"] == uninterrupted["epochs"] == 3
    # Validation loss depends only on the weights at each epoch's end: equal, all epochs.
    history = json.loads((root / "first" / "history.json").read_text())
    resumed_history = json.loads((root / "killed" / "history.json").read_text())
    assert resumed_history["val_loss"] == history["val_loss"]
    expected = read_weights(root / "first" / WEIGHTS_FILE)
    got = read_weights(root / "killed" / WEIGHTS_FILE)
    assert expected.keys() == got.keys() and len(expected) > 10
    for name, array in expected.items():
        np.testing.assert_array_equal(got[name], array, err_msg=name)
    # A finished run leaves no backup behind.
    assert not (root / "killed" / BACKUP_DIR).exists()
    assert not (root / "first" / BACKUP_DIR).exists()


def test_a_second_training_into_the_same_directory_fails_at_once(runs):
    root, outcomes, _ = runs
    status, stdout, stderr = outcomes["intruder"]
    assert status == EXIT_BAD_INPUT and stdout == ""
    assert stderr.splitlines() == [
        f"error: {root / 'first'} is in use by another process (pid {outcomes['first_pid']}, "
        f"training); wait for it to finish, or choose another directory"
    ]
    assert outcomes["first"][0] == 0  # the first run, untouched, finished normally


def test_deterministic_runs_give_identical_loss_curves(runs):
    root, outcomes, _ = runs
    assert outcomes["second"][0] == 0, outcomes["second"][2][-2000:]
    first = json.loads((root / "first" / "history.json").read_text())
    second = json.loads((root / "second" / "history.json").read_text())
    assert len(first["loss"]) == 3
    assert first["loss"] == second["loss"] and first["val_loss"] == second["val_loss"]
    assert read_weights(root / "first" / WEIGHTS_FILE).keys() == read_weights(
        root / "second" / WEIGHTS_FILE
    ).keys()
    for name, array in read_weights(root / "first" / WEIGHTS_FILE).items():
        np.testing.assert_array_equal(read_weights(root / "second" / WEIGHTS_FILE)[name], array)


# ----------------------------------------------------------------------- NaN / Inf


class ExplodeAfterFirstEpoch(keras.callbacks.Callback):
    """Test hook: an absurd learning rate from the second epoch on makes the loss NaN/Inf."""

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            self.model.optimizer.learning_rate.assign(1e30)


def tiny_config(data, **changes):
    values = dict(
        data=str(data), units=8, embedding_dim=8, epochs=3, batch_size=8, validation_size=4,
        test_size=4, seed=3, patience=5, max_output_length=6, max_vocab_size=None,
    )
    values.update(changes)
    return Config(**values)


def test_non_finite_loss_stops_and_keeps_the_last_good_weights(tmp_path):
    config = tiny_config(write_tsv(tmp_path / "tiny.tsv"), backup_every=1)
    workdir = tmp_path / "run"
    with pytest.raises(NonFiniteLossError) as info:
        train_and_evaluate(config, workdir, prepare_data(config), verbose=0,
                           callbacks=[ExplodeAfterFirstEpoch()])
    message = str(info.value)
    assert "the loss became" in message and "epoch 2, batch" in message
    assert str(workdir / BEST_WEIGHTS) in message
    report = json.loads((workdir / "report.json").read_text())
    stop = report["stopped_by_non_finite_loss"]
    assert stop["epoch"] == 2 and not math.isfinite(float(stop["loss"]))
    assert stop["step"] > report["steps_per_epoch"]
    assert f"(training step {stop['step']})" in message
    assert report["best_epoch"] == 1 and report["resumable"] is True
    best = read_weights(workdir / BEST_WEIGHTS)
    assert best and all(np.all(np.isfinite(a)) for a in best.values() if a.dtype.kind == "f")
    # The backup holds the last state with finite weights, never a diverged one.
    state = json.loads((workdir / BACKUP_DIR / STATE_FILE).read_text())
    backup = read_weights(workdir / BACKUP_DIR / state["weights_file"])
    assert all(np.all(np.isfinite(a)) for a in backup.values() if a.dtype.kind == "f")
    assert state["step"] >= report["steps_per_epoch"]
    assert not (workdir / WEIGHTS_FILE).exists()  # no model saved from a diverged run


def test_cli_exits_non_zero_when_training_diverges(translator, tmp_path, capsys, monkeypatch):
    """A diverged training into a directory that holds a model leaves that model whole:
    its config.json, settings and weights, which translate as before."""
    output = tmp_path / "out"
    previous_config = Config(units=8, embedding_dim=8, max_output_length=7)
    save_translator(translator, output, previous_config)
    model_files = {name: (output / name).read_bytes() for name in MODEL_FILES}
    # --learning-rate accepts at most 10, which does not reliably diverge: the
    # optimizer the run builds gets an absurd learning rate instead.
    make_optimizer = training.make_optimizer
    monkeypatch.setattr(
        training, "make_optimizer", lambda learning_rate, *args: make_optimizer(1e30, *args)
    )
    data = write_tsv(tmp_path / "tiny.tsv")
    status = main([
        "train", "--data", str(data), "--output", str(output), "--units", "12",
        "--embedding-dim", "8", "--epochs", "2", "--batch-size", "8", "--validation-size", "4",
        "--test-size", "4",
    ])
    assert status == EXIT_TRAINING_FAILED
    error = capsys.readouterr().err
    assert "error: training stopped: the loss became" in error and "epoch 1, batch" in error
    assert "no good weights" in error and "Traceback" not in error
    assert {name: (output / name).read_bytes() for name in MODEL_FILES} == model_files
    assert main(["translate", str(output), *SOURCES]) == 0
    assert capsys.readouterr().out.splitlines() == list(translate_all(translator, SOURCES))


# ------------------------------------------------------------------- bad translate input

SOURCES = ["el gato negro", "la casa blanca", "el perro come pan", "no bebo agua"]
TARGETS = ["the black cat", "the white house", "the dog eats bread", "i do not drink water"]
LONG_SENTENCE = " ".join(["gato", "perro", "casa", "zzz"] * 250)  # 1,000 words


@pytest.fixture(scope="module")
def translator():
    keras.utils.set_random_seed(5)
    translator = Translator(
        learn_vocabulary(SOURCES), learn_vocabulary(TARGETS), embedding_dim=8, units=8,
        max_output_length=7,
    )
    translator.model.compile(optimizer="adam")
    return translator


GOOD_INPUTS = [
    pytest.param([""], id="empty"),
    pytest.param(["   \t  "], id="whitespace"),
    pytest.param(["¿?!.,;"], id="punctuation"),
    pytest.param([LONG_SENTENCE], id="1000-words"),
    pytest.param(["qwerty asdf zxcv"], id="unknown-words"),
    pytest.param(["😀 東京へ行きます مرحبا بالعالم שלום"], id="emoji-cjk-rtl"),
    pytest.param(["el\x00gato\x00", "\x00"], id="nul-bytes"),
    pytest.param(["", "el gato negro", "  ", "la casa"], id="mixed-batch"),
    pytest.param([b"el gato", "la casa"], id="utf8-bytes"),
]


@pytest.mark.parametrize("texts", GOOD_INPUTS)
@pytest.mark.parametrize("method", ["greedy", "beam"])
def test_odd_input_translates_without_crashing(translator, texts, method):
    result = translator.translate(texts, method=method, beam_width=2)
    assert result["text"].shape == (len(texts),)
    assert result["token_ids"].shape[1] <= translator.max_output_length
    for text, output in zip(texts, result["text"]):
        if isinstance(text, str) and not text.replace("\x00", " ").strip():
            assert output == ""  # nothing to translate, nothing produced


def test_long_sentence_is_read_whole(translator):
    result = translator.translate([LONG_SENTENCE])
    assert result["source_tokens"].shape[1] == 1000 + 2  # [START] words [END]
    assert result["attention"].shape[2] == 1002


@pytest.mark.parametrize(
    "texts, problem",
    [
        (["ok", "fine", "good", 5], "item 3 is int: 5"),
        ([None], "item 0 is NoneType"),
        (12, "got int"),
        ([b"\xff\xfe bad"], "item 0 is bytes that are not UTF-8"),
        ([["nested"]], "item 0 is list"),
    ],
    ids=["int-in-list", "none", "bare-int", "invalid-utf8-bytes", "nested"],
)
def test_non_string_input_is_a_clear_type_error(translator, texts, problem):
    with pytest.raises(TypeError) as info:
        translator.translate(texts)
    assert problem in str(info.value)


@pytest.fixture(scope="module")
def model_dir(translator, tmp_path_factory):
    path = tmp_path_factory.mktemp("model")
    save_translator(translator, path)
    return path


def test_cli_translates_odd_lines_one_output_line_each(model_dir, capsys, monkeypatch):
    lines = ["", "   ", "?!", "😀 東京 مرحبا", "el\x00gato", LONG_SENTENCE, "el gato"]
    stdin = io.TextIOWrapper(io.BytesIO("\n".join(lines).encode("utf-8") + b"\n"), "utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    assert main(["translate", str(model_dir)]) == 0
    output = capsys.readouterr().out
    assert len(output.split("\n")) == len(lines) + 1  # one line per input, then ""


def test_cli_rejects_stdin_that_is_not_utf8(model_dir, capsys, monkeypatch):
    stdin = io.TextIOWrapper(io.BytesIO(b"el gato\nbad \xff byte\n"), "utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    assert main(["translate", str(model_dir)]) == EXIT_BAD_INPUT
    error = capsys.readouterr().err
    assert "stdin, line 2: not UTF-8 at byte 4" in error and "Traceback" not in error


# ----------------------------------------------------------------------- bad model dirs


def test_model_dir_with_another_vocabulary_is_a_clear_error(model_dir, tmp_path):
    broken = tmp_path / "other-vocab"
    broken.mkdir()
    for item in model_dir.iterdir():
        (broken / item.name).write_bytes(item.read_bytes())
    (broken / SOURCE_VOCAB_FILE).write_text("".join(f"w{i}\n" for i in range(40)))
    with pytest.raises(ModelDirError) as info:
        load_translator(broken)
    assert str(broken / WEIGHTS_FILE) in str(info.value)


def test_a_vocabulary_file_is_read_within_limits(model_dir, tmp_path, monkeypatch):
    broken = tmp_path / "vocab"
    broken.mkdir()
    for item in model_dir.iterdir():
        (broken / item.name).write_bytes(item.read_bytes())
    vocabulary = broken / SOURCE_VOCAB_FILE
    vocabulary.write_bytes(b"gato\nperro\n\xff\xfe\n")
    with pytest.raises(ModelDirError, match="source_vocab.txt, line 3: not UTF-8"):
        load_translator(broken)
    vocabulary.write_bytes(b"a\nb\nc\nd\n")
    monkeypatch.setattr(saving, "MAX_VOCAB", 3)
    with pytest.raises(ModelDirError, match="4 tokens, more than the limit of 3"):
        load_translator(broken)
    monkeypatch.setattr(saving, "MAX_VOCAB_BYTES", 5)
    with pytest.raises(ModelDirError, match="larger than 5 bytes"):
        load_translator(broken)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_corrupted_weights_file_is_a_clear_error(model_dir, tmp_path, damage):
    broken = tmp_path / damage
    broken.mkdir()
    for item in model_dir.iterdir():
        (broken / item.name).write_bytes(item.read_bytes())
    weights = broken / WEIGHTS_FILE
    content = weights.read_bytes()
    weights.write_bytes(
        {"truncated": content[: len(content) // 2], "garbage": b"not hdf5 at all" * 100,
         "empty": b""}[damage]
    )
    with pytest.raises(ModelDirError) as info:
        load_translator(broken)
    assert str(weights) in str(info.value)


def test_cli_reports_a_corrupted_model_in_one_line(model_dir, tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    for item in model_dir.iterdir():
        (broken / item.name).write_bytes(item.read_bytes())
    content = (model_dir / WEIGHTS_FILE).read_bytes()
    (broken / WEIGHTS_FILE).write_bytes(content[: len(content) // 2])
    assert main(["translate", str(broken), "el gato"]) == EXIT_BAD_INPUT
    error = capsys.readouterr().err
    assert error.startswith("error: cannot load") and WEIGHTS_FILE in error
    assert len(error.splitlines()) == 1


# ----------------------------------------------------------------------- bad corpora

BAD_CORPORA = [
    pytest.param(None, "file not found", None, id="missing"),
    pytest.param(b"Hi.\tHola.\nbad \xff\tbyte\n", "invalid UTF-8", 2, id="not-utf8"),
    pytest.param(b"Hi.\tHola.\nno tab here\n", "no tab", 2, id="no-tab"),
    pytest.param(b"", "no sentence pairs", None, id="empty"),
    pytest.param("dir", "is a directory", None, id="directory"),
]


@pytest.mark.parametrize("content, problem, line", BAD_CORPORA)
def test_bad_corpus_is_a_clear_corpus_error(tmp_path, content, problem, line):
    path = tmp_path / "corpus.tsv"
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(CorpusError) as info:
        corpora.load_corpus(str(path))
    message = str(info.value)
    assert "corpus.tsv" in message and problem in message
    if line:
        assert f"line {line}:" in message


def test_megabyte_line_is_accepted(tmp_path):
    long_english = "word " * 200_000  # 1 MB
    path = tmp_path / "long.tsv"
    path.write_text(f"Hi.\tHola.\n{long_english}\tpalabra\n", encoding="utf-8")
    corpus = corpora.load_corpus(str(path))
    assert len(corpus.pairs) == 2 and len(corpus.pairs[1].target) == len(long_english.strip())


def test_cli_train_on_bad_corpora_exits_with_one_line(tmp_path, capsys):
    (tmp_path / "folder").mkdir()
    for data in (tmp_path / "missing.tsv", tmp_path / "folder"):
        assert main(["train", "--data", str(data), "--output", str(tmp_path / "out")]) == EXIT_BAD_INPUT
        error = capsys.readouterr().err
        assert error.startswith("error: ") and str(data) in error and "Traceback" not in error


# ------------------------------------------------------------------- backup mechanics


def dense_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model


def state_at(step):
    from nmt_keras.training.callbacks import TrainingState

    return TrainingState(step=step, epoch=0, history={}, callbacks={}, weights_file="",
                         settings={"units": 8})


def test_a_write_that_dies_midway_leaves_the_previous_state(tmp_path, monkeypatch):
    from nmt_keras.training.callbacks import Backup

    model = dense_model()
    backup = Backup(tmp_path / "backup")
    backup.save(model, state_at(2))
    saved = [w.copy() for w in model.get_weights()]
    model.layers[0].kernel.assign(np.full((3, 2), 7.0, "float32"))

    def dies_midway(self, filepath, overwrite=True, **kwargs):
        Path(filepath).write_bytes(b"half an HDF5 file")
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(keras.Model, "save_weights", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        backup.save(model, state_at(4))
    monkeypatch.undo()
    restored = dense_model()
    assert backup.restore(restored, {"units": 8}).step == 2
    for got, expected in zip(restored.get_weights(), saved):
        np.testing.assert_array_equal(got, expected)
    assert sorted(p.name for p in backup.directory.iterdir()) == ["state-2.weights.h5", "state.json"]


def test_resuming_with_other_settings_is_a_clear_error(tmp_path):
    from nmt_keras.training.callbacks import Backup, ResumeError

    backup = Backup(tmp_path / "backup")
    backup.save(dense_model(), state_at(2))
    with pytest.raises(ResumeError, match="units: 8 then, 16 now"):
        backup.restore(dense_model(), {"units": 16})
    (backup.directory / "state.json").write_text("{not json")
    with pytest.raises(ResumeError, match="damaged backup record"):
        backup.restore(dense_model(), {"units": 8})


def test_ctrl_c_during_training_exits_with_a_resume_hint(monkeypatch, capsys, tmp_path):
    from nmt_keras import cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run_train", interrupted)
    assert main(["train", "--output", str(tmp_path)]) == cli.EXIT_INTERRUPTED
    assert "rerun the same command to resume" in capsys.readouterr().err
