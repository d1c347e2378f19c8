"""One explicit configuration object for a training run (data, model, optimization)."""

import dataclasses
import json

from nmt_keras.data.corpora import DEFAULT_DIRECTION
from nmt_keras.embeddings import DEFAULT_EMBEDDING_INIT, EMBEDDING_INITS


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
    tokenizer: str = "word"  # "word", "wordpiece" (subwords learned on train) or "char"
    embedding_dim: int = 256  # word embedding size, both languages
    units: int = 256  # GRU units: encoder per direction, and decoder
    attention_units: int | None = None  # hidden size of the attention scorer; None: `units`
    max_output_length: int = 50  # greedy decoding stops after this many tokens

    # --- architecture (defaults: Bahdanau et al. 2015) -----------------------------------
    attention: str = "bahdanau"  # score: "bahdanau" (additive), "luong-dot", "luong-general", "luong-concat"
    decoder: str = "bahdanau"  # "bahdanau" (attend with s_{t-1}) or "luong" (RNN first, attend with h_t)
    input_feeding: bool = False  # luong decoder: feed the attentional vector to the next step
    cell: str = "gru"  # recurrent cell, encoder and decoder: "gru" or "lstm"
    encoder_layers: int = 1  # stacked encoder RNN layers
    bidirectional: bool = True  # read the source in both directions
    reverse_source: bool = False  # feed the source words reversed (Sutskever et al. 2014)
    maxout_units: int | None = None  # maxout deep output of this size (Bahdanau et al.); None: plain
    source_prior: bool = False  # learned logit bonus for target words present in the source
    dropout: float = 0.0  # on embeddings, between encoder layers, before the output layer
    embedding_init: str = DEFAULT_EMBEDDING_INIT  # "uniform" (Keras' +-0.05) or "normal" (unit variance): nmt_keras.embeddings

    # --- training objective -------------------------------------------------------------
    label_smoothing: float = 0.0  # share of the target probability spread over the vocabulary
    clipnorm: float | None = None  # clip each gradient to this norm; None: no clipping
    scheduled_sampling: str = "none"  # "none", "linear", "exponential", "inverse-sigmoid"
    sampling_decay: float | None = None  # the schedule's constant k; None: its default
    max_sampling_probability: float = 0.25  # cap on feeding the model's own sample

    # --- decoding for the final evaluation --------------------------------------------
    beam_width: int = 1  # 1: greedy search; K > 1: beam search with K beams
    length_penalty: float = 0.0  # GNMT length-penalty exponent alpha for beam search

    # --- optimization -----------------------------------------------------------------
    epochs: int = 20  # upper bound; early stopping and the time budget may stop sooner
    batch_size: int = 64  # sentence pairs per step
    learning_rate: float = 1e-3  # Adam
    patience: int = 3  # epochs without validation-loss improvement before stopping
    steps_per_epoch: int | None = None  # None: one pass over the training split per epoch
    time_budget_s: float | None = None  # stop training (and keep the best weights) after this
    seed: int = 0  # seeds the split, weight initialization and shuffling
    deterministic: bool = False  # TensorFlow op determinism (process-wide): identical reruns
    backup_every_steps: int | None = None  # also back up mid-epoch every N steps; None: per epoch

    # --- hardware ---------------------------------------------------------------------
    strategy: str = "auto"  # tf.distribute: "auto" (TPU, else GPUs, else CPU), "tpu", "mirrored", "multi-worker", "default"
    precision: str = "auto"  # "auto" (mixed on GPU/TPU), "float32", or "mixed"
    fixed_shapes: bool = False  # pad batches to bucket boundaries, drop incomplete ones (always on TPU)
    jit_compile: bool = False  # XLA-compile the train/test steps (needs fixed_shapes)

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
            "epochs", "batch_size", "patience", "encoder_layers", "beam_width",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in (
            "max_train_pairs", "attention_units", "steps_per_epoch", "maxout_units",
            "backup_every_steps",
        ):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be >= 1 or None, got {value}")
        if self.learning_rate <= 0:
            raise ConfigError(f"learning_rate must be > 0, got {self.learning_rate}")
        from nmt_keras.attention import ATTENTION_TYPES
        from nmt_keras.training.distribute import PRECISIONS, STRATEGIES
        from nmt_keras.recurrent import CELLS
        from nmt_keras.training.schedules import SCHEDULES, check_schedule
        from nmt_keras.data.tokenizers import TOKENIZER_KINDS
        from nmt_keras.translator import DECODERS

        choices = (
            ("strategy", STRATEGIES), ("precision", PRECISIONS), ("attention", ATTENTION_TYPES),
            ("decoder", DECODERS), ("cell", CELLS), ("scheduled_sampling", SCHEDULES),
            ("tokenizer", TOKENIZER_KINDS), ("embedding_init", EMBEDDING_INITS),
        )
        for name, allowed in choices:
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.input_feeding and self.decoder != "luong":
            raise ConfigError("input_feeding applies to decoder 'luong' only")
        if self.attention == "luong-dot" and self.bidirectional:
            raise ConfigError(
                f"attention 'luong-dot' needs the decoder state ({self.units}) and the encoder "
                f"annotations ({2 * self.units}: bidirectional) to have the same size; use "
                f"--no-bidirectional, or --attention luong-general"
            )
        for name in ("dropout", "label_smoothing"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if not 0.0 <= self.max_sampling_probability <= 1.0:
            raise ConfigError(
                f"max_sampling_probability must be in [0, 1], got {self.max_sampling_probability}"
            )
        if self.clipnorm is not None and self.clipnorm <= 0:
            raise ConfigError(f"clipnorm must be > 0 or None, got {self.clipnorm}")
        try:
            check_schedule(self.scheduled_sampling, self.sampling_decay)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        if self.jit_compile and not self.fixed_shapes:
            raise ConfigError(
                "jit_compile needs fixed_shapes: XLA compiles the training step once per "
                "batch shape, and without fixed shapes nearly every batch has a new one "
                "(use --fixed-shapes, which --jit-compile on the command line implies)"
            )
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


# Config fields that are `Translator` constructor arguments of the same name.
TRANSLATOR_FIELDS = (
    "embedding_dim", "units", "attention_units", "max_output_length", "attention", "decoder",
    "input_feeding", "cell", "encoder_layers", "bidirectional", "reverse_source",
    "maxout_units", "source_prior", "dropout", "embedding_init", "label_smoothing", "scheduled_sampling",
    "sampling_decay", "max_sampling_probability", "tokenizer",
)


def translator_options(config):
    """The `Translator` keyword arguments a config asks for."""
    return {name: getattr(config, name) for name in TRANSLATOR_FIELDS}


def decoding_options(config):
    """`Translator.translate` keyword arguments for the config's evaluation decoding."""
    if config.beam_width == 1:
        return {"method": "greedy"}
    return {"method": "beam", "beam_width": config.beam_width, "length_penalty": config.length_penalty}
