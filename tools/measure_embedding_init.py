"""Measures how the word-embedding initialization changes what a short run learns.

    .venv/bin/python tools/measure_embedding_init.py [--init keras-default 0.1 0.3 1.0]

For each initialization (Keras' default, uniform in [-0.05, 0.05], or a normal
distribution with the given standard deviation) and each model (Bahdanau's decoder, and
Luong's decoder with the general and concat scores), trains with notebook 05's quick
settings (embedded corpus, 64 units, 250 steps of 64 pairs, learning rate 5e-3, seed 0)
and prints the test BLEU, loss and alignment error rate, and where the attention of the
Luong model goes. Each model takes about 40 s on a 2-core CPU. Results and discussion:
`docs/embeddings.md`.
"""

import argparse
import dataclasses
import itertools
import os
import pathlib
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from nmt_keras.config import Config  # noqa: E402
from nmt_keras.training.train import prepare_data, train_and_evaluate  # noqa: E402

QUICK = Config(  # notebook 05's quick settings
    data="synthetic", validation_size=200, test_size=300, max_vocab_size=None,
    embedding_dim=64, units=64, learning_rate=5e-3, batch_size=64, epochs=2,
    steps_per_epoch=125, patience=50, seed=0,
)
MODELS = {
    "bahdanau": {},
    "luong general": {"decoder": "luong", "attention": "luong-general"},
    "luong concat": {"decoder": "luong", "attention": "luong-concat"},
}
KERAS_DEFAULT = "keras-default"


class EmbeddingInitializer:
    """Within the block, every `keras.layers.Embedding` created (nmt_keras looks the
    class up when it builds a model) starts from `init`."""

    def __init__(self, init):
        self.init = init

    def __enter__(self):
        self.saved = keras.layers.Embedding
        init = self.init
        base = self.saved

        class Embedding(base):
            def __init__(self, *args, **kwargs):
                if init == KERAS_DEFAULT:
                    kwargs["embeddings_initializer"] = "uniform"
                else:
                    kwargs["embeddings_initializer"] = keras.initializers.RandomNormal(stddev=float(init))
                super().__init__(*args, **kwargs)

        keras.layers.Embedding = Embedding
        return self

    def __exit__(self, *exc):
        keras.layers.Embedding = self.saved


def share_on_last_position(translator, pairs):
    """Share of output steps whose attention peaks on the last source token ([END])."""
    result = translator.translate([p.source for p in pairs])
    on_last = steps = 0
    for weights in result["attention"]:
        real = weights.sum(-1) > 0  # (target_len,): steps that were produced
        source_len = int((weights[real] > 0).any(0).sum())
        peaks = weights[real].argmax(-1)
        on_last += int((peaks == source_len - 1).sum())
        steps += int(real.sum())
    return on_last / max(steps, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--init", nargs="+", default=[KERAS_DEFAULT, "0.1", "0.3", "1.0"])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[QUICK.seed], help="initialization seeds")
    args = parser.parse_args()
    data = prepare_data(QUICK)
    print(f"{'embedding init':>14}  {'model':14} {'seed':>4} {'BLEU':>6} {'loss':>6} {'AER':>6} {'on [END]':>9}")
    for init, seed, name in itertools.product(args.init, args.seeds, args.models):
        config = dataclasses.replace(QUICK, seed=seed, **MODELS[name])
        with EmbeddingInitializer(init):
            translator, _, report = train_and_evaluate(
                config, pathlib.Path(tempfile.mkdtemp()), data, verbose=0
            )
        share = share_on_last_position(translator, data.test[:100])
        print(
            f"{init:>14}  {name:14} {seed:4} {report['bleu']:6.1f} {report['test_loss']:6.2f} "
            f"{report['alignment_error_rate']:6.3f} {share:9.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
