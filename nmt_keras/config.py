"""`Config`: every setting of a training run, in one place.

Each field is declared once, with its default, its help text, the values it accepts and
the commands that take it as a flag. From that one declaration:

    - `nmt_keras.cli` generates the command-line flags (`--units`, `--no-bidirectional`)
      with their help, choices and defaults;
    - a `Config` is checked when it is made (`Config.validate`, run by the constructor
      and so by `dataclasses.replace`): types, choices and ranges, and the rules that tie
      fields together. A `Config` that exists is valid;
    - `Config.from_dict` reads a saved `config.json` through the same allow-list.

The fields marked `MODEL`, `TEXT` and `DECODING` are saved with a model
(`Config.saved_settings`): the network, the text in and out, and the decoding the model
was evaluated with, which `translate` uses unless told otherwise.

Pure Python: importing it (and `--help`) loads no TensorFlow.
"""

import dataclasses
import json
import math
import types
import typing

from nmt_keras.constants import (
    ATTENTION_TYPES,
    CASINGS,
    CELLS,
    DECODERS,
    DIRECTIONS,
    EMBEDDING_INITS,
    KERNELS,
    LEARNING_RATE_SCHEDULES,
    MAX_CORPUS_MB,
    PRECISIONS,
    QUANTIZATION_MODES,
    SCHEDULES,
    SHA256_PATTERN,
    STRATEGIES,
    TOKENIZERS,
    TRANSLATE_BATCH_SIZE,
)

# The commands a flag belongs to (`python -m nmt_keras COMMAND`).
TRAIN = ("train", "demo")
DATA = ("train", "evaluate")
TRAIN_ONLY = ("train",)
EVALUATION = ("train", "evaluate", "demo")
TRANSLATE = ("translate",)
LOADED = ("translate", "export")  # the commands that load a model to translate with it
DECODE = EVALUATION + TRANSLATE
# Upper limits: far above any sensible setting, low enough that a typo or a crafted
# config.json cannot ask for terabytes of weights.
MAX_SIZE = 16_384  # embedding and state sizes
MAX_VOCAB = 2_000_000
MAX_LENGTH = 10_000  # output tokens
MAX_PAIRS = 100_000_000
# The settings that say where a corpus is and how much of it may be read: `evaluate`
# takes them from its command line only, never from a model directory.
DATA_LOCATION = ("data", "data_url", "sha256", "cache_dir", "max_corpus_mb")
# Settings that define the network, saved with the model (`Config.model_settings`).
MODEL = "model"
# Settings the translator needs for text in and out, saved with the model too.
TEXT = "text"
# How the model decodes unless told otherwise, saved with the model too.
DECODING = "decoding"
# Settings saved under another name by nmt_keras 0.2.0: old name -> name.
RENAMED_SETTINGS = {"cell": "cell_type"}
# What saved settings of nmt_keras 0.2.0 did not record: their tokens were standardized,
# and `translate` decoded greedily with `[UNK]` replaced.
UNRECORDED_SETTINGS = {
    "casing": "lower", "beam_width": 1, "length_penalty": 0.0, "unk_replace": True,
    "block_repeats": False,
}


class ConfigError(ValueError):
    """A setting that cannot work; the message names it and its value."""


# The settings measured best for a training budget, keyed by what the budget buys on the
# machine at hand: the number of training steps of the model the flags describe (the
# defaults unless flags change them) that fit in it (`nmt_keras.training.train.calibrate`
# times a few). From `python -m
# bench.recipes` on the validation split of spa-eng; docs/recipes.md has the
# measurements. name -> (fewest steps it is for, Config changes); explicit flags override.
RECIPES = {
    "short": (0, {"batch_size": 32, "beam_width": 4, "length_penalty": 0.6}),
    "medium": (1500, {"learning_rate": 4e-3, "learning_rate_schedule": "linear", "beam_width": 4,
                      "length_penalty": 0.6}),
    "long": (3500, {"beam_width": 4, "length_penalty": 0.6}),
}


def option(default, help, *, choices=None, low=None, high=None, low_open=False,
           high_open=False, commands=TRAIN, group="training", part=None, flag=None,
           none_means=None):
    """A `Config` field with what the CLI and `validate` need to know about it.

    Args:
        default: the default value.
        help: str. One line for `--help`.
        choices: tuple of the accepted values, or None.
        low, high: numeric bounds, inclusive unless `low_open` / `high_open`.
        commands: the subcommands that take it as a flag.
        group: the `--help` section.
        part: `MODEL`, `TEXT` or `DECODING` if the setting is saved with the model, else
            None.
        flag: the flag's name, if not `--field-name`.
        none_means: str. What None means, for a field that accepts None.
    """
    metadata = dict(
        help=help, choices=choices, low=low, high=high, low_open=low_open,
        high_open=high_open, commands=commands, group=group, part=part, flag=flag,
        none_means=none_means,
    )
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass
class Config:
    """Everything that defines a training run; saved as `config.json` in the model
    directory. The defaults suit real data on a CPU (the TensorFlow tutorial's sizes);
    `demo_config()` gives the settings of `make demo`. Tests shrink a config with
    `dataclasses.replace(config, units=16, ...)`."""

    # --- data ------------------------------------------------------------------------
    data: str = option(
        "synthetic", "'synthetic' (the embedded corpus), 'spa-eng' (the TensorFlow "
        "tutorial's archive), or a path / http(s):// / file:// URL of a tab-separated "
        "pairs file or a zip holding one", commands=DATA, group="data")
    data_url: str | None = option(
        None, "where to get 'spa-eng' instead of the TensorFlow URL (a URL or a path, "
        "e.g. file:///path/to/spa-eng.zip); its sha256 is still checked", commands=DATA,
        group="data", none_means="the TensorFlow URL")
    sha256: str | None = option(
        None, "expected sha256 of the data file (64 hex digits)", commands=DATA,
        group="data", none_means="unchecked, except spa-eng's known sum")
    cache_dir: str | None = option(
        None, "download cache directory", commands=DATA, group="data",
        none_means="~/.keras")
    max_corpus_mb: int | None = option(
        MAX_CORPUS_MB, "refuse a corpus file, zip member (uncompressed) or download larger "
        "than this many MB", low=1, high=10_000_000, commands=DATA, group="data",
        none_means="no limit")
    direction: str = option(
        "to-english", "to-english: column 2 -> column 1 of the pairs file (Spanish -> "
        "English for spa-eng); from-english: the reverse", choices=DIRECTIONS,
        commands=DATA, group="data")
    validation_size: int = option(
        2000, "sentence pairs held out for early stopping", low=1, high=MAX_PAIRS,
        commands=DATA, group="data")
    test_size: int = option(
        2000, "sentence pairs held out for the final scores, never trained on", low=1,
        high=MAX_PAIRS, commands=DATA, group="data")
    max_train_pairs: int | None = option(
        None, "train on at most this many pairs (quick runs)", low=1, high=MAX_PAIRS,
        commands=TRAIN_ONLY, group="data", none_means="all")

    # --- text ------------------------------------------------------------------------
    tokenizer: str = option(
        "word", "tokens: words, wordpiece subwords learned on the training split, or "
        "characters (about 5x longer sentences: raise --max-output-length)",
        choices=TOKENIZERS, group="text", part=TEXT)
    casing: str = option(
        "cased", "cased: tokens keep case, accents and where punctuation attaches, and "
        "translations are text as a person writes it; lower: the TensorFlow tutorial's "
        "standardized tokens (lower case, no accents, punctuation spaced off)",
        choices=CASINGS, group="text", part=TEXT)
    max_vocab_size: int | None = option(
        5000, "tokens per language, special tokens included (wordpiece: the target "
        "size)", low=5, high=MAX_VOCAB, group="text", none_means="every training token (wordpiece: 8,000 pieces)")
    max_output_length: int = option(
        50, "decoding stops after this many output tokens", low=1, high=MAX_LENGTH,
        group="text", part=TEXT)

    # --- model (defaults: Bahdanau et al. 2015) ----------------------------------------
    embedding_dim: int = option(
        256, "word embedding size, both languages", low=1, high=MAX_SIZE, group="model",
        part=MODEL)
    units: int = option(
        256, "RNN units: encoder per direction, and decoder", low=1, high=MAX_SIZE,
        group="model", part=MODEL)
    attention_units: int | None = option(
        None, "hidden size of the additive / concat attention scorer", low=1,
        high=MAX_SIZE, group="model", part=MODEL, none_means="--units")
    attention: str = option(
        "bahdanau", "attention score: additive (Bahdanau) or Luong's dot, general, concat",
        choices=ATTENTION_TYPES, group="model", part=MODEL)
    decoder: str = option(
        "bahdanau", "bahdanau: attend with s_{t-1}, context into the RNN; luong: RNN "
        "first, attend with h_t", choices=DECODERS, group="model", part=MODEL)
    input_feeding: bool = option(
        False, "luong decoder: feed the attentional vector to the next step (slower)",
        group="model", part=MODEL)
    cell_type: str = option(
        "gru", "recurrent cell, encoder and decoder", choices=CELLS, group="model", flag="--cell",
        part=MODEL)
    encoder_layers: int = option(
        1, "stacked encoder RNN layers", low=1, high=16, group="model", part=MODEL)
    bidirectional: bool = option(
        True, "read the source in both directions", group="model", part=MODEL)
    reverse_source: bool = option(
        False, "feed the source words reversed (Sutskever et al. 2014)", group="model",
        part=MODEL)
    maxout_units: int | None = option(
        None, "maxout deep output of this size (Bahdanau et al.)", low=1, high=MAX_SIZE,
        group="model", part=MODEL, none_means="plain output layer")
    source_prior: bool = option(
        False, "learned logit bonus for target words that also occur in the source",
        group="model", part=MODEL)
    dropout: float = option(
        0.0, "dropout on embeddings, between encoder layers, before the output layer",
        low=0.0, high=1.0, high_open=True, group="model", part=MODEL)
    embedding_init: str = option(
        "uniform", "how word embeddings start: uniform in +-0.05 (Keras' default) or "
        "normal with unit variance", choices=EMBEDDING_INITS, group="model", part=MODEL)
    kernels: str = option(
        "auto", "GRU, cross-entropy and Adam: Keras' own, or the fused CPU kernels of "
        "nmt_keras.fast (same function); auto: fused unless a GPU is visible",
        choices=KERNELS, group="model", part=MODEL)

    # --- training objective ---------------------------------------------------------------
    label_smoothing: float = option(
        0.0, "share of the target probability spread over the vocabulary", low=0.0,
        high=1.0, high_open=True, group="objective", part=MODEL)
    scheduled_sampling: str = option(
        "none", "feed the decoder its own samples with a probability that grows with "
        "the step (Bengio et al. 2015)", choices=SCHEDULES, group="objective", part=MODEL)
    sampling_decay: float | None = option(
        None, "the schedule's constant k: linear slope, exponential base, inverse-sigmoid k",
        low=0.0, low_open=True, group="objective", part=MODEL,
        none_means="the schedule's default")
    max_sampling_probability: float = option(
        0.25, "cap on the probability of feeding a sample", low=0.0, high=1.0,
        group="objective", part=MODEL)

    # --- optimization -------------------------------------------------------------------
    epochs: int = option(
        20, "maximum epochs; early stopping and the time budget may stop sooner", low=1,
        high=100_000)
    batch_size: int = option(
        64, "sentence pairs per step", low=1, high=65_536, commands=EVALUATION)
    learning_rate: float = option(
        1e-3, "Adam's learning rate", low=0.0, low_open=True, high=10.0)
    learning_rate_schedule: str = option(
        "constant", "constant, or linear: decay to zero over --decay-steps steps, where "
        "training stops", choices=LEARNING_RATE_SCHEDULES)
    decay_steps: int | None = option(
        None, "the optimizer steps over which the linear schedule decays; a --time-budget "
        "recipe sets the steps the budget buys here", low=1, high=10**9,
        none_means="the planned steps (epochs x steps per epoch), or the time budget if "
        "it runs out first")
    clipnorm: float | None = option(
        None, "clip each gradient to this norm", low=0.0, low_open=True,
        none_means="no clipping")
    patience: int = option(
        3, "epochs without a better validation loss before stopping", low=1, high=10_000)
    steps_per_epoch: int | None = option(
        None, "steps per epoch", low=1, high=10_000_000,
        none_means="one pass over the training split")
    time_budget: float | None = option(
        None, "stop training after this many minutes (the best weights are kept); `train` "
        "also starts from the recipe measured best for what the budget buys here "
        "(docs/recipes.md)",
        low=0.0, low_open=True, high=525_600.0, none_means="no limit")
    recipe: str | None = option(
        None, "the --time-budget recipe this run starts from (docs/recipes.md); recorded "
        "in config.json, so rerunning the command resumes with it", choices=tuple(RECIPES),
        commands=TRAIN_ONLY, none_means="with --time-budget: chosen by timing this machine; "
        "else none")
    seed: int = option(
        0, "seeds the split, the initial weights and the shuffling", low=0, high=2**31 - 1,
        commands=("train", "demo"))
    deterministic: bool = option(
        False, "deterministic TensorFlow ops (process-wide): the same command gives the "
        "same weights")
    backup_every: int | None = option(
        None, "also back up the training state every N steps; rerun the same command to "
        "resume", low=1, high=10_000_000, none_means="after every epoch")

    # --- decoding: the test scores of train and evaluate, and translate's default ----------
    beam_width: int = option(
        1, "beam search with K beams (1: greedy search)", low=1, high=256,
        commands=DECODE, group="decoding", part=DECODING)
    length_penalty: float = option(
        0.0, "GNMT length-penalty exponent alpha for beam search", low=0.0, high=10.0,
        commands=DECODE, group="decoding", part=DECODING)
    unk_replace: bool = option(
        True, "replace each [UNK] of an output by the source word its attention weighs "
        "most (Luong et al. 2015)", commands=DECODE, group="decoding", part=DECODING)
    block_repeats: bool = option(
        True, "never output a loop: 2 to 4 tokens repeated at once or one token three times "
        "in a row (word and wordpiece tokens; characters repeat as spelling needs)",
        commands=DECODE, group="decoding", part=DECODING)

    # --- hardware -------------------------------------------------------------------------
    strategy: str = option(
        "auto", "tf.distribute strategy; auto: a TPU if found, else all GPUs, else the CPU",
        choices=STRATEGIES, group="hardware")
    precision: str = option(
        "auto", "auto: mixed precision on GPU/TPU and on a CPU with bfloat16 units "
        "(amx_bf16 or avx512_bf16), else float32", choices=PRECISIONS,
        group="hardware")
    fixed_shapes: bool = option(
        False, "pad every batch to its length bucket's boundary and to full batch size, "
        "so that batch shapes repeat (always on with a TPU)", group="hardware")
    jit_compile: bool = option(
        False, "compile the training step with XLA (implies --fixed-shapes)", group="hardware")

    # --------------------------------------------------------------------------------------

    def __post_init__(self):
        self.validate()

    def validate(self):
        """Returns self, or raises `ConfigError` naming the first setting that cannot work.
        The constructor runs it: there is no need to call it again."""
        for field in dataclasses.fields(self):
            check_value(field, getattr(self, field.name))
        if self.input_feeding and self.decoder != "luong":
            raise ConfigError("input_feeding applies to decoder 'luong' only")
        if self.attention == "luong-dot" and self.bidirectional:
            raise ConfigError(
                f"attention 'luong-dot' needs the decoder state ({self.units}) and the "
                f"encoder annotations ({2 * self.units}: bidirectional) to have the same "
                f"size; use --no-bidirectional, or --attention luong-general"
            )
        decay_rule = {
            "linear": ("> 0", lambda k: k > 0),
            "exponential": ("in (0, 1)", lambda k: 0 < k < 1),
            "inverse-sigmoid": (">= 1", lambda k: k >= 1),
        }.get(self.scheduled_sampling)
        if decay_rule and self.sampling_decay is not None and not decay_rule[1](self.sampling_decay):
            raise ConfigError(
                f"the {self.scheduled_sampling} schedule needs a sampling_decay "
                f"{decay_rule[0]}, got {self.sampling_decay}"
            )
        if self.decay_steps is not None and self.learning_rate_schedule != "linear":
            raise ConfigError("decay_steps applies to learning_rate_schedule 'linear' only")
        if self.sha256 is not None and not SHA256_PATTERN.fullmatch(self.sha256):
            raise ConfigError(f"sha256 must be 64 hexadecimal digits, got {_short(self.sha256)}")
        for name in ("data", "data_url"):
            value = getattr(self, name)
            if value is not None and "://" in value:  # only URLs: no corpus code otherwise
                from nmt_keras.data.corpora import location_problem

                if problem := location_problem(value):
                    raise ConfigError(f"{name} {_short(value)}: {problem}")
        if self.sha256 is not None and self.data == "synthetic":
            raise ConfigError("sha256 checks a downloaded or local data file; the "
                              "embedded corpus (data 'synthetic') has none")
        if self.data_url is not None and self.data != "spa-eng":
            raise ConfigError(f"data_url says where to get 'spa-eng'; for data {self.data!r} "
                              f"pass the path or URL as --data itself")
        return self

    @property
    def uses_fixed_shapes(self):
        """XLA (`jit_compile`) needs batch shapes that repeat, so it implies fixed shapes."""
        return self.fixed_shapes or self.jit_compile

    def model_settings(self):
        """The settings that define the network (`Seq2Seq`)."""
        return self._parts(MODEL)

    def saved_settings(self):
        """The settings saved with a model: the network, text in and out, and decoding."""
        return self._parts(MODEL, TEXT, DECODING)

    def decoding_settings(self):
        """`beam_width`, `length_penalty`, `unk_replace` and `block_repeats`."""
        return self._parts(DECODING)

    def _parts(self, *parts):
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.metadata["part"] in parts}

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_saved(cls, settings, source="settings"):
        """A Config from the settings saved with a model (`saved_settings`), checked like
        `from_dict`; settings that do not record a casing or a decoding (nmt_keras
        0.2.0) get those of `UNRECORDED_SETTINGS`."""
        if isinstance(settings, dict):
            settings = {**UNRECORDED_SETTINGS, **settings}
        return cls.from_dict(settings, source)

    @classmethod
    def from_dict(cls, values, source="config"):
        """A validated Config from a dict (e.g. a loaded `config.json`).

        Only known keys are taken and every value is checked; `ConfigError` names
        `source`, the key and the problem, never more of the file than that value.
        """
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: expected a JSON object, got {type(values).__name__}")
        values = {RENAMED_SETTINGS.get(key, key): value for key, value in values.items()}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown settings {_short(unknown)}")
        try:
            return cls(**values)
        except ConfigError as error:
            raise ConfigError(f"{source}: {error}") from None


@dataclasses.dataclass
class TranslateOptions:
    """The options of `python -m nmt_keras translate` (and `export`) that are not
    settings of a run (their flags are generated from here). The decoding itself
    (`beam_width`, `length_penalty`, `unk_replace`) is the model's, from its saved
    settings, unless its `Config` flags are given."""

    n_best: int = option(
        1, "print the N best hypotheses of beam search, with their scores (beam width: at "
        "least N)", low=1, high=256, commands=TRANSLATE, group="decoding")
    temperature: float | None = option(
        None, "sample translations at this temperature instead of searching", low=0.0,
        low_open=True, high=100.0, commands=TRANSLATE, group="decoding",
        none_means="no sampling")
    sample_seed: int = option(
        0, "seed of the sampling", low=0, high=2**31 - 1, commands=TRANSLATE,
        group="decoding")
    max_length: int | None = option(
        None, "maximum output tokens", low=1, high=MAX_LENGTH, commands=TRANSLATE,
        group="decoding", none_means="the model's max_output_length")
    batch_size: int = option(
        TRANSLATE_BATCH_SIZE, "sentences translated at once", low=1, high=65_536,
        commands=TRANSLATE, group="decoding")
    quantize: str | None = option(
        None, "quantize the loaded model's embeddings and Dense kernels to int8 (the "
        "recurrent cells stay float32): smaller weights, but slower than float32 on a "
        "CPU without fast int8 products (docs/export.md)", choices=QUANTIZATION_MODES,
        commands=LOADED, group="model",
        none_means="float32 weights")
    heatmaps: str | None = option(
        None, "also write each sentence's attention heatmap to DIR/attention_<n>.png",
        commands=TRANSLATE, group="output", none_means="no heatmaps")

    def __post_init__(self):
        for field in dataclasses.fields(self):
            check_value(field, getattr(self, field.name))

    def decoding(self, settings, given=()):
        """`Translator.translate` keyword arguments.

        Args:
            settings: `Config` whose decoding settings apply (the model's, with the
                decoding flags the user gave).
            given: the names of the decoding flags the user gave.

        Raises:
            ConfigError: sampling together with beam search, or more best hypotheses
                than beams.
        """
        options = {"max_length": self.max_length, "unk_replace": settings.unk_replace,
                   "block_repeats": settings.block_repeats}
        if self.temperature is not None:
            if self.n_best > 1 or "beam_width" in given:
                raise ConfigError("choose either --temperature (sampling) or --beam-width / "
                                  "--n-best (beam search)")
            return {**options, "method": "sample", "temperature": self.temperature,
                    "seed": self.sample_seed}
        beam_width = settings.beam_width
        if self.n_best > beam_width:
            if "beam_width" in given:
                raise ConfigError(f"--n-best {self.n_best} needs --beam-width >= {self.n_best}, "
                                  f"got {beam_width}")
            beam_width = self.n_best
        if beam_width == 1:
            if "length_penalty" in given:
                raise ConfigError("--length-penalty applies to beam search: add --beam-width K")
            return {**options, "method": "greedy"}
        return {**options, "method": "beam", "beam_width": beam_width, "n_best": self.n_best,
                "length_penalty": settings.length_penalty}


def value_type(field):
    """The Python type of a field's values, and whether it also accepts None."""
    kind = field.type
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        return args[0], True
    return kind, False


def check_value(field, value):
    """Raises `ConfigError` unless `value` suits `field` (type, choices, range)."""
    meta = field.metadata
    kind, optional = value_type(field)
    if value is None:
        if optional:
            return
        raise ConfigError(f"{field.name} must be set (got None)")
    accepted = (int, float) if kind is float else (kind,)
    if isinstance(value, bool) and kind is not bool or not isinstance(value, accepted):
        raise ConfigError(f"{field.name} must be {kind.__name__}, got {_short(value)}")
    if kind is float and not math.isfinite(value):
        raise ConfigError(f"{field.name} must be a finite number, got {value}")
    if meta["choices"] is not None and value not in meta["choices"]:
        raise ConfigError(f"{field.name} must be one of {meta['choices']}, got {_short(value)}")
    low, high = meta["low"], meta["high"]
    if low is not None and (value <= low if meta["low_open"] else value < low):
        raise ConfigError(f"{field.name} must be {'>' if meta['low_open'] else '>='} {low}, got {value}")
    if high is not None and (value >= high if meta["high_open"] else value > high):
        raise ConfigError(f"{field.name} must be {'<' if meta['high_open'] else '<='} {high}, got {value}")


def _short(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def demo_config():
    """The settings of `make demo`: the embedded corpus, a small model, a time budget.

    The embedded language is small and regular: 128 GRU units reach a test BLEU near
    100 within a few epochs; the budget bounds the run on slow machines (the corpus,
    the evaluation and the plots take about a minute more).
    """
    return Config(
        data="synthetic",
        max_vocab_size=None,  # the embedded language has a few hundred words: keep all
        embedding_dim=64,
        units=128,
        epochs=10,
        batch_size=64,
        patience=2,
        time_budget=5.0,
        precision="float32",  # the same numbers on every CPU, with or without bfloat16 units
    )


def decoding_options(config):
    """`Translator.translate` keyword arguments for the decoding settings of `config`."""
    method = "beam" if config.beam_width > 1 else "greedy"
    return {"method": method, **config.decoding_settings()}


def recipe_for_steps(steps):
    """The name of the recipe for a budget that buys `steps` training steps (of the
    model the flags describe): the one with the largest step threshold not above `steps`."""
    fitting = [(low, name) for name, (low, _) in RECIPES.items() if low <= steps]
    return max(fitting)[1] if fitting else min((low, name) for name, (low, _) in RECIPES.items())[1]


def apply_recipe(base, name, steps=None, given=None):
    """`base` started from recipe `name`: the recipe's changes with its name recorded,
    then the settings in `given` (the flags given: they win). A linear learning-rate
    schedule decays over `steps`, the steps a time budget buys (`calibrate`), unless
    `given` sets `decay_steps`."""
    changes = {**RECIPES[name][1], "recipe": name, **(given or {})}
    if steps is not None and changes.get("learning_rate_schedule", base.learning_rate_schedule) == "linear":
        changes.setdefault("decay_steps", steps)
    return dataclasses.replace(base, **changes)
