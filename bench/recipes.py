"""`python -m bench.recipes --minutes M --candidate NAME ...`: which settings train the
best model in M minutes, judged on the validation split only.

Each candidate is a set of `Config` changes (`CANDIDATES`) over nmt_keras's defaults.
Every candidate trains, in its own subprocess, on the project's seeded split of spa-eng
for M minutes (`--time-budget M`), then translates the 2,000 *validation* pairs and
scores them; the test pairs are never read. One JSON line per candidate is appended to
`--log` (default `outputs/recipes.jsonl`), with the machine's load, the commit and the
throughput, so that runs made on different days can be told apart;
`python -m bench.recipes --table LOG` prints them as the markdown table of
`docs/recipes.md`, from which `nmt_keras.config.RECIPES` is chosen.
"""

import argparse
import dataclasses
import hashlib
import json
import os
import pathlib
import secrets
import subprocess
import sys
import time

from bench import harness
from bench.common import DEFAULT_DATA, REPO, commit

CANDIDATES = {
    "defaults": {},
    "luong": {"decoder": "luong", "attention": "luong-general"},
    "wordpiece": {"tokenizer": "wordpiece", "max_vocab_size": 8000},
    "vocab-10k": {"max_vocab_size": 10000},
    "linear-lr": {"learning_rate_schedule": "linear"},
    "linear-lr-4e-3": {"learning_rate_schedule": "linear", "learning_rate": 4e-3},
    "label-smoothing": {"label_smoothing": 0.1},
    "dropout": {"dropout": 0.1},
    "batch-32": {"batch_size": 32},
    "batch-128": {"batch_size": 128},
    "unk-replace": {"unk_replace": True},
    "beam": {"beam_width": 4, "length_penalty": 0.6},
}


def run_paths(minutes, changes):
    """(model directory, result file) of one candidate's run: named by the budget, a
    digest of the changes and a random part, so every run trains afresh (a budgeted run
    resumes from a backup in its directory) and runs made at once never share a file."""
    digest = hashlib.sha256(json.dumps(changes, sort_keys=True).encode()).hexdigest()[:8]
    workdir = REPO / "outputs" / "recipes" / f"{minutes:g}min-{digest}-{secrets.token_hex(4)}"
    return workdir, workdir.parent / f"{workdir.name}.json"


def run_candidate(changes, minutes, data, workdir, max_train_pairs=None):
    """Trains one candidate and scores it on the validation split (in this process)."""
    from nmt_keras.config import Config
    from nmt_keras.training.train import PreparedData, choose_recipe, prepare_data, train_and_evaluate

    # Scored with `[UNK]` left in unless the candidate says otherwise: decoding levers are
    # measured apart, with `python -m nmt_keras evaluate` (docs/recipes.md).
    changes = {"unk_replace": False, **changes}
    config = dataclasses.replace(
        Config(), data=data, time_budget=minutes, max_train_pairs=max_train_pairs, **changes
    )
    prepared = prepare_data(config)
    if config.learning_rate_schedule == "linear" and config.decay_steps is None:
        # As `train --time-budget` does: the decay spans the steps the budget buys here.
        config = dataclasses.replace(config, decay_steps=choose_recipe(config, prepared)[1])
    # Scored on the validation pairs: the test split is not read.
    on_validation = PreparedData(prepared.corpus, prepared.train, prepared.validation, prepared.validation)
    _, _, report = train_and_evaluate(config, workdir, on_validation, verbose=2)
    return {
        "validation_bleu": report["bleu"], "validation_chrf": report["chrf"],
        "unk_share": report.get("unk_share"), "training_minutes": report["training_seconds"] / 60,
        "steps": report["training_steps"], "epochs": report["epochs"],
        "target_tokens_per_second": report["target_tokens_per_second"],
        "validation_loss": report["test_loss"], "sentences_per_second": report["translation_sentences_per_second"],
    }


def table(records):
    """Markdown: one row per measured candidate, grouped by budget, best first."""
    lines = [
        "| budget | candidate | changes over the defaults | validation BLEU | chrF | outputs with [UNK] "
        "| steps | target tokens/s | commit, date | CPUs |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for record in sorted(records, key=lambda r: (r["minutes"], -r["validation_bleu"])):
        changes = ", ".join(f"`{k}={v}`" for k, v in sorted(record["changes"].items())) or "-"
        unk = "-" if record.get("unk_share") is None else f"{100 * record['unk_share']:.1f} %"
        cpus = f"core {record['cpu_affinity']}" if record.get("cpu_affinity") else "-"
        if record.get("threads"):
            cpus += f", {record['threads']} thread(s)"
        lines.append(
            f"| {record['minutes']:g} min | {record['name']} | {changes} | {record['validation_bleu']:.2f} "
            f"| {record['validation_chrf']:.1f} | {unk} | {record['steps']:,} "
            f"| {record['target_tokens_per_second']:,.0f} | {record['commit']}, {record['date']} | {cpus} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--table"]:  # python -m bench.recipes --table LOG
        records = [json.loads(line) for line in pathlib.Path(argv[1]).read_text().splitlines() if line]
        print(table(records), end="")
        return 0
    if argv[:1] == ["--run"]:  # the subprocess
        changes, minutes, data, workdir, out, pairs, threads = argv[1:8]
        if threads != "None":
            import tensorflow as tf

            tf.config.threading.set_intra_op_parallelism_threads(int(threads))
            tf.config.threading.set_inter_op_parallelism_threads(int(threads))
        result = run_candidate(json.loads(changes), float(minutes), data, workdir,
                               int(pairs) if pairs != "None" else None)
        pathlib.Path(out).write_text(json.dumps(result))
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.recipes", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, required=True)
    parser.add_argument("--candidate", nargs="+", required=True,
                        help=f"names from CANDIDATES ({', '.join(CANDIDATES)}) or JSON objects of Config changes")
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--max-train-pairs", type=int)
    parser.add_argument("--threads", type=int, help="TensorFlow threads (e.g. 1 when pinned to one core)")
    parser.add_argument("--log", default=str(REPO / "outputs" / "recipes.jsonl"))
    args = parser.parse_args(argv)
    log = pathlib.Path(args.log)
    log.parent.mkdir(parents=True, exist_ok=True)
    for name in args.candidate:
        changes = CANDIDATES[name] if name in CANDIDATES else json.loads(name)
        workdir, out = run_paths(args.minutes, changes)
        machine = harness.machine()
        started = time.perf_counter()
        completed = subprocess.run(
            [sys.executable, "-m", "bench.recipes", "--run", json.dumps(changes), str(args.minutes),
             args.data, str(workdir), str(out), str(args.max_train_pairs), str(args.threads)],
            cwd=REPO, capture_output=True, text=True,
        )
        if completed.returncode != 0:
            print(f"[recipes] {name} failed:\n{completed.stderr[-3000:]}", file=sys.stderr)
            continue
        result = json.loads(out.read_text())
        record = {
            "name": name, "changes": changes, "minutes": args.minutes, **result,
            "wall_minutes": (time.perf_counter() - started) / 60, "commit": commit(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load_average_at_start": machine["load_average_at_start"],
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            "threads": args.threads, "cpu_affinity": sorted(os.sched_getaffinity(0)),
        }
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        print(f"[recipes] {args.minutes:g} min {name:18s} validation BLEU {result['validation_bleu']:.2f} "
              f"chrF {result['validation_chrf']:.1f} [UNK] {result['unk_share']} "
              f"steps {result['steps']} tok/s {result['target_tokens_per_second']:.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
