"""`translate` on stdin streams: each chunk's translations are printed, in input order,
as soon as they are done, and memory stays flat in the number of input lines."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import keras
import pytest

from nmt_keras.config import Config
from nmt_keras.data.tokenizers import learn_vocabulary
from nmt_keras.inference.translator import Translator, translate_all
from nmt_keras.saving import save_translator

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["el gato negro", "la casa blanca", "el perro come pan", "no bebo agua fria"]
TARGETS = ["the black cat", "the white house", "the dog eats bread", "i do not drink cold water"]
# Input lines cycle through these (different lengths, so that sorting by length within
# a chunk reorders them).
CYCLE = ["el gato", "la casa blanca come pan", "", "el perro no bebe agua fria con el gato", "agua"]
BATCH_SIZE = 512
LONG_INPUT = 100_000
# More than two chunks (of 16 batches): both runs hold a full chunk at their peak.
SHORT_INPUT = 20_000
LINES_PER_WRITE = 1_000
# Peak memory may grow by this much from SHORT_INPUT to LONG_INPUT lines (allocator
# noise); results held for every line would take several times more.
ALLOWED_GROWTH_KB = 25_000


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    keras.utils.set_random_seed(11)
    config = Config(embedding_dim=8, units=8, max_output_length=4, max_vocab_size=None)
    translator = Translator(learn_vocabulary(SOURCES), learn_vocabulary(TARGETS), config)
    path = tmp_path_factory.mktemp("model")
    save_translator(translator, path, config)
    expected = translate_all(translator, CYCLE)
    assert len(set(expected)) > 1  # so that the order of the output lines shows
    return path, expected


def translate_stdin(model_dir, lines):
    """Runs `translate` on `lines` written to its stdin a thousand at a time.

    Returns:
        (output lines, input lines written when the first output line arrived, exit
        status, peak resident memory of the process in kB).
    """
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        [sys.executable, "-m", "nmt_keras", "translate", str(model_dir), "--batch-size", str(BATCH_SIZE)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT, env=env,
    )
    written = [0]

    def feed():
        for start in range(0, len(lines), LINES_PER_WRITE):
            process.stdin.write("".join(line + "\n" for line in lines[start : start + LINES_PER_WRITE]).encode())
            process.stdin.flush()
            written[0] = min(start + LINES_PER_WRITE, len(lines))
        process.stdin.close()

    writer = threading.Thread(target=feed)
    writer.start()
    first = process.stdout.readline()
    written_at_first_output = written[0]
    output = (first + process.stdout.read()).decode("utf-8").split("\n")[:-1]
    writer.join()
    _, status, usage = os.wait4(process.pid, 0)  # this child's own peak, not all children's
    process.returncode = os.waitstatus_to_exitcode(status)
    return output, written_at_first_output, process.returncode, usage.ru_maxrss


def test_translate_streams_stdin_with_flat_memory(model):
    model_dir, expected = model
    lines = [CYCLE[i % len(CYCLE)] for i in range(LONG_INPUT)]
    output, written_at_first, status, long_peak = translate_stdin(model_dir, lines)
    assert status == 0
    assert len(output) == LONG_INPUT
    assert output == [expected[i % len(CYCLE)] for i in range(LONG_INPUT)]  # input order
    # The first translations came out while most of the input was still to be written.
    assert written_at_first < LONG_INPUT // 2, written_at_first
    _, _, status, short_peak = translate_stdin(model_dir, lines[:SHORT_INPUT])
    assert status == 0
    assert long_peak - short_peak < ALLOWED_GROWTH_KB, (long_peak, short_peak)
