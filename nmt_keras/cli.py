"""Command line: `python -m nmt_keras {demo,train,translate,evaluate,export}`.

    python -m nmt_keras demo [--output outputs/demo]
    python -m nmt_keras train --data spa-eng --output runs/spa-eng [--units 256 ...]
    python -m nmt_keras translate runs/spa-eng "¿Vio Ana a tres gatos negros?"
    echo "No bebemos la leche fría." | python -m nmt_keras translate runs/spa-eng
    python -m nmt_keras evaluate runs/spa-eng --data spa-eng [--split test]
    python -m nmt_keras export runs/spa-eng exported/spa-eng [--overwrite] [--quantize int8]

The flags are generated from the fields of `nmt_keras.config.Config` (and, for the
options of `translate` and `export` that are not settings of a run,
`TranslateOptions`): the help text, the choices and the defaults come from there, and
making the `Config` checks them. `translate` decodes as
the model's saved settings say (the decoding `train` evaluated it with), unless its
decoding flags are given.

TensorFlow's C++ start-up lines (CUDA probing, absl and oneDNN notices) are kept out of
the output unless `--verbose` is given (`filter_tensorflow_noise`). When stdout is not
a terminal, `train` prints a progress line at least every `PROGRESS_SECONDS` instead of
Keras' progress bar.

`main` is the one error boundary. Every flag and combination of flags, the output
directories and the model directory's files are checked before TensorFlow is loaded
and before any work starts. Problems with the data, the model directory, the
arguments or the file system are reported in one line on stderr (exit status 2),
without a traceback; a training stopped by a NaN or infinite loss exits with status 3;
a reader that closes the output pipe early (`translate ... | head -1`) ends the program
quietly. Importing this module (and `--help`) loads no TensorFlow.

`translate` reading stdin translates it chunk by chunk (`STREAM_BATCHES` batches, one
line at a time from a terminal) and prints each chunk's translations, in input order,
as soon as they are done: memory does not grow with the input.
"""

import argparse
import dataclasses
import os
import pathlib
import re
import signal
import sys
import threading

from nmt_keras.config import (
    DATA_LOCATION,
    RECIPES,
    Config,
    ConfigError,
    TranslateOptions,
    apply_recipe,
    demo_config,
    value_type,
)
from nmt_keras.constants import BYTES_PER_MB

# Exit status for bad input (data, model directory, arguments), as argparse uses.
EXIT_BAD_INPUT = 2
# Exit status when training diverged (NaN or infinite loss).
EXIT_TRAINING_FAILED = 3
# Exit status after Ctrl-C, as shells report SIGINT (128 + 2).
EXIT_INTERRUPTED = 130
# Exit status when the reader of stdout went away, as shells report SIGPIPE (128 + 13).
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE
# `translate` on stdin translates this many batches of lines at a time.
STREAM_BATCHES = 16
# The errors reported in one line with EXIT_BAD_INPUT, by the module that defines each.
# A module that was never imported raised none of its errors, so `main` looks up only
# loaded ones (importing nmt_keras.training.callbacks would load TensorFlow).
BAD_INPUT_ERRORS = (
    ("nmt_keras.config", "ConfigError"),
    ("nmt_keras.cli", "InputError"),
    ("nmt_keras.atomic", "DirectoryInUseError"),
    ("nmt_keras.data.corpora", "CorpusError"),
    ("nmt_keras.saving", "ModelDirError"),
    ("nmt_keras.training.callbacks", "ResumeError"),
    ("nmt_keras.inference.export", "ExportError"),
)
# The error of a training stopped by a NaN or infinite loss (EXIT_TRAINING_FAILED).
TRAINING_FAILED_ERROR = ("nmt_keras.training.callbacks", "NonFiniteLossError")
# Accepted on the command line for a setting whose value may be None.
NONE = "none"
# When stdout is not a terminal, `train` prints a progress line this often (seconds).
PROGRESS_SECONDS = 30
# What TensorFlow's C++ runtime prints on start-up that says nothing to a reader: absl's
# notice, CUDA probing on machines without a GPU (cudart_stub, cuInit), CPU-feature and
# oneDNN notices. Matched line by line against stderr.
TENSORFLOW_NOISE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IWE]\d{4} [\d:.]+ +\d+ (?:cudart_stub|cuda_\w+|port|cpu_feature_guard)\.cc:\d+\] "
    r"|[IWE]\d{4} .*\boneDNN\b"
    r"|To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags"
)
_stop_noise_filter = None  # set while `filter_tensorflow_noise` runs


class InputError(ValueError):
    """Input that cannot be used (e.g. stdin that is not UTF-8, an unusable directory)."""


class OneLineParser(argparse.ArgumentParser):
    """Argument errors as one line on stderr (exit status 2), not usage and a message."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


class IntermixedParser(OneLineParser):
    """A `OneLineParser` whose flags may stand between its positional arguments
    (`translate MODEL --beam-width 4 SENTENCE ...`): Python 3.11's argparse otherwise
    gives a `nargs="*"` positional nothing once a flag follows the first positional."""

    _intermixing = False

    def parse_known_args(self, args=None, namespace=None):
        if self._intermixing:  # parse_known_intermixed_args calls back here
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


def is_tensorflow_noise(line):
    """True for a stderr line of `TENSORFLOW_NOISE`."""
    return TENSORFLOW_NOISE.match(line) is not None


def filter_tensorflow_noise():
    """From now on, drops the `TENSORFLOW_NOISE` lines that C++ code writes to this
    process's stderr (file descriptor 2); every other line passes through unchanged.

    File descriptor 2 becomes a pipe read by a daemon thread, which forwards the lines
    it keeps to the original stderr (in a Jupyter kernel: the notebook). Calling it
    again changes nothing.

    Returns:
        a function that stops the filter: it puts the original stderr back and returns
        once every line written before has been forwarded.
    """
    global _stop_noise_filter
    if _stop_noise_filter is not None:
        return _stop_noise_filter
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    original = os.dup(2)
    os.dup2(write_end, 2)
    os.close(write_end)

    def forward():
        with os.fdopen(read_end, "rb") as lines:
            for line in lines:
                if not is_tensorflow_noise(line.decode("utf-8", "replace")):
                    os.write(original, line)

    thread = threading.Thread(target=forward, name="tensorflow-noise-filter", daemon=True)
    thread.start()

    def stop():
        global _stop_noise_filter
        sys.stderr.flush()
        os.dup2(original, 2)  # closes the pipe's last write end: the thread reads to its end
        thread.join(timeout=10)
        os.close(original)
        _stop_noise_filter = None

    _stop_noise_filter = stop
    return stop


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


# How `--help` describes a default taken from the model directory.
FROM_MODEL = "the model's"


def _describe_default(field, default):
    if default is FROM_MODEL:
        return FROM_MODEL
    if default is None:
        return field.metadata.get("none_means") or "none"
    if isinstance(default, bool):
        return "yes" if default else "no"
    return str(default)


def add_flags(parser, options_class, command, base=None, groups=None):
    """Adds a flag for every field of `options_class` that `command` takes, grouped as
    the fields say. A flag that is not given leaves no attribute (`SUPPRESS`), so only
    given flags override `base`, and "none" can set a field to None. Without `base` the
    defaults are the model's (`translate`). `groups`: the argument groups made so far,
    by name (flags of several classes can share them)."""
    groups = {} if groups is None else groups
    for field in dataclasses.fields(options_class):
        meta = field.metadata
        if command not in meta["commands"]:
            continue
        if meta["group"] not in groups:
            groups[meta["group"]] = parser.add_argument_group(meta["group"])
        group = groups[meta["group"]]
        kind, optional = value_type(field)
        default = FROM_MODEL if base is None else getattr(base, field.name)
        help_text = f"{meta['help']} (default: {_describe_default(field, default)})"
        if optional and default not in (None, FROM_MODEL):
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


def given_flags(args, options_class):
    """The values of the flags of `options_class`'s fields that the user gave."""
    names = {f.name for f in dataclasses.fields(options_class)}
    return {k: v for k, v in vars(args).items() if k in names}


def options_from_args(args, base):
    """`base` with every flag the user gave applied (and so checked)."""
    return dataclasses.replace(base, **given_flags(args, type(base)))


def _training_output(config):
    """`(verbose, callbacks)` for `train_and_evaluate`: Keras' progress bar in a
    terminal; elsewhere (logs, CI) a `ProgressLog` line at least every
    `PROGRESS_SECONDS`."""
    if sys.stdout.isatty():
        return 1, ()
    from nmt_keras.training.callbacks import ProgressLog

    budget = config.time_budget * 60.0 if config.time_budget else None
    return 0, (ProgressLog(config.epochs, PROGRESS_SECONDS, budget),)


# ------------------------------------------------------------------------ commands


def _check_output(path):
    """An `InputError` unless directory `path` can be written as a whole (see
    `nmt_keras.atomic.replacement_problem`), before TensorFlow loads."""
    from nmt_keras.atomic import replacement_problem

    problem = replacement_problem(path)
    if problem:
        raise InputError(f"--output {path}: {problem}")


def _check_data(config):
    """The local data file of `config` can be read (`corpora.check_data`)."""
    from nmt_keras.data.corpora import check_data

    limit = config.max_corpus_mb
    check_data(config.data, None if limit is None else limit * BYTES_PER_MB)


def run_demo(args):
    config = options_from_args(args, demo_config())
    _check_output(args.output)
    import nmt_keras.demo as demo

    verbose, callbacks = _training_output(config)
    report = demo.run_demo(args.output, config, verbose=verbose, callbacks=callbacks)
    print(demo.summary(report, args.output))


def run_train(args):
    config = options_from_args(args, Config())
    _check_output(args.output)
    _check_data(config)
    from nmt_keras.training.train import train_and_evaluate

    data = None
    if config.recipe is None and config.time_budget is not None:
        config, data = _with_budget_recipe(args, config)
    elif config.recipe is not None:
        config = apply_recipe(Config(), config.recipe, given=given_flags(args, Config))
    verbose, callbacks = _training_output(config)
    _, _, report = train_and_evaluate(config, args.output, data, verbose=verbose, callbacks=callbacks)
    from nmt_keras.evaluation import describe_scores

    print(f"test {describe_scores(report)} on {report['pairs']['test']} held-out pairs; "
          f"model saved in {args.output}")
    print(
        f"padding: {report['padding_fraction']:.1%} of the source and target positions "
        f"in the training batches"
    )


def _with_budget_recipe(args, config):
    """`(config, data)`: `config` on the recipe for its time budget (flags still win)
    and the split data if timing this machine read it (else None). An interrupted run in
    `--output` keeps the recipe and decay steps it started with; otherwise a few timed
    training steps say how many steps the budget buys here
    (`nmt_keras.training.train.choose_recipe`)."""
    from nmt_keras.training.train import choose_recipe, prepare_data, recorded_recipe

    data = None
    recorded = recorded_recipe(args.output)
    if recorded is not None:
        name, steps = recorded
        print(f"recipe {name!r}: the one the interrupted run in {args.output} started with")
    elif config.strategy == "multi-worker":
        raise ConfigError(
            "--time-budget picks its recipe by timing training here, which a multi-worker "
            f"run cannot do before it starts; choose one with --recipe {{{','.join(RECIPES)}}}"
        )
    else:
        data = prepare_data(config)
        name, steps = choose_recipe(config, data)
    config = apply_recipe(Config(), name, steps, given_flags(args, Config))
    if recorded is None:
        again = f" --decay-steps {config.decay_steps}" if config.decay_steps else ""
        print(f"recipe {name!r}: {config.time_budget:g} min buy about {steps:,} training "
              f"steps of this model here (docs/recipes.md); --recipe {name}{again} "
              f"repeats this choice")
    return config, data


def _decode_stdin_line(raw, number):
    try:
        return raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as error:
        raise InputError(
            f"stdin, line {number}: not UTF-8 at byte {error.start} ({error.reason}): "
            f"{raw[max(0, error.start - 10) : error.end + 10]!r}"
        ) from None


def _chunks(args, size):
    """The sentences to translate, in lists of at most `size`: the arguments, or the
    lines of stdin as they arrive (one at a time from a terminal)."""
    if args.sentences:
        for start in range(0, len(args.sentences), size):
            yield args.sentences[start : start + size]
        return
    if sys.stdin.isatty():
        size = 1
    chunk = []
    for number, raw in enumerate(sys.stdin.buffer, start=1):
        chunk.append(_decode_stdin_line(raw, number))
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _format(result, n_best):
    if n_best > 1:
        # One block per sentence: "score<TAB>hypothesis" lines, best first, then a blank line.
        lines = [f"{score:.4f}\t{text}" for text, score in zip(result["n_best_text"], result["n_best_score"])]
        return "".join(line + "\n" for line in lines) + "\n"
    return result["text"] + "\n"


def _decoding(args, options, settings):
    """`Translator.translate` options: the model's saved decoding `settings`, with the
    decoding flags the user gave."""
    given = given_flags(args, Config)
    return options.decoding(dataclasses.replace(settings, **given), given)


def run_translate(args):
    from nmt_keras.saving import check_model_dir

    options = options_from_args(args, TranslateOptions())
    heatmap_dir = _writable_dir(options.heatmaps) if options.heatmaps else None
    saved = check_model_dir(args.model_dir)  # before the slow load; None for a .keras file
    decoding = None if saved is None else _decoding(args, options, saved)

    import nmt_keras.plots as plots
    from nmt_keras.inference.translator import translate_batches
    from nmt_keras.saving import load_translator

    translator = load_translator(args.model_dir, quantize=options.quantize)
    decoding = decoding or _decoding(args, options, translator.config)
    done = written = 0
    for chunk in _chunks(args, options.batch_size * STREAM_BATCHES):
        results = translate_batches(translator, chunk, batch_size=options.batch_size, **decoding)
        sys.stdout.write("".join(_format(result, options.n_best) for result in results))
        sys.stdout.flush()
        if heatmap_dir is not None:
            written += plots.write_heatmaps(chunk, results, heatmap_dir, first=done + 1)
        done += len(chunk)
    if heatmap_dir is not None:
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


def _same_corpus(a, b):
    """True if corpus names or paths `a` and `b` name the same corpus file."""
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):  # a name like "spa-eng", or a URL
        return False


def run_evaluate(args):
    from nmt_keras.saving import check_model_dir, load_config

    check_model_dir(args.model_dir)
    # The split's seed and sizes come from the model's config.json; where the corpus
    # is comes from the command line only (a model directory is data, not instructions).
    saved = load_config(args.model_dir)
    base = dataclasses.replace(saved, **{name: getattr(Config(), name) for name in DATA_LOCATION})
    config = options_from_args(args, base)
    output = pathlib.Path(args.output or pathlib.Path(args.model_dir) / "evaluation")
    if output.exists() and not output.is_dir():
        raise InputError(f"--output {output}: exists and is not a directory")
    _check_data(config)
    if not _same_corpus(saved.data, config.data):
        print(f"note: the model was trained on {saved.data[:200]!r}; scoring {config.data!r} "
              "(--data names the corpus)", file=sys.stderr)

    import json

    from nmt_keras.atomic import atomic_write_text
    from nmt_keras.config import decoding_options
    from nmt_keras.saving import load_translator
    from nmt_keras.evaluation import describe_scores, evaluate_split
    from nmt_keras.training.train import REPORT_FILE, prepare_data

    translator = load_translator(args.model_dir)
    data = prepare_data(config)
    pairs = getattr(data, args.split)
    if args.limit is not None:
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
    output.mkdir(parents=True, exist_ok=True)
    atomic_write_text(output / REPORT_FILE, json.dumps(report, indent=2))
    print(f"{args.split}: {describe_scores(report)} on {len(pairs)} pairs; report written to "
          f"{output / REPORT_FILE}")


def run_export(args):
    from nmt_keras.saving import check_model_dir

    options = options_from_args(args, TranslateOptions())
    check_model_dir(args.model_dir)

    from nmt_keras.inference.export import check_out_dir, describe_signatures, export_translator
    from nmt_keras.saving import load_translator

    check_out_dir(args.out_dir, overwrite=args.overwrite, model_dir=args.model_dir)
    translator = load_translator(args.model_dir, quantize=options.quantize)
    export_translator(translator, args.out_dir)
    weights = f" ({options.quantize} embeddings and Dense kernels)" if options.quantize else ""
    print(f"SavedModel written to {args.out_dir}{weights}; serving signatures:")
    for line in describe_signatures(args.out_dir):
        print(f"  {line}")


def _positive_int(text):
    """argparse type: an int >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected int, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _with_common_flags(add_parser, common):
    """`add_parser` whose parsers take the flags of `common` and refuse abbreviated
    flags (`--maxout` for `--maxout-units` would otherwise be taken silently)."""

    def add(*args, **kwargs):
        return add_parser(*args, allow_abbrev=False, parents=[common], **kwargs)

    return add


def build_parser():
    parser = OneLineParser(
        prog="python -m nmt_keras", allow_abbrev=False,
        description="Neural machine translation with attention (Keras 3).",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=IntermixedParser)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--verbose", action="store_true",
        help="also show TensorFlow's start-up lines (CUDA probing, oneDNN notices)",
    )
    commands.add_parser = _with_common_flags(commands.add_parser, common)

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
    groups = {}
    add_flags(translate, Config, "translate", groups=groups)
    add_flags(translate, TranslateOptions, "translate", TranslateOptions(), groups)
    translate.set_defaults(run=run_translate)

    evaluate = commands.add_parser("evaluate", help="score a saved model, write report.json")
    evaluate.add_argument("model_dir", help="a directory written by `train`")
    evaluate.add_argument(
        "--split", choices=("test", "validation", "train"), default="test",
        help="which split of the data to score (split with the model's saved seed and sizes)",
    )
    evaluate.add_argument("--limit", type=_positive_int, help="score only the first N pairs (N >= 1)")
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
    add_flags(export, TranslateOptions, "export", TranslateOptions())
    export.set_defaults(run=run_export)
    return parser


def _loaded(names):
    """The classes named by (module, class) pairs, from the modules already imported."""
    return tuple(getattr(sys.modules[module], name) for module, name in names if module in sys.modules)


def _one_line(error):
    """An error as one line: its message, or for an OSError its reason and file."""
    if isinstance(error, OSError) and error.strerror:
        text = error.strerror + (f": {error.filename}" if error.filename else "")
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())


def _quiet_stdout():
    """Points stdout at /dev/null, so that the flush at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv=None):
    args = build_parser().parse_args(argv)
    stop_filter = None if args.verbose else filter_tensorflow_noise()
    try:
        return _run(args)
    finally:
        if stop_filter is not None:
            stop_filter()


def _run(args):
    """Runs the command; what goes wrong the user can fix is one line on stderr."""
    try:
        args.run(args)
    except KeyboardInterrupt:
        hint = " (rerun the same command to resume training)" if args.command == "train" else ""
        print(f"interrupted{hint}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except Exception as error:
        if isinstance(error, _loaded(BAD_INPUT_ERRORS)):
            status = EXIT_BAD_INPUT
        elif isinstance(error, _loaded([TRAINING_FAILED_ERROR])):
            status = EXIT_TRAINING_FAILED
        elif isinstance(error, OSError):  # a file that cannot be written, a full disk
            status = EXIT_BAD_INPUT
        else:
            raise  # a bug: its traceback is the report
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return status
    return 0
