"""`train_and_evaluate(config, workdir)`: one whole run, from corpus to test scores.

The run writes into `workdir` (see `nmt_keras.saving` for the model files):

    config.json, translator.json, *_vocab.txt, model.weights.h5   the model
    history.json, history.png      loss / masked accuracy per epoch
    report.json                    test BLEU, chrF, loss, accuracy, speed, sizes
    test_translations.tsv          source, reference, hypothesis for every test pair
    checkpoints/best.weights.h5    best weights so far (validation loss), during training
    backup/                        state to resume an interrupted run (`nmt_keras.training.callbacks`);
                                   removed when training ends normally, kept when it was
                                   cut short (time budget, non-finite loss, a kill)
    logs/                          TensorBoard event files
    .lock                          held while a run writes here (`nmt_keras.atomic`)

A run holds the lock of `workdir` from start to end: a second run into the same
directory fails at once. The model's files are written together when training has
succeeded (`nmt_keras.saving.save_translator`, all or nothing); until then a
directory that held a model still holds that model, whole.

The steps of a run are public, for the notebooks and for experiments that share one
split: `prepare_data` (corpus and split), `build_translator` (vocabularies and a
compiled model), `train` (resumable fitting), and `nmt_keras.evaluation.evaluate_split`.

A run with a time budget starts from the recipe for what the budget buys on this machine
(`choose_recipe`: `calibrate` times a few training steps, `nmt_keras.config.RECIPES`
says which recipe suits that many, and a linear learning-rate decay spans that many);
an interrupted run keeps the recipe and decay steps it started with (`recorded_recipe`).
"""

import dataclasses
import json
import os
import pathlib
import platform
import shutil
import time

import keras
import tensorflow as tf

import nmt_keras.atomic as atomic
from nmt_keras.config import RECIPES, ConfigError, decoding_options, recipe_for_steps
from nmt_keras.constants import BYTES_PER_MB
from nmt_keras.data.batching import (
    batches_per_pass,
    encode_pairs,
    make_dataset,
    make_training_stream,
    padding_fraction,
)
from nmt_keras.data.corpora import load_corpus, split_pairs
from nmt_keras.data.tokenizers import learn_tokens
from nmt_keras.evaluation import evaluate_split
from nmt_keras.inference.translator import Translator
from nmt_keras.saving import ModelDirError, save_translator
from nmt_keras.training.callbacks import (
    Backup,
    BackupCallback,
    BestCheckpoint,
    EarlyStopping,
    LinearDecay,
    NonFiniteLossError,
    StopOnNonFiniteLoss,
    Throughput,
    TimeBudget,
)
from nmt_keras.training.distribute import (
    choose_precision,
    choose_strategy,
    describe_strategy,
    device_kind,
    dtype_policy,
    is_chief,
    make_optimizer,
    output_dir,
)

REPORT_FILE = "report.json"
HISTORY_FILE = "history.json"
TRANSLATIONS_FILE = "test_translations.tsv"
BEST_WEIGHTS = pathlib.Path("checkpoints") / "best.weights.h5"
BACKUP_DIR = "backup"
# Settings that may change when an interrupted run is resumed (train longer, or with
# another budget); any other change makes the backup unusable (`ResumeError`).
RESUMABLE_CHANGES = ("epochs", "time_budget", "patience", "backup_every")
# `calibrate` times this many training steps, after warm-up steps that trace the step.
CALIBRATION_STEPS = 20
CALIBRATION_WARMUP_STEPS = 2
# The test scores of report.json (`nmt_keras.evaluation.evaluate_translator`).
SCORES = (
    "bleu", "chrf", "bleu_standardized", "chrf_standardized", "unk_share", "loop_share",
    "bleu_detail", "bleu_signature", "chrf_signature",
)


@dataclasses.dataclass
class PreparedData:
    """A corpus split three ways, ready for a `Translator` built on its training words."""

    corpus: object  # nmt_keras.data.corpora.Corpus
    train: tuple  # of SentencePair
    validation: tuple
    test: tuple


def prepare_data(config):
    """Loads the corpus of `config` and splits it with the config's seed."""
    corpus = load_corpus(
        config.data,
        config.direction,
        origin=config.data_url,
        sha256=config.sha256,
        cache_dir=config.cache_dir,
        max_bytes=None if config.max_corpus_mb is None else config.max_corpus_mb * BYTES_PER_MB,
    )
    splits = split_pairs(corpus.pairs, config.seed, config.validation_size, config.test_size)
    train = splits.train[: config.max_train_pairs] if config.max_train_pairs else splits.train
    return PreparedData(corpus, tuple(train), splits.validation, splits.test)


def build_translator(config, train_pairs, strategy=None):
    """A fresh `Translator` with a compiled model, its vocabularies learned from the
    training pairs only.

    Its variables are created under `strategy` (default: `config.strategy`), with the
    dtype policy that `config.precision` asks for on that hardware (`choose_precision`);
    the optimizer uses the kernels the model resolved (`Seq2Seq.kernels`).
    """
    keras.utils.set_random_seed(config.seed)  # the initial weights depend on the seed only
    strategy = strategy or choose_strategy(config.strategy)
    source_words, target_words = (
        learn_tokens(config.tokenizer, texts, config.max_vocab_size, config.casing)
        for texts in ([p.source for p in train_pairs], [p.target for p in train_pairs])
    )
    policy = choose_precision(strategy, config.precision).policy
    with strategy.scope(), dtype_policy(policy):
        translator = Translator(source_words, target_words, config, for_training=True)
        model = translator.model
        optimizer = make_optimizer(config.learning_rate, config.clipnorm, policy, model.kernels)
        model.compile(optimizer=optimizer, jit_compile=config.jit_compile)
    return translator


def uses_fixed_shapes(config, strategy):
    """Fixed-shape batches when the config asks for them, and always on a TPU."""
    return bool(config.uses_fixed_shapes or device_kind(strategy) == "TPU")


def enable_determinism(seed):
    """Seeds Python, NumPy and Keras and makes TensorFlow ops deterministic.

    `tf.config.experimental.enable_op_determinism` is process-wide and cannot be undone:
    every later TensorFlow op in this process picks deterministic kernels (slower on GPU;
    ops without one raise an error).
    """
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()



def calibrate(config, data, steps=CALIBRATION_STEPS, warmup=CALIBRATION_WARMUP_STEPS):
    """Training steps per second of `config`'s model and batch size on this machine.

    Builds a throwaway model on `data.train` (as `train` would) and runs `warmup`
    steps (which trace the training step), then `steps` more, in one `fit`; it times
    those `steps`, from the end of the last warm-up step to the end of the last step:
    the pace of a long run, without the once-per-run costs (tracing, starting the input
    pipeline) that `fit` pays first.
    """
    if warmup < 1 or steps < 1:
        raise ValueError(f"calibrate needs warmup >= 1 and steps >= 1, got {warmup} and {steps}")
    translator = build_translator(config, data.train)
    model = translator.model
    fixed = uses_fixed_shapes(config, model.distribute_strategy)
    stream = make_training_stream(encode_pairs(translator, data.train), config.batch_size, config.seed, fixed_shapes=fixed)
    ends = []
    clock = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: ends.append(time.perf_counter()))
    model.fit(stream.take(warmup + steps), steps_per_epoch=warmup + steps, shuffle=False, verbose=0,
              callbacks=[clock])
    return (len(ends) - warmup) / (ends[-1] - ends[warmup - 1])


def choose_recipe(config, data):
    """`(name, steps)`: the recipe of `nmt_keras.config.RECIPES` for the training steps
    that `config.time_budget` buys here, and that number of steps (`calibrate`)."""
    steps = int(calibrate(config, data) * config.time_budget * 60.0)
    return recipe_for_steps(steps), steps


def recorded_recipe(workdir):
    """`(name, decay_steps)` of the interrupted run whose backup is in `workdir`: the
    recipe it started from and the steps its learning rate decays over (None for a
    constant one); None if there is no backup or its run had no recipe.

    Raises:
        ResumeError: the backup is damaged or names a recipe this version lacks.
    """
    backup = Backup(pathlib.Path(workdir) / BACKUP_DIR)
    state = backup.load()
    settings = (state.settings or {}) if state else {}
    name = settings.get("recipe")
    if name is None:
        return None
    if not isinstance(name, str) or name not in RECIPES:
        raise backup.refusal(
            f"{backup.state_path} records recipe {str(name)[:40]!r}, not one of {tuple(RECIPES)}"
        )
    return name, settings.get("decay_steps")

@dataclasses.dataclass
class Callbacks:
    """The callbacks of one `train` call, by job; `ordered` gives `fit` its list."""

    non_finite: StopOnNonFiniteLoss
    best: BestCheckpoint
    stopping: EarlyStopping
    time_budget: TimeBudget | None
    throughput: Throughput
    others: list

    @classmethod
    def for_run(cls, config, workdir, total_steps, extra=()):
        others = [keras.callbacks.TensorBoard(str(workdir / "logs"), write_graph=False, profile_batch=0)]
        seconds = config.time_budget * 60.0 if config.time_budget else None
        if config.learning_rate_schedule == "linear":
            # Over the decay steps alone when they are set: then the learning rate of
            # every step is known before the run starts, and a resumed run continues it.
            others.append(LinearDecay(config.learning_rate, config.decay_steps or total_steps,
                                      None if config.decay_steps else seconds))
        return cls(
            non_finite=StopOnNonFiniteLoss(),
            best=BestCheckpoint(workdir / BEST_WEIGHTS, monitor="val_loss"),
            # The best weights are loaded from the checkpoint file after fit() (see
            # `train`), which survives an interruption.
            stopping=EarlyStopping(monitor="val_loss", patience=config.patience),
            time_budget=TimeBudget(seconds) if seconds else None,
            throughput=Throughput(),
            others=others + list(extra),
        )

    def resumable(self):
        """The callbacks whose state a backup keeps, by name."""
        return {"early_stopping": self.stopping, "best_checkpoint": self.best}

    def ordered(self, backup_callback):
        """The fit() order: the NaN check first (later callbacks see its verdict), the
        backup last (it saves the other callbacks' epoch-end decisions)."""
        budget = [self.time_budget] if self.time_budget else []
        return [self.non_finite, self.best, self.stopping, *budget, *self.others,
                self.throughput, backup_callback]


def train(config, translator, data, workdir, verbose=2, callbacks=()):
    """Fits `translator` on `data.train`, validating on `data.validation`.

    Training is resumable: the state is backed up into `workdir/backup` after every
    epoch and every `config.backup_every` steps, and a call that finds a backup
    continues from it: same data order, same step count, and with
    `config.deterministic` the same final weights as a run that was never interrupted.
    At the end the best epoch's weights (lowest validation loss) are loaded.

    Args:
        callbacks: extra Keras callbacks (e.g. a learning-rate schedule).

    Returns:
        dict with the Keras history and timing / throughput figures.

    Raises:
        NonFiniteLossError: the loss became NaN or infinite and no epoch had finite
            weights to fall back on.
    """
    workdir = pathlib.Path(workdir)
    if config.deterministic:
        enable_determinism(config.seed)
    else:
        keras.utils.set_random_seed(config.seed)
    model = translator.model
    fixed = uses_fixed_shapes(config, model.distribute_strategy)
    encoded = encode_pairs(translator, data.train)
    steps_per_epoch = config.steps_per_epoch or batches_per_pass(encoded, config.batch_size, fixed_shapes=fixed)

    def stream(skip_batches=0):
        return make_training_stream(encoded, config.batch_size, config.seed, skip_batches, fixed_shapes=fixed)

    padding = padding_fraction(stream().take(steps_per_epoch))  # the first epoch's batches
    validation_set = make_dataset(
        encode_pairs(translator, data.validation), config.batch_size, fixed_shapes=fixed, drop_remainder=False
    )
    run = Callbacks.for_run(config, workdir, config.epochs * steps_per_epoch, callbacks)
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k not in RESUMABLE_CHANGES}
    backup = Backup(workdir / BACKUP_DIR)
    state = backup.restore(model, settings)
    run.non_finite.step = state.step if state else 0
    if state is None:
        (workdir / BEST_WEIGHTS).unlink(missing_ok=True)  # left by an earlier run here: not ours
    backup_callback = BackupCallback(
        backup, config.backup_every, run.resumable(), state, steps_per_epoch, settings
    )
    started = time.perf_counter()
    while backup_callback.step < config.epochs * steps_per_epoch:
        # A run resumed mid-epoch first finishes that epoch with its remaining steps.
        epoch, done = divmod(backup_callback.step, steps_per_epoch)
        model.fit(
            stream(backup_callback.step),
            validation_data=validation_set,
            initial_epoch=epoch,
            epochs=epoch + 1 if done else config.epochs,
            steps_per_epoch=steps_per_epoch - done,
            callbacks=run.ordered(backup_callback),
            shuffle=False,  # the stream is shuffled, reproducibly, by the seed
            verbose=verbose,
        )
        if model.stop_training:
            break
    seconds = time.perf_counter() - started
    return _finish(model, run, backup, backup_callback, workdir, state, {
        "training_steps": int(model.optimizer.iterations.numpy()),
        "steps_per_epoch": steps_per_epoch,
        "training_seconds": seconds,
        "padding_fraction": padding["total"],
        "padding_fraction_detail": padding,
        "fixed_shapes": fixed,
    })


def _finish(model, run, backup, backup_callback, workdir, state, figures):
    """After fitting: the best weights loaded, the backup removed unless the run can be
    resumed, and the summary of the training."""
    stopped_by_budget = bool(run.time_budget and run.time_budget.stopped)
    diverged = run.non_finite.stopped
    best_path = workdir / BEST_WEIGHTS
    if best_path.exists():
        model.load_weights(best_path)  # optimizer variables too: training is over
    elif diverged:
        raise NonFiniteLossError(
            f"{run.non_finite.message()}; no epoch ended with a finite validation loss, so "
            f"there are no good weights to keep"
        )
    resumable = stopped_by_budget or diverged
    if not resumable:
        backup.remove()
    history = backup_callback.history
    best_epoch = run.best.best_epoch
    return {
        "history": history,
        "epochs": len(history.get("loss", [])),
        **figures,
        "resumed_from_step": state.step if state else None,
        "target_tokens_trained": run.throughput.tokens,
        "target_tokens_per_second": run.throughput.tokens_per_second(),
        "stopped_by_time_budget": stopped_by_budget,
        "stopped_by_non_finite_loss": run.non_finite.report(),
        "non_finite_message": run.non_finite.message() if diverged else None,
        "resumable": resumable,
        "best_epoch": best_epoch + 1 if best_epoch is not None else None,
    }


def write_test_translations(path, pairs, report):
    """TSV of source, reference, hypothesis for every evaluated pair."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("source\treference\thypothesis\n")
        for pair, reference, hypothesis in zip(pairs, report["references"], report["hypotheses"]):
            handle.write(f"{pair.source}\t{reference}\t{hypothesis}\n")


def plot_history(history, title=None):
    """Loss and masked accuracy per epoch, training and validation, side by side.

    Args:
        history: dict of lists as in `keras.callbacks.History.history`.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, (loss_ax, accuracy_ax) = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, label in ((loss_ax, "loss", "masked cross-entropy"), (accuracy_ax, "accuracy", "masked token accuracy")):
        for prefix, style in (("", "-o"), ("val_", "--s")):
            values = history.get(prefix + key)
            if values:
                epochs = range(1, len(values) + 1)
                ax.plot(epochs, values, style, label=("validation " if prefix else "training ") + key)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def machine_description():
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }


def train_and_evaluate(config, workdir, data=None, verbose=2, callbacks=()):
    """Runs one whole experiment and writes its model and report into `workdir`.

    Args:
        config: `Config`.
        workdir: directory to write into (created if needed).
        data: `PreparedData` to train and test on; None: `prepare_data(config)`.
            Several experiments on one split (an ablation) prepare it once.
        verbose: Keras `fit` verbosity (0 silent, 1 progress bar, 2 one line per epoch).
        callbacks: extra Keras callbacks for `fit` (e.g. a learning-rate schedule).

    Returns:
        `(translator, data, report)`: the trained model, the split data, and the
        report dict also written to `workdir/report.json` (under multi-worker training
        by the chief only; the other workers write into a temporary directory that is
        removed at the end).
    """
    started = time.perf_counter()
    workdir = pathlib.Path(os.path.abspath(workdir))
    problem = atomic.replacement_problem(workdir)
    if problem:  # the model is saved by renaming a directory in its place
        raise ModelDirError(f"{workdir} {problem}")
    # First: a multi-worker strategy must be created before TensorFlow runs any op.
    try:
        strategy = choose_strategy(config.strategy)
    except ValueError as error:  # no TPU, no TF_CONFIG, ...: a setting that cannot work
        raise ConfigError(str(error)) from None
    workdir = output_dir(workdir, strategy)
    # Locked before the data is read, so that a second run into it fails at once.
    with atomic.lock_directory(workdir, "training"):
        data = data or prepare_data(config)
        # What killed writes of an earlier run left here (this run holds the lock).
        for directory in (workdir, workdir / BEST_WEIGHTS.parent):
            atomic.remove_leftovers(directory)
        atomic.remove_leftovers(workdir.parent, of=workdir.name)
        precision = choose_precision(strategy, config.precision)
        print(f"training on {describe_strategy(strategy)}; precision {precision}", flush=True)
        translator = build_translator(config, data.train, strategy)  # seeds the initialization
        training = train(config, translator, data, workdir, verbose=verbose, callbacks=callbacks)
        report = _report(config, translator, data, workdir, training, strategy, started)
    if not is_chief(strategy):
        shutil.rmtree(workdir, ignore_errors=True)  # a non-chief worker's throwaway copy
    return translator, data, report


def _report(config, translator, data, workdir, training, strategy, started):
    """Saves the model, scores it on the test split and writes the report; after a
    non-finite loss, writes the report of the failed run and raises instead."""
    summary = {k: v for k, v in training.items() if k != "history"}
    if training["stopped_by_non_finite_loss"]:
        # Keep the evidence and the last good weights; do not evaluate or save a model
        # (a model saved here before stays whole, with its own config.json).
        report = {**summary, "history": training["history"], "config": dataclasses.asdict(config)}
        atomic.atomic_write_text(workdir / REPORT_FILE, json.dumps(report, indent=2))
        raise NonFiniteLossError(
            f"{training['non_finite_message']}; the last good weights are kept in "
            f"{workdir / BEST_WEIGHTS} and the last good training state in {workdir / BACKUP_DIR}"
        )
    try:
        save_translator(translator, workdir, config)
    except OSError as error:
        raise ModelDirError(
            f"cannot save the model into {workdir}: {error.strerror or error}; the "
            f"previous content of {workdir} is unchanged"
        ) from None
    decoding = decoding_options(config)
    test = evaluate_split(translator, data.test, config.batch_size, decoding, training["fixed_shapes"])
    write_test_translations(workdir / TRANSLATIONS_FILE, data.test, test)
    atomic.atomic_write_text(workdir / HISTORY_FILE, json.dumps(training["history"], indent=2))
    import matplotlib.pyplot as plt

    figure = plot_history(training["history"], title=data.corpus.name)
    figure.savefig(workdir / "history.png", dpi=120, bbox_inches="tight")
    plt.close(figure)
    report = {
        "data": data.corpus.name,
        "origin": data.corpus.origin,
        "direction": f"{data.corpus.source_language} -> {data.corpus.target_language}",
        "pairs": {"train": len(data.train), "validation": len(data.validation), "test": len(data.test)},
        "vocabulary_size": {
            "source": len(translator.source_vocabulary),
            "target": len(translator.target_vocabulary),
        },
        "parameters": int(translator.model.count_params()),
        **{k: test[k] for k in SCORES},
        "test_loss": test["loss"],
        "test_accuracy": test["accuracy"],
        "alignment_error_rate": test.get("alignment_error_rate"),
        "translation_sentences_per_second": test["sentences_per_second"],
        "decoding": decoding,
        **summary,
        "wall_time_s": time.perf_counter() - started,
        "machine": machine_description(),
        "strategy": describe_strategy(strategy),
        "dtype_policy": translator.model.dtype_policy.name,
        "precision_choice": str(choose_precision(strategy, config.precision)),
        "config": dataclasses.asdict(config),
    }
    atomic.atomic_write_text(workdir / REPORT_FILE, json.dumps(report, indent=2))
    return report
