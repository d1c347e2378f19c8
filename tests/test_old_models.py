"""Model directories and `.keras` files written by earlier releases load and translate
as they did (tests/fixtures/README.md says how the fixtures were made)."""

import json
import pathlib
import subprocess
import sys

import pytest

from nmt_keras.saving import load_translator

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"
MODELS = sorted(FIXTURES.glob("model_*"))
DECODINGS = {
    "greedy": dict(method="greedy", unk_replace=False),
    "greedy_unk_replace": dict(method="greedy", unk_replace=True),
    "beam": dict(method="beam", beam_width=3, length_penalty=0.6, unk_replace=False),
}


def _expected(model):
    return json.loads((model / "expected.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("model", MODELS, ids=[m.name for m in MODELS])
def test_an_old_model_directory_translates_as_it_did(model):
    expected = _expected(model)
    translator = load_translator(model / "model_dir")
    for name, options in DECODINGS.items():
        got = [str(text) for text in translator.translate(expected["sentences"], **options)["text"]]
        assert got == expected[name], name


def test_an_old_keras_file_translates_as_it_did():
    model = FIXTURES / "model_0.2.0_word"
    expected = _expected(model)
    translator = load_translator(model / "translator.keras")
    got = translator.translate(expected["sentences"], method="greedy", unk_replace=False)["text"]
    assert [str(text) for text in got] == expected["greedy"]


def test_the_command_line_translates_an_old_model_as_it_did():
    model = FIXTURES / "model_0.2.0_word"
    expected = _expected(model)
    process = subprocess.run(
        [sys.executable, "-m", "nmt_keras", "translate", str(model / "model_dir")],
        input="".join(s + "\n" for s in expected["sentences"]), capture_output=True, text=True, timeout=300,
    )
    assert process.returncode == 0, process.stderr[-2000:]
    assert process.stdout.split("\n")[:-1] == expected["cli_translate_default"]
