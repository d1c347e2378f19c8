"""Training callbacks: a wall-clock budget, a learning rate that decays over it, a
target-tokens-per-second meter, a stop on a non-finite loss, early stopping and an
atomically written best-weights checkpoint.

A callback whose decisions carry from one epoch to the next names the attributes that
hold them in `resumable_attributes`: the backups below save and restore them with the
training state.

Resumable training
------------------
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
import time

import keras
import numpy as np

import nmt_keras.atomic as atomic


class _RunProgress(keras.callbacks.Callback):
    """A callback that knows how far the run has come: the wall time since the first
    `fit()` it saw started (a run that calls `fit()` twice, a resumed epoch, see `train`,
    has one clock) and the optimizer's step (which a resumed run continues)."""

    _start = None

    def on_train_begin(self, logs=None):
        if self._start is None:
            self._start = time.perf_counter()

    def elapsed(self):
        """Seconds since the first `fit()` started."""
        return time.perf_counter() - self._start

    def optimizer_step(self):
        """Optimizer steps done, in this run and the runs it resumes."""
        return int(self.model.optimizer.iterations.numpy())


class TimeBudget(_RunProgress):
    """Stops training once `seconds` of wall time have passed since `fit()` started.

    It checks after every batch, so training overshoots the budget by at most one step
    (plus the validation pass Keras runs for the interrupted epoch). Combine with
    a best-weights checkpoint (`BestCheckpoint`) to keep the best weights seen so far.
    """

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds
        self.stopped = False

    def on_train_batch_end(self, batch, logs=None):
        if self.elapsed() > self.seconds:
            self.stopped = True
            self.model.stop_training = True


class LinearDecay(_RunProgress):
    """Decays the learning rate linearly to zero, and stops training when it gets there:

        learning_rate_i = base * max(0, 1 - progress_i)
        progress_i      = step_i / total_steps                              without `seconds`
                        = max(step_i / total_steps, elapsed_i / seconds)    with them

    (Li, Yumer and Ramanan 2020, "Budgeted Training", find a linear decay to zero the
    best schedule for a fixed budget.) The step is the optimizer's, so a resumed run
    continues the schedule; without `seconds` every step's learning rate is known before
    the run starts. With `seconds` the decay also follows the clock of this process, so
    that it ends when a time budget runs out if that comes first.

    Args:
        base: float. The learning rate at step 0.
        total_steps: int. The optimizer steps the decay spans.
        seconds: float or None. A time budget the decay also spans.
    """

    def __init__(self, base, total_steps, seconds=None):
        super().__init__()
        self.base = base
        self.total_steps = total_steps
        self.seconds = seconds

    def on_train_batch_begin(self, batch, logs=None):
        progress = self.optimizer_step() / self.total_steps
        if self.seconds:
            progress = max(progress, self.elapsed() / self.seconds)
        self.model.optimizer.learning_rate = self.base * max(0.0, 1.0 - progress)

    def on_train_batch_end(self, batch, logs=None):
        if self.optimizer_step() >= self.total_steps:  # the learning rate is zero from here
            self.model.stop_training = True


class Throughput(keras.callbacks.Callback):
    """Measures training speed in target tokens per second.

    Only training batches are timed (from the start of each batch to its end), so
    validation and checkpointing are excluded; the first batch includes tracing the
    `tf.function`. Tokens are read from the model's `target_tokens` metric, the number
    of real (non-padding) target tokens trained on in the epoch so far.
    """

    def __init__(self):
        super().__init__()
        self.seconds = 0.0
        self.tokens = 0
        self.steps = 0

    def on_train_batch_begin(self, batch, logs=None):
        self._batch_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.seconds += time.perf_counter() - self._batch_start
        self.steps += 1
        self._epoch_tokens = (logs or {}).get("target_tokens", 0)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_tokens = 0

    def on_epoch_end(self, epoch, logs=None):
        self.tokens += int(self._epoch_tokens)

    def tokens_per_second(self):
        return self.tokens / self.seconds if self.seconds else 0.0


class ProgressLog(_RunProgress):
    """One line at least every `every_seconds` while training, and one per epoch: for
    logs and pipes, where Keras' progress bar is unreadable and its per-epoch line can
    be minutes apart.

        epoch 2/20, step 1,234 (45/120 of the epoch): loss 3.214, 2,345 target tokens/s, 11.2 of 16.0 min left
        epoch 2/20 done in 95 s: loss 3.101, accuracy 0.412, val_loss 3.305, val_accuracy 0.398

    Args:
        epochs: int. Planned epochs.
        every_seconds: float. Longest time between two lines.
        budget_seconds: float or None. The time budget, to say how much is left.
        print_fn: where lines go (default: `print` to stdout, flushed).
    """

    def __init__(self, epochs, every_seconds=30.0, budget_seconds=None, print_fn=None):
        super().__init__()
        self.epochs = epochs
        self.every_seconds = every_seconds
        self.budget_seconds = budget_seconds
        self.print_fn = print_fn or (lambda line: print(line, flush=True))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._epoch_start = epoch, time.perf_counter()
        self._last = self._epoch_start

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if now - self._last < self.every_seconds:
            return
        self._last = now
        logs = logs or {}
        tokens_per_second = float(logs.get("target_tokens", 0)) / max(now - self._epoch_start, 1e-9)
        line = (
            f"epoch {self._epoch + 1}/{self.epochs}, step {self.optimizer_step():,} "
            f"({batch + 1}/{self.params.get('steps') or '?'} of the epoch): "
            f"loss {float(logs.get('loss', math.nan)):.3f}, {tokens_per_second:,.0f} target tokens/s"
        )
        if self.budget_seconds:
            left = max(0.0, self.budget_seconds - self.elapsed()) / 60
            line += f", {left:.1f} of {self.budget_seconds / 60:.1f} min left"
        self.print_fn(line)

    def on_epoch_end(self, epoch, logs=None):
        figures = ", ".join(
            f"{name} {float(value):.3f}" for name, value in (logs or {}).items()
            if name in ("loss", "accuracy", "val_loss", "val_accuracy")
        )
        seconds = time.perf_counter() - self._epoch_start
        self.print_fn(f"epoch {epoch + 1}/{self.epochs} done in {seconds:.0f} s: {figures}")


class NonFiniteLossError(RuntimeError):
    """Training stopped because the loss became NaN or infinite."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops training at the first batch whose loss is NaN or infinite.

    Like `keras.callbacks.TerminateOnNaN`, but it remembers where it happened for a
    clear message (`message`) and the run report. Put it first in the callback list, so
    later callbacks (backups) see `stopped` on the bad batch.
    """

    def __init__(self, initial_step=0):
        super().__init__()
        self.stopped = False
        self.epoch = 0
        self.step = initial_step  # steps done before this fit (a resumed run)
        self.value = None
        self.batch = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        loss = (logs or {}).get("loss")
        if self.stopped or loss is None or math.isfinite(float(loss)):
            return
        self.stopped = True
        self.batch = batch
        self.value = float(loss)
        self.model.stop_training = True

    def message(self):
        return (
            f"training stopped: the loss became {self.value} at epoch {self.epoch + 1}, "
            f"batch {self.batch + 1} (training step {self.step}); try a lower "
            f"learning rate or --clipnorm"
        )

    def report(self):
        """JSON-ready description of the stop, or None if training did not diverge."""
        if not self.stopped:
            return None
        return {
            "epoch": self.epoch + 1, "batch": self.batch + 1, "step": self.step,
            "loss": str(self.value),
        }


class EarlyStopping(keras.callbacks.Callback):
    """Stops training once `monitor` has not decreased for `patience` epochs in a row
    (as `keras.callbacks.EarlyStopping` in "min" mode); a NaN value is no improvement.

    Its state starts when it is made, not at each `fit()`: a run that calls `fit()`
    again (a resumed epoch, see `nmt_keras.training.train.train`) keeps counting.
    """

    resumable_attributes = ("wait", "best")

    def __init__(self, monitor="val_loss", patience=3):
        super().__init__()
        self.monitor = monitor
        self.patience = patience
        self.wait = 0
        self.best = math.inf

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        if float(value) < self.best:
            self.best, self.wait = float(value), 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.model.stop_training = True


class BestCheckpoint(keras.callbacks.Callback):
    """Saves the weights after every epoch whose `monitor` value is the lowest so far.

    The file is replaced atomically (written under a temporary name, fsynced, then
    renamed), so a killed run or a failed write never leaves a half-written checkpoint,
    and a NaN or infinite value never counts as an improvement, so diverged weights
    never overwrite good ones.
    `best` is restored by `BackupCallback` when a run resumes.
    """

    resumable_attributes = ("best", "best_epoch")

    def __init__(self, path, monitor="val_loss"):
        super().__init__()
        self.path = pathlib.Path(path)
        self.monitor = monitor
        self.best = math.inf
        self.best_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(float(value)) or float(value) >= self.best:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic.atomic_save_weights(self.model, self.path)
        self.best = float(value)
        self.best_epoch = epoch


# ------------------------------------------------------------------------ backups

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
        weights_file: str. Name of the weights file in the backup directory (chosen by
            `Backup.save`).
        settings: dict. The run settings that must not change on resumption.
    """

    step: int
    epoch: int
    history: dict
    callbacks: dict
    weights_file: str = ""
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

    def refusal(self, problem):
        """A `ResumeError` saying `problem` and how to start afresh."""
        return ResumeError(f"{problem}; delete {self.directory} to start the run afresh")

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
            raise self.refusal(f"{self.state_path}: damaged backup record ({str(error)[:100]})") from None
        if not (self.directory / state.weights_file).is_file():
            raise self.refusal(f"{self.state_path} names {state.weights_file}, which is missing")
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
            details = ", ".join(
                f"{key}: {state.settings.get(key)!r} then, {settings.get(key)!r} now"
                for key in sorted(set(settings) | set(state.settings))
                if settings.get(key) != state.settings.get(key)
            )
            if details:
                raise self.refusal(
                    f"{self.directory} holds an interrupted run with other settings ({details}); "
                    f"rerun with the same settings to resume it"
                )
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        path = self.directory / state.weights_file
        try:
            model.load_weights(path)
        except (ValueError, OSError, KeyError) as error:
            raise self.refusal(
                f"cannot resume from {path}: it does not fit this model (was the run started "
                f"with other settings or data?): {error}"
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
    declares in `resumable_attributes`."""
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
            allowed = resumable_attributes(callback)  # none for a callback not tracked
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
        if (loss is not None and not math.isfinite(float(loss))) or not weights_are_finite(self.model):
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
            settings=self.settings,
        )
        self.backup.save(self.model, state)
        self.saves += 1
