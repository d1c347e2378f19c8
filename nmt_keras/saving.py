"""The model directory: what `train` writes and `translate` / `evaluate` read.

    MODEL_DIR/
      translator.json     {"format": 3, "nmt_keras_version": ..., "settings": {...}}: the
                          settings of `Config` saved with a model (sizes, attention,
                          tokenizer, and the decoding `translate` uses by default)
      source_vocab.txt    one source token per line (special tokens excluded): a word,
                          a word piece or a character, as translator.json's "tokenizer" says
      target_vocab.txt    one target token per line
      model.weights.h5    the `Seq2Seq` weights (best validation loss)
      config.json         the run's `Config` (data, split sizes, seed, model, training)

The format number changes whenever the files or the weights' layout change; a
directory of a format this version does not read (`READABLE_FORMATS`) is refused with a
message naming both versions.

A model directory is data, never instructions: `translator.json` and `config.json` are
read through `Config.from_dict` (known keys only, every value checked for type and
range), every file must be a regular file below a size limit, and no setting of a model
directory says what else to read. `save_translator` writes the five files into a
temporary directory beside `model_dir`, fsyncs them and puts it in `model_dir`'s place
by a rename (`nmt_keras.atomic.staged_directory`), holding the directory's lock: a
kill or a failed write at any moment leaves the previous model whole, and the other
entries of `model_dir` (reports, logs) stay. `load_translator` reads again if
`model_dir` was replaced while it read, so it never mixes two models.

A translator can also be kept as one Keras-native `.keras` file (`save_keras`,
`load_keras`; `load_translator` accepts such a file too). Every layer of the package is
registered with `keras.saving.register_keras_serializable(package="nmt_keras")` and the
`Translator`'s config holds its vocabularies, so the file loads with `safe_mode=True`:

    import keras
    import nmt_keras.fast, nmt_keras.inference.translator  # register the nmt_keras classes
    translator = keras.saving.load_model("model.keras", safe_mode=True)
"""

import json
import os
import pathlib
import zipfile

import nmt_keras
from nmt_keras.config import MAX_VOCAB, Config, ConfigError, _short
from nmt_keras.constants import QUANTIZATION_MODES

TRANSLATOR_FILE = "translator.json"
SOURCE_VOCAB_FILE = "source_vocab.txt"
TARGET_VOCAB_FILE = "target_vocab.txt"
WEIGHTS_FILE = "model.weights.h5"
CONFIG_FILE = "config.json"
# The files of a model, written together: never kept from a previous model.
MODEL_FILES = (TRANSLATOR_FILE, SOURCE_VOCAB_FILE, TARGET_VOCAB_FILE, WEIGHTS_FILE, CONFIG_FILE)
KERAS_SUFFIX = ".keras"
# The model-directory format this version writes and reads.
FORMAT = 3
# The formats this version reads: format 2 (nmt_keras 0.2.0) records no decoding and names
# the cell type "cell"; `Config.from_saved` reads both.
READABLE_FORMATS = (2, 3)
# The nmt_keras release that wrote each older format.
FORMAT_RELEASES = {1: "0.1.0", 2: "0.2.0"}
# The keys of translator.json.
TRANSLATOR_KEYS = ("format", "nmt_keras_version", "settings")

# Upper limits on what is read from a model directory: far above what `train` writes.
MAX_JSON_BYTES = 1 << 20
MAX_VOCAB_BYTES = 256 << 20
MAX_VERSION_CHARS = 40
# How often `load_translator` reads a directory that is replaced while it reads.
READ_ATTEMPTS = 3
FLOAT32_BYTES = 4


class ModelDirError(ValueError):
    """A model directory is missing, incomplete, or does not match its weights."""


def _write_text(path, text):
    """Writes one text file of a model (UTF-8)."""
    path.write_text(text, encoding="utf-8")


def _read_bytes(path, limit):
    """The bytes of `path`, which must be a regular file of at most `limit` bytes."""
    if not path.is_file():
        raise ModelDirError(f"{path}: not a regular file")
    with open(path, "rb") as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise ModelDirError(f"{path}: larger than {limit:,} bytes, too large for this file")
    return data


def _read_json(path):
    """The JSON object in `path` (a regular file of at most `MAX_JSON_BYTES`)."""
    try:
        record = json.loads(_read_bytes(path, MAX_JSON_BYTES).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ModelDirError(f"{path} is not readable JSON ({type(error).__name__})") from None
    if not isinstance(record, dict):
        raise ModelDirError(f"{path}: expected a JSON object, got {type(record).__name__}")
    return record


def _read_words(path):
    """The tokens of a vocabulary file: UTF-8, one per line, at most `MAX_VOCAB`."""
    data = _read_bytes(path, MAX_VOCAB_BYTES)
    try:
        words = data.decode("utf-8").split("\n")
    except UnicodeDecodeError as error:
        number = data.count(b"\n", 0, error.start) + 1
        raise ModelDirError(f"{path}, line {number}: not UTF-8 ({error.reason})") from None
    if words[-1] == "":
        words.pop()
    if len(words) > MAX_VOCAB:
        raise ModelDirError(f"{path}: {len(words):,} tokens, more than the limit of {MAX_VOCAB:,}")
    return words


def save_translator(translator, model_dir, config=None):
    """Writes the translator (and optionally its run config) into `model_dir`, all or
    nothing (see the module docstring). Entries of `model_dir` other than the model's
    files are kept; a previous `config.json` is not, since it described another model.

    Raises:
        ModelDirError: the translator is quantized (`Translator.quantize_weights`).
        nmt_keras.atomic.DirectoryInUseError: another process holds `model_dir`'s lock.
        OSError: a write failed (`model_dir` is then unchanged).
    """
    import nmt_keras.atomic as atomic  # writing only: reading a model needs none of it

    _refuse_quantized(translator)
    model_dir = pathlib.Path(model_dir)
    record = {
        "format": FORMAT,
        "nmt_keras_version": nmt_keras.__version__,
        "settings": translator.config.saved_settings(),
    }
    with atomic.lock_directory(model_dir, "saving a model"):
        with atomic.staged_directory(model_dir, keep_others=True, replaced=MODEL_FILES) as staging:
            _write_text(staging / TRANSLATOR_FILE, json.dumps(record, indent=2, sort_keys=True))
            _write_text(staging / SOURCE_VOCAB_FILE, "".join(w + "\n" for w in translator.source_words))
            _write_text(staging / TARGET_VOCAB_FILE, "".join(w + "\n" for w in translator.target_words))
            translator.model.save_weights(staging / WEIGHTS_FILE)
            if config is not None:
                _write_text(staging / CONFIG_FILE, config.to_json())


def _refuse_quantized(translator):
    """A quantized translator's weights do not fit the float model its settings
    rebuild: it is saved as the float model, and quantized again when loaded."""
    if getattr(translator, "quantization", None) is not None:
        raise ModelDirError(
            f"this translator is quantized ({translator.quantization}) and cannot be saved: "
            f"save the float32 translator and load it with quantize={translator.quantization!r}"
        )


def save_keras(translator, path):
    """Writes `translator` (config with vocabularies, weights, optimizer state) to one
    `.keras` file, through a fsynced temporary file and a rename.

    Raises:
        ModelDirError: the translator is quantized, or `path` does not end in `.keras`.
    """
    import keras

    import nmt_keras.atomic as atomic

    _refuse_quantized(translator)
    path = pathlib.Path(path)
    if path.suffix != KERAS_SUFFIX:
        raise ModelDirError(f"a Keras model file must end in {KERAS_SUFFIX}: {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic.replaced_file(path, suffix=KERAS_SUFFIX) as temporary:
        keras.saving.save_model(translator, temporary)


def load_keras(path):
    """Loads a `Translator` saved by `save_keras` (with `safe_mode=True`).

    Raises:
        ModelDirError: the file is missing, not a `.keras` archive, or not a Translator.
    """
    import keras

    import nmt_keras.fast  # noqa: F401, registers FusedAdam, the optimizer a file may record
    from nmt_keras.inference.translator import Translator

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


def check_model_dir(model_dir):
    """The settings of the model in `model_dir` after checking, without TensorFlow,
    that the directory holds a model's files (`load_translator` then loads them); for
    a `.keras` file, None after checking that it exists.

    Raises:
        ModelDirError: the directory or one of its files is missing, or translator.json
            is not a valid record (see `read_settings`).
    """
    model_dir = pathlib.Path(model_dir)
    if model_dir.suffix == KERAS_SUFFIX and not model_dir.is_dir():
        if not model_dir.is_file():
            raise ModelDirError(f"Keras model file not found: {model_dir}")
        return None
    return _read_model_dir(model_dir)[0]


def _read_model_dir(model_dir):
    """`(settings, source_words, target_words)` of a model directory, after checking
    that its files are there and that model.weights.h5 is large enough for the model
    that the settings and the vocabularies describe: before any memory is set aside for
    it, so that a crafted translator.json cannot ask for more memory than its weights hold.

    The bound counts the embeddings and one recurrent kernel (3 units x units for a
    GRU, 4 for an LSTM), float32, which every such model stores.
    """
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
    source_words = _read_words(model_dir / SOURCE_VOCAB_FILE)
    target_words = _read_words(model_dir / TARGET_VOCAB_FILE)
    gates = 4 if settings.cell_type == "lstm" else 3
    words = len(source_words) + len(target_words)
    needed = FLOAT32_BYTES * (words * settings.embedding_dim + gates * settings.units**2)
    size = (model_dir / WEIGHTS_FILE).stat().st_size
    if size < needed:
        raise ModelDirError(
            f"{model_dir / WEIGHTS_FILE} holds {size:,} bytes, less than the {needed:,} "
            f"bytes of weights that {TRANSLATOR_FILE} and the vocabulary files describe "
            f"(was a file replaced?)"
        )
    return settings, source_words, target_words


def _identity(model_dir):
    """Which directory `model_dir` names now (it changes when a save replaces it)."""
    stat = os.stat(model_dir)
    return stat.st_dev, stat.st_ino


def load_translator(model_dir, quantize=None):
    """Rebuilds a `Translator` from `model_dir` and loads its weights. A path ending in
    `.keras` is loaded with `load_keras` instead.

    Args:
        model_dir: str or path. A model directory, or a `.keras` file.
        quantize: None (float32 weights), or "int8": the loaded translator is then
            quantized for translation and export (`Translator.quantize_weights`: int8
            embeddings and Dense kernels, float32 recurrent cells).

    Raises:
        ValueError: `quantize` is not None or one of `QUANTIZATION_MODES`.
        ModelDirError: the directory or one of its files is missing, a file is not what
            it should be, or the weights do not fit the vocabulary and sizes recorded
            beside them.
    """
    if quantize is not None and quantize not in QUANTIZATION_MODES:
        raise ValueError(f"quantize must be one of {QUANTIZATION_MODES} or None, got {_short(quantize)}")
    model_dir = pathlib.Path(model_dir)
    if model_dir.suffix == KERAS_SUFFIX and not model_dir.is_dir():
        translator = load_keras(model_dir)
    else:
        translator = _load_model_dir(model_dir)
    if quantize is not None:
        translator.quantize_weights(quantize)
    return translator


def _load_model_dir(model_dir):
    for _ in range(READ_ATTEMPTS):
        before = _identity(model_dir) if model_dir.is_dir() else None
        translator = _load_translator(model_dir)
        if _identity(model_dir) == before:
            return translator
    raise ModelDirError(f"{model_dir} was replaced {READ_ATTEMPTS} times while it was read; try again")


def _load_translator(model_dir):
    from nmt_keras.inference.translator import Translator

    settings, source_words, target_words = _read_model_dir(model_dir)
    translator = Translator(source_words, target_words, settings)
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
        ModelDirError: not JSON, another format (naming the release that reads it), a
            key other than `TRANSLATOR_KEYS`, or a setting that is unknown or out of range.
    """
    path = pathlib.Path(path)
    record = _read_json(path)
    found = record.get("format", 1)
    if type(found) is not int or found not in READABLE_FORMATS:
        release = FORMAT_RELEASES.get(found, "another release") if type(found) is int else "an unknown release"
        raise ModelDirError(
            f"{path.parent} is a model directory of format {_short(found)}, written by "
            f"nmt_keras {release}; this is nmt_keras {nmt_keras.__version__}, which reads "
            f"formats {' and '.join(map(str, READABLE_FORMATS))}: train the model again, or load "
            f"it with nmt_keras {release}"
        )
    unknown = sorted(set(record) - set(TRANSLATOR_KEYS))
    if unknown:
        raise ModelDirError(f"{path}: unknown keys {_short(unknown)}")
    version = record.get("nmt_keras_version")
    if version is not None and not (isinstance(version, str) and len(version) <= MAX_VERSION_CHARS):
        raise ModelDirError(f"{path}: nmt_keras_version must be a short string, got {_short(version)}")
    try:
        return Config.from_saved(record.get("settings", {}), source=str(path))
    except ConfigError as error:
        raise ModelDirError(str(error)) from None


def load_config(model_dir):
    """The run `Config` saved in `model_dir`, checked like any config.

    Raises:
        ModelDirError: the file is missing, not JSON, or holds a setting that is unknown
            or out of range.
    """
    path = pathlib.Path(model_dir) / CONFIG_FILE
    if not path.exists():
        raise ModelDirError(f"{path} not found: this model directory has no run config")
    try:
        return Config.from_dict(_read_json(path), source=str(path))
    except ConfigError as error:
        raise ModelDirError(str(error)) from None
