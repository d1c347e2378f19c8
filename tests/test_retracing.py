"""Load: many batches of mixed lengths reuse one decoding graph per method, and
translating 20,000 sentences keeps memory flat."""

import keras
import pytest

from nmt_keras.inference.translator import translate_all, translate_batches
from test_variants import SOURCES, make_translator

WORDS = " ".join(SOURCES).split()  # 27 words, punctuation included
# Second-half RSS growth allowed over 10,000 sentences: a leak of 2.5 KB per sentence
# would exceed it. Measured: about 1 MB (see docs/export.md).
MEMORY_GROWTH_LIMIT_MB = 25
MANY = 20_000


def sentences(count, max_words, seed=0):
    """`count` sentences of 1..max_words words, lengths cycling so batches mix lengths."""
    out = []
    for i in range(count):
        length = 1 + (i * 7 + seed) % max_words
        out.append(" ".join(WORDS[(i + j) % len(WORDS)] for j in range(length)))
    return out


def resident_mb():
    """Current resident set size of this process, in MB (Linux /proc)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS line in /proc/self/status")


@pytest.fixture(scope="module")
def translator():
    keras.utils.set_random_seed(51)
    return make_translator(units=8, embedding_dim=8, max_output_length=8)


def tracing_counts(translator):
    return {
        "greedy": translator.greedy.experimental_get_tracing_count(),
        "sample": translator.sample.experimental_get_tracing_count(),
        "beam": translator.beam.experimental_get_tracing_count(),
    }


def test_mixed_length_batches_trace_each_decoder_once(translator):
    texts = sentences(300, max_words=30)
    assert len({len(t.split()) for t in texts}) == 30  # 30 source lengths
    # Batches of 7, sorted by length: 43 batches with many different source lengths,
    # the last one short.
    greedy = translate_all(translator, texts, batch_size=7)
    assert len(greedy) == len(texts)
    for width in (2, 3, 5):
        translate_all(translator, texts[:40], batch_size=7, method="beam", beam_width=width)
    for seed in (1, 2):
        translate_all(translator, texts[:40], batch_size=7, method="sample", seed=seed)
    translate_batches(translator, texts[:20], batch_size=6, max_length=3)
    # The graphs take (batch, source_len) and the settings as tensors with None
    # dimensions, so the number of traces does not grow with the batches: one each.
    assert tracing_counts(translator) == {"greedy": 1, "sample": 1, "beam": 1}


def test_memory_stays_flat_over_many_sentences(translator):
    texts = sentences(MANY, max_words=6, seed=3)
    half = MANY // 2
    translate_all(translator, texts[:2000], batch_size=64)  # warm up: traces, allocator pools
    start = resident_mb()
    translate_all(translator, texts[:half], batch_size=64)
    middle = resident_mb()
    outputs = translate_all(translator, texts[half:], batch_size=64)
    end = resident_mb()
    assert len(outputs) == MANY - half
    assert end - middle < MEMORY_GROWTH_LIMIT_MB, (start, middle, end)
    assert tracing_counts(translator)["greedy"] == 1
