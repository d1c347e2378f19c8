"""Timing of the benchmark variants: one variant per subprocess, results as JSON.

Every run, a variant (`VARIANTS`) in a precision (`PRECISIONS`: the nmt_keras variants
in float32 and in bfloat16, the reference in float32), runs in its own Python subprocess
(`run_variant` is that process's entry point, `python -m bench.harness VARIANT
SETTINGS_JSON OUT_JSON`, the precision in the settings), so

* peak memory is the subprocess's own: `resource.getrusage(RUSAGE_SELF).ru_maxrss`
  at its end, i.e. the peak resident set size of the whole process (Python,
  TensorFlow, the corpus, the model, training and decoding). The TensorFlow runtime
  alone is a few hundred MB of it; the numbers compare variants, not models in isolation.
  (tracemalloc would miss TensorFlow's C++ allocations, which are most of the memory.)
* one variant's traced graphs, caches and thread pools do not slow down the next.

In each subprocess:

1. the corpus is loaded and split with the project's seeded split; vocabularies are
   learned from the training split (same for all variants: same data, same ids);
2. the model is built; translation speed is measured first, with the freshly
   initialized (untrained) weights: greedy search for every variant, beam search for
   the nmt_keras variants, all capped at `max_length` output tokens and stopping early
   when every sentence of a batch has produced `[END]`. Untrained weights rarely
   produce `[END]`, so nearly every batch runs the full `max_length` steps: the same
   work for every variant. One batch is translated first, untimed (tracing);
3. training speed: one `fit()` epoch of `warmup_steps` steps (tracing, untimed) then
   `train_steps` timed steps; the unit is real (non-padding) target tokens per second,
   read from each model's running `target_tokens` metric. The share of padding in
   those batches (source and target positions) is reported beside it.
"""

import json
import os
import platform
import resource
import subprocess
import sys
import time

from bench import choices

VARIANTS = ("reference", "bahdanau", "luong")
# The precisions the nmt_keras variants are measured in (trained and translating); the
# reference runs in float32 only, as the tutorial does. Each names a Keras dtype policy.
PRECISIONS = ("float32", "bfloat16")
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}
DESCRIPTIONS = {
    "reference": "(a) reference: the TF tutorial's design (bench/reference.py)",
    "bahdanau": "(b) nmt_keras --decoder bahdanau",
    "luong": "(c) nmt_keras --decoder luong (no input feeding)",
}
# nmt_keras' attention score for each decoder: its defaults.
ATTENTION = {"bahdanau": "bahdanau", "luong": "luong-general"}
# A test sentence batch translated before timing (traces the decoding graphs).
WARMUP_SENTENCES = 64


def default_settings():
    """The settings of a full run (the tutorial's sizes)."""
    return {
        "data": None,  # path or file:// URL of spa-eng.zip (set by the caller)
        "direction": "to-english",
        "seed": 0,
        "vocabulary": 5000,
        "units": 256,
        "embedding_dim": 256,
        "batch_size": 64,
        "learning_rate": 1e-3,
        "max_train_pairs": None,  # None: the whole training split
        "validation_size": 2000,
        "test_sentences": 2000,
        "warmup_steps": 10,
        "train_steps": 200,
        "max_length": 50,
        "beam_width": 4,
    }


def quick_settings():
    """`--quick`: a small slice, few steps, 200 test sentences (CI smoke, <= 2 min)."""
    settings = default_settings()
    settings.update(max_train_pairs=5000, test_sentences=200, warmup_steps=2, train_steps=5)
    return settings


# ------------------------------------------------------------------ in the subprocess


def _prepare(settings):
    from nmt_keras.data.corpora import load_corpus, split_pairs
    from nmt_keras.data.tokenizers import learn_vocabulary

    corpus = load_corpus(settings["data"], settings["direction"])
    splits = split_pairs(
        corpus.pairs, settings["seed"], settings["validation_size"], settings["test_sentences"]
    )
    train = splits.train[: settings["max_train_pairs"]] if settings["max_train_pairs"] else splits.train
    test = [p.source for p in splits.test[: settings["test_sentences"]]]
    # The tutorial's standardized tokens for both designs, so both read the same batches.
    source_words = learn_vocabulary([p.source for p in train], settings["vocabulary"], casing="lower")
    target_words = learn_vocabulary([p.target for p in train], settings["vocabulary"], casing="lower")
    return corpus, train, test, source_words, target_words


def run_name(variant, precision="float32"):
    """The key of a run in a report's results: the variant, and `/bfloat16` after it
    for a run in bfloat16."""
    return variant if precision == "float32" else f"{variant}/{precision}"


def _build(variant, settings, source_words, target_words, kernels="auto", precision="float32"):
    """`(translator, model)` for the variant, the model compiled with its optimizer: the
    reference is both; for nmt_keras they are the `Translator` and its `Seq2Seq`
    (`kernels`: "auto" as shipped, or "keras" for `bench.ablation`; `precision`: one of
    `PRECISIONS`, the dtype policy its layers compute in, training and translating)."""
    import keras

    if variant == "reference":
        from bench.reference import ReferenceTranslator

        model = ReferenceTranslator(
            source_words, target_words, settings["embedding_dim"], settings["units"]
        )
        model.build_with_dummy_batch()
        model.compile(optimizer=keras.optimizers.Adam(settings["learning_rate"]))  # the tutorial's
        return model, model
    from nmt_keras.config import Config
    from nmt_keras.inference.translator import Translator
    from nmt_keras.training.distribute import make_optimizer

    config = Config(
        embedding_dim=settings["embedding_dim"], units=settings["units"], decoder=variant,
        attention=ATTENTION[variant], max_output_length=settings["max_length"], kernels=kernels,
        casing="lower", block_repeats=False,  # the reference's tokens and plain greedy search
    )
    from nmt_keras.training.distribute import dtype_policy

    policy = POLICIES[precision]
    with dtype_policy(policy):
        translator = Translator(source_words, target_words, config, for_training=True)
    # What `train` uses.
    optimizer = make_optimizer(settings["learning_rate"], policy=policy, kernels=translator.model.kernels)
    translator.model.compile(optimizer=optimizer)
    return translator, translator.model


def _dataset(variant, translator, train, settings, bucket_width=None):
    """The variant's training batches (`bucket_width`: overrides nmt_keras' default)."""
    from nmt_keras.data.batching import AUTO, encode_pairs, make_dataset

    # Both kinds of model have the same vectorizers: the pairs are encoded alike, and
    # only the batching differs.
    encoded = encode_pairs(translator, train)
    if variant == "reference":
        from bench import reference

        return reference.make_dataset(encoded, settings["batch_size"], settings["seed"])
    return make_dataset(
        encoded, settings["batch_size"], shuffle_seed=settings["seed"],
        bucket_width=bucket_width or AUTO,
    )


def _translate_function(variant, translator, settings, **options):
    """A function texts -> list of str for the variant and decoding options."""
    if variant == "reference":
        from bench.reference import translate_all

        return lambda texts: translate_all(translator, texts, settings["batch_size"], settings["max_length"])
    from nmt_keras.inference.translator import translate_all

    # nmt_keras translates with its own default batch size (`TRANSLATE_BATCH_SIZE`).
    return lambda texts: translate_all(translator, texts, max_length=settings["max_length"], **options)


def time_translation(translate, texts):
    """Translates a warm-up batch (untimed), then all `texts`; returns the figures."""
    translate(texts[:WARMUP_SENTENCES])
    started = time.perf_counter()
    outputs = translate(texts)
    seconds = time.perf_counter() - started
    words = [len(text.split()) for text in outputs]
    return {
        "sentences": len(texts),
        "seconds": seconds,
        "sentences_per_second": len(texts) / seconds,
        "mean_output_words": sum(words) / max(len(words), 1),
        "example": outputs[0] if outputs else "",
    }


class _StepTimer:
    """Keras callback pieces: wall time and the model's running `target_tokens` sum
    (real target tokens trained on so far in the epoch) after the warm-up steps and
    after the last step."""

    def __init__(self, warmup_steps, total_steps):
        import keras

        timer = self

        class Callback(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                if warmup_steps == 0:
                    timer.mark("start", 0.0)

            def on_train_batch_end(self, batch, logs=None):
                if batch == warmup_steps - 1:
                    timer.mark("start", float(logs["target_tokens"]), float(logs["loss"]))
                if batch == total_steps - 1:
                    timer.mark("end", float(logs["target_tokens"]), float(logs["loss"]))

        self.callback = Callback()
        self.marks = {}

    def mark(self, name, tokens, loss=None):
        self.marks[name] = (time.perf_counter(), tokens, loss)


def time_training(model, dataset, warmup_steps, train_steps):
    """Trains with `fit()` (Keras' compiled train step, the dataset's own pipeline) for
    `warmup_steps` untimed steps then `train_steps` timed ones, in one epoch (the data
    repeat if they run out); target tokens/s over the timed steps."""
    total = warmup_steps + train_steps
    timer = _StepTimer(warmup_steps, total)
    model.fit(
        dataset.repeat(), epochs=1, steps_per_epoch=total, callbacks=[timer.callback],
        shuffle=False, verbose=0,
    )
    (start, tokens_start, _), (end, tokens_end, loss) = timer.marks["start"], timer.marks["end"]
    seconds = end - start
    tokens = int(round(tokens_end - tokens_start))
    return {
        "warmup_steps": warmup_steps,
        "steps": train_steps,
        "seconds": seconds,
        "target_tokens": tokens,
        "target_tokens_per_second": tokens / seconds if seconds else 0.0,
        "last_loss": loss,
        "jit_compile": bool(model.jit_compile),
    }


def _padding(dataset, steps):
    """Share of padding among the positions of the first `steps` batches."""
    from nmt_keras.data.batching import padding_fraction

    return padding_fraction(dataset.repeat().take(steps))["total"]


def peak_memory_mb():
    """This process's peak resident set size in MiB (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def run_variant(variant, settings):
    """Measures one variant in this process; returns a JSON-able dict."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {VARIANTS}")
    precision = settings.get("precision", "float32")
    if precision not in PRECISIONS or (variant == "reference" and precision != "float32"):
        raise ValueError(
            f"precision {precision!r} for {variant!r}: the reference runs in float32, "
            f"nmt_keras in one of {PRECISIONS}"
        )
    import keras

    overrides = {}
    if settings.get("ablation"):  # bench.ablation: undo some of nmt_keras' choices
        overrides = choices.apply(settings["ablation"])
    keras.utils.set_random_seed(settings["seed"])
    started = time.perf_counter()
    corpus, train, test, source_words, target_words = _prepare(settings)
    translator, model = _build(
        variant, settings, source_words, target_words, overrides.get("kernels", "auto"), precision
    )
    result = {
        "variant": variant,
        "description": DESCRIPTIONS[variant],
        "precision": precision,
        "dtype_policy": model.dtype_policy.name,
        "ablation": settings.get("ablation"),
        "parameters": int(model.count_params()),
        "optimizer": type(model.optimizer).__name__,
        "train_pairs": len(train),
        "test_sentences": len(test),
        "translation": {},
    }
    translate = settings.get("translate", True)
    if translate:
        result["translation"]["greedy"] = time_translation(
            _translate_function(variant, translator, settings), test
        )
    if translate and variant != "reference" and settings["beam_width"] > 1:
        beam = _translate_function(
            variant, translator, settings, method="beam", beam_width=settings["beam_width"]
        )
        result["translation"][f"beam{settings['beam_width']}"] = time_translation(beam, test)
    dataset = _dataset(variant, translator, train, settings, overrides.get("bucket_width"))
    result["training"] = time_training(
        model, dataset, settings["warmup_steps"], settings["train_steps"]
    )
    result["training"]["padding_fraction"] = _padding(
        dataset, settings["warmup_steps"] + settings["train_steps"]
    )
    result["peak_memory_mb"] = peak_memory_mb()
    result["wall_seconds"] = time.perf_counter() - started
    return result


def main(argv=None):
    """Subprocess entry point: `python -m bench.harness VARIANT SETTINGS_JSON OUT_JSON`."""
    variant, settings_path, out_path = (argv or sys.argv[1:])[:3]
    with open(settings_path, encoding="utf-8") as handle:
        settings = json.load(handle)
    result = run_variant(variant, settings)
    with open(out_path, "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2)


# --------------------------------------------------------------------- the parent


def run_in_subprocess(variant, settings, workdir, timeout=None, name=None):
    """Runs `run_variant` in a fresh Python process; returns its result dict. Its
    settings and result files in `workdir` are named after `name` (default: variant).

    Raises:
        RuntimeError: the subprocess failed (its stderr tail is in the message).
    """
    os.makedirs(workdir, exist_ok=True)
    name = name or variant
    settings_path = os.path.join(workdir, f"{name}_settings.json")
    out_path = os.path.join(workdir, f"{name}_result.json")
    with open(settings_path, "w", encoding="utf-8") as handle:
        json.dump(settings, handle)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [repo, env.get("PYTHONPATH")]))
    completed = subprocess.run(
        [sys.executable, "-m", "bench.harness", variant, settings_path, out_path],
        cwd=repo, env=env, capture_output=True, text=True, timeout=timeout,
    )
    if completed.returncode != 0:
        tail = "\n".join(completed.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"benchmark variant {variant!r} failed (exit {completed.returncode}):\n{tail}")
    with open(out_path, encoding="utf-8") as handle:
        return json.load(handle)


def machine():
    """A description of this machine and software."""
    import importlib.metadata

    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }
    info.update(cpu_flags())
    for package in ("tensorflow", "keras"):
        try:
            info[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            info[package] = None
    try:
        info["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        info["load_average_at_start"] = None
    return info


def cpu_flags():
    """The CPU flags that matter for bfloat16: `cpu_flags_relevant`, those of AVX-512 and
    AMX it reports (None where the OS does not say: no /proc/cpuinfo), and
    `bfloat16_units`, those of its bfloat16 matrix units (`BFLOAT16_CPU_FLAGS`)."""
    from nmt_keras.training import distribute

    flags = distribute.cpu_flags(distribute.read_cpuinfo())
    if flags is None:
        return {"cpu_flags_relevant": None, "bfloat16_units": None}
    relevant = sorted(f for f in flags if f.startswith(("avx512", "amx")))
    return {"cpu_flags_relevant": relevant, "bfloat16_units": list(distribute.bfloat16_cpu_flags(flags))}


def ratios(results):
    """Speed ratios of the nmt_keras runs (every variant, every precision) over the
    reference (a) in float32, by run name (`run_name`)."""
    reference = results.get("reference")
    out = {}
    if reference is None:
        return out
    for name, result in results.items():
        if name == "reference":
            continue
        out[name] = {
            "training_tokens_per_second": result["training"]["target_tokens_per_second"]
            / reference["training"]["target_tokens_per_second"],
            "greedy_sentences_per_second": result["translation"]["greedy"]["sentences_per_second"]
            / reference["translation"]["greedy"]["sentences_per_second"],
        }
    return out


def run_benchmark(settings, variants=VARIANTS, workdir=None, log=print, precisions=PRECISIONS):
    """Runs every variant in every precision (the reference in float32 only), each in
    its own subprocess; returns the whole report dict."""
    import tempfile

    workdir = workdir or tempfile.mkdtemp(prefix="nmt_bench_")
    started = time.perf_counter()
    report = {"machine": machine(), "settings": settings, "results": {}}
    runs = [
        (variant, precision) for variant in variants for precision in precisions
        if variant != "reference" or precision == "float32"
    ]
    for variant, precision in runs:
        name = run_name(variant, precision)
        log(f"[bench] {DESCRIPTIONS[variant]}, {precision} ...")
        result = run_in_subprocess(
            variant, dict(settings, precision=precision), workdir, name=name.replace("/", "-")
        )
        report["results"][name] = result
        log(
            f"[bench]   train {result['training']['target_tokens_per_second']:.0f} tok/s, "
            f"greedy {result['translation']['greedy']['sentences_per_second']:.1f} sent/s, "
            f"peak {result['peak_memory_mb']:.0f} MiB, {result['wall_seconds']:.0f} s"
        )
    report["ratios"] = ratios(report["results"])
    report["wall_seconds"] = time.perf_counter() - started
    try:
        report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        report["machine"]["load_average_at_end"] = None
    return report


if __name__ == "__main__":
    main()
