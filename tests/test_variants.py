"""Model options of the seq2seq toolkit: every attention and decoder type learns, and
scheduled sampling, label smoothing, the source prior and source reversal do what
they say."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nmt_keras import Translator
from nmt_keras.constants import END_ID, PAD_ID, START_ID
from nmt_keras.data.tokenizers import learn_vocabulary
from nmt_keras.model import masked_loss_sums, reverse_words
from nmt_keras.layers.blocks import DEFAULT_DECAY, sampling_probability, teacher_forcing_probability

SOURCES = [
    "El gato negro come.",
    "La casa blanca.",
    "¿Come el perro pan?",
    "No bebo agua.",
    "Ana ve a los dos gatos pequeños.",
    "Los niños cantan 15 canciones.",
]
TARGETS = [
    "The black cat eats.",
    "The white house.",
    "Does the dog eat bread?",
    "I do not drink water.",
    "Ana sees the two small cats.",
    "The children sing 15 songs.",
]
EXPECTED = TARGETS  # translations are written as the targets are: case and punctuation kept


def make_translator(units=32, embedding_dim=16, learning_rate=0.02, **options):
    """A Translator over the words of SOURCES and TARGETS, its model compiled."""
    translator = Translator(
        learn_vocabulary(SOURCES), learn_vocabulary(TARGETS),
        embedding_dim=embedding_dim, units=units, **options,
    )
    translator.model.compile(optimizer=keras.optimizers.Adam(learning_rate))
    return translator


def one_batch(translator):
    source, target_in, target_out = translator.prepare_batch(SOURCES, TARGETS)
    return tf.data.Dataset.from_tensors(((source, target_in), target_out))


VARIANTS = {
    "bahdanau": {},  # kernels "auto": the fused kernels on a CPU
    "bahdanau+keras-kernels": {"kernels": "keras"},
    "bahdanau+luong-general": {"attention": "luong-general"},
    "bahdanau+luong-concat": {"attention": "luong-concat"},
    "bahdanau+luong-dot": {"attention": "luong-dot", "bidirectional": False},
    "luong+general": {"decoder": "luong", "attention": "luong-general"},
    "luong+dot": {"decoder": "luong", "attention": "luong-dot", "bidirectional": False},
    "luong+concat+input-feeding": {"decoder": "luong", "attention": "luong-concat", "input_feeding": True},
    "luong+bahdanau": {"decoder": "luong", "attention": "bahdanau"},
    "lstm+2-layers+maxout+prior+reverse": {
        "cell_type": "lstm", "encoder_layers": 2, "maxout_units": 16, "source_prior": True,
        "reverse_source": True,
    },
    "scheduled-sampling+label-smoothing+dropout": {
        "scheduled_sampling": "linear", "sampling_decay": 0.005, "label_smoothing": 0.05,
        "dropout": 0.05,
    },
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_variant_overfits_one_batch(variant):
    keras.utils.set_random_seed(11)
    translator = make_translator(**VARIANTS[variant])
    translator.model.fit(one_batch(translator).repeat(200), epochs=1, verbose=0)
    results = translator.model.evaluate(one_batch(translator), verbose=0, return_dict=True)
    assert results["loss"] < 0.1, results
    assert list(translator.translate(SOURCES)["text"]) == EXPECTED


def decode_with_sampling(model, source, target_in, probability):
    """Teacher-forced logits of a `Seq2Seq`, with scheduled sampling at `probability`."""
    annotations, final_state, mask, prior = model.encode(source, training=False)
    logits, _ = model.decoder(
        target_in, annotations, final_state, source_mask=mask, prior=prior,
        sampling_probability=tf.constant(probability), training=False,
    )
    return logits


def test_scheduled_sampling_with_probability_zero_is_exactly_teacher_forcing():
    keras.utils.set_random_seed(3)
    translator = make_translator()
    source, target_in, target_out = translator.prepare_batch(SOURCES, TARGETS)
    forced = translator.model((source, target_in), training=False)
    sampled = decode_with_sampling(translator.model, source, target_in, 0.0)
    forced_loss = masked_loss_sums(target_out, forced)[0].numpy()
    sampled_loss = masked_loss_sums(target_out, sampled)[0].numpy()
    assert forced_loss == sampled_loss
    np.testing.assert_array_equal(forced.numpy(), sampled.numpy())


def test_scheduled_sampling_with_probability_one_feeds_the_model_its_own_words():
    keras.utils.set_random_seed(3)
    translator = make_translator()
    source, target_in, _ = translator.prepare_batch(SOURCES, TARGETS)
    forced = translator.model((source, target_in), training=False)
    sampled = decode_with_sampling(translator.model, source, target_in, 1.0)
    # Step 0 always reads [START]; later steps read sampled words, so they differ.
    np.testing.assert_array_equal(forced[:, 0].numpy(), sampled[:, 0].numpy())
    assert not np.allclose(forced[:, 1:].numpy(), sampled[:, 1:].numpy())


@pytest.mark.parametrize("schedule", ["linear", "exponential", "inverse-sigmoid"])
def test_sampling_schedules_grow_from_zero_to_the_cap(schedule):
    decay = DEFAULT_DECAY[schedule]
    steps = [0, 1000, 5000, 20000, 200000]
    teacher = [float(teacher_forcing_probability(schedule, s, decay)) for s in steps]
    assert teacher[0] == pytest.approx(1.0, abs=2e-3)
    assert all(a >= b for a, b in zip(teacher, teacher[1:]))
    assert teacher[-1] < 0.01
    sampled = [float(sampling_probability(schedule, s, decay, maximum=0.25)) for s in steps]
    assert sampled[0] == pytest.approx(0.0, abs=2e-3) and sampled[-1] == pytest.approx(0.25)


def test_linear_schedule_by_hand():
    assert float(teacher_forcing_probability("linear", 2500, 1e-4)) == pytest.approx(0.75)
    assert float(sampling_probability("linear", 2500, 1e-4, maximum=1.0)) == pytest.approx(0.25)
    assert float(teacher_forcing_probability("exponential", 10, 0.5)) == pytest.approx(0.5**10)
    k = 100.0
    assert float(teacher_forcing_probability("inverse-sigmoid", 300, k)) == pytest.approx(
        k / (k + np.exp(3.0)), rel=1e-5
    )


def test_current_sampling_probability_is_logged_each_epoch():
    keras.utils.set_random_seed(5)
    translator = make_translator(scheduled_sampling="linear", sampling_decay=0.01, max_sampling_probability=1.0)
    history = translator.model.fit(one_batch(translator).repeat(10), epochs=2, verbose=0)
    # After 10 and 20 steps the probability was 1 - (1 - 0.01 * 9) and 1 - (1 - 0.01 * 19).
    np.testing.assert_allclose(history.history["sampling_probability"], [0.09, 0.19], rtol=1e-5)


def test_label_smoothing_matches_a_hand_computation():
    logits = np.array([[[2.0, 0.5, -1.0, 0.0]]], np.float32)
    labels = np.array([[1]])
    loss_sum, _, count = masked_loss_sums(labels, logits, label_smoothing=0.2)
    log_p = logits[0, 0] - np.log(np.exp(logits[0, 0]).sum())
    expected = 0.8 * -log_p[1] + 0.2 * -log_p.mean()
    assert count.numpy() == 1.0
    np.testing.assert_allclose(loss_sum.numpy(), expected, rtol=1e-6)


def test_source_prior_marks_shared_words_and_raises_their_probability():
    keras.utils.set_random_seed(2)
    translator = make_translator(source_prior=True)
    source, target_in, _ = translator.prepare_batch(["Ana come 15 panes."], ["x"])
    prior = translator.model.word_prior(source).numpy()[0]
    shared = {translator.target_vocabulary[i] for i in np.flatnonzero(prior)}
    assert shared == {"Ana", "15", "\uffed."}  # cased tokens: "." written against its word
    with_prior = tf.nn.softmax(translator.model((source, target_in), training=False)).numpy()
    translator.model.decoder.output_layer.prior_weight.assign(0.0)
    without = tf.nn.softmax(translator.model((source, target_in), training=False)).numpy()
    ana = translator.target_vocabulary.index("Ana")
    assert with_prior[0, 0, ana] > without[0, 0, ana]


def test_reverse_source_reverses_words_only():
    ids = tf.constant([[START_ID, 7, 8, 9, END_ID, PAD_ID], [START_ID, 5, END_ID, PAD_ID, PAD_ID, PAD_ID],
                       [START_ID, END_ID, PAD_ID, PAD_ID, PAD_ID, PAD_ID]], tf.int64)
    reversed_ids = reverse_words(ids).numpy()
    np.testing.assert_array_equal(
        reversed_ids,
        [[START_ID, 9, 8, 7, END_ID, PAD_ID], [START_ID, 5, END_ID, PAD_ID, PAD_ID, PAD_ID],
         [START_ID, END_ID, PAD_ID, PAD_ID, PAD_ID, PAD_ID]],
    )
    np.testing.assert_array_equal(reverse_words(reverse_words(ids)).numpy(), ids.numpy())


def test_reverse_source_reports_attention_in_the_written_order():
    keras.utils.set_random_seed(4)
    translator = make_translator(reverse_source=True)
    source, target_in, _ = translator.prepare_batch(SOURCES[:2], TARGETS[:2])
    _, weights = translator.model((source, target_in), training=False, return_attention=True)
    # The encoder read reversed words; un-reversing must keep zero weight on padding.
    padding = (source.numpy() == PAD_ID)[:, None, :]
    assert np.all(weights.numpy()[np.broadcast_to(padding, weights.shape)] == 0.0)
    np.testing.assert_allclose(weights.numpy().sum(-1), 1.0, rtol=1e-5)
