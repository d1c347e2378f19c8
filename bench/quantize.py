"""`python -m bench.quantize MODEL_DIR [--data PATH] [--limit N] [--rounds R]`: a
trained model's float32 weights against int8 ones (`load_translator(..., quantize="int8")`),
side by side in one run.

Loads the model twice, float32 and int8, splits the data as the model's `config.json`
says (its seed and split sizes; where the corpus is comes from `--data`, as for
`evaluate`) and translates the test split (or its first N pairs) with greedy search,
in batches of the translation batch size, `R` rounds that alternate float32 and int8
(after one untimed warm-up batch each). It prints a markdown report:

* sentences per second of each (the median round) and the ratio int8 / float32;
* BLEU and chrF (sacreBLEU, as `evaluate` scores) of each against the references, and
  the BLEU difference int8 - float32;
* the share of sentences whose int8 translation is identical to the float32 one;
* the bytes of the model's weights in each form;

with the machine, the command, the commit and the date. Both forms translate the same
sentences in the same batches in the same process, so the ratio compares them under the
same load; the absolute rates do not compare across runs.
"""

import argparse
import datetime
import os
import statistics
import sys
import time

from bench import harness
from bench.common import DEFAULT_DATA, commit, portable_command

ROUNDS = 3
# The weights' forms compared, in the report's order: None is float32.
FORMS = {"float32": None, "int8": "int8"}


def test_pairs(model_dir, data, limit=None):
    """The test pairs of the model's run, split as its `config.json` says, from `data`."""
    import dataclasses

    from nmt_keras.config import DATA_LOCATION, Config
    from nmt_keras.saving import load_config
    from nmt_keras.training.train import prepare_data

    saved = load_config(model_dir)
    location = {name: getattr(Config(), name) for name in DATA_LOCATION}
    config = dataclasses.replace(saved, **{**location, "data": data})
    pairs = prepare_data(config).test
    return pairs[:limit] if limit else pairs


def weight_bytes(model):
    """Bytes of the model's variables as stored (int8: 1 byte a number, float32: 4)."""
    import numpy as np

    return sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in model.weights)


def compare(model_dir, pairs, rounds=ROUNDS, log=print):
    """Times and scores greedy translation of `pairs` by both forms of the model.

    Returns:
        dict by form name: `seconds` (one per round), `sentences_per_second` (median
        round), `outputs`, `scores` (`evaluation.translation_scores`), `weight_bytes`.
    """
    from nmt_keras.constants import TRANSLATE_BATCH_SIZE
    from nmt_keras.evaluation import translation_scores
    from nmt_keras.inference.translator import translate_all
    from nmt_keras.saving import load_translator

    texts = [pair.source for pair in pairs]
    references = [pair.target for pair in pairs]
    translators = {name: load_translator(model_dir, quantize=mode) for name, mode in FORMS.items()}

    def translate(translator, batch):
        return translate_all(translator, batch, TRANSLATE_BATCH_SIZE, method="greedy")

    results = {name: {"seconds": [], "weight_bytes": weight_bytes(t.model)} for name, t in translators.items()}
    for translator in translators.values():
        translate(translator, texts[:harness.WARMUP_SENTENCES])
    for round_number in range(1, rounds + 1):
        for name, translator in translators.items():
            started = time.perf_counter()
            outputs = translate(translator, texts)
            results[name]["seconds"].append(time.perf_counter() - started)
            results[name]["outputs"] = outputs
            log(f"round {round_number}/{rounds}: {name} {results[name]['seconds'][-1]:.1f} s")
    for result in results.values():
        result["sentences_per_second"] = len(texts) / statistics.median(result["seconds"])
        result["scores"] = translation_scores(result["outputs"], references)
    return results


def agreement(first, second):
    """The share of positions where two lists of outputs are identical."""
    return sum(a == b for a, b in zip(first, second)) / max(len(first), 1)


def render(results, sentences, command):
    """The markdown report of `compare`'s results."""
    machine = harness.machine()
    float32, int8 = results["float32"], results["int8"]
    lines = [
        f"- command: `{command}`",
        f"- commit {commit()}, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- {machine['platform']}, {machine['processor']}, {machine['cpu_count']} CPUs, "
        f"Python {machine['python']}, TensorFlow {machine['tensorflow']}, Keras {machine['keras']}, "
        f"load average at end {[round(x, 2) for x in os.getloadavg()]}",
        f"- greedy search over {sentences} test sentences, {len(float32['seconds'])} rounds "
        f"alternating the two forms, median round",
        "",
        "| weights | sentences/s | BLEU | chrF | weights (MB) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, result in results.items():
        scores = result["scores"]
        lines.append(
            f"| {name} | {result['sentences_per_second']:.1f} | {scores['bleu']:.2f} | "
            f"{scores['chrf']:.2f} | {result['weight_bytes'] / 2**20:.1f} |"
        )
    lines += [
        "",
        f"- speed int8 / float32: {int8['sentences_per_second'] / float32['sentences_per_second']:.2f}x",
        f"- BLEU int8 - float32: {int8['scores']['bleu'] - float32['scores']['bleu']:+.2f}",
        f"- identical translations: {agreement(float32['outputs'], int8['outputs']):.1%}",
        f"- BLEU signature: {float32['scores']['bleu_signature']}",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.quantize", description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", help="a model directory written by `python -m nmt_keras train`")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="the corpus the model was trained on (path or file:// URL)")
    parser.add_argument("--limit", type=int, help="translate only the first N test pairs")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="timed rounds of each form (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or (args.limit is not None and args.limit < 1):
        parser.error("--rounds and --limit must be >= 1")
    pairs = test_pairs(args.model_dir, args.data, args.limit)
    results = compare(args.model_dir, pairs, args.rounds, log=lambda m: print(m, file=sys.stderr, flush=True))
    command = portable_command("python -m bench.quantize " + " ".join(argv if argv is not None else sys.argv[1:]))
    print(render(results, len(pairs), command.strip()), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
