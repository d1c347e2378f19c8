"""`python -m bench.quality --minutes M [--direction from-english] [--side-by-side]
[--precision P]`: translation quality per CPU-minute, the tutorial's design against
nmt_keras.

Trains, one after the other on this machine (or with `--side-by-side` at the same time,
each on one core with one TensorFlow thread: what a machine half as busy gives each) and
from the same seeded split of spa-eng (the project's split: seed 0, 2,000 validation and
2,000 test pairs; `--direction from-english` translates English into Spanish):

  (a) the reference (`bench/reference.py`, the TensorFlow tutorial's design) with the
      tutorial's own recipe: its own random 80/20 cut of the training pairs into train
      and validation, 5,000-word vocabularies learned on its train cut, batches of 64,
      Adam at 1e-3, epochs of 100 steps, validation on 20 batches, early stopping with
      patience 3 on the validation loss (the weights as they are when it stops), and at
      most M minutes of training;
  (b) nmt_keras's default recipe for M minutes: what `python -m nmt_keras train
      --data spa-eng --time-budget M` runs (`nmt_keras.config.recipe_for_steps`), in the
      precision `--precision` names (default `auto`; `float32` on a CPU with bfloat16
      units stands in for a CPU without them);

then translates the same 2,000 test pairs with each ((a) by greedy search, at most 50
tokens; (b) as `translate` does by default: the decoding its recipe saved) and scores
them with sacreBLEU: BLEU and chrF of the outputs as written against the raw references,
and, standardized (lower case, no accents, punctuation spaced off: the form (a) writes),
the BLEU and chrF that compare the two; the share of outputs that contain `[UNK]` and
that loop (`nmt_keras.evaluation.loops`), sentences per second, and the training
minutes actually used. For (b), BLEU is also given with `[UNK]` left in (when its recipe
replaces `[UNK]` by the attended source word) and with plain greedy search (when its
recipe decodes otherwise).

Every variant runs in its own subprocess. The report goes into `docs/performance.md`
between the markers `<!-- quality:begin -->` and `<!-- quality:end -->` (or, with
`--quick`, to `outputs/quality_quick.md`): machine, command, commit, numbers.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

from bench import harness
from bench.common import DEFAULT_DATA, REPO, commit, portable_command
from nmt_keras.constants import PRECISIONS

PERFORMANCE_DOC = REPO / "docs" / "performance.md"
QUICK_OUTPUT = REPO / "outputs" / "quality_quick.md"
BEGIN, END = "<!-- quality:begin -->", "<!-- quality:end -->"
VARIANTS = ("reference", "nmt_keras")

# The TensorFlow tutorial's recipe for (a).
TUTORIAL = {
    "train_share": 0.8,  # its random train / validation cut of the training pairs
    "vocabulary": 5000,
    "units": 256,
    "embedding_dim": 256,
    "batch_size": 64,
    "learning_rate": 1e-3,
    "steps_per_epoch": 100,
    "validation_steps": 20,
    "patience": 3,
    "max_epochs": 100,
    "max_length": 50,
}


def default_settings(minutes, direction="to-english"):
    return {
        "data": str(DEFAULT_DATA), "minutes": minutes, "seed": 0, "validation_size": 2000,
        "test_size": 2000, "max_train_pairs": None, "overrides": {}, "direction": direction,
        "threads": None, **TUTORIAL,
    }


def quick_settings(minutes):
    """`--quick`: a slice of the data and tiny models, for a smoke run of a minute or two."""
    settings = default_settings(minutes)
    settings.update(
        validation_size=50, test_size=50, max_train_pairs=1000, vocabulary=500, units=32,
        embedding_dim=32, steps_per_epoch=10, validation_steps=2, max_epochs=5,
        overrides={"units": 32, "embedding_dim": 32, "max_vocab_size": 500},
    )
    return settings


# ------------------------------------------------------------------- in a subprocess


def _split(settings):
    from nmt_keras.data.corpora import load_corpus, split_pairs

    corpus = load_corpus(settings["data"], settings["direction"])
    splits = split_pairs(corpus.pairs, settings["seed"], settings["validation_size"], settings["test_size"])
    train = splits.train[: settings["max_train_pairs"]] if settings["max_train_pairs"] else splits.train
    return train, splits.test


SCORES = ("bleu", "chrf", "bleu_standardized", "chrf_standardized", "unk_share", "loop_share")


def _scores(hypotheses, test, seconds):
    from nmt_keras.data.tokenizers import standardize_texts
    from nmt_keras.evaluation import loops, translation_scores, unk_share

    scores = translation_scores(hypotheses, [p.target for p in test])
    return {
        **{key: scores[key] for key in SCORES if key in scores}, "unk_share": unk_share(hypotheses),
        "loop_share": sum(map(loops, standardize_texts(hypotheses))) / len(hypotheses),
        "sentences_per_second": len(test) / seconds, "examples": hypotheses[:3],
    }


def run_reference(settings):
    """(a): the tutorial's design trained with the tutorial's recipe."""
    import keras
    import numpy as np

    from bench import reference
    from nmt_keras.constants import PAD_ID
    from nmt_keras.data.batching import encode_pairs
    from nmt_keras.data.tokenizers import learn_vocabulary
    from nmt_keras.training.callbacks import TimeBudget

    keras.utils.set_random_seed(settings["seed"])
    pairs, test = _split(settings)
    keep = np.random.default_rng(settings["seed"]).uniform(size=len(pairs)) < settings["train_share"]
    train = [p for p, k in zip(pairs, keep) if k]
    validation = [p for p, k in zip(pairs, keep) if not k]
    model = reference.ReferenceTranslator(
        learn_vocabulary([p.source for p in train], settings["vocabulary"], casing="lower"),
        learn_vocabulary([p.target for p in train], settings["vocabulary"], casing="lower"),
        settings["embedding_dim"], settings["units"],
    )
    model.build_with_dummy_batch()
    model.compile(optimizer=keras.optimizers.Adam(settings["learning_rate"]))
    batches = reference.make_dataset(encode_pairs(model, train), settings["batch_size"], settings["seed"])
    validation_batches = reference.make_dataset(
        encode_pairs(model, validation), settings["batch_size"], settings["seed"]
    )
    budget = TimeBudget(settings["minutes"] * 60)
    stopping = keras.callbacks.EarlyStopping(monitor="val_loss", patience=settings["patience"])
    started = time.perf_counter()
    history = model.fit(
        batches.repeat(), epochs=settings["max_epochs"], steps_per_epoch=settings["steps_per_epoch"],
        validation_data=validation_batches.repeat(), validation_steps=settings["validation_steps"],
        callbacks=[budget, stopping], verbose=2, shuffle=False,
    )
    training_seconds = time.perf_counter() - started
    sources = [p.source for p in test]
    started = time.perf_counter()
    hypotheses = reference.translate_all(model, sources, settings["batch_size"], settings["max_length"])
    result = _scores(hypotheses, test, time.perf_counter() - started)
    result.update(
        training_minutes=training_seconds / 60, epochs=len(history.history["loss"]),
        steps=int(model.optimizer.iterations.numpy()), stopped_by="time budget" if budget.stopped
        else ("early stopping" if stopping.stopped_epoch else "max epochs"),
        train_pairs=len(train), validation_pairs=len(validation), pad_id=PAD_ID,
        parameters=int(model.count_params()), recipe={key: settings[key] for key in TUTORIAL},
        precision=keras.config.dtype_policy().name,
    )
    return result


def run_nmt_keras(settings, workdir):
    """(b): `train_and_evaluate` with the recipe for the budget."""
    import dataclasses

    from nmt_keras.config import RECIPES, Config, apply_recipe
    from nmt_keras.evaluation import evaluate_translator
    from nmt_keras.training.train import choose_recipe, prepare_data, train_and_evaluate

    config = dataclasses.replace(
        Config(), data=settings["data"], seed=settings["seed"], direction=settings["direction"],
        validation_size=settings["validation_size"], test_size=settings["test_size"],
        max_train_pairs=settings["max_train_pairs"], time_budget=settings["minutes"],
        **settings["overrides"],
    )
    data = prepare_data(config)
    name, calibrated_steps = choose_recipe(config, data)  # as `train --time-budget` does
    config = apply_recipe(config, name, calibrated_steps, settings["overrides"])
    recipe = {*RECIPES[name][1], "recipe"} | ({"decay_steps"} if config.decay_steps else set())
    translator, data, report = train_and_evaluate(config, workdir, data, verbose=2)
    decoding = dict(report["decoding"])
    started = time.perf_counter()
    translated = evaluate_translator(translator, data.test, decoding=decoding)
    result = _scores(translated["hypotheses"], data.test, time.perf_counter() - started)
    variations = {
        "with_unk_left_in": {**decoding, "unk_replace": False},
        "greedy": {"method": "greedy", "unk_replace": False, "block_repeats": False},
    }
    for name, other in variations.items():
        if other != decoding:
            scored = evaluate_translator(translator, data.test, decoding=other)
            result[name] = {key: scored[key] for key in SCORES}
    result.update(
        training_minutes=report["training_seconds"] / 60, epochs=report["epochs"],
        steps=report["training_steps"], stopped_by=_stopped_by(config, report),
        train_pairs=report["pairs"]["train"],
        validation_pairs=report["pairs"]["validation"], parameters=report["parameters"],
        recipe={k: v for k, v in dataclasses.asdict(config).items() if k in recipe},
        calibrated_steps=calibrated_steps, precision=report["precision_choice"],
        decoding=decoding, validation_bleu=report.get("validation_bleu"),
    )
    return result


def _stopped_by(config, report):
    """What ended (b)'s training, in words."""
    if report["stopped_by_time_budget"]:
        return "time budget"
    if config.decay_steps and report["training_steps"] >= config.decay_steps:
        return "end of the decay"
    return "early stopping or max epochs"


def run_variant(variant, settings, workdir):
    result = run_reference(settings) if variant == "reference" else run_nmt_keras(settings, workdir)
    result["peak_memory_mb"] = harness.peak_memory_mb()
    return result


def subprocess_main(argv):
    """`python -m bench.quality --variant V SETTINGS_JSON OUT_JSON WORKDIR`."""
    variant, settings_path, out_path, workdir = argv
    settings = json.loads(pathlib.Path(settings_path).read_text())
    if settings["threads"]:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(settings["threads"])
        tf.config.threading.set_inter_op_parallelism_threads(settings["threads"])
    result = run_variant(variant, settings, workdir)
    result["cpu_affinity"] = sorted(os.sched_getaffinity(0))
    pathlib.Path(out_path).write_text(json.dumps(result, indent=2))


# ------------------------------------------------------------------------ the parent


def run(settings, workdir, log=print, side_by_side=False):
    """Runs each variant in a subprocess: one after the other, or with `side_by_side` both
    at once, the i-th pinned to core i with one TensorFlow thread."""
    settings = {**settings, "threads": 1 if side_by_side else settings["threads"]}
    started, running = time.perf_counter(), {}
    for core, variant in enumerate(VARIANTS):
        settings_path = pathlib.Path(workdir) / f"{variant}.settings.json"
        settings_path.write_text(json.dumps(settings))
        log(f"[quality] {variant} ...")
        command = [sys.executable, "-m", "bench.quality", "--variant", variant, str(settings_path),
                   str(pathlib.Path(workdir) / f"{variant}.json"), str(pathlib.Path(workdir) / variant)]
        pin = (lambda core=core: os.sched_setaffinity(0, {core})) if side_by_side else None
        with open(pathlib.Path(workdir) / f"{variant}.log", "w") as log_file:
            running[variant] = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT,
                                                cwd=REPO, preexec_fn=pin)
        if not side_by_side:
            _finish(variant, running[variant], workdir)
    results = {}
    for variant, process in running.items():
        _finish(variant, process, workdir)
        results[variant] = json.loads((pathlib.Path(workdir) / f"{variant}.json").read_text())
        results[variant]["wall_seconds"] = time.perf_counter() - started
        r = results[variant]
        log(f"[quality] {variant}: standardized BLEU {r['bleu_standardized']:.1f}, BLEU {r['bleu']:.1f}, "
            f"[UNK] in {100 * r['unk_share']:.1f} %, loops in {100 * r['loop_share']:.2f} % of "
            f"outputs, {r['training_minutes']:.1f} min of training")
    return results


def _finish(variant, process, workdir):
    if process.wait() != 0:
        log = (pathlib.Path(workdir) / f"{variant}.log").read_text(errors="replace")
        raise RuntimeError(f"{variant} failed:\n{log[-3000:]}")


def render(results, settings, command, machine, seconds, side_by_side=False):
    """Markdown for the report section; paths of this machine in `command` are named as
    `common.portable_path` does."""
    a, b = results["reference"], results["nmt_keras"]
    rows = [("(a) reference, the tutorial's recipe", a), ("(b) nmt_keras, its recipe for the budget", b)]
    how = ("side by side, each on one core with one TensorFlow thread" if side_by_side
           else "one after the other")
    lines = [
        f"Measured by `{portable_command(command)}` on commit {commit()}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, in {seconds / 60:.0f} min: "
        f"{machine['platform']}, {machine['cpu_count']} CPUs, TensorFlow {machine['tensorflow']}, "
        f"Keras {machine['keras']}, load average at start {machine['load_average_at_start']}.",
        "",
        f"spa-eng, {settings['direction']}; budget: {settings['minutes']:g} minutes of training each, "
        f"{how}; the same {b['train_pairs'] + b['validation_pairs']:,} training and validation pairs "
        f"and the same {settings['test_size']:,} test pairs (seed {settings['seed']}); (a) decodes by "
        f"greedy search, (b) with `{json.dumps(b['decoding'], sort_keys=True)}`. BLEU and chrF are "
        f"sacreBLEU's, \"standardized\" on lower-cased text without accents and with punctuation "
        f"spaced off on both sides (the form (a) writes, so the one that compares them), \"as "
        f"written\" on the output as it is against the raw references.",
        "",
        "| | BLEU standardized | chrF standardized | BLEU as written | chrF as written | outputs with [UNK] "
        "| outputs that loop | sentences/s | training min | steps | stopped by |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for label, r in rows:
        lines.append(
            f"| {label} | {r['bleu_standardized']:.1f} | {r['chrf_standardized']:.1f} | {r['bleu']:.1f} "
            f"| {r['chrf']:.1f} | {100 * r['unk_share']:.1f} % | {100 * r['loop_share']:.2f} % "
            f"| {r['sentences_per_second']:.0f} | {r['training_minutes']:.1f} | {r['steps']:,} "
            f"| {r['stopped_by']} |"
        )
    lines += ["", f"(b) - (a), standardized: {b['bleu_standardized'] - a['bleu_standardized']:+.1f} BLEU."]
    labels = {"with_unk_left_in": "with `[UNK]` left in", "greedy": "with plain greedy search and `[UNK]` left in"}
    for name, label in labels.items():
        if name in b:
            lines.append(
                f"(b) {label}: standardized BLEU {b[name]['bleu_standardized']:.1f}, BLEU as written "
                f"{b[name]['bleu']:.1f}, [UNK] in {100 * b[name]['unk_share']:.1f} %, loops in "
                f"{100 * b[name]['loop_share']:.2f} % of outputs."
            )
    lines += ["", f"(b)'s recipe: `{json.dumps(b['recipe'], sort_keys=True)}`, trained in "
              f"{b['precision']}; (a)'s: `{json.dumps(a['recipe'], sort_keys=True)}`, "
              f"trained in {a['precision']}.", ""]
    return "\n".join(lines)


def write_report(markdown, path, quick):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if quick or not path.exists():
        path.write_text("# Quality per CPU-minute (quick run)\n\n" + markdown if quick else markdown)
        return
    text = path.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{path} has no {BEGIN} ... {END} markers for the report")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{BEGIN}\n{markdown}{END}{tail}")


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--variant"]:
        subprocess_main(argv[1:])
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=16.0, help="training budget per variant")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="path or file:// URL of spa-eng.zip")
    parser.add_argument("--direction", choices=("to-english", "from-english"), default="to-english",
                        help="to-english: Spanish -> English (default); from-english: the reverse")
    parser.add_argument("--side-by-side", action="store_true",
                        help="train both at once, each on one core with one TensorFlow thread")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="(b)'s precision (`train --precision`): float32 on a CPU with bfloat16 "
                        "units stands in for one without; (a) trains in float32")
    parser.add_argument("--quick", action="store_true", help="tiny settings: a smoke run of a minute or two")
    parser.add_argument("--output", help=f"report file (default: {PERFORMANCE_DOC}, or {QUICK_OUTPUT} with --quick)")
    parser.add_argument("--json", help="also write the raw results here")
    args = parser.parse_args(argv)
    if not args.minutes > 0:
        parser.error(f"--minutes must be > 0, got {args.minutes}")
    if not args.data.startswith("file://") and not os.path.exists(args.data):
        print(f"python -m bench.quality: data file not found: {args.data} (pass --data PATH)", file=sys.stderr)
        return 2
    settings = quick_settings(args.minutes) if args.quick else default_settings(args.minutes)
    settings.update(data=args.data, direction=args.direction)
    if args.precision != "auto":
        settings["overrides"]["precision"] = args.precision
    machine = harness.machine()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nmt_quality_") as workdir:
        results = run(settings, workdir, lambda m: print(m, flush=True), args.side_by_side)
    command = "python -m bench.quality " + " ".join(argv)
    seconds = time.perf_counter() - started
    markdown = render(results, settings, command.strip(), machine, seconds, args.side_by_side)
    output = args.output or (QUICK_OUTPUT if args.quick else PERFORMANCE_DOC)
    write_report(markdown, output, args.quick)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({"settings": settings, "results": results}, indent=2))
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
