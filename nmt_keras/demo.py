"""`make demo`: train on the embedded corpus, evaluate, translate, and draw attention.

Writes into the output directory everything `train_and_evaluate` writes, plus:

    translations.txt     a few test sentences and hand-written ones, with model output
    attention_*.png      attention heatmaps (source on x, output on y; gold links marked)
"""

import collections
import pathlib
import shutil

import nmt_keras.plots as plots
from nmt_keras.config import demo_config
from nmt_keras.evaluation import describe_scores
from nmt_keras.inference.translator import translate_all
from nmt_keras.training.train import BACKUP_DIR, REPORT_FILE, train_and_evaluate

DEFAULT_OUTPUT = pathlib.Path("outputs") / "demo"

# Sentences written for the demo, not taken from the corpus: new combinations of the
# embedded language's words (none of them occurs in the corpus), an empty line, and a
# sentence of unknown words (translated into something, never a crash).
HANDWRITTEN_SENTENCES = (
    "El perro pequeño come una manzana.",
    "¿Vio Ana a tres gatos negros?",
    "No bebemos la leche fría.",
    "",
    "El ornitorrinco baila.",
)


def crosses(alignment):
    """True if two alignment links cross (word order differs between the languages)."""
    links = sorted(alignment)
    return any(
        s1 < s2 and t1 > t2 for i, (s1, t1) in enumerate(links) for (s2, t2) in links[i + 1 :]
    )


def swaps_neighbours(alignment):
    """True if two neighbouring source words, each translated by exactly one word, are
    translated in the opposite order, like "gato negro" -> "black cat"."""
    links = set(alignment)
    source_degree = collections.Counter(s for s, _ in links)
    target_degree = collections.Counter(t for _, t in links)

    def one_to_one(s, t):
        return source_degree[s] == 1 and target_degree[t] == 1

    return any(
        (s + 1, t - 1) in links and one_to_one(s, t) and one_to_one(s + 1, t - 1)
        for s, t in links
    )


def pick_examples(test_pairs):
    """Chooses test pairs that show something, shortest first.

    Returns:
        list of `(label, pair)`, at most one per label, in this order:
        "noun_adjective" (two neighbouring words swapped, as a Spanish noun and its
        adjective are in English), "reordering" (any crossing links, e.g. a fronted
        adverb), "question", and "long" (the longest test sentence).
    """
    by_length = sorted(test_pairs, key=lambda p: (len(p.target.split()), p.source))
    aligned = [p for p in by_length if p.alignment]
    candidates = (
        ("noun_adjective", [p for p in aligned if swaps_neighbours(p.alignment)]),
        ("reordering", [p for p in aligned if crosses(p.alignment) and not swaps_neighbours(p.alignment)]),
        ("question", [p for p in by_length if p.source.startswith("¿")]),
    )
    examples = [(label, pairs[len(pairs) // 4]) for label, pairs in candidates if pairs]
    if by_length:
        examples.append(("long", by_length[-1]))
    return examples


def draw_examples(translator, examples, output_dir):
    """One attention heatmap per example, `attention_<label>.png`; returns the paths."""
    paths = []
    for label, pair in examples:
        result = translator.translate([pair.source])
        gold = [(s + 1, t) for s, t in pair.alignment] if pair.alignment else None
        fig = plots.translation_heatmap(result, 0, title=pair.source, gold_links=gold)
        path = output_dir / f"attention_{label}.png"
        plots.save(fig, path)
        paths.append(path)
    return paths


def list_examples(translator, examples, path):
    """Plain-text listing of source, model output, and reference (when there is one)."""
    sources = [pair.source for _, pair in examples] + list(HANDWRITTEN_SENTENCES)
    references = [pair.target for _, pair in examples] + [None] * len(HANDWRITTEN_SENTENCES)
    outputs = translate_all(translator, sources)
    with open(path, "w", encoding="utf-8") as handle:
        for source, output, reference in zip(sources, outputs, references):
            handle.write(f"source:    {source}\n")
            handle.write(f"output:    {output}\n")
            if reference is not None:
                handle.write(f"reference: {reference}\n")
            handle.write("\n")
    return list(zip(sources, outputs))


def run_demo(output_dir=DEFAULT_OUTPUT, config=None, verbose=2, callbacks=()):
    """Trains and evaluates the demo model and writes all demo outputs.

    Returns:
        the report dict (also in `output_dir/report.json`).
    """
    output_dir = pathlib.Path(output_dir)
    config = config or demo_config()
    if (output_dir / REPORT_FILE).is_file():
        # A finished demo (its training stopped by the time budget keeps a resumable
        # backup): run it again from the start rather than continue that training.
        # An interrupted demo has no report yet, and resumes.
        shutil.rmtree(output_dir / BACKUP_DIR, ignore_errors=True)
    translator, data, report = train_and_evaluate(config, output_dir, verbose=verbose, callbacks=callbacks)
    examples = pick_examples(data.test)
    draw_examples(translator, examples, output_dir)
    list_examples(translator, examples, output_dir / "translations.txt")
    return report


def summary(report, output_dir):
    """A few lines for the terminal."""
    aer = report.get("alignment_error_rate")
    lines = [
        f"test {describe_scores(report)}, token accuracy {report['test_accuracy']:.3f}"
        + (f", attention AER {aer:.3f}" if aer is not None else ""),
        f"{report['training_steps']} training steps in {report['epochs']} epochs, "
        f"{report['target_tokens_per_second']:.0f} target tokens/s; "
        f"wall time {report['wall_time_s']:.0f} s",
        f"outputs written to {pathlib.Path(output_dir).resolve()}/ "
        f"({REPORT_FILE}, history.png, attention_*.png, translations.txt)",
    ]
    return "\n".join(lines)

