"""`python -m bench.greedy [--data PATH]`: where greedy translation's time goes.

With the benchmark's settings (`bench.harness.default_settings`: vocabulary 5,000, units
256, untrained weights, 50 output tokens per sentence), prints

* sentences/s of greedy translation of the 2,000 test sentences for the Bahdanau and
  the Luong decoder at translation batch sizes 64, 256 and 512;
* the time of single operations of one step at batch 256: the vocabulary projections
  (1,024, 512 and 256 input features) and the log-softmax with arg-max that picks each
  token.

Run it on an idle machine; the numbers compare with each other, not across runs.
"""

import argparse
import time

from bench import harness
from bench.common import DEFAULT_DATA

BATCH_SIZES = (64, 256, 512)


def sentences_per_second(translator, texts, batch_size, max_length):
    from nmt_keras.inference.translator import translate_all

    def translate(batch):
        return translate_all(translator, batch, batch_size, max_length=max_length)

    return harness.time_translation(translate, texts)["sentences_per_second"]


def milliseconds(function, repeats=200):
    import tensorflow as tf

    traced = tf.function(function)
    traced()
    started = time.perf_counter()
    for _ in range(repeats):
        result = traced()
    result.numpy()
    return 1000 * (time.perf_counter() - started) / repeats


def operation_costs(vocab_size, batch=256):
    import tensorflow as tf

    def normal(*shape):
        return tf.random.normal(shape)

    inputs = {width: normal(batch, width) for width in (1024, 512, 256)}
    kernels = {width: normal(width, vocab_size) for width in (1024, 512, 256)}
    logits = normal(batch, vocab_size)
    costs = {
        f"projection {width} -> {vocab_size}": milliseconds(lambda w=width: tf.matmul(inputs[w], kernels[w]))
        for width in (1024, 512, 256)
    }
    costs["log-softmax and arg-max"] = milliseconds(lambda: tf.argmax(tf.nn.log_softmax(logits), -1))
    costs["arg-max alone"] = milliseconds(lambda: tf.argmax(logits, -1))
    return costs


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.greedy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="path or file:// URL of spa-eng.zip")
    args = parser.parse_args(argv)
    settings = {**harness.default_settings(), "data": args.data}
    _, _, texts, source_words, target_words = harness._prepare(settings)
    max_length = settings["max_length"]
    bahdanau, _ = harness._build("bahdanau", settings, source_words, target_words)
    luong, _ = harness._build("luong", settings, source_words, target_words)
    print("| decoder | " + " | ".join(f"batch {b}" for b in BATCH_SIZES) + " |")
    print("| --- |" + " ---: |" * len(BATCH_SIZES))
    for label, translator in (("Bahdanau", bahdanau), ("Luong", luong)):
        rates = [sentences_per_second(translator, texts, b, max_length) for b in BATCH_SIZES]
        print(f"| {label} | " + " | ".join(f"{r:.1f}" for r in rates) + " |", flush=True)
    print()
    print("| operation at batch 256 | ms |")
    print("| --- | ---: |")
    for label, cost in operation_costs(len(bahdanau.target_vocabulary)).items():
        print(f"| {label} | {cost:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
