"""Command line: `python -m nmt_keras {demo,train,translate,evaluate,export}`.

    python -m nmt_keras demo [--output outputs/demo]
    python -m nmt_keras train --data spa-eng --output runs/spa-eng [--units 256 ...]
    python -m nmt_keras translate runs/spa-eng "¿Vio Ana a tres gatos negros?"
    echo "No bebemos la leche fría." | python -m nmt_keras translate runs/spa-eng
    python -m nmt_keras translate runs/spa-eng "No bebemos la leche fría." --heatmaps plots/
    python -m nmt_keras evaluate runs/spa-eng [--split test] [--output DIR]
    python -m nmt_keras export runs/spa-eng exported/spa-eng [--overwrite]

Problems with the data, the model directory or the arguments are reported in one line
on stderr (exit status 2), without a traceback.
"""

import argparse
import dataclasses
import json
import os
import pathlib
import sys

from nmt_keras.config import Config, ConfigError, decoding_options, demo_config
from nmt_keras.data.corpora import DIRECTIONS, CorpusError
from nmt_keras.attention import ATTENTION_TYPES
from nmt_keras.training.distribute import PRECISIONS, STRATEGIES
from nmt_keras.embeddings import EMBEDDING_INITS
from nmt_keras.recurrent import CELLS
from nmt_keras.training.schedules import SCHEDULES
from nmt_keras.data.tokenizers import TOKENIZER_KINDS
from nmt_keras.translator import DECODERS

# Exit status for bad input (data, model directory, arguments), as argparse uses.
EXIT_BAD_INPUT = 2
# Exit status when training diverged (NaN or infinite loss).
EXIT_TRAINING_FAILED = 3
# Exit status after Ctrl-C, as shells report SIGINT (128 + 2).
EXIT_INTERRUPTED = 130


class InputError(ValueError):
    """Sentences to translate that cannot be read (e.g. stdin that is not UTF-8)."""

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
    group = parser.add_argument_group("model size and training")
    group.add_argument("--units", type=int, help=f"RNN units (default {_DEFAULTS.units})")
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
        "--deterministic", action="store_true", default=None,
        help="deterministic TensorFlow ops: the same command gives the same weights",
    )
    group.add_argument(
        "--backup-every", type=int, dest="backup_every_steps", metavar="N",
        help="also back up the training state every N steps (default: after each epoch); "
        "rerun the same command to resume an interrupted run",
    )
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
    group.add_argument(
        "--mixed-precision", dest="precision", action="store_const", const="mixed",
        help="same as --precision mixed: float16 with loss scaling on GPU, bfloat16 on TPU/CPU",
    )
    group.add_argument(
        "--fixed-shapes", action="store_true", default=None,
        help="pad every batch to its length bucket's boundary and drop incomplete training "
        "batches, so batch shapes repeat (for XLA; always on with a TPU)",
    )
    group.add_argument(
        "--jit-compile", action="store_true", default=None,
        help="compile the training step with XLA (implies --fixed-shapes)",
    )

    model = parser.add_argument_group("architecture (defaults: Bahdanau et al. 2015)")
    model.add_argument("--attention", choices=ATTENTION_TYPES, help="attention score (default bahdanau)")
    model.add_argument(
        "--decoder", choices=DECODERS,
        help="bahdanau: attend with s_{t-1}, context into the RNN; luong: RNN first, attend with h_t",
    )
    model.add_argument(
        "--input-feeding", action="store_true", default=None,
        help="luong decoder: feed the attentional vector to the next step (slower)",
    )
    model.add_argument("--cell", choices=CELLS, help="recurrent cell (default gru)")
    model.add_argument("--encoder-layers", type=int, help="stacked encoder layers (default 1)")
    model.add_argument(
        "--bidirectional", action=argparse.BooleanOptionalAction, default=None,
        help="bidirectional encoder (default: yes)",
    )
    model.add_argument(
        "--reverse-source", action="store_true", default=None,
        help="feed the source words reversed (Sutskever et al. 2014)",
    )
    model.add_argument(
        "--maxout", action="store_true", default=None,
        help="maxout deep output (Bahdanau et al.) with --maxout-units (default: --units)",
    )
    model.add_argument("--maxout-units", type=int, help="size of the maxout layer (implies --maxout)")
    model.add_argument(
        "--source-prior", action="store_true", default=None,
        help="learned logit bonus for target words that also occur in the source",
    )
    model.add_argument("--dropout", type=float, help="dropout rate (default 0)")
    model.add_argument(
        "--embedding-init", choices=EMBEDDING_INITS,
        help="how word embeddings start: uniform in +-0.05 (Keras' default) or normal with "
        f"unit variance (default {_DEFAULTS.embedding_init}; see notes/embedding_init.md)",
    )
    model.add_argument(
        "--tokenizer", choices=TOKENIZER_KINDS,
        help="tokens: word (default), wordpiece (subwords learned on the training split), "
        "or char; --max-vocab-size sets the wordpiece vocabulary's target size; char "
        "sentences are about 5 times longer: raise --max-output-length (e.g. 200)",
    )

    objective = parser.add_argument_group("training objective")
    objective.add_argument("--label-smoothing", type=float, help="(default 0)")
    objective.add_argument("--clipnorm", type=float, help="clip gradients to this norm")
    objective.add_argument(
        "--scheduled-sampling", choices=SCHEDULES,
        help="feed the decoder its own samples with a probability that grows with the step",
    )
    objective.add_argument(
        "--sampling-decay", type=float,
        help="the schedule's constant k: linear slope, exponential base, inverse-sigmoid k",
    )
    objective.add_argument(
        "--max-sampling-probability", type=float,
        help=f"cap on the sampling probability (default {_DEFAULTS.max_sampling_probability})",
    )
    _add_decoding_arguments(parser, n_best=False)


def _add_decoding_arguments(parser, n_best):
    group = parser.add_argument_group("decoding")
    group.add_argument("--beam-width", type=int, help="beam search with K beams (default 1: greedy)")
    group.add_argument("--length-penalty", type=float, help="GNMT length-penalty alpha (default 0)")
    if n_best:
        group.add_argument("--n-best", type=int, help="print the N best hypotheses with scores")
        group.add_argument(
            "--temperature", type=float, help="sample translations at this temperature"
        )
        group.add_argument("--sample-seed", type=int, default=0, help="seed of the sampling")
        group.add_argument("--max-length", type=int, help="maximum output tokens")


def _config_from_args(args, base):
    """`base` Config with every option the user gave on the command line applied."""
    fields = {f.name for f in dataclasses.fields(Config)}
    changes = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    if getattr(args, "time_budget_min", None) is not None:
        changes["time_budget_s"] = args.time_budget_min * 60.0
    if changes.get("jit_compile"):
        changes["fixed_shapes"] = True  # XLA needs repeating batch shapes
    if getattr(args, "maxout", None) and "maxout_units" not in changes:
        changes["maxout_units"] = changes.get("units", base.units)
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
    from nmt_keras.training.train import train_and_evaluate

    config = _config_from_args(args, Config())
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


def _decoding_from_args(args):
    """`Translator.translate` options from the decoding flags."""
    if getattr(args, "temperature", None) is not None:
        if args.beam_width:
            raise ConfigError("choose either --temperature (sampling) or --beam-width (beam search)")
        return {"method": "sample", "temperature": args.temperature, "seed": args.sample_seed}
    n_best = getattr(args, "n_best", None) or 1
    beam_width = args.beam_width or (n_best if n_best > 1 else 1)
    if beam_width < 1 or n_best > beam_width:
        raise ConfigError(f"need 1 <= --n-best <= --beam-width, got {n_best} and {beam_width}")
    if beam_width == 1:
        return {"method": "greedy"}
    return {
        "method": "beam", "beam_width": beam_width, "n_best": n_best,
        "length_penalty": args.length_penalty or 0.0,
    }


def run_translate(args):
    from nmt_keras.inference.search import translate_batches
    from nmt_keras.saving import load_translator

    options = _decoding_from_args(args)
    heatmap_dir = _writable_dir(args.heatmaps) if args.heatmaps else None  # before the slow load
    translator = load_translator(args.model_dir)
    sentences = _read_sentences(args)
    results = translate_batches(translator, sentences, max_length=args.max_length, **options)
    for result in results:
        if options.get("n_best", 1) > 1:
            # One block per sentence: "score<TAB>hypothesis" lines, best first, then a blank line.
            for text, score in zip(result["n_best_text"], result["n_best_score"]):
                print(f"{score:.4f}\t{text}")
            print()
        else:
            print(result["text"])
    if heatmap_dir is not None:
        written = write_heatmaps(sentences, results, heatmap_dir)
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


def write_heatmaps(sentences, results, directory):
    """Writes `attention_<n>.png` into `directory` for the n-th sentence (from 1), source
    tokens on x and output tokens on y; sentences that are empty or blank get none.
    Returns how many were written."""
    import numpy as np

    from nmt_keras import plots

    written = 0
    for number, (sentence, result) in enumerate(zip(sentences, results), start=1):
        if not sentence.strip():
            continue
        one = {key: np.asarray(result[key])[None] for key in ("tokens", "source_tokens", "attention")}
        figure = plots.translation_heatmap(one, title=f"{sentence}\n-> {result['text']}")
        plots.save(figure, pathlib.Path(directory) / f"attention_{number}.png")
        written += 1
    return written


def run_evaluate(args):
    from nmt_keras.saving import load_config, load_translator
    from nmt_keras.training.train import REPORT_FILE, evaluate_split, prepare_data

    translator = load_translator(args.model_dir)
    config = load_config(args.model_dir)
    fields = {f.name for f in dataclasses.fields(Config)}
    overrides = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    config = dataclasses.replace(config, **overrides).validate()
    data = prepare_data(config)
    pairs = getattr(data, args.split)
    if args.limit:
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


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m nmt_keras",
        description="Neural machine translation with attention (Keras 3).",
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
    _add_decoding_arguments(translate, n_best=True)
    translate.add_argument(
        "--heatmaps", metavar="DIR",
        help="also write each sentence's attention heatmap to DIR/attention_<n>.png (n from 1)",
    )
    translate.set_defaults(run=run_translate)

    evaluate = commands.add_parser("evaluate", help="score a saved model, write report.json")
    evaluate.add_argument("model_dir", help="a directory written by `train`")
    _add_data_arguments(evaluate)
    evaluate.add_argument(
        "--split", choices=("test", "validation", "train"), default="test",
        help="which split of the data to score (the split uses the model's saved seed)",
    )
    evaluate.add_argument("--limit", type=int, help="score only the first N pairs")
    _add_decoding_arguments(evaluate, n_best=False)
    evaluate.add_argument("--output", help="directory for report.json (default MODEL_DIR/evaluation)")
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
    from nmt_keras.training.callbacks import NonFiniteLossError
    from nmt_keras.inference.export import ExportError
    from nmt_keras.training.resume import ResumeError
    from nmt_keras.saving import ModelDirError

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
