"""BLEU/chrF wiring and the alignment error rate of attention."""

import numpy as np
import pytest

from nmt_keras.evaluation import alignment_error_rate, attention_links, bleu_and_chrf


def test_perfect_translations_score_100_and_wrong_ones_less():
    references = ["the black cat eats .", "does the dog eat bread ?"]
    assert bleu_and_chrf(references, references)["bleu"] == pytest.approx(100.0)
    assert bleu_and_chrf(references, references)["chrf"] == pytest.approx(100.0)
    worse = bleu_and_chrf(["the cat eats .", "the dog eats bread ?"], references)
    assert worse["bleu"] < 60 and worse["chrf"] < 90


def test_bleu_rejects_mismatched_or_empty_input():
    with pytest.raises(ValueError, match="1 hypotheses but 2 references"):
        bleu_and_chrf(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="empty test set"):
        bleu_and_chrf([], [])


def test_alignment_error_rate_by_hand():
    gold = [{(0, 1), (1, 0), (2, 2)}]
    assert alignment_error_rate([{(0, 1), (1, 0), (2, 2)}], gold) == 0.0
    # One of three predicted links right: 1 - 2*1/(3+3) = 2/3.
    assert alignment_error_rate([{(0, 0), (1, 1), (2, 2)}], gold) == pytest.approx(2 / 3)
    assert alignment_error_rate([set()], gold) == 1.0


def test_attention_links_take_the_arg_max_and_skip_start():
    # 2 target words + [END] step; source [START] w0 w1 w2 [END].
    weights = np.array(
        [
            [0.0, 0.1, 0.1, 0.8, 0.0],  # target word 0 -> source word 2
            [0.9, 0.1, 0.0, 0.0, 0.0],  # target word 1 -> [START] (index -1: an error)
            [0.0, 0.0, 0.0, 0.0, 1.0],  # the [END] step is ignored
        ]
    )
    assert attention_links(weights, source_length=3, target_length=2) == {(2, 0), (-1, 1)}


def test_evaluate_loss_takes_the_model_and_averages_over_real_tokens(seeded):
    import tensorflow as tf

    from nmt_keras.evaluation import evaluate_loss
    from nmt_keras.model import masked_correct, masked_cross_entropy
    from test_variants import SOURCES, TARGETS, make_translator

    translator = make_translator(units=8, embedding_dim=8)
    source, target_in, target_out = translator.prepare_batch(SOURCES, TARGETS)
    # Two batches of different token counts: the mean is over tokens, not batches.
    dataset = tf.data.Dataset.from_tensor_slices(((source, target_in), target_out)).batch(4)
    scores = evaluate_loss(translator.model, dataset)
    logits = translator.model((source, target_in), training=False)
    loss_sum, count = masked_cross_entropy(target_out, logits)
    correct, _ = masked_correct(target_out, logits)
    assert scores["loss"] == pytest.approx(float(loss_sum / count), rel=1e-5)
    assert scores["accuracy"] == pytest.approx(float(correct / count), rel=1e-5)
