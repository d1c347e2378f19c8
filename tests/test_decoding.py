"""Greedy, sampling and beam-search decoding."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nmt_keras.constants import END_ID, PAD_ID
from nmt_keras.evaluation import loops
from nmt_keras.inference.search import (
    beam_search,
    empty_window,
    repeat_bans,
    slide,
    length_penalty,
    NEVER_EMITTED,
    SearchResult,
    greedy_search,
    sample_search,
    suppress_tokens,
)
from test_variants import SOURCES, make_translator, one_batch


@pytest.fixture(scope="module")
def untrained():
    """An untrained model: its choices are uncertain, which is where searches differ."""
    keras.utils.set_random_seed(21)
    return make_translator(units=16, embedding_dim=8)


@pytest.fixture(scope="module")
def lightly_trained():
    keras.utils.set_random_seed(22)
    translator = make_translator(units=16, embedding_dim=8)
    translator.model.fit(one_batch(translator).repeat(25), epochs=1, verbose=0)
    return translator


def sequence_log_prob(translator, source, output_ids):
    """Total log-probability the model gives to `output_ids` (teacher-forced), over the
    tokens a search may emit (padding and [START] never are)."""
    source_ids, _, _ = translator.prepare_batch([source], ["x"])
    ids = [int(i) for i in output_ids if i != PAD_ID]
    target_in = tf.constant([[2] + ids[:-1]], tf.int64) if ids else tf.zeros((1, 0), tf.int64)
    logits = translator.model((source_ids, target_in), training=False)
    log_probs = tf.nn.log_softmax(suppress_tokens(logits, NEVER_EMITTED)).numpy()[0]
    return float(sum(log_probs[t, token] for t, token in enumerate(ids)))


@pytest.mark.parametrize("model", ["untrained", "lightly_trained"])
def test_beam_width_one_equals_greedy(model, request):
    translator = request.getfixturevalue(model)
    greedy = translator.translate(SOURCES, max_length=12)
    beam = translator.translate(SOURCES, max_length=12, method="beam", beam_width=1)
    assert list(beam["text"]) == list(greedy["text"])
    np.testing.assert_allclose(beam["score"], greedy["score"], rtol=1e-5)
    steps = greedy["token_ids"].shape[1]
    np.testing.assert_array_equal(beam["token_ids"][:, :steps], greedy["token_ids"])
    np.testing.assert_allclose(beam["attention"][:, :steps], greedy["attention"], atol=1e-6)


@pytest.mark.parametrize("width", [2, 4, 8])
@pytest.mark.parametrize("model", ["untrained", "lightly_trained"])
def test_beam_never_scores_below_greedy(model, width, request):
    translator = request.getfixturevalue(model)
    greedy = translator.translate(SOURCES, max_length=12)
    beam = translator.translate(SOURCES, max_length=12, method="beam", beam_width=width)
    assert np.all(beam["score"] >= greedy["score"] - 1e-4)


def test_scores_are_the_model_log_probabilities(lightly_trained):
    translator = lightly_trained
    for method, options in (("greedy", {}), ("beam", {"beam_width": 4})):
        result = translator.translate(SOURCES[:3], max_length=12, method=method, **options)
        for source, ids, score in zip(SOURCES[:3], result["token_ids"], result["score"]):
            assert score == pytest.approx(sequence_log_prob(translator, source, ids), abs=1e-4)


def test_n_best_is_ranked_and_distinct(lightly_trained):
    result = lightly_trained.translate(SOURCES, max_length=12, method="beam", beam_width=5, n_best=3)
    assert result["n_best_text"].shape == (len(SOURCES), 3)
    assert np.all(np.diff(result["n_best_score"], axis=1) <= 1e-6)  # best first
    for row in result["n_best_text"]:
        assert len(set(row)) == 3
    assert list(result["n_best_text"][:, 0]) == list(result["text"])


def test_finished_hypotheses_stop_growing(untrained):
    result = untrained.translate(SOURCES, max_length=15, method="beam", beam_width=4)
    for ids in result["token_ids"]:
        if END_ID in ids:
            end = list(ids).index(END_ID)
            assert np.all(ids[end + 1 :] == PAD_ID)


def test_length_penalty_changes_the_ranking_formula():
    lengths = tf.constant([1, 5, 10])
    np.testing.assert_allclose(length_penalty(lengths, 0.0), [1.0, 1.0, 1.0])
    np.testing.assert_allclose(length_penalty(lengths, 1.0), [1.0, 10 / 6, 15 / 6], rtol=1e-6)


def test_length_penalty_is_used_for_ranking(untrained):
    plain = untrained.translate(SOURCES, max_length=10, method="beam", beam_width=4, n_best=4)
    penalized = untrained.translate(
        SOURCES, max_length=10, method="beam", beam_width=4, n_best=4, length_penalty=1.0
    )
    # The same hypotheses are found; only the normalized ranking scores differ.
    assert not np.allclose(plain["n_best_score"], penalized["n_best_score"])


def test_sampling_is_reproducible_with_a_seed_and_varies_without(untrained):
    first = untrained.translate(SOURCES, max_length=8, method="sample", seed=7)
    again = untrained.translate(SOURCES, max_length=8, method="sample", seed=7)
    other = untrained.translate(SOURCES, max_length=8, method="sample", seed=8)
    assert list(first["text"]) == list(again["text"])
    assert list(first["text"]) != list(other["text"])


def test_low_temperature_sampling_approaches_greedy(lightly_trained):
    greedy = lightly_trained.translate(SOURCES, max_length=12)
    cold = lightly_trained.translate(SOURCES, max_length=12, method="sample", temperature=1e-3, seed=1)
    assert list(cold["text"]) == list(greedy["text"])


def test_decoding_handles_empty_input_and_bad_options(lightly_trained):
    for method in ("greedy", "sample", "beam"):
        result = lightly_trained.translate(["", SOURCES[0]], method=method)
        assert result["text"][0] == ""
    with pytest.raises(ValueError, match="n_best <= beam_width"):
        lightly_trained.translate(SOURCES, method="beam", beam_width=2, n_best=3)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        lightly_trained.translate(SOURCES, method="sample", temperature=0.0)
    with pytest.raises(ValueError, match="unknown decoding method"):
        lightly_trained.translate(SOURCES, method="viterbi")


def test_beam_search_traces_once_for_all_widths(lightly_trained):
    lightly_trained.translate(SOURCES, method="beam", beam_width=2)
    before = lightly_trained.beam.experimental_get_tracing_count()
    for width in (1, 3, 6):
        lightly_trained.translate(SOURCES[:width], method="beam", beam_width=width, length_penalty=0.6)
    assert lightly_trained.beam.experimental_get_tracing_count() == before


def test_the_searches_run_on_the_model_alone(lightly_trained):
    """`greedy_search`, `sample_search` and `beam_search` take the Seq2Seq and token ids
    (eagerly, too); the Translator only adds text in and out."""
    model = lightly_trained.model
    source_ids = lightly_trained.tokenize_source(tf.constant(SOURCES))
    max_length = tf.constant(12)
    expected = lightly_trained.translate(SOURCES, max_length=12, block_repeats=False)
    greedy = greedy_search(model, source_ids, max_length)
    assert isinstance(greedy, SearchResult)
    np.testing.assert_array_equal(greedy.token_ids.numpy(), expected["token_ids"])
    np.testing.assert_allclose(greedy.score.numpy(), expected["score"], rtol=1e-5)
    np.testing.assert_allclose(greedy.attention.numpy(), expected["attention"], atol=1e-6)
    sampled = sample_search(model, source_ids, max_length, tf.constant(1.0), tf.constant(7))
    np.testing.assert_array_equal(
        sampled.token_ids.numpy(),
        lightly_trained.translate(SOURCES, max_length=12, method="sample", seed=7, block_repeats=False)["token_ids"],
    )
    beam = beam_search(model, source_ids, max_length, tf.constant(3), tf.constant(0.0), tf.constant(2))
    expected_beam = lightly_trained.translate(
        SOURCES, max_length=12, method="beam", beam_width=3, n_best=2, block_repeats=False
    )
    np.testing.assert_array_equal(beam.best.token_ids.numpy(), expected_beam["token_ids"])
    np.testing.assert_allclose(beam.n_best_scores.numpy(), expected_beam["n_best_score"], rtol=1e-5)


def test_repeat_bans_name_the_token_that_would_end_a_loop():
    window = empty_window(4)
    rows = [[7, 7], [5, 6, 5], [1, 2, 3, 1, 2], [5, 6, 7, 8]]  # 7 7 | 5 6 5 | 1 2 3 1 2 | no loop ahead
    for i, tokens in enumerate(rows):
        for token in tokens:
            window = tf.tensor_scatter_nd_update(window, [[i]], slide(window[i : i + 1], tf.constant([token], tf.int64)))
    bans = repeat_bans(window).numpy()
    assert sorted(set(bans[0]) - {-1}) == [7]  # a third 7
    assert sorted(set(bans[1]) - {-1}) == [6]  # 5 6 5 6
    assert sorted(set(bans[2]) - {-1}) == [3]  # 1 2 3 1 2 3
    assert set(bans[3]) == {-1}


class LoopingModel:
    """A stand-in for `Seq2Seq` that prefers to say "5 6 5 6 ...": after [START] or 6 it
    likes 5 best, after 5 it likes 6 best; `[END]` is always its third choice."""

    target_vocab_size = 9

    def start(self, source_ids):
        return (tf.zeros([tf.shape(source_ids)[0], 1]),), None

    def next_logits(self, tokens, state, memory):
        likes = tf.where(tokens == 5, 6, 5)  # (batch,)
        logits = tf.one_hot(likes, self.target_vocab_size, on_value=5.0, off_value=0.0)
        logits += tf.one_hot(tf.fill(tf.shape(tokens), END_ID), self.target_vocab_size, on_value=2.0)
        logits += tf.one_hot(tf.fill(tf.shape(tokens), 7), self.target_vocab_size, on_value=1.0)
        return logits, state, tf.zeros([tf.shape(tokens)[0], 4])


@pytest.mark.parametrize("search", ["greedy", "beam"])
def test_blocking_repeats_keeps_a_looping_model_from_looping(search):
    source_ids = tf.constant([[2, 9, 9, 3]], tf.int64)
    run = {
        "greedy": lambda block: greedy_search(LoopingModel(), source_ids, tf.constant(12), block),
        "beam": lambda block: beam_search(LoopingModel(), source_ids, tf.constant(12), tf.constant(3),
                                          tf.constant(0.0), tf.constant(1), block).best,
    }[search]

    def words(result):
        return " ".join(str(t) for t in result.token_ids.numpy()[0] if t not in (PAD_ID, END_ID))

    looping, blocked = words(run(tf.constant(False))), words(run(tf.constant(True)))
    assert looping.startswith("5 6 5 6") and loops(looping)
    assert blocked.startswith("5 6 5") and not loops(blocked), blocked


@pytest.mark.parametrize("text, looping", [
    ("i'm going to go to go to college .", True),
    ("no no no .", True),
    ("no no .", False),
    ("go to , go to the park", True),  # punctuation is ignored
    ("we will see .", False),
    ("a b c d a b c d", True),
    ("a b c d e a b c d e", False),  # five words: longer than LOOP_NGRAM
])
def test_loops_follow_the_definition(text, looping):
    assert loops(text) is looping
