"""Notebooks 1-3: every exercise's checking function accepts the reference solution and
rejects the mistakes learners make, with a message that points at the mistake; the
exercise stubs shadow no earlier name; the notebooks stay small on disk.

The checking functions are read out of the notebooks (`notebook_checks`), as
tests/test_solutions.py does, so these tests run the code a learner runs.
"""

import ast
import collections
import json
import re
import unicodedata

import numpy as np
import pytest
import tensorflow as tf

from nmt_keras import constants
from nmt_keras.data import tokenizers
from nmt_keras.model import masked_cross_entropy
from test_solutions import ROOT, notebook_checks, solutions_module

NOTEBOOKS = {
    "01": ROOT / "notebooks" / "01_data_and_tokenization.ipynb",
    "02": ROOT / "notebooks" / "02_encoder_attention_decoder.ipynb",
    "03": ROOT / "notebooks" / "03_training.ipynb",
}


def check(number, name):
    return notebook_checks(NOTEBOOKS[number])[name]


def rejects(number, name, wrong, hint):
    """The notebook's check `name` raises an AssertionError matching `hint` on `wrong`."""
    with pytest.raises(AssertionError, match=hint):
        check(number, name)(wrong)


# ------------------------------------------------------------------ notebook 1


def _standardize(sentence, normal_form="NFKD", lower=True, split_marks=True):
    sentence = "".join(" " if unicodedata.category(c) in ("Cc", "Cf") else c for c in sentence)
    sentence = unicodedata.normalize(normal_form, sentence)
    sentence = sentence.lower() if lower else sentence
    if normal_form == "NFKD":
        sentence = "".join(c for c in sentence if unicodedata.category(c) != "Mn")
    sentence = re.sub("[\u2018\u2019\u02bc]", "'", sentence)
    if split_marks:
        sentence = "".join(c if c.isalnum() or c.isspace() or c == "'" else f" {c} " for c in sentence)
    return " ".join(sentence.split())


@pytest.mark.parametrize("wrong, hint", [
    (lambda s: _standardize(s, normal_form="NFC"), "NFKD|combining marks"),  # accents kept
    (lambda s: _standardize(s, split_marks=False), "a space on both sides"),  # "jardin?" stays one token
    (lambda s: _standardize(s, lower=False), "lower case"),
], ids=["accents-kept", "punctuation-attached", "not-lower-cased"])
def test_the_standardize_check_names_the_missed_step(wrong, hint):
    rejects("01", "check_standardize", wrong, hint)


def _vocabulary(sentences, max_tokens, ties="alphabetical", keep=None, standardize=True):
    lines = tokenizers.standardize_texts(list(sentences)) if standardize else list(sentences)
    counts = collections.Counter(word for line in lines for word in line.split())
    words = ([w for w, _ in counts.most_common()] if ties == "first-seen"
             else sorted(counts, key=lambda w: (-counts[w], w)))
    if max_tokens is not None:
        words = words[: keep(max_tokens) if keep else max_tokens - len(constants.SPECIAL_TOKENS)]
    return words


@pytest.mark.parametrize("wrong, hint", [
    (lambda s, m: _vocabulary(s, m, ties="first-seen"), "alphabetical order"),
    (lambda s, m: _vocabulary(s, m, keep=lambda m: m), "special ids count toward max_tokens"),
    (lambda s, m: _vocabulary(s, m, standardize=False), "standardized words"),
], ids=["ties-by-first-occurrence", "special-ids-not-counted", "raw-words"])
def test_the_vocabulary_check_names_the_mistake(wrong, hint):
    rejects("01", "check_learn_vocabulary", wrong, hint)


def _pad(rows, end=True, left=False, mask_words_only=False, int_mask=False):
    rows = [[constants.START_ID, *row] + ([constants.END_ID] if end else []) for row in rows]
    width = max(map(len, rows))
    ids = np.array([[0] * (width - len(r)) + r if left else r + [0] * (width - len(r)) for r in rows])
    mask = ids > constants.END_ID if mask_words_only else ids != constants.PAD_ID
    return ids, mask.astype(int) if int_mask else mask


@pytest.mark.parametrize("wrong, hint", [
    (lambda rows: _pad(rows, end=False), r"one \[END\]"),
    (lambda rows: _pad(rows, left=True), "padded on the right"),
    (lambda rows: _pad(rows, mask_words_only=True), r"\[START\] and \[END\] included"),
    (lambda rows: _pad(rows, int_mask=True), "boolean"),
], ids=["no-end", "left-padding", "mask-off-by-the-markers", "int-mask"])
def test_the_padding_check_names_the_mistake(wrong, hint):
    rejects("01", "check_pad_batch", wrong, hint)


# ------------------------------------------------------------------ notebook 2


def _softmax(scores, mask, axis=-1, mask_after=False, stable=True):
    scores = np.asarray(scores, np.float64)
    mask = np.asarray(mask, bool)[:, None, :]
    if not mask_after:
        scores = np.where(mask, scores, -1e9)
    shifted = scores - scores.max(axis=axis, keepdims=True) if stable else scores
    weights = np.exp(shifted) / np.exp(shifted).sum(axis=axis, keepdims=True)
    return weights * mask


@pytest.mark.parametrize("wrong, hint", [
    (lambda s, m: _softmax(s, m, axis=1), "the last axis"),
    (lambda s, m: _softmax(s, m, mask_after=True), "mask the scores before the softmax"),
    (lambda s, m: _softmax(s, m, stable=False), "subtract the row's maximum"),
], ids=["wrong-axis", "masked-after-softmax", "overflows"])
def test_the_masked_softmax_check_names_the_mistake(wrong, hint):
    rejects("02", "check_masked_softmax", wrong, hint)


def _general(query, values, W_a, scale=1.0, transpose=False, softmax=False):
    scores = np.asarray(query) @ (np.asarray(values) @ np.asarray(W_a)).transpose(0, 2, 1) * scale
    if softmax:
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
    return scores.transpose(0, 2, 1) if transpose else scores


@pytest.mark.parametrize("wrong, hint", [
    (lambda q, v, w: _general(q, v, w, scale=1 / np.sqrt(q.shape[-1])), "no scaling"),
    (lambda q, v, w: _general(q, v, w, transpose=True), r"\(batch, target_len, source_len\)"),
    (lambda q, v, w: _general(q, v, w, softmax=True), "raw scores"),
], ids=["scaled-like-a-transformer", "source-and-target-swapped", "softmax-applied"])
def test_the_general_score_check_names_the_mistake(wrong, hint):
    rejects("02", "check_general_scores", wrong, hint)


def _decoder_step(mistake):
    def step(decoder, previous_ids, s_prev, annotations, keys, source_mask):
        attention = decoder.attention
        embedded = decoder.embedding(previous_ids)
        scores = tf.reduce_sum(tf.tanh(attention.query_projection(s_prev)[:, None, :] + keys) * attention.v, -1)
        if mistake != "unmasked":
            scores = tf.where(source_mask, scores, constants.NEG_INF)
        weights = tf.nn.softmax(scores, axis=-1)
        if mistake != "unmasked":
            weights *= tf.cast(source_mask, weights.dtype)
        mixing = tf.where(source_mask, scores, 0.0) if mistake == "unnormalized-context" else weights
        context = tf.einsum("bj,bjd->bd", mixing, annotations)
        pieces = [context, embedded] if mistake == "gru-input-swapped" else [embedded, context]
        s_t, _ = decoder.cell(tf.concat(pieces, -1), [s_prev])
        output = [context, s_t, embedded] if mistake == "output-order" else [s_t, context, embedded]
        return decoder.output_layer.projection(tf.concat(output, -1)), s_t, weights
    return step


@pytest.mark.parametrize("mistake, hint", [
    ("unnormalized-context", "normalized weights"),
    ("gru-input-swapped", "the embedding first"),
    ("output-order", r"\[s_t; c_t; E y_\(t-1\)\] \+ b_o, in that order"),
    ("unmasked", "exactly 0 on padding"),
])
def test_the_decoder_step_check_names_the_mistake(mistake, hint):
    rejects("02", "check_decoder_step", _decoder_step(mistake), hint)


def test_the_decoder_step_check_holds_the_reference_to_the_decoder_within_1e_5():
    check("02", "check_decoder_step")(_decoder_step("none"))
    check("02", "check_decoder_step")(solutions_module(NOTEBOOKS["02"]).my_decoder_step)


# ------------------------------------------------------------------ notebook 3


def _shift(rows, pad_first=False, swapped=False):
    width = max(map(len, rows))
    padded = np.array([row + [constants.PAD_ID] * (width - len(row)) for row in rows])
    if pad_first:
        target_in, target_out = padded[:, :-1], padded[:, 1:]
    else:
        target_in = np.array([row[:-1] + [0] * (width - len(row)) for row in rows])
        target_out = np.array([row[1:] + [0] * (width - len(row)) for row in rows])
    return (target_out, target_in) if swapped else (target_in, target_out)


@pytest.mark.parametrize("wrong, hint", [
    (lambda rows: _shift(rows, pad_first=True), "before padding"),
    (lambda rows: _shift(rows, swapped=True), r"starts with \[START\]"),
], ids=["padded-then-shifted", "views-swapped"])
def test_the_shift_check_names_the_mistake(wrong, hint):
    rejects("03", "check_shift_targets", wrong, hint)


def _smoothed(labels, logits, epsilon, spread="all", gold_weight=True, stable=True):
    logits = np.asarray(logits, np.float64)
    if stable:
        peak = logits.max(-1, keepdims=True)
        log_probs = logits - (peak + np.log(np.exp(logits - peak).sum(-1, keepdims=True)))
    else:
        log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    gold = -np.take_along_axis(log_probs, np.asarray(labels)[..., None], -1)[..., 0]
    vocab = logits.shape[-1]
    if spread == "others":  # epsilon spread over the V - 1 wrong words only
        smooth = (-log_probs.sum(-1) - gold) / (vocab - 1)
    else:
        smooth = -log_probs.mean(-1)
    return (1 - epsilon if gold_weight else 1.0) * gold + epsilon * smooth


@pytest.mark.parametrize("wrong, hint", [
    (lambda y, z, e: _smoothed(y, z, e, spread="others"), "the gold one included"),
    (lambda y, z, e: _smoothed(y, z, e, gold_weight=False), "1 - epsilon on the gold word"),
    (lambda y, z, e: _smoothed(y, z, e, stable=False), "subtract the maximum inside logsumexp"),
], ids=["spread-over-other-words", "gold-not-down-weighted", "overflows"])
def test_the_label_smoothing_check_names_the_mistake(wrong, hint):
    rejects("03", "check_smoothed_cross_entropy", wrong, hint)


def _accumulated(model, parts, denominator):
    counts = [float(tf.reduce_sum(tf.cast(out != constants.PAD_ID, tf.float32))) for _, _, out in parts]
    total = None
    for (source, target_in, target_out), count in zip(parts, counts):
        with tf.GradientTape() as tape:
            loss_sum, _ = masked_cross_entropy(target_out, model((source, target_in), training=False))
            loss = loss_sum / (count if denominator == "own" else count * len(parts))
        gradients = [tf.convert_to_tensor(g) for g in tape.gradient(loss, model.trainable_variables)]
        total = gradients if total is None else [a + b for a, b in zip(total, gradients)]
    return total


@pytest.mark.parametrize("denominator", ["own", "mean-of-means"])
def test_the_accumulation_check_names_the_denominator(denominator):
    rejects("03", "check_accumulated_gradients", lambda model, parts: _accumulated(model, parts, denominator),
            "token count of all parts together")


# ------------------------------------------------------------------ all three


@pytest.mark.parametrize("number", sorted(NOTEBOOKS))
def test_every_check_accepts_the_reference_solution(number):
    module = solutions_module(NOTEBOOKS[number])
    for name, function in notebook_checks(NOTEBOOKS[number]).items():
        function(*[getattr(module, parameter) for parameter in function.__code__.co_varnames[:function.__code__.co_argcount]])


def _defined_names(source):
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


@pytest.mark.parametrize("number", sorted(NOTEBOOKS))
def test_exercise_stubs_have_names_of_their_own(number):
    """A stub is `my_<name>`, defined by its exercise cell only, so re-running any cell
    in any order never replaces a name that another cell uses."""
    cells = ["".join(c["source"]) for c in json.loads(NOTEBOOKS[number].read_text(encoding="utf-8"))["cells"]
             if c["cell_type"] == "code"]
    exercise_cells = [source for source in cells if "attempt(check_" in source]
    stubs = {name for source in exercise_cells for name in _defined_names(source)}
    assert stubs and all(name.startswith("my_") for name in stubs), stubs
    others = set().union(*(_defined_names(source) for source in cells if source not in exercise_cells))
    assert not stubs & others, stubs & others

