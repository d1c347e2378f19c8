"""Training callbacks: a wall-clock budget, a learning rate that decays over it, a
target-tokens-per-second meter, a stop on a non-finite loss, early stopping and an
atomically written best-weights checkpoint.

A callback whose decisions carry from one epoch to the next names the attributes that
hold them in `resumable_attributes`: `nmt_keras.training.resume` saves and restores
them with the training state."""

import math
import pathlib
import time

import keras

from nmt_keras.atomic import atomic_save_weights


class TimeBudget(keras.callbacks.Callback):
    """Stops training once `seconds` of wall time have passed since `fit()` started.

    It checks after every batch, so training overshoots the budget by at most one step
    (plus the validation pass Keras runs for the interrupted epoch). Combine with
    a best-weights checkpoint (`BestCheckpoint`) to keep the best weights seen so far.
    """

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds
        self.stopped = False
        self._start = None

    def on_train_begin(self, logs=None):
        # Set once: a run that calls fit() twice (see `nmt_keras.training.resume`) has one budget.
        if self._start is None:
            self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if time.perf_counter() - self._start > self.seconds:
            self.stopped = True
            self.model.stop_training = True


class LinearDecay(keras.callbacks.Callback):
    """Decays the learning rate linearly to zero over the training:

        learning_rate_i = base * (1 - progress_i)
        progress_i      = max(step_i / total_steps, elapsed_i / seconds)

    so that it reaches zero when the planned steps or the time budget, whichever comes
    first, run out (Li, Yumer and Ramanan 2020, "Budgeted Training", find a linear decay
    to zero the best schedule for a fixed budget). The step is the optimizer's, so a
    resumed run continues the schedule; the elapsed time starts with this process.

    Args:
        base: float. The learning rate at step 0.
        total_steps: int. The planned optimizer steps (epochs x steps per epoch).
        seconds: float or None. The time budget.
    """

    def __init__(self, base, total_steps, seconds=None):
        super().__init__()
        self.base = base
        self.total_steps = total_steps
        self.seconds = seconds
        self._start = None

    def on_train_begin(self, logs=None):
        if self._start is None:
            self._start = time.perf_counter()

    def on_train_batch_begin(self, batch, logs=None):
        progress = int(self.model.optimizer.iterations.numpy()) / self.total_steps
        if self.seconds:
            progress = max(progress, (time.perf_counter() - self._start) / self.seconds)
        self.model.optimizer.learning_rate = self.base * max(0.0, 1.0 - progress)


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


class ProgressLog(keras.callbacks.Callback):
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
        self._start = None

    def on_train_begin(self, logs=None):
        if self._start is None:  # one budget for a run that calls fit() twice
            self._start = time.perf_counter()

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
            f"epoch {self._epoch + 1}/{self.epochs}, step "
            f"{int(self.model.optimizer.iterations.numpy()):,} ({batch + 1}/{self.params.get('steps') or '?'} "
            f"of the epoch): loss {float(logs.get('loss', math.nan)):.3f}, "
            f"{tokens_per_second:,.0f} target tokens/s"
        )
        if self.budget_seconds:
            left = max(0.0, self.budget_seconds - (now - self._start)) / 60
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
        if loss is None or self.stopped:
            return
        loss = float(loss)
        if not math.isfinite(loss):
            self.stopped = True
            self.batch = batch
            self.value = loss
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
    `best` is restored by `nmt_keras.training.resume` when a run resumes.
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
        atomic_save_weights(self.model, self.path)
        self.best = float(value)
        self.best_epoch = epoch
