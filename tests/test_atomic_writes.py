"""All-or-nothing writes (`nmt_keras.atomic`): a model directory, a training backup and
a checkpoint survive a kill or a failed write at each of their writes, and the lock of
an output directory keeps a second writer out."""

import errno
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from nmt_keras import atomic, saving
from nmt_keras.config import Config
from nmt_keras.data.tokenizers import learn_vocabulary
from nmt_keras.inference.translator import Translator, translate_all
from nmt_keras.saving import CONFIG_FILE, MODEL_FILES, WEIGHTS_FILE, load_translator, save_translator
from nmt_keras.training.callbacks import STATE_FILE, Backup, TrainingState

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCES = ["el gato negro", "la casa blanca", "el perro come pan"]
TARGETS = ["the black cat", "the white house", "the dog eats bread"]
PROBE = ["el gato negro", "la casa", "perro"]
# Every write `save_translator` makes, in order: the four text files (translator.json,
# the two vocabularies, config.json) and the weights into the temporary directory, the
# links that carry the directory's other entries over, the fsyncs, the rename.
WRITES = [
    (saving, "_write_text"),
    (keras.Model, "save_weights"),
    (atomic, "carry_over"),
    (atomic, "fsync_tree"),
    (atomic, "replace_directory"),
]
SAVE_WRITES = ["_write_text"] * 3 + ["save_weights", "_write_text", "carry_over", "fsync_tree",
                                     "replace_directory"]


class Killed(BaseException):
    """Stands for SIGKILL: raised at a write, with the clean-up switched off."""


def tiny_translator(seed, units, extra_words=()):
    keras.utils.set_random_seed(seed)
    config = Config(embedding_dim=8, units=units, max_output_length=5, max_vocab_size=None)
    return Translator(learn_vocabulary(SOURCES + list(extra_words)), learn_vocabulary(TARGETS), config), config


@pytest.fixture(scope="module")
def previous(tmp_path_factory):
    """A saved model (with a report beside it, as `train` leaves one), what it
    translates and its weights; the tests copy it and try to replace the copy with
    another model."""
    translator, config = tiny_translator(1, units=8)
    path = tmp_path_factory.mktemp("previous") / "model"
    save_translator(translator, path, config)
    (path / "report.json").write_text('{"bleu": 1.0}')
    return path, translate_all(translator, PROBE), translator.model.get_weights()


@pytest.fixture(scope="module")
def other():
    """Another model: other sizes and vocabulary, so that any mix of the two fails to load."""
    return tiny_translator(2, units=16, extra_words=["zorro", "rojo"])


def contents(directory):
    """The files of a directory, but its lock (which names the last process to hold it)."""
    return {
        p.name: p.read_bytes() for p in sorted(pathlib.Path(directory).iterdir())
        if p.is_file() and p.name != atomic.LOCK_FILE
    }


def assert_is_the_previous_model(target, previous, translate=False):
    """`target` loads as the previous model: the same weights, and (the slow part,
    which traces the search) the same translations."""
    path, translations, weights = previous
    assert contents(target) == contents(path)  # every file, byte for byte
    loaded = load_translator(target)
    for got, expected in zip(loaded.model.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(got, expected)
    if translate:
        assert translate_all(loaded, PROBE) == translations


def fail_at_write(monkeypatch, number, exception, writes=WRITES):
    """Makes the `number`-th call of `writes` raise `exception`; returns the list of
    the writes made (their names)."""
    made = []
    for owner, name in writes:
        original = getattr(owner, name)

        def write(*args, _original=original, _name=name, **kwargs):
            made.append(_name)
            if len(made) == number:
                raise exception
            return _original(*args, **kwargs)

        monkeypatch.setattr(owner, name, write)
    if isinstance(exception, Killed):
        monkeypatch.setattr(atomic, "_discard", lambda path: None)  # a kill cleans nothing up
    return made


def test_a_save_makes_these_writes(previous, other, tmp_path, monkeypatch):
    target = tmp_path / "model"
    shutil.copytree(previous[0], target)
    made = fail_at_write(monkeypatch, None, None)
    save_translator(other[0], target, other[1])
    assert made == SAVE_WRITES
    monkeypatch.undo()
    assert json.loads((target / CONFIG_FILE).read_text())["units"] == 16
    assert (target / "report.json").read_text() == '{"bleu": 1.0}'  # other entries stay
    for got, expected in zip(load_translator(target).model.get_weights(), other[0].model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # nothing left beside it


@pytest.mark.parametrize("number", range(1, len(SAVE_WRITES) + 1))
@pytest.mark.parametrize("failure", ["kill", "full-disk"])
def test_a_kill_or_a_failed_write_leaves_the_previous_model(previous, other, tmp_path, monkeypatch,
                                                            number, failure):
    target = tmp_path / "model"
    shutil.copytree(previous[0], target)
    exception = Killed() if failure == "kill" else OSError(errno.ENOSPC, "No space left on device")
    fail_at_write(monkeypatch, number, exception)
    with pytest.raises(type(exception)):
        save_translator(other[0], target, other[1])
    monkeypatch.undo()
    # Translating (slow: it traces the search) is shown once, for a kill at the last
    # write; every case leaves the same files, byte for byte, and the same weights.
    last_kill = number == len(SAVE_WRITES) and failure == "kill"
    assert_is_the_previous_model(target, previous, translate=last_kill)
    if failure == "full-disk":
        assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # cleaned up


def test_a_real_kill_during_a_save_leaves_the_previous_model(previous, tmp_path):
    """SIGKILL while the weights are half written: no Python clean-up runs. (The process
    saves a stand-in translator whose weights are bytes, so that it needs no TensorFlow.)"""
    target = tmp_path / "model"
    shutil.copytree(previous[0], target)
    script = textwrap.dedent(f"""
        import os, pathlib, signal, types
        from nmt_keras.config import Config
        from nmt_keras.saving import save_translator

        def dies(path):
            pathlib.Path(path).write_bytes(b"half an HDF5 file")
            os.kill(os.getpid(), signal.SIGKILL)

        model = types.SimpleNamespace(save_weights=dies)
        translator = types.SimpleNamespace(config=Config(units=16), source_words=["zorro"],
                                           target_words=["fox"], model=model)
        save_translator(translator, {str(target)!r}, Config(units=16))
    """)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    assert_is_the_previous_model(target, previous, translate=True)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "model"]
    assert len(leftovers) == 1 and atomic.is_leftover(leftovers[0])
    atomic.remove_leftovers(tmp_path, of="model")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_saving_without_a_config_drops_the_previous_one(previous, other, tmp_path):
    """config.json describes the model beside it: a model saved without one does not
    keep the previous model's."""
    target = tmp_path / "model"
    shutil.copytree(previous[0], target)
    save_translator(other[0], target)
    assert not (target / CONFIG_FILE).exists() and (target / "report.json").exists()
    assert set(MODEL_FILES) - {CONFIG_FILE} <= {p.name for p in target.iterdir()}


# --------------------------------------------------------------------------- backups


def dense_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model


def state_at(step):
    return TrainingState(step=step, epoch=0, history={}, callbacks={}, weights_file="",
                         settings={"units": 8})


BACKUP_WRITES = [
    (keras.Model, "save_weights"),
    (pathlib.Path, "write_text"),  # state.json
    (atomic, "fsync_tree"),
    (atomic, "replace_directory"),
]


@pytest.mark.parametrize("number", range(1, len(BACKUP_WRITES) + 1))
@pytest.mark.parametrize("failure", ["kill", "full-disk"])
def test_a_backup_survives_a_kill_or_a_failed_write_at_each_write(tmp_path, monkeypatch, number, failure):
    model = dense_model()
    backup = Backup(tmp_path / "backup")
    backup.save(model, state_at(2))
    saved = [w.copy() for w in model.get_weights()]
    before = contents(backup.directory)
    model.layers[0].kernel.assign(np.full((3, 2), 7.0, "float32"))
    exception = Killed() if failure == "kill" else OSError(errno.ENOSPC, "No space left on device")
    fail_at_write(monkeypatch, number, exception, BACKUP_WRITES)
    with pytest.raises(type(exception)):
        backup.save(model, state_at(4))
    monkeypatch.undo()
    assert contents(backup.directory) == before
    restored = dense_model()
    assert backup.restore(restored, {"units": 8}).step == 2
    for got, expected in zip(restored.get_weights(), saved):
        np.testing.assert_array_equal(got, expected)
    if failure == "full-disk":
        assert sorted(p.name for p in tmp_path.iterdir()) == ["backup"]


def test_backup_files_are_fsynced_before_they_are_committed(tmp_path, monkeypatch):
    synced = []
    original = atomic.fsync_file
    monkeypatch.setattr(atomic, "fsync_file", lambda path: synced.append(os.path.basename(path)) or original(path))
    renamed = []
    replace = atomic.replace_directory
    monkeypatch.setattr(atomic, "replace_directory",
                        lambda staging, target: renamed.append(list(synced)) or replace(staging, target))
    Backup(tmp_path / "backup").save(dense_model(), state_at(3))
    assert set(renamed[0]) == {"state-3.weights.h5", STATE_FILE}


def test_a_checkpoint_write_that_fails_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    model = dense_model()
    path = tmp_path / "best.weights.h5"
    atomic.atomic_save_weights(model, path)
    before = path.read_bytes()

    def full_disk(self, filepath, **kwargs):
        pathlib.Path(filepath).write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(keras.Model, "save_weights", full_disk)
    with pytest.raises(OSError):
        atomic.atomic_save_weights(model, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.weights.h5"]


# ----------------------------------------------------------------- directories, locks


def test_a_replaced_directory_keeps_its_permissions_and_the_working_directory(tmp_path, monkeypatch):
    target = tmp_path / "run"
    target.mkdir()
    (target / "log.txt").write_text("kept")
    os.chmod(target, 0o750)
    monkeypatch.chdir(target)
    with atomic.staged_directory(target, keep_others=True) as staging:
        (staging / "new.txt").write_text("new")
    assert os.stat(target).st_mode & 0o777 == 0o750
    assert sorted(os.listdir(".")) == ["log.txt", "new.txt"]  # cwd follows the directory
    assert os.path.samefile(".", target)


def test_a_directory_that_cannot_be_replaced_by_a_rename_is_named(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    assert atomic.replacement_problem(tmp_path / "file") == "exists and is not a directory"
    monkeypatch.setattr(os.path, "ismount", lambda path: str(path) == str(tmp_path / "mounted"))
    (tmp_path / "mounted").mkdir()
    assert "is a mount point" in atomic.replacement_problem(tmp_path / "mounted")
    assert atomic.replacement_problem(tmp_path / "new" / "run") is None


HOLD_LOCK = """
import sys
from nmt_keras.atomic import lock_directory
with lock_directory(sys.argv[1], "training"):
    print("locked", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def locked(tmp_path):
    """A directory whose lock another process holds (until the test ends)."""
    directory = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(directory)], env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "locked\n"
    yield directory, holder.pid
    holder.stdin.close()
    holder.wait(timeout=60)


def test_a_second_writer_fails_at_once_naming_the_holder(locked):
    directory, pid = locked
    with pytest.raises(atomic.DirectoryInUseError, match=f"in use by another process \\(pid {pid}, training\\)"):
        with atomic.lock_directory(directory):
            pass
    with atomic.lock_directory(directory.parent / "elsewhere"):
        with atomic.lock_directory(directory.parent / "elsewhere"):  # the same process: free
            pass


def test_saving_into_a_directory_another_process_writes_is_refused(locked, other):
    directory, _ = locked
    with pytest.raises(atomic.DirectoryInUseError):
        save_translator(other[0], directory, other[1])
    assert sorted(p.name for p in directory.iterdir()) == [atomic.LOCK_FILE]


@pytest.mark.parametrize("change, problem", [
    (dict(weights_file="../../elsewhere.weights.h5"), "weights_file must be state-2.weights.h5"),
    (dict(step="2"), "step and epoch must be non-negative integers"),
    (dict(history={"loss": ["nan; rm -rf /"]}), "history must map names to lists of numbers"),
    (dict(callbacks={"early_stopping": {"wait": [1, 2]}}), "objects of plain values"),
    (dict(format=7), "not a record of format 1"),
], ids=["weights-elsewhere", "step-text", "history-text", "callback-list", "format"])
def test_a_backup_record_is_checked_before_it_is_used(tmp_path, change, problem):
    from nmt_keras.training.callbacks import ResumeError

    backup = Backup(tmp_path / "backup")
    backup.save(dense_model(), state_at(2))
    record = json.loads(backup.state_path.read_text())
    record.update(change)
    backup.state_path.write_text(json.dumps(record))
    with pytest.raises(ResumeError, match="damaged backup record") as info:
        backup.restore(dense_model(), {"units": 8})
    assert problem in str(info.value)


def test_a_backup_restores_known_callback_attributes_only():
    from nmt_keras.training.callbacks import EarlyStopping
    from nmt_keras.training.callbacks import BackupCallback

    stopping = EarlyStopping(patience=3)
    state = TrainingState(step=4, epoch=1, history={}, weights_file="state-4.weights.h5",
                          callbacks={"early_stopping": {"wait": 2, "patience": 1000, "model": None},
                                     "unknown": {"x": 1}})
    callback = BackupCallback(Backup("unused"), None, {"early_stopping": stopping}, state, 4)
    callback.on_train_begin()
    assert stopping.wait == 2 and stopping.patience == 3  # patience is not a resumable attribute
