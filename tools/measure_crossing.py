"""How often a trained model's attention crosses on noun-adjective swaps.

    python tools/measure_crossing.py MODEL_DIR [--sentences 300]

Reads a model directory written by `make demo` or `train --data synthetic`, rebuilds
the embedded corpus's test split with the model's saved seed, and takes the test pairs
whose gold alignment swaps two neighbouring words one-to-one (a Spanish noun and its
adjective: "niño grande" -> "big child"). For each swap, the English adjective's
attention "crosses" when its largest weight falls on the Spanish adjective (after the
noun) rather than on the noun. Prints the share of swaps that cross.
"""

import argparse
import json

import numpy as np

from nmt_keras import load_translator
from nmt_keras.config import Config
from nmt_keras.demo import swaps_neighbours
from nmt_keras.saving import CONFIG_FILE
from nmt_keras.training.train import prepare_data

# Attention weights index the source with [START] at position 0.
SOURCE_OFFSET = 1


def crossing_share(translator, pairs):
    """(crossing swaps, swaps) over `pairs`, which carry gold alignments."""
    attention = translator.translate([p.source for p in pairs])["attention"]
    crossing = swaps = 0
    for weights, pair in zip(attention, pairs):  # weights: (target_len, source_len)
        links = set(pair.alignment)
        for noun, noun_target in links:
            adjective, adjective_target = noun + 1, noun_target - 1  # "niño grande" -> "big child"
            if (adjective, adjective_target) in links and adjective_target < len(weights):
                swaps += 1
                chosen = int(np.argmax(weights[adjective_target]))
                crossing += chosen == adjective + SOURCE_OFFSET
    return crossing, swaps


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir")
    parser.add_argument("--sentences", type=int, default=300, help="swapping test pairs to use")
    args = parser.parse_args()
    translator = load_translator(args.model_dir)
    with open(f"{args.model_dir}/{CONFIG_FILE}", encoding="utf-8") as handle:
        config = Config.from_dict(json.load(handle))
    data = prepare_data(config)
    pairs = [p for p in data.test if p.alignment and swaps_neighbours(p.alignment)][: args.sentences]
    crossing, swaps = crossing_share(translator, pairs)
    print(f"{args.model_dir}: the adjective attends most to the Spanish adjective in "
          f"{crossing} of {swaps} noun-adjective swaps ({crossing / max(swaps, 1):.0%}), "
          f"{len(pairs)} test sentences")


if __name__ == "__main__":
    main()
