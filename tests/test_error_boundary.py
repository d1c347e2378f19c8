"""One error boundary: every bad flag, combination, model directory and corpus below runs
through the real command line (`python -m nmt_keras` in a fresh process) and ends with
the exit status, one line on stderr naming the problem, and no traceback. Cases marked
`BEFORE_TF` are refused before TensorFlow loads, so stderr holds nothing else; in the
others TensorFlow's own start-up log precedes the line."""

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import keras
import pytest

from nmt_keras.cli import EXIT_BAD_INPUT, EXIT_BROKEN_PIPE
from nmt_keras.config import Config
from nmt_keras.data.tokenizers import learn_vocabulary
from nmt_keras.inference.translator import Translator
from nmt_keras.saving import CONFIG_FILE, TRANSLATOR_FILE, save_translator

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["el gato negro", "la casa blanca", "el perro come pan"]
TARGETS = ["the black cat", "the white house", "the dog eats bread"]
ZEROS = "0" * 64
BEFORE_TF = True
# Lines TensorFlow's C++ runtime writes to stderr while it loads (absl's format, and the
# CPU-instructions notice), whatever TF_CPP_MIN_LOG_LEVEL says.
TF_LOG = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\] .*"
    r"|To enable the following instructions: .*)$"
)


def run_cli(*args, stdin=""):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "nmt_keras", *map(str, args)], input=stdin, capture_output=True,
        text=True, cwd=ROOT, env=env, timeout=300,
    )


def our_lines(stderr):
    """stderr without TensorFlow's start-up log."""
    return [line for line in stderr.splitlines() if not TF_LOG.match(line)]


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    """A model directory (tiny, untrained, with its config.json), a corpus, and the
    damaged or crafted variants the cases need."""
    root = tmp_path_factory.mktemp("boundary")
    keras.utils.set_random_seed(3)
    config = Config(embedding_dim=8, units=8, max_output_length=5, max_vocab_size=None,
                    validation_size=2, test_size=2)
    model = root / "model"
    save_translator(Translator(learn_vocabulary(SOURCES), learn_vocabulary(TARGETS), config), model, config)
    tsv = root / "pairs.tsv"
    tsv.write_text("".join(f"{t} {i}\t{s} {i}\n" for i in range(10) for s, t in zip(SOURCES, TARGETS)))

    def variant(name, file, change):
        path = root / name
        shutil.copytree(model, path)
        if isinstance(change, str):
            (path / file).write_text(change)
        else:
            record = json.loads((path / file).read_text())
            change(record)
            (path / file).write_text(json.dumps(record))
        return path

    def settings(**values):
        return lambda record: record["settings"].update(values)

    def location(record):
        record.update(data="file:///etc/passwd", cache_dir=str(root / "evil-cache"))

    bomb = root / "bomb.zip"  # 2 MB of pairs that compress to a few kB
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("pairs.txt", "a b\tc d\n" * 250_000)
    two = root / "two.zip"
    with zipfile.ZipFile(two, "w") as archive:
        archive.writestr("a.txt", "A.\tUno.\n")
        archive.writestr("b.txt", "B.\tDos.\n")
    return {
        "model": model,
        "tsv": tsv,
        "out": root / "out",
        "missing": root / "missing.tsv",
        "bomb": bomb,
        "two": two,
        "not_json": variant("not-json", CONFIG_FILE, "{not json"),
        "translator_not_json": variant("translator-not-json", TRANSLATOR_FILE, "\x00\x01"),
        "dtype": variant("dtype", TRANSLATOR_FILE, settings(dtype="float16")),
        "negative_length": variant("negative", TRANSLATOR_FILE, settings(max_output_length=-3)),
        "text_length": variant("text", TRANSLATOR_FILE, settings(max_output_length="12")),
        "huge_length": variant("huge", TRANSLATOR_FILE, settings(max_output_length=10**9)),
        "huge_units": variant("units", TRANSLATOR_FILE, settings(units=10**7)),
        "big_sizes": variant("big", TRANSLATOR_FILE, settings(units=16_384, embedding_dim=16_384)),
        "extra_key": variant("extra", TRANSLATOR_FILE, lambda record: record.update(run="rm -rf /")),
        "crafted_location": variant("location", CONFIG_FILE, location),
        "evil_cache": root / "evil-cache",
    }


CASES = [
    # (id, command line with {placeholders} from `paths`, exit status, problem, before TF)
    ("translate-temperature-0", ["translate", "{model}", "x", "--temperature", "0"],
     EXIT_BAD_INPUT, "temperature must be > 0.0, got 0.0", BEFORE_TF),
    ("translate-max-length-negative", ["translate", "{model}", "x", "--max-length", "-1"],
     EXIT_BAD_INPUT, "max_length must be >= 1, got -1", BEFORE_TF),
    ("translate-temperature-with-n-best", ["translate", "{model}", "x", "--temperature", "0.7", "--n-best", "2"],
     EXIT_BAD_INPUT, "choose either --temperature", BEFORE_TF),
    ("translate-length-penalty-with-greedy", ["translate", "{model}", "x", "--length-penalty", "0.6"],
     EXIT_BAD_INPUT, "--length-penalty applies to beam search", BEFORE_TF),
    ("translate-no-model-dir", ["translate", "{missing}", "x"],
     EXIT_BAD_INPUT, "model directory not found", BEFORE_TF),
    ("translate-translator-json-not-json", ["translate", "{translator_not_json}", "x"],
     EXIT_BAD_INPUT, "translator.json is not readable JSON", BEFORE_TF),
    ("translate-crafted-dtype", ["translate", "{dtype}", "x"],
     EXIT_BAD_INPUT, "unknown settings ['dtype']", BEFORE_TF),
    ("translate-negative-max-output-length", ["translate", "{negative_length}", "x"],
     EXIT_BAD_INPUT, "max_output_length must be >= 1, got -3", BEFORE_TF),
    ("translate-text-max-output-length", ["translate", "{text_length}", "x"],
     EXIT_BAD_INPUT, "max_output_length must be int, got '12'", BEFORE_TF),
    ("translate-huge-max-output-length", ["translate", "{huge_length}", "x"],
     EXIT_BAD_INPUT, "max_output_length must be <= 10000", BEFORE_TF),
    ("translate-huge-units", ["translate", "{huge_units}", "x"],
     EXIT_BAD_INPUT, "units must be <= 16384", BEFORE_TF),
    ("translate-sizes-its-weights-cannot-hold", ["translate", "{big_sizes}", "x"],
     EXIT_BAD_INPUT, "bytes of weights that translator.json and the vocabulary files describe", BEFORE_TF),
    ("translate-unknown-key", ["translate", "{extra_key}", "x"],
     EXIT_BAD_INPUT, "unknown keys ['run']", BEFORE_TF),
    ("train-max-vocab-size-0", ["train", "--data", "{tsv}", "--output", "{out}", "--max-vocab-size", "0"],
     EXIT_BAD_INPUT, "max_vocab_size must be >= 5, got 0", BEFORE_TF),
    ("train-malformed-sha256", ["train", "--data", "{tsv}", "--output", "{out}", "--sha256", "abc"],
     EXIT_BAD_INPUT, "sha256 must be 64 hexadecimal digits, got 'abc'", BEFORE_TF),
    ("train-sha256-with-synthetic", ["train", "--data", "synthetic", "--output", "{out}", "--sha256", ZEROS],
     EXIT_BAD_INPUT, "the embedded corpus (data 'synthetic') has none", BEFORE_TF),
    ("train-data-url-without-spa-eng", ["train", "--data", "{tsv}", "--data-url", "file:///x/spa-eng.zip",
                                        "--output", "{out}"],
     EXIT_BAD_INPUT, "data_url says where to get 'spa-eng'", BEFORE_TF),
    ("train-url-without-file-name", ["train", "--data", "file:///tmp/", "--output", "{out}"],
     EXIT_BAD_INPUT, "the URL names no file", BEFORE_TF),
    ("train-url-scheme", ["train", "--data", "ftp://example.org/x.zip", "--output", "{out}"],
     EXIT_BAD_INPUT, "unsupported URL scheme 'ftp'", BEFORE_TF),
    ("train-output-is-a-file", ["train", "--data", "{tsv}", "--output", "{tsv}"],
     EXIT_BAD_INPUT, "pairs.tsv: exists and is not a directory", BEFORE_TF),
    ("train-learning-rate-nan", ["train", "--data", "{tsv}", "--output", "{out}", "--learning-rate", "nan"],
     EXIT_BAD_INPUT, "learning_rate must be a finite number, got nan", BEFORE_TF),
    ("train-data-missing", ["train", "--data", "{missing}", "--output", "{out}"],
     EXIT_BAD_INPUT, "missing.tsv: file not found", BEFORE_TF),
    ("train-data-not-a-regular-file", ["train", "--data", "/dev/zero", "--output", "{out}"],
     EXIT_BAD_INPUT, "/dev/zero: not a regular file", BEFORE_TF),
    ("train-zip-bomb", ["train", "--data", "{bomb}", "--output", "{out}", "--max-corpus-mb", "1"],
     EXIT_BAD_INPUT, "bomb.zip:pairs.txt: 1.9 MB, larger than the limit of 1 MB", BEFORE_TF),
    ("train-zip-two-pairs-files", ["train", "--data", "{two}", "--output", "{out}"],
     EXIT_BAD_INPUT, "2 files in the archive hold tab-separated lines: 'a.txt', 'b.txt'", BEFORE_TF),
    ("train-abbreviated-flag", ["train", "--data", "{tsv}", "--output", "{out}", "--maxout", "8"],
     EXIT_BAD_INPUT, "unrecognized arguments: --maxout 8", BEFORE_TF),
    ("evaluate-limit-negative", ["evaluate", "{model}", "--limit", "-95"],
     EXIT_BAD_INPUT, "argument --limit: must be >= 1, got -95", BEFORE_TF),
    ("evaluate-limit-zero", ["evaluate", "{model}", "--limit", "0"],
     EXIT_BAD_INPUT, "argument --limit: must be >= 1, got 0", BEFORE_TF),
    ("evaluate-output-is-a-file", ["evaluate", "{model}", "--data", "{tsv}", "--output", "{tsv}"],
     EXIT_BAD_INPUT, "pairs.tsv: exists and is not a directory", BEFORE_TF),
    ("evaluate-config-json-not-json", ["evaluate", "{not_json}", "--data", "{tsv}"],
     EXIT_BAD_INPUT, "config.json is not readable JSON (JSONDecodeError)", BEFORE_TF),
    ("evaluate-corpus-from-the-command-line-only", ["evaluate", "{crafted_location}", "--data", "{missing}"],
     EXIT_BAD_INPUT, "missing.tsv: file not found", BEFORE_TF),
    ("export-into-its-own-model-dir", ["export", "{model}", "{model}", "--overwrite"],
     EXIT_BAD_INPUT, "holds the model directory", not BEFORE_TF),
]


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_every_bad_input_is_one_line_with_its_exit_status(paths, case):
    _, args, status, problem, before_tf = case
    done = run_cli(*(arg.format(**paths) for arg in args))
    assert done.returncode == status, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and done.stdout == ""
    lines = our_lines(done.stderr) if not before_tf else done.stderr.splitlines()
    assert len(lines) == 1 and problem in lines[0], done.stderr[-3000:]
    assert re.match(r"(error|python -m nmt_keras( \w+)?: error): ", lines[0])
    # A model directory is data: nothing it names was read or created.
    assert "root:" not in done.stderr and not paths["evil_cache"].exists()


def test_a_closed_output_pipe_ends_translate_quietly(paths):
    """`translate ... | head -1`: the reader goes away after one line, long before the
    output (far more than a pipe holds) is written."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        [sys.executable, "-m", "nmt_keras", "translate", str(paths["model"]), "--batch-size", "256"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env,
    )

    def feed():
        try:
            process.stdin.write(b"el gato negro\n" * 50_000)
            process.stdin.close()
        except BrokenPipeError:  # the program has ended
            pass

    writer = threading.Thread(target=feed)
    writer.start()
    first = process.stdout.readline()
    process.stdout.close()  # as `head -1` exits
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=300) == EXIT_BROKEN_PIPE
    writer.join()
    assert first.endswith(b"\n")
    assert our_lines(stderr) == [], stderr[-3000:]
