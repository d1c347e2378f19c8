"""Decoding graphs are traced once, whatever the batch size and sentence lengths.

A `tf.function` retraced for every new batch shape would spend seconds per batch
compiling instead of translating (issue 5); the translator's decoding functions take
`(batch,)` strings with an unknown batch size, so shapes never force a retrace.
"""

import keras
import pytest

from nmt_keras.inference.translator import translate_all
from test_variants import SOURCES, make_translator

# Sentences of 1 to 9 words, so batches differ in source length and in output length.
TEXTS = SOURCES + ["Hola.", "El perro y el gato no comen pan en la casa blanca.", ""]


@pytest.mark.parametrize("decoder", ["bahdanau", "luong"])
def test_translating_batches_of_many_shapes_traces_once(decoder):
    keras.utils.set_random_seed(5)
    translator = make_translator(units=8, embedding_dim=8, decoder=decoder)
    graphs = {
        "greedy": (translator.greedy, {}),
        "sample": (translator.sample, {"method": "sample", "seed": 3}),
        "beam": (translator.beam, {"method": "beam", "beam_width": 3}),
    }
    for name, (graph, options) in graphs.items():
        for batch_size in (1, 2, 4, len(TEXTS)):
            outputs = translate_all(translator, TEXTS, batch_size=batch_size, max_length=4, **options)
            assert len(outputs) == len(TEXTS)
        for max_length in (1, 7):
            translator.translate(TEXTS[:3], max_length=max_length, **options)
        assert graph.experimental_get_tracing_count() == 1, name


@pytest.mark.parametrize("method", ["greedy", "sample", "beam"])
def test_a_batch_of_only_empty_sentences_decodes_to_nothing(method):
    # No decoding step runs at all: the step arrays are empty (this used to fail in
    # TensorArray.stack, e.g. for translate_all(..., batch_size=1) on an empty line).
    keras.utils.set_random_seed(6)
    translator = make_translator(units=8, embedding_dim=8)
    result = translator.translate(["", "  "], method=method, beam_width=2)
    assert list(result["text"]) == ["", ""]
    assert result["token_ids"].shape == (2, 0)
    assert result["attention"].shape[:2] == (2, 0)
