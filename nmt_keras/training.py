"""`train_and_evaluate(config, workdir)`: one whole run, from corpus to test scores.

The run writes into `workdir` (see `nmt_keras.saving` for the model files):

    config.json, translator.json, *_vocab.txt, model.weights.h5   the model
    history.json, history.png      loss / masked accuracy per epoch
    report.json                    test BLEU, chrF, loss, accuracy, speed, sizes
    test_translations.tsv          source, reference, hypothesis for every test pair
    checkpoints/best.weights.h5    best weights so far (validation loss), during training
    backup/                        state to resume an interrupted run (removed at the end)
    logs/                          TensorBoard event files
"""

import dataclasses
import json
import os
import pathlib
import platform
import time

import keras

from nmt_keras import plots
from nmt_keras.callbacks import Throughput, TimeBudget
from nmt_keras.config import Config, decoding_options, translator_options
from nmt_keras.corpora import load_corpus, split_pairs
from nmt_keras.dataset import encode_pairs, make_dataset
from nmt_keras.distribute import choose_strategy, describe, dtype_policy, mixed_precision_policy
from nmt_keras.evaluation import evaluate_loss, evaluate_translator, tensorflow_versions
from nmt_keras.saving import save_translator
from nmt_keras.tokenizers import learn_tokens
from nmt_keras.translator import Translator

REPORT_FILE = "report.json"
HISTORY_FILE = "history.json"
TRANSLATIONS_FILE = "test_translations.tsv"


@dataclasses.dataclass
class PreparedData:
    """A corpus split three ways, ready for a `Translator` built on its training words."""

    corpus: object  # nmt_keras.corpora.Corpus
    train: tuple  # of SentencePair
    validation: tuple
    test: tuple


def prepare_data(config):
    """Loads the corpus of `config` and splits it with the config's seed."""
    corpus = load_corpus(
        config.data,
        config.direction,
        origin=config.data_origin,
        sha256=config.data_sha256,
        cache_dir=config.cache_dir,
    )
    splits = split_pairs(corpus.pairs, config.seed, config.validation_size, config.test_size)
    train = splits.train[: config.max_train_pairs] if config.max_train_pairs else splits.train
    return PreparedData(corpus, tuple(train), splits.validation, splits.test)


def build_translator(config, train_pairs, strategy=None):
    """A fresh, compiled `Translator` whose vocabularies come from the training pairs only.

    Its variables are created under `strategy` (default: `config.strategy`), with the
    dtype policy that `config.precision` asks for on that hardware.
    """
    strategy = strategy or choose_strategy(config.strategy)
    source_words = learn_tokens(
        config.tokenizer, [p.source for p in train_pairs], config.max_vocab_size
    )
    target_words = learn_tokens(
        config.tokenizer, [p.target for p in train_pairs], config.max_vocab_size
    )
    with strategy.scope(), dtype_policy(mixed_precision_policy(strategy, config.precision)):
        translator = Translator(source_words, target_words, **translator_options(config))
        translator.build_with_dummy_batch()
        translator.compile(
            optimizer=keras.optimizers.Adam(config.learning_rate, clipnorm=config.clipnorm)
        )
    return translator


def _callbacks(config, workdir):
    checkpoints = workdir / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)
    callbacks = [
        keras.callbacks.BackupAndRestore(str(workdir / "backup")),
        keras.callbacks.ModelCheckpoint(
            str(checkpoints / "best.weights.h5"),
            monitor="val_loss",
            save_best_only=True,
            save_weights_only=True,
        ),
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=config.patience, restore_best_weights=True
        ),
        keras.callbacks.TensorBoard(str(workdir / "logs"), write_graph=False, profile_batch=0),
    ]
    time_budget = None
    if config.time_budget_s:
        time_budget = TimeBudget(config.time_budget_s)
        callbacks.append(time_budget)
    return callbacks, time_budget


def train(config, translator, data, workdir, verbose=2):
    """Fits `translator` on `data.train`, validating on `data.validation`.

    Returns:
        dict with the Keras history and timing / throughput figures.
    """
    keras.utils.set_random_seed(config.seed)
    train_set = make_dataset(
        encode_pairs(translator, data.train), config.batch_size, shuffle_seed=config.seed
    )
    validation_set = make_dataset(encode_pairs(translator, data.validation), config.batch_size)
    callbacks, time_budget = _callbacks(config, workdir)
    throughput = Throughput()
    started = time.perf_counter()
    history = translator.fit(
        train_set,
        validation_data=validation_set,
        epochs=config.epochs,
        steps_per_epoch=config.steps_per_epoch,
        callbacks=callbacks + [throughput],
        shuffle=False,  # the dataset shuffles itself, with the config's seed
        verbose=verbose,
    )
    seconds = time.perf_counter() - started
    # EarlyStopping(restore_best_weights=True) has put back the best epoch's weights.
    stopping = next(c for c in callbacks if isinstance(c, keras.callbacks.EarlyStopping))
    return {
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "epochs": len(history.history.get("loss", [])),
        "training_steps": int(translator.optimizer.iterations.numpy()),
        "training_seconds": seconds,
        "target_tokens_trained": throughput.tokens,
        "target_tokens_per_second": throughput.tokens_per_second(),
        "stopped_by_time_budget": bool(time_budget and time_budget.stopped),
        "best_epoch": stopping.best_epoch + 1 if stopping.best_weights is not None else None,
    }


def write_translations(path, pairs, report):
    """TSV of source, reference (standardized), hypothesis for every evaluated pair."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("source\treference\thypothesis\n")
        for pair, reference, hypothesis in zip(pairs, report["references"], report["hypotheses"]):
            handle.write(f"{pair.source}\t{reference}\t{hypothesis}\n")


def evaluate_split(translator, pairs, batch_size, decoding=None):
    """Scores of `translator` on `pairs`: BLEU, chrF, AER, masked loss and accuracy.

    Args:
        decoding: dict of `Translator.translate` options (method, beam_width, ...);
            None: greedy search.
    """
    report = evaluate_translator(translator, pairs, batch_size=batch_size, decoding=decoding)
    losses = evaluate_loss(translator, make_dataset(encode_pairs(translator, pairs), batch_size))
    report.update(loss=losses["loss"], accuracy=losses["accuracy"])
    return report


def machine_description():
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        **tensorflow_versions(),
    }


def train_and_evaluate(config, workdir, verbose=2):
    """Runs one whole experiment and writes its model and report into `workdir`.

    Args:
        config: `Config`.
        workdir: directory to write into (created if needed).
        verbose: Keras `fit` verbosity (0 silent, 1 progress bar, 2 one line per epoch).

    Returns:
        `(translator, data, report)`: the trained model, the split data, and the
        report dict also written to `workdir/report.json`.
    """
    started = time.perf_counter()
    config = config.validate()
    data = prepare_data(config)
    translator, report = run_experiment(config, data, workdir, verbose=verbose, started=started)
    return translator, data, report


def run_experiment(config, data, workdir, verbose=2, started=None):
    """Trains a fresh model on already prepared `data` and evaluates it on `data.test`.

    Several experiments on the same split (an ablation) call this once each after one
    `prepare_data`.

    Args:
        config: `Config`; its data settings are not used here.
        data: `PreparedData` from `prepare_data`.
        workdir: directory for the model, logs and report (created if needed).
        verbose: Keras `fit` verbosity.
        started: `time.perf_counter()` at the start of the whole run, for `wall_time_s`.

    Returns:
        `(translator, report)`; the report is also written to `workdir/report.json`.
    """
    started = time.perf_counter() if started is None else started
    config = config.validate()
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    strategy = choose_strategy(config.strategy)
    translator = build_translator(config, data.train, strategy)
    (workdir / "config.json").write_text(config.to_json())
    training = train(config, translator, data, workdir, verbose=verbose)
    save_translator(translator, workdir, config)

    test = evaluate_split(translator, data.test, config.batch_size, decoding_options(config))
    write_translations(workdir / TRANSLATIONS_FILE, data.test, test)
    (workdir / HISTORY_FILE).write_text(json.dumps(training["history"], indent=2))
    plots.save(plots.plot_history(training["history"], title=f"{data.corpus.name}"), workdir / "history.png")

    report = {
        "data": data.corpus.name,
        "origin": data.corpus.origin,
        "direction": f"{data.corpus.source_language} -> {data.corpus.target_language}",
        "pairs": {"train": len(data.train), "validation": len(data.validation), "test": len(data.test)},
        "vocabulary_size": {
            "source": len(translator.source_vocabulary),
            "target": len(translator.target_vocabulary),
        },
        "parameters": int(translator.count_params()),
        "bleu": test["bleu"],
        "chrf": test["chrf"],
        "bleu_detail": test["bleu_detail"],
        "bleu_signature": test["bleu_signature"],
        "chrf_signature": test["chrf_signature"],
        "test_loss": test["loss"],
        "test_accuracy": test["accuracy"],
        "alignment_error_rate": test.get("alignment_error_rate"),
        "translation_sentences_per_second": test["sentences_per_second"],
        "decoding": decoding_options(config),
        **{k: v for k, v in training.items() if k != "history"},
        "wall_time_s": time.perf_counter() - started,
        "machine": machine_description(),
        "strategy": describe(strategy),
        "dtype_policy": translator.dtype_policy.name,
        "config": dataclasses.asdict(config),
    }
    (workdir / REPORT_FILE).write_text(json.dumps(report, indent=2))
    return translator, report
