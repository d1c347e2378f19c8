"""The model directory: what `train` writes and `translate` / `evaluate` read.

    MODEL_DIR/
      translator.json     {"format": 2, "nmt_keras_version": ..., "settings": {...}}: the
                          model and text settings of `Config` (sizes, attention, tokenizer)
      source_vocab.txt    one source token per line (special tokens excluded): a word,
                          a word piece or a character, as translator.json's "tokenizer" says
      target_vocab.txt    one target token per line
      model.weights.h5    the `Seq2Seq` weights (best validation loss)
      config.json         the run's `Config` (data, split sizes, seed, model, training)

The format number changes whenever the files or the weights' layout change; a
directory of another format is refused with a message naming both versions.

A translator can also be kept as one Keras-native `.keras` file (`save_keras`,
`load_keras`; `load_translator` accepts such a file too). Every layer of the package is
registered with `keras.saving.register_keras_serializable(package="nmt_keras")` and the
`Translator`'s config holds its vocabularies, so the file loads with `safe_mode=True`:

    import keras
    import nmt_keras.inference.translator  # registers the nmt_keras classes
    translator = keras.saving.load_model("model.keras", safe_mode=True)
"""

import json
import pathlib
import zipfile

import keras

import nmt_keras
from nmt_keras.config import Config, ConfigError
from nmt_keras.inference.translator import Translator

TRANSLATOR_FILE = "translator.json"
SOURCE_VOCAB_FILE = "source_vocab.txt"
TARGET_VOCAB_FILE = "target_vocab.txt"
WEIGHTS_FILE = "model.weights.h5"
CONFIG_FILE = "config.json"
KERAS_SUFFIX = ".keras"
# The model-directory format this version writes and reads.
FORMAT = 2
# The nmt_keras release that wrote each older format.
FORMAT_RELEASES = {1: "0.1.0"}


class ModelDirError(ValueError):
    """A model directory is missing, incomplete, or does not match its weights."""


def _write_words(path, words):
    path.write_text("".join(word + "\n" for word in words), encoding="utf-8")


def _read_words(path):
    return path.read_text(encoding="utf-8").splitlines()


def save_translator(translator, model_dir, config=None):
    """Writes the translator (and optionally its run config) into `model_dir`."""
    model_dir = pathlib.Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    record = {
        "format": FORMAT,
        "nmt_keras_version": nmt_keras.__version__,
        "settings": {**translator.config.model_settings(), **translator.config.text_settings()},
    }
    (model_dir / TRANSLATOR_FILE).write_text(json.dumps(record, indent=2, sort_keys=True))
    _write_words(model_dir / SOURCE_VOCAB_FILE, translator.source_words)
    _write_words(model_dir / TARGET_VOCAB_FILE, translator.target_words)
    translator.model.save_weights(model_dir / WEIGHTS_FILE)
    if config is not None:
        (model_dir / CONFIG_FILE).write_text(config.to_json())


def save_keras(translator, path):
    """Writes `translator` (config with vocabularies, weights, optimizer state) to one
    `.keras` file."""
    path = pathlib.Path(path)
    if path.suffix != KERAS_SUFFIX:
        raise ModelDirError(f"a Keras model file must end in {KERAS_SUFFIX}: {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    keras.saving.save_model(translator, path)


def load_keras(path):
    """Loads a `Translator` saved by `save_keras` (with `safe_mode=True`).

    Raises:
        ModelDirError: the file is missing, not a `.keras` archive, or not a Translator.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise ModelDirError(f"Keras model file not found: {path}")
    if not zipfile.is_zipfile(path):
        raise ModelDirError(f"{path} is not a .keras file (not a zip archive)")
    try:
        translator = keras.saving.load_model(path, safe_mode=True)
    except (ValueError, TypeError, OSError, KeyError) as error:
        raise ModelDirError(f"cannot load {path}: {error}") from None
    if not isinstance(translator, Translator):
        raise ModelDirError(f"{path} holds a {type(translator).__name__}, not a Translator")
    if not translator.model.compiled:  # make `model.evaluate()` work
        translator.model.compile(optimizer="adam")
    return translator


def load_translator(model_dir):
    """Rebuilds a `Translator` from `model_dir` and loads its weights. A path ending in
    `.keras` is loaded with `load_keras` instead.

    Raises:
        ModelDirError: the directory or one of its files is missing, or the weights do
            not fit the vocabulary and sizes recorded beside them.
    """
    model_dir = pathlib.Path(model_dir)
    if model_dir.suffix == KERAS_SUFFIX and not model_dir.is_dir():
        return load_keras(model_dir)
    if not model_dir.is_dir():
        raise ModelDirError(f"model directory not found: {model_dir}")
    required = (TRANSLATOR_FILE, SOURCE_VOCAB_FILE, TARGET_VOCAB_FILE, WEIGHTS_FILE)
    missing = [name for name in required if not (model_dir / name).is_file()]
    if missing:
        raise ModelDirError(
            f"{model_dir} is not a complete model directory: missing {', '.join(missing)} "
            f"(it is written by `python -m nmt_keras train --output DIR`)"
        )
    settings = read_settings(model_dir / TRANSLATOR_FILE)
    translator = Translator(
        _read_words(model_dir / SOURCE_VOCAB_FILE),
        _read_words(model_dir / TARGET_VOCAB_FILE),
        settings,
    )
    try:
        translator.model.load_weights(model_dir / WEIGHTS_FILE)
    except (ValueError, OSError, KeyError) as error:
        raise ModelDirError(
            f"cannot load {model_dir / WEIGHTS_FILE} into the model described by "
            f"{TRANSLATOR_FILE} and the vocabulary files (was a file replaced or "
            f"damaged?): {error}"
        ) from None
    # Compiled so that `model.evaluate()` works; the optimizer state is not restored.
    translator.model.compile(optimizer="adam")
    return translator


def read_settings(path):
    """The `Config` recorded in a `translator.json`, checked like any config.

    Raises:
        ModelDirError: not JSON, another format (naming the release that reads it), or
            a setting that is unknown or out of range.
    """
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelDirError(f"{path} is not readable JSON ({type(error).__name__})") from None
    if not isinstance(record, dict):
        raise ModelDirError(f"{path}: expected a JSON object")
    found = record.get("format", 1)
    if found != FORMAT:
        release = FORMAT_RELEASES.get(found, "another release") if isinstance(found, int) else "an unknown release"
        raise ModelDirError(
            f"{path.parent} is a model directory of format {found!r}, written by nmt_keras "
            f"{release}; this is nmt_keras {nmt_keras.__version__}, which reads format "
            f"{FORMAT}: train the model again, or load it with nmt_keras {release}"
        )
    try:
        return Config.from_dict(record.get("settings", {}), source=str(path))
    except ConfigError as error:
        raise ModelDirError(str(error)) from None


def load_config(model_dir):
    """The run `Config` saved in `model_dir`."""
    path = pathlib.Path(model_dir) / CONFIG_FILE
    if not path.is_file():
        raise ModelDirError(f"{path} not found: this model directory has no run config")
    return Config.from_dict(json.loads(path.read_text()))
