"""Command line: `python -m nmt_keras {demo,train,translate,evaluate}`.

    python -m nmt_keras demo [--output outputs/demo]
    python -m nmt_keras train --data spa-eng --output runs/spa-eng [--units 256 ...]
    python -m nmt_keras translate runs/spa-eng "¿Dónde está la biblioteca?"
    echo "Hace frío." | python -m nmt_keras translate runs/spa-eng
    python -m nmt_keras evaluate runs/spa-eng [--split test] [--output DIR]

Problems with the data, the model directory or the arguments are reported in one line
on stderr (exit status 2), without a traceback.
"""

import argparse
import dataclasses
import json
import os
import pathlib
import sys

from nmt_keras.config import Config, ConfigError, demo_config
from nmt_keras.corpora import DIRECTIONS, CorpusError
from nmt_keras.distribute import PRECISIONS, STRATEGIES

# Exit status for bad input (data, model directory, arguments), as argparse uses.
EXIT_BAD_INPUT = 2

_DEFAULTS = Config()


def _add_data_arguments(parser, required_default=None):
    group = parser.add_argument_group("data")
    group.add_argument(
        "--data",
        default=required_default,
        help="'synthetic' (the embedded corpus), 'spa-eng' (the TensorFlow tutorial's "
        "archive), or a path / http(s):// / file:// URL of a tab-separated file or zip",
    )
    group.add_argument(
        "--data-url",
        dest="data_origin",
        help="where to get 'spa-eng' from instead of the TensorFlow URL (a URL or path, "
        "e.g. file:///path/to/spa-eng.zip); its sha256 is still checked",
    )
    group.add_argument("--sha256", dest="data_sha256", help="expected sha256 of a downloaded file")
    group.add_argument("--cache-dir", help="download cache directory (default ~/.keras)")
    group.add_argument(
        "--direction",
        choices=DIRECTIONS,
        help="to-english: column 2 -> column 1 of the TSV (Spanish -> English for "
        f"spa-eng, the default); from-english: the reverse (default {_DEFAULTS.direction})",
    )
    group.add_argument("--validation-size", type=int, help=f"pairs (default {_DEFAULTS.validation_size})")
    group.add_argument("--test-size", type=int, help=f"pairs (default {_DEFAULTS.test_size})")
    group.add_argument("--max-train-pairs", type=int, help="train on at most this many pairs")


def _add_training_arguments(parser):
    group = parser.add_argument_group("model and training")
    group.add_argument("--units", type=int, help=f"GRU units (default {_DEFAULTS.units})")
    group.add_argument(
        "--embedding-dim", type=int, help=f"embedding size (default {_DEFAULTS.embedding_dim})"
    )
    group.add_argument("--attention-units", type=int, help="attention hidden size (default: units)")
    group.add_argument(
        "--max-vocab-size", type=int, help="vocabulary size per language (default: all words)"
    )
    group.add_argument("--epochs", type=int, help=f"maximum epochs (default {_DEFAULTS.epochs})")
    group.add_argument("--batch-size", type=int, help=f"(default {_DEFAULTS.batch_size})")
    group.add_argument("--learning-rate", type=float, help=f"Adam (default {_DEFAULTS.learning_rate})")
    group.add_argument("--patience", type=int, help=f"early stopping (default {_DEFAULTS.patience})")
    group.add_argument("--steps-per-epoch", type=int, help="default: one pass over the data")
    group.add_argument(
        "--time-budget", type=float, dest="time_budget_min", help="stop training after N minutes"
    )
    group.add_argument("--seed", type=int, help=f"(default {_DEFAULTS.seed})")
    group.add_argument(
        "--max-output-length", type=int, help=f"(default {_DEFAULTS.max_output_length})"
    )
    group.add_argument(
        "--strategy", choices=STRATEGIES,
        help="tf.distribute strategy; auto: TPU if found, else all GPUs, else the CPU",
    )
    group.add_argument(
        "--precision", choices=PRECISIONS,
        help="auto: mixed precision on GPU/TPU, float32 on CPU (default auto)",
    )


def _config_from_args(args, base):
    """`base` Config with every option the user gave on the command line applied."""
    fields = {f.name for f in dataclasses.fields(Config)}
    changes = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    if getattr(args, "time_budget_min", None) is not None:
        changes["time_budget_s"] = args.time_budget_min * 60.0
    return dataclasses.replace(base, **changes).validate()


def _verbosity():
    # One line per epoch in logs and CI; a progress bar in an interactive terminal.
    return 1 if sys.stdout.isatty() else 2


def run_demo(args):
    from nmt_keras import demo

    config = _config_from_args(args, demo_config())
    report = demo.run_demo(args.output, config, verbose=_verbosity())
    print(demo.summary(report, args.output))


def run_train(args):
    from nmt_keras.training import train_and_evaluate

    config = _config_from_args(args, Config())
    _, _, report = train_and_evaluate(config, args.output, verbose=_verbosity())
    print(
        f"test BLEU {report['bleu']:.1f}, chrF {report['chrf']:.1f} on "
        f"{report['pairs']['test']} held-out pairs; model saved in {args.output}"
    )


def _read_sentences(args):
    if args.sentences:
        return args.sentences
    return [line.rstrip("\n") for line in sys.stdin]


def run_translate(args):
    from nmt_keras.decoding import translate_all
    from nmt_keras.saving import load_translator

    translator = load_translator(args.model_dir)
    for line in translate_all(translator, _read_sentences(args), max_length=args.max_length):
        print(line)


def run_evaluate(args):
    from nmt_keras.saving import load_config, load_translator
    from nmt_keras.training import REPORT_FILE, evaluate_split, prepare_data

    translator = load_translator(args.model_dir)
    config = load_config(args.model_dir)
    overrides = {k: v for k, v in vars(args).items() if k in {f.name for f in dataclasses.fields(Config)} and v is not None}
    config = dataclasses.replace(config, **overrides).validate()
    data = prepare_data(config)
    pairs = getattr(data, args.split)
    if args.limit:
        pairs = pairs[: args.limit]
    scores = evaluate_split(translator, pairs, config.batch_size)
    report = {
        "model_dir": str(args.model_dir),
        "data": data.corpus.name,
        "split": args.split,
        "pairs": len(pairs),
        **{k: v for k, v in scores.items() if k not in ("hypotheses", "references")},
    }
    output = pathlib.Path(args.output or pathlib.Path(args.model_dir) / "evaluation")
    output.mkdir(parents=True, exist_ok=True)
    (output / REPORT_FILE).write_text(json.dumps(report, indent=2))
    print(f"{args.split}: BLEU {report['bleu']:.1f}, chrF {report['chrf']:.1f} on {len(pairs)} pairs; "
          f"report written to {output / REPORT_FILE}")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m nmt_keras",
        description="Neural machine translation with Bahdanau attention (Keras 3).",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="train and evaluate on the embedded corpus")
    demo.add_argument("--output", default=os.path.join("outputs", "demo"), help="output directory")
    _add_training_arguments(demo)
    demo.set_defaults(run=run_demo)

    train = commands.add_parser("train", help="train a model, save it, report test scores")
    _add_data_arguments(train, required_default="synthetic")
    _add_training_arguments(train)
    train.add_argument("--output", required=True, help="model directory to write")
    train.set_defaults(run=run_train)

    translate = commands.add_parser("translate", help="translate sentences with a saved model")
    translate.add_argument("model_dir", help="a directory written by `train`")
    translate.add_argument("sentences", nargs="*", help="sentences (default: one per stdin line)")
    translate.add_argument("--max-length", type=int, help="maximum output tokens")
    translate.set_defaults(run=run_translate)

    evaluate = commands.add_parser("evaluate", help="score a saved model, write report.json")
    evaluate.add_argument("model_dir", help="a directory written by `train`")
    _add_data_arguments(evaluate)
    evaluate.add_argument(
        "--split", choices=("test", "validation", "train"), default="test",
        help="which split of the data to score (the split uses the model's saved seed)",
    )
    evaluate.add_argument("--limit", type=int, help="score only the first N pairs")
    evaluate.add_argument("--output", help="directory for report.json (default MODEL_DIR/evaluation)")
    evaluate.set_defaults(run=run_evaluate)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    from nmt_keras.saving import ModelDirError

    try:
        args.run(args)
    except (CorpusError, ModelDirError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0
