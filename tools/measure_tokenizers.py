"""Tokens per sentence for each tokenizer kind and casing, on a corpus's default split.

    python tools/measure_tokenizers.py [--max-vocab-size 5000] [--data synthetic]
        [--kind word ...] [--casing cased ...]

Vocabularies are learned on the training split (the default `Config` split, seed 0);
lengths are counted on the test split, without [START]/[END]. `--data` takes what
`train --data` takes (e.g. a path to spa-eng.zip).
"""

import argparse
import itertools
import time

import numpy as np
import tensorflow as tf

from nmt_keras.config import Config
from nmt_keras.constants import CASINGS, UNK_ID
from nmt_keras.data.tokenizers import TOKENIZER_KINDS, learn_tokens, make_vectorizer
from nmt_keras.training.train import prepare_data


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-vocab-size", type=int, default=Config().max_vocab_size)
    parser.add_argument("--data", default="synthetic")
    parser.add_argument("--kind", nargs="+", choices=TOKENIZER_KINDS, default=list(TOKENIZER_KINDS))
    parser.add_argument("--casing", nargs="+", choices=CASINGS, default=list(CASINGS))
    args = parser.parse_args()
    data = prepare_data(Config(data=args.data))
    print(f"train {len(data.train)} pairs, test {len(data.test)} pairs, "
          f"max_vocab_size {args.max_vocab_size}")
    print("| kind | casing | side | vocabulary (with specials) | tokens/sentence mean | median | max | [UNK] share | learn s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for kind, casing, side in itertools.product(args.kind, args.casing, ("source", "target")):
        started = time.perf_counter()
        tokens = learn_tokens(kind, [getattr(p, side) for p in data.train], args.max_vocab_size, casing)
        seconds = time.perf_counter() - started
        vectorizer = make_vectorizer(kind, tokens, casing=casing)
        ids = vectorizer(tf.constant([getattr(p, side) for p in data.test]))
        lengths = ids.row_lengths().numpy()
        unk = float(np.mean(ids.flat_values.numpy() == UNK_ID))
        print(f"| {kind} | {casing} | {side} | {len(vectorizer.get_vocabulary())} | {lengths.mean():.2f} "
              f"| {np.median(lengths):.0f} | {lengths.max()} | {unk:.4f} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
