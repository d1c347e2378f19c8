"""`python -m bench.ablation`: what each of nmt_keras' training-speed choices buys.

Trains (b) `--decoder bahdanau` and (c) `--decoder luong` with everything on, then with
one choice at a time switched back to the plain way of doing it, and the reference (a)
once, all in one run on one machine with the benchmark's settings (spa-eng, 5,000 words,
256 units, batches of 64). Each measurement runs in its own subprocess
(`bench.harness`), with the same warm-up and timed steps as `python -m bench`. Writes
`bench/ablation.md`: training target tokens/s, and the ratios over the reference and
over the variant with everything on.

The switches (`ABLATIONS`; `bench/choices.py` undoes them), each undoing one choice:

  keras-kernels   `--kernels keras`: Keras' GRU, TensorFlow's cross-entropy and Keras'
                  Adam instead of the fused kernels of `nmt_keras.fast`
  all-positions   the output layer and loss at every target position, padding masked,
                  instead of at real positions only
  wide-buckets    length buckets 4 tokens wide instead of 1
  none            all three at once
"""

import argparse
import sys
import time

from bench import harness
from bench.choices import ABLATIONS
from bench.common import DEFAULT_DATA, REPO, portable_command
from bench.report import write

DEFAULT_OUTPUT = REPO / "bench" / "ablation.md"


def run(settings, decoders=("bahdanau", "luong"), ablations=ABLATIONS, workdir=None, log=print):
    """Measures the reference once and every (decoder, ablation); returns a report."""
    import tempfile

    workdir = workdir or tempfile.mkdtemp(prefix="nmt_ablation_")
    settings = dict(settings, translate=False)  # training speed only
    started = time.perf_counter()
    report = {"machine": harness.machine(), "settings": settings, "results": {}}
    jobs = [("reference", "all")] + [(d, a) for d in decoders for a in ablations]
    for variant, ablation in jobs:
        result = harness.run_in_subprocess(
            variant, dict(settings, ablation=ablation), workdir, name=f"{variant}-{ablation}"
        )
        rate = result["training"]["target_tokens_per_second"]
        report["results"][f"{variant}/{ablation}"] = result
        log(f"[ablation] {variant:9s} {ablation:14s} {rate:7.0f} target tokens/s")
    report["wall_seconds"] = time.perf_counter() - started
    return report


def render(report, command):
    """Markdown for `run`'s report; paths of this machine in `command` are named as
    `common.portable_path` does."""
    results = report["results"]
    settings = report["settings"]
    machine = report["machine"]
    reference = results["reference/all"]["training"]["target_tokens_per_second"]
    lines = [
        "# Ablation: what each training-speed choice of nmt_keras buys",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `{portable_command(command)}` "
        f"in {report['wall_seconds']:.0f} s, on {machine['platform']}, "
        f"{machine['cpu_count']} CPUs (load average at start {machine.get('load_average_at_start')}), "
        f"TensorFlow {machine['tensorflow']}, Keras {machine['keras']}.",
        "",
        f"Settings as in `python -m bench`: spa-eng, vocabulary {settings['vocabulary']}, "
        f"units {settings['units']}, batch {settings['batch_size']}; "
        f"{settings['warmup_steps']} warm-up steps, then {settings['train_steps']} timed steps; "
        "training target tokens per second (real tokens, no padding). Each row undoes one "
        "choice (see `bench/ablation.py`); every row ran in its own process.",
        "",
        "| decoder | switched off | train target tokens/s | padding | over reference (a) | over everything on |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
        f"| (a) reference | - | {reference:,.0f} "
        f"| {100 * results['reference/all']['training']['padding_fraction']:.0f} % | 1.00x | - |",
    ]
    for key, result in results.items():
        variant, ablation = key.split("/")
        if variant == "reference":
            continue
        rate = result["training"]["target_tokens_per_second"]
        everything = results.get(f"{variant}/all")
        versus_all = rate / everything["training"]["target_tokens_per_second"] if everything else None
        label = "nothing (as shipped)" if ablation == "all" else (
            "all three" if ablation == "none" else ablation
        )
        lines.append(
            f"| {variant} | {label} | {rate:,.0f} | {100 * result['training']['padding_fraction']:.0f} % "
            f"| {rate / reference:.2f}x | {'-' if versus_all is None else f'{versus_all:.2f}x'} |"
        )
    lines.append("")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.ablation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--decoders", nargs="+", choices=("bahdanau", "luong"), default=["bahdanau", "luong"])
    parser.add_argument("--ablations", nargs="+", choices=ABLATIONS, default=list(ABLATIONS))
    parser.add_argument("--train-steps", type=int, help="timed steps (default: as python -m bench)")
    parser.add_argument("--max-train-pairs", type=int, help="train on a slice of the training split")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT))
    parser.add_argument("--json", help="also write the raw results as JSON here")
    args = parser.parse_args(argv)
    settings = harness.default_settings()
    settings["data"] = args.data
    if args.train_steps:
        settings["train_steps"] = args.train_steps
    if args.max_train_pairs:
        settings["max_train_pairs"] = args.max_train_pairs
    command = "python -m bench.ablation " + " ".join(argv if argv is not None else sys.argv[1:])
    report = run(settings, args.decoders, args.ablations, log=lambda m: print(m, flush=True))
    write(render(report, command.strip()), report, args.output, args.json, tag="ablation")
    return 0


if __name__ == "__main__":
    sys.exit(main())
