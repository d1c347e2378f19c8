"""Training callbacks: a wall-clock budget and a target-tokens-per-second meter."""

import time

import keras


class TimeBudget(keras.callbacks.Callback):
    """Stops training once `seconds` of wall time have passed since `fit()` started.

    It checks after every batch, so training overshoots the budget by at most one step
    (plus the validation pass Keras runs for the interrupted epoch). Combine with
    `EarlyStopping(restore_best_weights=True)` to keep the best weights seen so far.
    """

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds
        self.stopped = False

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if time.perf_counter() - self._start > self.seconds:
            self.stopped = True
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
