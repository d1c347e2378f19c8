"""Notebooks 4 and 5: each exercise's checker (read from the notebook) accepts the
reference solution and rejects the plausible mistakes learners make, with a message that
points at the mistake; the stubs shadow nothing; the notebooks stay small on disk."""

import ast
import collections
import json
import math
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from nmt_keras.constants import END_ID, END_TOKEN, PAD_ID, PAD_TOKEN, START_ID, START_TOKEN, UNK_TOKEN
from nmt_keras.inference import search
from test_solutions import notebook_checks, solutions_module

ROOT = pathlib.Path(__file__).resolve().parents[1]
FOURTH = ROOT / "notebooks" / "04_attention_heatmaps.ipynb"
FIFTH = ROOT / "notebooks" / "05_beyond_teacher_forcing.ipynb"


@pytest.fixture(scope="module")
def checks_04():
    return notebook_checks(FOURTH)


@pytest.fixture(scope="module")
def checks_05():
    return notebook_checks(FIFTH)


def rejects(check, wrong, hint):
    """The check fails on `wrong` with an assertion whose message matches `hint`."""
    with pytest.raises(AssertionError, match=hint):
        check(wrong)


# ------------------------------------------------------------------ notebook 4, exercise 1


def aer_mean_of_sentences(predicted, gold):
    rates = [1 - 2 * len(a & s) / (len(a) + len(s)) for a, s in zip(predicted, gold)]
    return sum(rates) / len(rates)


def aer_without_the_factor_two(predicted, gold):
    hits = sum(len(a & s) for a, s in zip(predicted, gold))
    return 1 - hits / (sum(map(len, predicted)) + sum(map(len, gold)))


def test_the_aer_check_accepts_the_solution_and_rejects_pooling_and_formula_mistakes(checks_04):
    check = checks_04["check_alignment_error_rate"]
    check(solutions_module(FOURTH).my_alignment_error_rate)
    rejects(check, aer_mean_of_sentences, "mean of the sentences' rates: sum the counts")
    rejects(check, aer_without_the_factor_two, r"intersection counts twice")


# ------------------------------------------------------------------ notebook 4, exercise 2


def greedy(model, source_ids, max_length, stop_at_end=True, feed_back=True, keep_state=True, stop_batch_early=False):
    """Greedy decoding with one of the learners' mistakes switched on."""
    first_state, memory = model.start(source_ids)
    state = first_state
    batch = source_ids.shape[0]
    previous = tf.fill([batch], tf.constant(START_ID, tf.int64))
    done = np.zeros(batch, bool)
    steps = []
    for _ in range(max_length):
        logits, new_state, _ = model.next_logits(previous, state, memory)
        chosen = np.argmax(search.suppress_tokens(logits, search.NEVER_EMITTED).numpy(), axis=-1)
        if stop_at_end:
            chosen = np.where(done, PAD_ID, chosen)
        steps.append(chosen)
        done |= chosen == END_ID
        if done.all() or (stop_batch_early and done.any()):
            break
        state = new_state if keep_state else first_state
        previous = tf.constant(chosen if feed_back else np.full(batch, START_ID), tf.int64)
    return np.stack(steps, axis=1)


@pytest.mark.parametrize("mistake, hint", [
    ({"stop_at_end": False}, r"goes on after \[END\]"),
    ({"feed_back": False}, "feed back the token just chosen"),
    ({"keep_state": False}, "feed back the token just chosen, with the new state"),
    ({"stop_batch_early": True}, r"stop a sentence only at its own \[END\]"),
])
def test_the_greedy_check_rejects_the_usual_mistakes(checks_04, mistake, hint):
    rejects(checks_04["check_greedy_decode"], lambda *args: greedy(*args, **mistake), hint)


def test_the_greedy_check_accepts_the_solution_and_a_faithful_variant(checks_04):
    check = checks_04["check_greedy_decode"]
    check(solutions_module(FOURTH).my_greedy_decode)
    check(greedy)


# ------------------------------------------------------------------ notebook 4, exercise 3


def replace_any_token(tokens, source_tokens, attention):
    """Copies the arg-max even when it is a marker or padding."""
    return [source_tokens[int(np.argmax(attention[t]))] if token == UNK_TOKEN else token for t, token in enumerate(tokens)]


def replace_over_the_wrong_axis(tokens, source_tokens, attention):
    """Takes the arg-max over the output steps instead of over the source."""
    is_word = [token not in (START_TOKEN, END_TOKEN, PAD_TOKEN) for token in source_tokens]
    best = np.argmax(np.asarray(attention), axis=0)  # (source_len,): the wrong axis
    replaced = list(tokens)
    for t, token in enumerate(tokens):
        if token == UNK_TOKEN and any(is_word):
            j = int(best[t]) % len(source_tokens)
            replaced[t] = source_tokens[j] if is_word[j] else next(s for s, w in zip(source_tokens, is_word) if w)
    return replaced


def test_the_unk_check_accepts_the_solution_and_rejects_copying_markers_or_the_wrong_axis(checks_04):
    check = checks_04["check_replace_unknown"]
    check(solutions_module(FOURTH).my_replace_unknown)
    rejects(check, replace_any_token, "a marker or padding was copied")
    rejects(check, replace_over_the_wrong_axis, "own row")


# ------------------------------------------------------------------ notebook 5, exercise 1


def bleu(hypothesis, reference, clip=True, brevity=True, fixed_orders=False):
    hypothesis, reference = hypothesis.split(), reference.split()
    orders = 4 if fixed_orders else min(4, len(hypothesis))
    total = 0.0
    for n in range(1, orders + 1):
        counts = collections.Counter(tuple(hypothesis[i : i + n]) for i in range(len(hypothesis) - n + 1))
        reference_counts = collections.Counter(tuple(reference[i : i + n]) for i in range(len(reference) - n + 1))
        matches = sum(min(c, reference_counts[g]) if clip else c * (g in reference_counts) for g, c in counts.items())
        total += math.log(matches / sum(counts.values()))
    penalty = min(1.0, math.exp(1 - len(reference) / len(hypothesis))) if brevity else 1.0
    return 100 * penalty * math.exp(total / orders)


@pytest.mark.parametrize("mistake, hint", [
    ({"clip": False}, "clip the counts"),
    ({"brevity": False}, "shorter than the reference"),
    ({"fixed_orders": True}, r"only the orders n = 1\.\.3"),
])
def test_the_bleu_check_rejects_missing_clipping_brevity_penalty_or_order_limit(checks_05, mistake, hint):
    rejects(checks_05["check_sentence_bleu"], lambda h, r: bleu(h, r, **mistake), hint)


def test_the_bleu_check_accepts_the_solution(checks_05):
    checks_05["check_sentence_bleu"](solutions_module(FIFTH).my_sentence_bleu)
    checks_05["check_sentence_bleu"](bleu)


# ------------------------------------------------------------------ notebook 5, exercise 2


def beam(next_log_probs, beam_width, max_length, stop_finished=True, sum_scores=True, keep_markers=False):
    beam_, finished = [(("<s>",), 0.0)], []
    for _ in range(max_length):
        grown = []
        for prefix, score in beam_:
            if prefix[-1] == "</s>":  # reached only when finished hypotheses are not set aside
                grown.extend((prefix + (w,), score + lp) for w, lp in next_log_probs(prefix).items())
                continue
            for word, log_probability in next_log_probs(prefix).items():
                grown.append((prefix + (word,), (score if sum_scores else 0.0) + log_probability))
        grown.sort(key=lambda h: -h[1])
        beam_ = []
        for prefix, score in grown[:beam_width]:
            if prefix[-1] == "</s>":
                finished.append((prefix, score))
                if stop_finished:
                    continue
            beam_.append((prefix, score))
        if not beam_:
            break
    prefix, score = max(finished, key=lambda h: h[1])
    return (list(prefix) if keep_markers else list(prefix[1:-1])), score


@pytest.mark.parametrize("mistake, hint", [
    ({"stop_finished": False}, "must stop growing"),
    ({"sum_scores": False}, "sum of the log-probabilities|total log-probability"),
    ({"keep_markers": True}, "without <s> and </s>"),
])
def test_the_beam_check_rejects_the_usual_mistakes(checks_05, mistake, hint):
    rejects(checks_05["check_beam_search"], lambda *args, **kwargs: beam(*args, **kwargs, **mistake), hint)


def test_the_beam_check_accepts_the_solution(checks_05):
    checks_05["check_beam_search"](solutions_module(FIFTH).my_beam_search)
    checks_05["check_beam_search"](beam)


# ------------------------------------------------------------------ notebook 5, exercise 3


def rerank(candidates, alpha, exponent=True, divide=True):
    def ranked(candidate):
        penalty = ((5 + len(candidate[0])) / 6) ** (alpha if exponent else 1.0)
        return candidate[1] / penalty if divide else candidate[1] * penalty
    return max(candidates, key=ranked)[0]


@pytest.mark.parametrize("wrong", [
    lambda candidates, alpha: max(candidates, key=lambda c: c[1])[0],  # no length normalisation
    lambda candidates, alpha: rerank(candidates, alpha, divide=False),  # multiplied by the penalty
    lambda candidates, alpha: rerank(candidates, alpha, exponent=False),  # alpha left out
])
def test_the_rerank_check_rejects_a_missing_or_misapplied_penalty(checks_05, wrong):
    rejects(checks_05["check_rerank"], wrong, r"log_probability / lp, lp = \(\(5 \+ \|Y\|\) / 6\) \*\* alpha")


def test_the_rerank_check_accepts_the_solution(checks_05):
    checks_05["check_rerank"](solutions_module(FIFTH).my_rerank)
    checks_05["check_rerank"](rerank)


# ------------------------------------------------------------------ the notebooks themselves


@pytest.mark.parametrize("notebook", [FOURTH, FIFTH], ids=lambda path: path.name)
def test_the_stubs_shadow_no_earlier_name(notebook):
    """Every exercise stub has its own `my_` name, defined nowhere else in the notebook."""
    cells = ["".join(c["source"]) for c in json.loads(notebook.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
    defined = collections.Counter()
    for source in cells:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                defined[node.name] += 1
    stubs = [node.name for source in cells if "attempt(check_" in source
             for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)]
    assert stubs and all(name.startswith("my_") for name in stubs), stubs
    assert all(defined[name] == 1 for name in stubs), {name: defined[name] for name in stubs}
