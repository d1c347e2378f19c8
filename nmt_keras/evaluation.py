"""Evaluation: BLEU and chrF with sacreBLEU, and alignment error rate of attention.

Translations are scored as machine translation is scored (`translation_scores`):
sacreBLEU's BLEU and chrF of the output as the translator writes it (detokenized, cased)
against the raw references, with sacreBLEU's signatures. Beside them, labelled
`bleu_standardized` and `chrf_standardized`, the same output scored after both sides
are standardized (the project's `standardize`: lower case, Latin accents dropped,
punctuation spaced off), the TensorFlow tutorial's form: what a model of casing "lower"
and the tutorial's design write, so comparisons with them use it.
"""

import time

import numpy as np
import sacrebleu
import tensorflow as tf

from nmt_keras.constants import TRANSLATE_BATCH_SIZE, UNK_TOKEN
from nmt_keras.data.batching import encode_pairs, make_dataset
from nmt_keras.data.tokenizers import standardize_texts
from nmt_keras.inference.translator import translate_all

# Teacher-forced attention is computed this many sentence pairs at a time.
_ATTENTION_BATCH = 64
# The longest word sequence whose immediate repetition `loops` counts.
LOOP_NGRAM = 4


def bleu_and_chrf(hypotheses, references):
    """Corpus BLEU (sacreBLEU defaults: 13a tokenization, case-sensitive) and chrF, both
    0-100, with sacreBLEU's signatures (the exact metric settings, for reproducibility).

    Args:
        hypotheses: list of str, model outputs.
        references: list of str, the reference of each hypothesis, in the same form.
    """
    if len(hypotheses) != len(references):
        raise ValueError(
            f"{len(hypotheses)} hypotheses but {len(references)} references: they must pair up"
        )
    if not references:
        raise ValueError("cannot score an empty test set")
    # Standardized texts are tokenized already; `force` acknowledges that (sacreBLEU
    # would otherwise warn about "tokenized periods").
    bleu = sacrebleu.metrics.BLEU(force=True)
    chrf = sacrebleu.metrics.CHRF()
    bleu_score = bleu.corpus_score(hypotheses, [references])
    chrf_score = chrf.corpus_score(hypotheses, [references])
    return {
        "bleu": float(bleu_score.score),
        "chrf": float(chrf_score.score),
        "bleu_detail": str(bleu_score),
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
    }


def translation_scores(hypotheses, references):
    """`bleu_and_chrf` of the outputs as written against the raw references, and
    `bleu_standardized` / `chrf_standardized` with both sides standardized first."""
    standardized = bleu_and_chrf(standardize_texts(hypotheses), standardize_texts(references))
    return {
        **bleu_and_chrf(hypotheses, references),
        "bleu_standardized": standardized["bleu"],
        "chrf_standardized": standardized["chrf"],
    }


def describe_scores(report):
    """The scores of a report in one phrase, each labelled."""
    return (
        f"BLEU {report['bleu']:.1f}, chrF {report['chrf']:.1f} (sacreBLEU: translations as "
        f"written, raw references); standardized BLEU {report['bleu_standardized']:.1f}, "
        f"chrF {report['chrf_standardized']:.1f}"
    )


def loops(text):
    """True if `text` loops: among its words (punctuation ignored), a sequence of 2 to
    `LOOP_NGRAM` words occurs twice in immediate succession ("go to go to") or one word
    three times in a row ("no no no")."""
    words = [word for word in text.split() if any(character.isalnum() for character in word)]
    for end in range(len(words)):
        if end >= 2 and words[end] == words[end - 1] == words[end - 2]:
            return True
        for n in range(2, LOOP_NGRAM + 1):
            if end + 1 >= 2 * n and words[end + 1 - n : end + 1] == words[end + 1 - 2 * n : end + 1 - n]:
                return True
    return False


def unk_share(hypotheses):
    """The share of `hypotheses` (str) that contain the `[UNK]` token."""
    if not hypotheses:
        return 0.0
    return sum(UNK_TOKEN in h for h in hypotheses) / len(hypotheses)


def alignment_error_rate(predicted, gold):
    """AER of Och and Ney (2003) with every gold link "sure": 1 - 2|A∩S| / (|A| + |S|).

    Args:
        predicted: iterable over sentences of sets of `(source_index, target_index)`.
        gold: iterable over sentences of sets of `(source_index, target_index)`.

    Returns:
        float in [0, 1]; 0 means the predicted links are exactly the gold links.
    """
    hits = predicted_total = gold_total = 0
    for links, gold_links in zip(predicted, gold, strict=True):
        links, gold_links = set(links), set(gold_links)
        hits += len(links & gold_links)
        predicted_total += len(links)
        gold_total += len(gold_links)
    if predicted_total + gold_total == 0:
        raise ValueError("no alignment links to compare")
    return 1.0 - 2.0 * hits / (predicted_total + gold_total)


def attention_links(weights, source_length, target_length):
    """Hard alignment from attention: each target word links to its arg-max source word.

    Args:
        weights: `(target_steps, source_steps)` teacher-forced attention of one pair,
            where source step 0 is `[START]` and target step t predicts target word t.
        source_length: number of source words (without `[START]`/`[END]`).
        target_length: number of target words (without `[END]`).

    Returns:
        set of `(source_word_index, target_word_index)`; a target word whose attention
        peaks on `[START]`/`[END]` gets a link to that marker's index (-1 or
        source_length), which never matches a gold link and so counts as an error.
    """
    best = np.argmax(weights[:target_length, : source_length + 2], axis=-1)  # (target_length,)
    return {(int(j) - 1, t) for t, j in enumerate(best)}


def teacher_forced_attention(translator, pairs):
    """Yields each pair's attention `(target_steps, source_steps)` under teacher forcing."""
    for start in range(0, len(pairs), _ATTENTION_BATCH):
        chunk = pairs[start : start + _ATTENTION_BATCH]
        source, target_in, _ = translator.prepare_batch(
            [p.source for p in chunk], [p.target for p in chunk]
        )
        _, weights = translator.model((source, target_in), training=False, return_attention=True)
        yield from weights.numpy()


def evaluate_attention(translator, pairs):
    """Alignment error rate of the translator's attention against gold alignments."""
    source_lengths = [len(s.split()) for s in standardize_texts([p.source for p in pairs])]
    target_lengths = [len(t.split()) for t in standardize_texts([p.target for p in pairs])]
    predicted = [
        attention_links(weights, source_length, target_length)
        for weights, source_length, target_length in zip(
            teacher_forced_attention(translator, pairs), source_lengths, target_lengths
        )
    ]
    return alignment_error_rate(predicted, [set(p.alignment) for p in pairs])


def evaluate_translator(translator, pairs, batch_size=TRANSLATE_BATCH_SIZE, decoding=None):
    """Translates `pairs` (as `decoding` says, else with the translator's saved decoding)
    and scores them.

    Returns:
        dict with those of `translation_scores`, `unk_share` (outputs with `[UNK]`),
        `loop_share` (outputs that `loops`), `num_sentences`, `translation_seconds`,
        `sentences_per_second`, `alignment_error_rate` (only when every pair has a gold
        alignment), and the `hypotheses` and raw `references`.
    """
    if not pairs:
        raise ValueError("cannot evaluate on an empty set of pairs")
    references = [p.target for p in pairs]
    started = time.perf_counter()
    hypotheses = translate_all(
        translator, [p.source for p in pairs], batch_size=batch_size, **(decoding or {})
    )
    seconds = time.perf_counter() - started
    report = translation_scores(hypotheses, references)
    report.update(
        unk_share=unk_share(hypotheses),
        loop_share=sum(map(loops, standardize_texts(hypotheses))) / len(hypotheses),
        num_sentences=len(pairs),
        translation_seconds=seconds,
        sentences_per_second=len(pairs) / seconds,
    )
    # Gold alignments link words; attention over word pieces or characters does not.
    word_tokens = translator.tokenizer == "word"
    if word_tokens and all(p.alignment is not None for p in pairs):
        report["alignment_error_rate"] = evaluate_attention(translator, pairs)
    report["hypotheses"] = hypotheses
    report["references"] = references
    return report


def evaluate_loss(model, dataset):
    """Masked test loss and token accuracy with the model's own `test_step`."""
    results = model.evaluate(dataset, verbose=0, return_dict=True)
    return {"loss": float(results["loss"]), "accuracy": float(results["accuracy"])}


def evaluate_split(translator, pairs, batch_size, decoding=None, fixed_shapes=False):
    """Scores of `translator` on `pairs`: those of `evaluate_translator`, and the masked
    loss and token accuracy (`loss`, `accuracy`).

    Args:
        batch_size: int. Pairs per batch of the loss (translation uses
            `evaluate_translator`'s own batch size).
        decoding: dict of `Translator.translate` options (method, beam_width, ...);
            None: the translator's saved decoding.
        fixed_shapes: bool. Score the loss on fixed-shape batches (every pair kept).
    """
    report = evaluate_translator(translator, pairs, decoding=decoding)
    encoded = encode_pairs(translator, pairs)
    batches = make_dataset(encoded, batch_size, fixed_shapes=fixed_shapes, drop_remainder=False)
    return {**report, **evaluate_loss(translator.model, batches)}
