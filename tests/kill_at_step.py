"""A training run killed with SIGKILL right after a given step, for test_robustness.py.

    python tests/kill_at_step.py STEP train --data ... --output DIR [train flags]

builds the run's `Config` from the `train` flags exactly as `python -m nmt_keras train`
does, then runs `train_and_evaluate` with one extra Keras callback that sends this
process SIGKILL after its STEP-th training step: no clean-up, no Python exception
handling, as if the machine had gone down. Rerunning the same `train` command then
resumes from the last backup.
"""

import os
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402


class KillAtStep(keras.callbacks.Callback):
    """Kills the process (SIGKILL) at the end of training step `step` (counted from 1,
    over the whole run), before the callbacks after it in the list see that step."""

    def __init__(self, step):
        super().__init__()
        self.step = step
        self.done = 0

    def on_train_batch_end(self, batch, logs=None):
        self.done += 1
        if self.done == self.step:
            sys.stdout.flush()
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)


def main(argv):
    step, *train_argv = argv
    from nmt_keras.cli import build_parser, options_from_args
    from nmt_keras.config import Config
    from nmt_keras.training.train import train_and_evaluate

    args = build_parser().parse_args(train_argv)
    if args.command != "train":
        raise SystemExit(f"expected a train command, got {args.command!r}")
    config = options_from_args(args, Config())
    train_and_evaluate(config, args.output, verbose=2, callbacks=[KillAtStep(int(step))])
    raise SystemExit(f"training finished without reaching step {step}")


if __name__ == "__main__":
    main(sys.argv[1:])
