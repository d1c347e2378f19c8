"""Command line: `python -m nmt_keras {demo,train,translate,evaluate,export}`.

    python -m nmt_keras demo [--output outputs/demo]
    python -m nmt_keras train --data spa-eng --output runs/spa-eng [--units 256 ...]
    python -m nmt_keras translate runs/spa-eng "¿Vio Ana a tres gatos negros?"
    echo "No bebemos la leche fría." | python -m nmt_keras translate runs/spa-eng
    python -m nmt_keras evaluate runs/spa-eng --data spa-eng [--split test]
    python -m nmt_keras export runs/spa-eng exported/spa-eng [--overwrite]

The flags of `train`, `demo` and `evaluate` are generated from the fields of
`nmt_keras.config.Config`, those of `translate` from `TranslateOptions`: the help text,
the choices and the defaults come from there, and `validate()` checks them once.
Problems with the data, the model directory or the arguments are reported in one line
on stderr (exit status 2), without a traceback. Importing this module (and `--help`)
loads no TensorFlow.
"""

import argparse
import dataclasses
import os
import pathlib
import sys

from nmt_keras.config import (
    DATA_LOCATION,
    Config,
    ConfigError,
    TranslateOptions,
    demo_config,
    recipe_for,
    value_type,
)

# Exit status for bad input (data, model directory, arguments), as argparse uses.
EXIT_BAD_INPUT = 2
# Exit status when training diverged (NaN or infinite loss).
EXIT_TRAINING_FAILED = 3
# Exit status after Ctrl-C, as shells report SIGINT (128 + 2).
EXIT_INTERRUPTED = 130
# Accepted on the command line for a setting whose value may be None.
NONE = "none"


class InputError(ValueError):
    """Input that cannot be used (e.g. stdin that is not UTF-8, an unusable directory)."""


class OneLineParser(argparse.ArgumentParser):
    """Argument errors as one line on stderr (exit status 2), not usage and a message."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


# ------------------------------------------------------------------- generated flags


def flag_name(field):
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def _parse_value(field):
    """The argparse `type` of a field: its Python type, and "none" for None."""
    kind, optional = value_type(field)

    def parse(text):
        if optional and text.lower() == NONE:
            return None
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind.__name__}, got {text!r}") from None

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def _describe_default(field, default):
    if default is None:
        return field.metadata.get("none_means") or "none"
    if isinstance(default, bool):
        return "yes" if default else "no"
    return str(default)


def add_flags(parser, options_class, command, base):
    """Adds a flag for every field of `options_class` that `command` takes, grouped as
    the fields say. A flag that is not given leaves no attribute (`SUPPRESS`), so only
    given flags override `base`, and "none" can set a field to None."""
    groups = {}
    for field in dataclasses.fields(options_class):
        meta = field.metadata
        if command not in meta["commands"]:
            continue
        if meta["group"] not in groups:
            groups[meta["group"]] = parser.add_argument_group(meta["group"])
        group = groups[meta["group"]]
        kind, optional = value_type(field)
        default = getattr(base, field.name)
        help_text = f"{meta['help']} (default: {_describe_default(field, default)})"
        if optional and default is not None:
            help_text += f"; '{NONE}': {meta.get('none_means') or 'unset'}"
        if kind is bool:
            group.add_argument(
                flag_name(field), dest=field.name, action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS, help=help_text,
            )
            continue
        group.add_argument(
            flag_name(field), dest=field.name, type=_parse_value(field), default=argparse.SUPPRESS,
            choices=meta["choices"], help=help_text.replace("%", "%%"),
            metavar=None if meta["choices"] else field.name.upper(),
        )


def options_from_args(args, base):
    """`base` with every flag the user gave applied, validated."""
    names = {f.name for f in dataclasses.fields(base)}
    changes = {k: v for k, v in vars(args).items() if k in names}
    return dataclasses.replace(base, **changes).validate()


def _verbosity():
    # One line per epoch in logs and CI; a progress bar in an interactive terminal.
    return 1 if sys.stdout.isatty() else 2


# ------------------------------------------------------------------------ commands


def run_demo(args):
    from nmt_keras import demo

    config = options_from_args(args, demo_config())
    report = demo.run_demo(args.output, config, verbose=_verbosity())
    print(demo.summary(report, args.output))


def run_train(args):
    from nmt_keras.training.train import train_and_evaluate

    base = Config()
    if getattr(args, "time_budget", None) is not None:  # the settings measured best for it
        base = dataclasses.replace(base, **recipe_for(args.time_budget))
    config = options_from_args(args, base)
    _, _, report = train_and_evaluate(config, args.output, verbose=_verbosity())
    print(
        f"test BLEU {report['bleu']:.1f}, chrF {report['chrf']:.1f} on "
        f"{report['pairs']['test']} held-out pairs; model saved in {args.output}"
    )
    print(
        f"padding: {report['padding_fraction']:.1%} of the source and target positions "
        f"in the training batches"
    )


def _read_sentences(args):
    if args.sentences:
        return args.sentences
    sentences = []
    for number, raw in enumerate(sys.stdin.buffer, start=1):
        try:
            sentences.append(raw.decode("utf-8").rstrip("\r\n"))
        except UnicodeDecodeError as error:
            raise InputError(
                f"stdin, line {number}: not UTF-8 at byte {error.start} ({error.reason}): "
                f"{raw[max(0, error.start - 10) : error.end + 10]!r}"
            ) from None
    return sentences


def run_translate(args):
    from nmt_keras import plots
    from nmt_keras.inference.translator import translate_batches
    from nmt_keras.saving import load_translator

    options = options_from_args(args, TranslateOptions())
    heatmap_dir = _writable_dir(options.heatmaps) if options.heatmaps else None  # before the slow load
    translator = load_translator(args.model_dir)
    sentences = _read_sentences(args)
    results = translate_batches(
        translator, sentences, batch_size=options.batch_size, **options.decoding()
    )
    for result in results:
        if options.n_best > 1:
            # One block per sentence: "score<TAB>hypothesis" lines, best first, then a blank line.
            for text, score in zip(result["n_best_text"], result["n_best_score"]):
                print(f"{score:.4f}\t{text}")
            print()
        else:
            print(result["text"])
    if heatmap_dir is not None:
        written = plots.write_heatmaps(sentences, results, heatmap_dir)
        print(f"{written} attention heatmap(s) written to {heatmap_dir}", file=sys.stderr)


def _writable_dir(path):
    """Creates directory `path` if needed; an `InputError` if that fails."""
    path = pathlib.Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"--heatmaps {path}: cannot create the directory ({error.strerror})") from None
    if not os.access(path, os.W_OK):
        raise InputError(f"--heatmaps {path}: the directory is not writable")
    return path


def run_evaluate(args):
    import json

    from nmt_keras.config import decoding_options
    from nmt_keras.saving import load_config, load_translator
    from nmt_keras.training.train import REPORT_FILE, evaluate_split, prepare_data

    translator = load_translator(args.model_dir)
    # The split's seed and sizes come from the model's config.json; where the corpus
    # is comes from the command line only (a model directory is data, not instructions).
    saved = load_config(args.model_dir)
    base = dataclasses.replace(saved, **{name: getattr(Config(), name) for name in DATA_LOCATION})
    config = options_from_args(args, base)
    data = prepare_data(config)
    pairs = getattr(data, args.split)
    if args.limit is not None:
        if args.limit < 1:
            raise ConfigError(f"--limit must be >= 1, got {args.limit}")
        pairs = pairs[: args.limit]
    decoding = decoding_options(config)
    scores = evaluate_split(translator, pairs, config.batch_size, decoding)
    report = {
        "model_dir": str(args.model_dir),
        "data": data.corpus.name,
        "split": args.split,
        "pairs": len(pairs),
        "decoding": decoding,
        **{k: v for k, v in scores.items() if k not in ("hypotheses", "references")},
    }
    output = pathlib.Path(args.output or pathlib.Path(args.model_dir) / "evaluation")
    output.mkdir(parents=True, exist_ok=True)
    (output / REPORT_FILE).write_text(json.dumps(report, indent=2))
    print(f"{args.split}: BLEU {report['bleu']:.1f}, chrF {report['chrf']:.1f} on {len(pairs)} pairs; "
          f"report written to {output / REPORT_FILE}")


def run_export(args):
    from nmt_keras.inference.export import check_out_dir, describe_signatures, export_translator
    from nmt_keras.saving import load_translator

    check_out_dir(args.out_dir, overwrite=args.overwrite)  # before the slow model load
    translator = load_translator(args.model_dir)
    export_translator(translator, args.out_dir)
    print(f"SavedModel written to {args.out_dir}; serving signatures:")
    for line in describe_signatures(args.out_dir):
        print(f"  {line}")


def _without_abbreviations(add_parser):
    """`add_parser` whose parsers refuse abbreviated flags (`--maxout` for
    `--maxout-units` would otherwise be taken silently)."""

    def add(*args, **kwargs):
        return add_parser(*args, allow_abbrev=False, **kwargs)

    return add


def build_parser():
    parser = OneLineParser(
        prog="python -m nmt_keras", allow_abbrev=False,
        description="Neural machine translation with attention (Keras 3).",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    commands.add_parser = _without_abbreviations(commands.add_parser)

    demo = commands.add_parser("demo", help="train and evaluate on the embedded corpus")
    demo.add_argument("--output", default=os.path.join("outputs", "demo"), help="output directory")
    add_flags(demo, Config, "demo", demo_config())
    demo.set_defaults(run=run_demo)

    train = commands.add_parser("train", help="train a model, save it, report test scores")
    train.add_argument("--output", required=True, help="model directory to write")
    add_flags(train, Config, "train", Config())
    train.set_defaults(run=run_train)

    translate = commands.add_parser("translate", help="translate sentences with a saved model")
    translate.add_argument("model_dir", help="a directory written by `train`")
    translate.add_argument("sentences", nargs="*", help="sentences (default: one per stdin line)")
    add_flags(translate, TranslateOptions, "translate", TranslateOptions())
    translate.set_defaults(run=run_translate)

    evaluate = commands.add_parser("evaluate", help="score a saved model, write report.json")
    evaluate.add_argument("model_dir", help="a directory written by `train`")
    evaluate.add_argument(
        "--split", choices=("test", "validation", "train"), default="test",
        help="which split of the data to score (split with the model's saved seed and sizes)",
    )
    evaluate.add_argument("--limit", type=int, help="score only the first N pairs")
    evaluate.add_argument("--output", help="directory for report.json (default MODEL_DIR/evaluation)")
    add_flags(evaluate, Config, "evaluate", Config())
    evaluate.set_defaults(run=run_evaluate)

    export = commands.add_parser(
        "export", help="write a SavedModel with text-in/text-out serving signatures"
    )
    export.add_argument("model_dir", help="a directory written by `train`")
    export.add_argument("out_dir", help="directory for the SavedModel (must be empty or new)")
    export.add_argument(
        "--overwrite", action="store_true", help="replace the contents of a non-empty OUT_DIR"
    )
    export.set_defaults(run=run_export)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    from nmt_keras.data.corpora import CorpusError
    from nmt_keras.inference.export import ExportError
    from nmt_keras.saving import ModelDirError
    from nmt_keras.training.callbacks import NonFiniteLossError
    from nmt_keras.training.resume import ResumeError

    try:
        args.run(args)
    except (CorpusError, ModelDirError, ConfigError, ResumeError, InputError, ExportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except NonFiniteLossError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_TRAINING_FAILED
    except KeyboardInterrupt:
        hint = " (rerun the same command to resume training)" if args.command == "train" else ""
        print(f"interrupted{hint}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0
