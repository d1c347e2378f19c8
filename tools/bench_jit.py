"""Seconds per training epoch with and without XLA / fixed shapes (docs/performance.md).

    python tools/bench_jit.py [--pairs 640] [--units 32] [--epochs 3]

Trains the same seeded small translator on the first PAIRS synthetic pairs four ways
(dynamic or fixed shapes, with or without `jit_compile`) and prints each epoch's wall
time; the first epoch includes tracing (and, with XLA, one compilation per bucket shape).
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from nmt_keras.config import Config  # noqa: E402
from nmt_keras.data.batching import encode_pairs, make_dataset  # noqa: E402
from nmt_keras.data.corpora import load_corpus  # noqa: E402
from nmt_keras.data.tokenizers import learn_vocabulary  # noqa: E402
from nmt_keras.inference.translator import Translator  # noqa: E402


class EpochTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def run(pairs, units, epochs, batch_size, fixed, jit):
    keras.utils.set_random_seed(0)
    translator = Translator(
        learn_vocabulary([p.source for p in pairs], None),
        learn_vocabulary([p.target for p in pairs], None),
        Config(embedding_dim=units, units=units),
    )
    translator.model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit)
    batches = make_dataset(
        encode_pairs(translator, pairs), batch_size, shuffle_seed=0, fixed_shapes=fixed
    )
    timer = EpochTimer()
    history = translator.model.fit(batches, epochs=epochs, verbose=0, callbacks=[timer], shuffle=False)
    seconds = ", ".join(f"{s:.2f}" for s in timer.seconds)
    print(f"fixed_shapes={fixed!s:5} jit_compile={jit!s:5} epoch seconds [{seconds}] "
          f"final loss {history.history['loss'][-1]:.3f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=640)
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    pairs = load_corpus("synthetic").pairs[: args.pairs]
    for fixed, jit in ((False, False), (True, False), (True, True)):
        run(pairs, args.units, args.epochs, args.batch_size, fixed, jit)


if __name__ == "__main__":
    main()
