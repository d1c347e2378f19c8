"""The command line of the installed package, end to end, on a tiny model: train,
translate, evaluate, export, and each result reloaded in a fresh process.

Run by tools/compat.py inside each environment, from a directory outside the checkout.
Every step is a separate process, as a user runs them.
"""

import json
import subprocess
import sys

import pytest

SENTENCES = ["Ana come el pan.", "¿Vio el chico a tres gatos negros?"]
TINY = [
    "--data", "synthetic", "--epochs", "1", "--units", "16", "--embedding-dim", "16",
    "--max-train-pairs", "2000", "--validation-size", "200", "--test-size", "200",
    "--max-output-length", "12",
]


def nmt_keras(*args, input=None):
    process = subprocess.run(
        [sys.executable, "-m", "nmt_keras", *map(str, args)], input=input,
        capture_output=True, text=True, timeout=900,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    return process.stdout


def python(program):
    """Runs `program` in a fresh Python; its stdout."""
    process = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=600)
    assert process.returncode == 0, process.stderr[-3000:]
    return process.stdout


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    directory = tmp_path_factory.mktemp("cli") / "model"
    output = nmt_keras("train", "--output", directory, *TINY)
    assert "test BLEU" in output
    return directory


@pytest.fixture(scope="module")
def translations(model):
    lines = nmt_keras("translate", model, *SENTENCES).splitlines()
    assert len(lines) == len(SENTENCES)
    return lines


def test_train_writes_a_model_directory_and_a_report(model):
    report = json.loads((model / "report.json").read_text(encoding="utf-8"))
    assert report["pairs"]["test"] == 200
    assert 0.0 <= report["bleu"] <= 100.0
    for name in ("translator.json", "source_vocab.txt", "target_vocab.txt", "model.weights.h5", "config.json"):
        assert (model / name).is_file(), name


def test_translate_reads_stdin_like_arguments(model, translations):
    assert nmt_keras("translate", model, input="\n".join(SENTENCES) + "\n").splitlines() == translations


def test_evaluate_writes_its_report(model, tmp_path):
    nmt_keras("evaluate", model, "--limit", "50", "--output", tmp_path)
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["pairs"] == 50 and report["split"] == "test"


def test_a_fresh_process_loads_the_model_and_translates_alike(model, translations):
    program = (
        "import json\n"
        "from nmt_keras import load_translator\n"
        "from nmt_keras.inference.translator import translate_all\n"
        f"translator = load_translator({str(model)!r})\n"
        f"print(json.dumps(translate_all(translator, {SENTENCES!r}, unk_replace=True)))\n"
    )
    assert json.loads(python(program).splitlines()[-1]) == translations


def test_the_export_serves_in_a_process_without_nmt_keras(model, translations, tmp_path):
    exported = tmp_path / "exported"
    assert "translate(" in nmt_keras("export", model, exported)
    program = (
        "import json, sys\n"
        "import tensorflow as tf\n"
        "import tensorflow_text  # noqa: F401, registers NormalizeUTF8\n"
        f"loaded = tf.saved_model.load({str(exported)!r})\n"
        f"texts = loaded.translate(tf.constant({SENTENCES!r}))['text'].numpy()\n"
        "assert 'nmt_keras' not in sys.modules\n"
        "print(json.dumps([t.decode('utf-8') for t in texts]))\n"
    )
    served = json.loads(python(program).splitlines()[-1])
    assert served == translations  # the decoding saved with the model, as translate uses it
