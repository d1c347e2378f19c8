"""Resumable training: atomic backups of the whole training state, and exact resumption.

A backup directory holds one committed state:

    backup/state.json                    the record: optimizer step, epoch, history so
                                         far, callback states, name of the weights file
    backup/state-<step>.weights.h5       model + optimizer variables after that step

Each state is written whole into a temporary directory beside `backup/`, fsynced, and
put in its place by a rename (`nmt_keras.atomic.staged_directory`), so a process killed
at any moment (even in the middle of writing HDF5) or a write that fails leaves either
the previous complete state or the new one, never a mix. The run that writes it holds
the lock of its output directory (`nmt_keras.training.train`), so no other process
writes or removes the same backup.

Keras' own `BackupAndRestore` writes `latest.weights.h5` in place (a kill during the
write corrupts it) and, after a mid-epoch backup, restarts the interrupted epoch from
its first batch, so the resumed run takes more steps than an uninterrupted one. Here
the step count is the state: `train` regenerates the data stream from that step
(`nmt_keras.data.batching.make_training_stream`) and finishes the interrupted epoch with only
its remaining steps.
"""

import dataclasses
import json
import math
import pathlib
import shutil

import keras
import numpy as np

from nmt_keras import atomic

STATE_FILE = "state.json"
WEIGHTS_PATTERN = "state-{step}.weights.h5"
STATE_FORMAT = 1
# Upper limit on the size of state.json (it holds the history of every epoch).
MAX_STATE_BYTES = 64 << 20


class ResumeError(ValueError):
    """A backup directory cannot be used to resume (damaged, or from another model)."""


@dataclasses.dataclass
class TrainingState:
    """What a resumed run needs besides the variables.

    Attributes:
        step: int. Optimizer steps done (batches trained on).
        epoch: int. Epochs completed.
        history: dict metric -> list of per-epoch values of the completed epochs.
        callbacks: dict callback name -> dict of its resumable attributes.
        weights_file: str. Name of the weights file in the backup directory.
        settings: dict. The run settings that must not change on resumption.
    """

    step: int
    epoch: int
    history: dict
    callbacks: dict
    weights_file: str
    settings: dict | None = None


def weights_are_finite(model):
    """True when every trainable variable of `model` is finite (no NaN or Inf)."""
    return all(np.all(np.isfinite(keras.ops.convert_to_numpy(v))) for v in model.trainable_variables)


def _plain(value):
    """A callback attribute as JSON: NumPy / tensor scalars become float or int."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return float(value)


class Backup:
    """The backup directory of one run: commit, read and remove training states."""

    def __init__(self, directory):
        self.directory = pathlib.Path(directory)

    @property
    def state_path(self):
        return self.directory / STATE_FILE

    def exists(self):
        return self.state_path.is_file()

    def save(self, model, state):
        """Commits `state` (its `weights_file` is chosen here) with the model's variables."""
        state.weights_file = WEIGHTS_PATTERN.format(step=state.step)
        record = {"format": STATE_FORMAT, **dataclasses.asdict(state)}
        with atomic.staged_directory(self.directory) as staging:
            model.save_weights(staging / state.weights_file)
            (staging / STATE_FILE).write_text(json.dumps(record, indent=1), encoding="utf-8")

    def load(self):
        """The committed `TrainingState`, or None if there is none."""
        if not self.exists():
            return None
        try:
            with open(self.state_path, "rb") as stream:
                data = stream.read(MAX_STATE_BYTES + 1)
            if len(data) > MAX_STATE_BYTES:
                raise ValueError(f"larger than {MAX_STATE_BYTES:,} bytes")
            record = json.loads(data.decode("utf-8"))
            if not isinstance(record, dict) or record.pop("format", None) != STATE_FORMAT:
                raise ValueError(f"not a record of format {STATE_FORMAT}")
            state = _checked(TrainingState(**record))
        except (ValueError, TypeError, KeyError, RecursionError) as error:
            raise ResumeError(
                f"{self.state_path}: damaged backup record ({str(error)[:100]}); delete "
                f"{self.directory} to start the run afresh"
            ) from None
        if not (self.directory / state.weights_file).is_file():
            raise ResumeError(
                f"{self.state_path} names {state.weights_file}, which is missing; delete "
                f"{self.directory} to start the run afresh"
            )
        return state

    def restore(self, model, settings=None):
        """Loads the committed state into `model` (weights and optimizer); returns the
        `TrainingState`, or None when there is no backup.

        Args:
            settings: dict. If given, the backup must have been made with the same
                settings (ResumeError naming the differences otherwise).
        """
        state = self.load()
        if state is None:
            return None
        if settings is not None and state.settings is not None:
            changed = sorted(
                key for key in set(settings) | set(state.settings)
                if settings.get(key) != state.settings.get(key)
            )
            if changed:
                details = ", ".join(
                    f"{key}: {state.settings.get(key)!r} then, {settings.get(key)!r} now"
                    for key in changed
                )
                raise ResumeError(
                    f"{self.directory} holds an interrupted run with other settings "
                    f"({details}); rerun with the same settings to resume it, or delete "
                    f"{self.directory} to start afresh"
                )
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        path = self.directory / state.weights_file
        try:
            model.load_weights(path)
        except (ValueError, OSError, KeyError) as error:
            raise ResumeError(
                f"cannot resume from {path}: it does not fit this model (was the run started "
                f"with other settings or data?): {error}; delete {self.directory} to start "
                f"the run afresh"
            ) from None
        return state

    def remove(self):
        if self.directory.is_dir():
            shutil.rmtree(self.directory)


def _checked(state):
    """`state` if its fields have the types a backup writes; ValueError otherwise."""
    def whole(value):
        return type(value) is int and value >= 0

    if not (whole(state.step) and whole(state.epoch)):
        raise ValueError("step and epoch must be non-negative integers")
    if state.weights_file != WEIGHTS_PATTERN.format(step=state.step):
        raise ValueError(f"weights_file must be {WEIGHTS_PATTERN.format(step=state.step)}")
    if not (isinstance(state.history, dict) and all(
        isinstance(values, list) and all(isinstance(v, (int, float)) for v in values)
        for values in state.history.values()
    )):
        raise ValueError("history must map names to lists of numbers")
    if not (isinstance(state.callbacks, dict) and all(
        isinstance(values, dict) and all(
            value is None or isinstance(value, (bool, int, float, str)) for value in values.values()
        )
        for values in state.callbacks.values()
    )):
        raise ValueError("callbacks must map names to objects of plain values")
    if state.settings is not None and not isinstance(state.settings, dict):
        raise ValueError("settings must be an object")
    return state


def resumable_attributes(callback):
    """Names of the attributes of `callback` that a backup saves: those its class
    declares in `resumable_attributes` (see `nmt_keras.training.callbacks`)."""
    return tuple(getattr(callback, "resumable_attributes", ()))


class BackupCallback(keras.callbacks.Callback):
    """Commits the training state every `every_steps` steps and after every epoch.

    Place it after the callbacks whose state it saves (`callbacks`, e.g. EarlyStopping),
    so their epoch-end decisions are in the backup and their reset in `on_train_begin`
    is overridden by the restored values. A state whose loss or weights are not finite
    is never written: the backup keeps the last good one.

    Args:
        backup: `Backup`.
        every_steps: int or None. Also back up mid-epoch, every this many steps.
        callbacks: dict name -> callback whose `resumable_attributes` are saved.
        state: `TrainingState` restored at the start of this `fit`, or None.
        steps_per_epoch: int, to tell which epoch a step belongs to.
        settings: dict of run settings recorded with every state (see `Backup.restore`).
    """

    def __init__(self, backup, every_steps, callbacks, state, steps_per_epoch, settings=None):
        super().__init__()
        self.settings = settings
        self.backup = backup
        self.every_steps = every_steps
        self.tracked = callbacks
        self.steps_per_epoch = steps_per_epoch
        self.step = state.step if state else 0
        self.history = {k: list(v) for k, v in (state.history if state else {}).items()}
        self._restored = state.callbacks if state else {}
        self.saves = 0

    def on_train_begin(self, logs=None):
        for name, values in self._restored.items():
            callback = self.tracked.get(name)
            allowed = resumable_attributes(callback) if callback is not None else ()
            for attribute, value in values.items():
                if attribute in allowed:  # a backup restores attributes, never adds them
                    setattr(callback, attribute, value)
        self._restored = {}

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.every_steps and self.step % self.every_steps == 0:
            self._save(logs)

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        self._save(logs)

    def _save(self, logs):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            return
        if not weights_are_finite(self.model):
            return
        history = self.history
        if self.step % self.steps_per_epoch and logs is not None and "val_loss" in logs:
            # An epoch cut short (time budget): its entry is for this process's report
            # only; a resumed run finishes the epoch and records it then.
            history = {key: values[:-1] for key, values in history.items()}
        state = TrainingState(
            step=self.step,
            epoch=self.step // self.steps_per_epoch,
            history=history,
            callbacks={
                name: {a: _plain(getattr(c, a)) for a in resumable_attributes(c)}
                for name, c in self.tracked.items()
            },
            weights_file="",
            settings=self.settings,
        )
        self.backup.save(self.model, state)
        self.saves += 1
