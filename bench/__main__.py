"""`python -m bench [--quick] [--data PATH]`: the side-by-side speed benchmark.

Measures, in one run on one machine and the same data (spa-eng, Spanish -> English,
5,000 words per language, 256 units and embeddings, batches of 64):

  (a) the reference model (the TensorFlow tutorial's design, `bench/reference.py`), in
      float32,
  (b) nmt_keras with `--decoder bahdanau`, in float32 and in bfloat16,
  (c) nmt_keras with `--decoder luong` without input feeding, in float32 and in bfloat16,

(bfloat16: the "mixed_bfloat16" policy, training and translating) and writes
`bench/results.md` (machine and its bfloat16 CPU flags, command, numbers, ratios over
(a)).
"""

import argparse
import os
import sys

from bench import harness
from bench.common import DEFAULT_DATA, REPO
from bench.report import render, write

DEFAULT_OUTPUT = REPO / "bench" / "results.md"
# --quick must not overwrite the committed full-run results.
QUICK_OUTPUT = REPO / "outputs" / "bench_quick.md"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", default=str(DEFAULT_DATA),
        help="path or file:// URL of the spa-eng archive or any TSV (default: %(default)s)",
    )
    parser.add_argument("--quick", action="store_true", help="CI smoke run: small slice, few steps, 200 test sentences")
    parser.add_argument("--variants", nargs="+", choices=harness.VARIANTS, default=list(harness.VARIANTS))
    parser.add_argument(
        "--precisions", nargs="+", choices=harness.PRECISIONS, default=list(harness.PRECISIONS),
        help="precisions of (b) and (c); (a) runs in float32 (default: %(default)s)",
    )
    parser.add_argument("--warmup-steps", type=int, help="untimed training steps first")
    parser.add_argument("--train-steps", type=int, help="timed training steps")
    parser.add_argument("--test-sentences", type=int, help="sentences translated (and held out)")
    parser.add_argument("--max-train-pairs", type=int, help="train on a slice of the training split")
    parser.add_argument("--max-length", type=int, help="output length cap for every variant")
    parser.add_argument("--beam-width", type=int, help="beam width for (b) and (c); 1: no beam timing")
    parser.add_argument(
        "--validation-size", type=int,
        help="pairs held out by the split between test and train (default 2000, as in training)",
    )
    parser.add_argument(
        "--output",
        help=f"markdown report (default: {DEFAULT_OUTPUT}; with --quick: {QUICK_OUTPUT})",
    )
    parser.add_argument("--json", help="also write the raw results as JSON here")
    return parser.parse_args(argv)


def settings_from(args):
    settings = harness.quick_settings() if args.quick else harness.default_settings()
    settings["data"] = args.data
    overrides = {
        "warmup_steps": args.warmup_steps, "train_steps": args.train_steps,
        "test_sentences": args.test_sentences, "max_train_pairs": args.max_train_pairs,
        "max_length": args.max_length, "beam_width": args.beam_width,
        "validation_size": args.validation_size,
    }
    for name, value in overrides.items():
        if value is not None:
            if value < (0 if name == "warmup_steps" else 1):
                raise SystemExit(f"python -m bench: --{name.replace('_', '-')} must be positive, got {value}")
            settings[name] = value
    return settings


def main(argv=None):
    args = parse_args(argv)
    data = args.data
    if not data.startswith(("file://", "http://", "https://")) and not os.path.exists(data):
        print(f"python -m bench: data file not found: {data} (pass --data PATH)", file=sys.stderr)
        return 2
    settings = settings_from(args)
    command = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
    report = harness.run_benchmark(
        settings, args.variants, log=lambda m: print(m, flush=True), precisions=args.precisions
    )
    report["command"] = command.strip()
    output = args.output or (QUICK_OUTPUT if args.quick else DEFAULT_OUTPUT)
    write(render(report), report, output, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
