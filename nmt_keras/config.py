"""One explicit configuration object for a training run (data, model, optimization)."""

import dataclasses
import json

from nmt_keras.corpora import DEFAULT_DIRECTION


class ConfigError(ValueError):
    """A setting that cannot work (the message names it and its value)."""


@dataclasses.dataclass
class Config:
    """Everything that defines a training run; saved as `config.json` in the model dir.

    The defaults suit real data on a CPU (the TensorFlow tutorial's sizes: 5,000 words
    per language, 256 units). `demo_config()` gives the settings of `make demo`; tests
    shrink a config with `dataclasses.replace`.
    """

    # --- data -------------------------------------------------------------------------
    data: str = "synthetic"  # "synthetic", "spa-eng", or a path / URL of a TSV or zip
    direction: str = DEFAULT_DIRECTION  # "to-english" (e.g. Spanish->English) or "from-english"
    data_origin: str | None = None  # where "spa-eng" comes from (URL or path); None: TF's URL
    data_sha256: str | None = None  # expected sha256 of a downloaded file; None: known/unchecked
    cache_dir: str | None = None  # download cache; None: ~/.keras
    validation_size: int = 2000  # sentence pairs held out for early stopping
    test_size: int = 2000  # sentence pairs held out for the final scores, never trained on
    max_train_pairs: int | None = None  # train on only this many pairs (quick runs); None: all

    # --- vocabulary and model ---------------------------------------------------------
    max_vocab_size: int | None = 5000  # per language, special tokens included; None: all words
    embedding_dim: int = 256  # word embedding size, both languages
    units: int = 256  # GRU units: encoder per direction, and decoder
    attention_units: int | None = None  # hidden size of the attention scorer; None: `units`
    max_output_length: int = 50  # greedy decoding stops after this many tokens

    # --- optimization -----------------------------------------------------------------
    epochs: int = 20  # upper bound; early stopping and the time budget may stop sooner
    batch_size: int = 64  # sentence pairs per step
    learning_rate: float = 1e-3  # Adam
    patience: int = 3  # epochs without validation-loss improvement before stopping
    steps_per_epoch: int | None = None  # None: one pass over the training split per epoch
    time_budget_s: float | None = None  # stop training (and keep the best weights) after this
    seed: int = 0  # seeds the split, weight initialization and shuffling

    # --- hardware ---------------------------------------------------------------------
    strategy: str = "auto"  # tf.distribute: "auto" (TPU, else GPUs, else CPU), "tpu", "mirrored", "default"
    precision: str = "auto"  # "auto" (mixed on GPU/TPU), "float32", or "mixed"

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values):
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown configuration keys {unknown}; known keys: {sorted(known)}")
        return cls(**values)

    def validate(self):
        """Returns self, or raises ConfigError naming the first setting that cannot work."""
        positive = (
            "validation_size", "test_size", "embedding_dim", "units", "max_output_length",
            "epochs", "batch_size", "patience",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("max_train_pairs", "attention_units", "steps_per_epoch"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be >= 1 or None, got {value}")
        if self.learning_rate <= 0:
            raise ConfigError(f"learning_rate must be > 0, got {self.learning_rate}")
        from nmt_keras.distribute import PRECISIONS, STRATEGIES

        for name, allowed in (("strategy", STRATEGIES), ("precision", PRECISIONS)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise ConfigError(f"time_budget_s must be > 0 or None, got {self.time_budget_s}")
        return self


# `make demo` must train and evaluate within 10 minutes on a 2-core CPU: training stops
# after this many seconds (the corpus, evaluation and plots take about a minute more).
DEMO_TRAINING_BUDGET_S = 5 * 60


def demo_config():
    """The settings of `make demo`: the embedded corpus, a small model, a time budget.

    The embedded language is small and regular, so 128 GRU units reach a test BLEU
    near 100 within three epochs; the budget bounds the run on slow machines.
    """
    return Config(
        data="synthetic",
        max_vocab_size=None,  # the embedded language has a few hundred words: keep all
        embedding_dim=64,
        units=128,
        epochs=10,
        batch_size=64,
        patience=2,
        time_budget_s=DEMO_TRAINING_BUDGET_S,
    )
