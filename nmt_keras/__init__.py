"""nmt_keras: attention-based neural machine translation with Keras 3 and TensorFlow.

The public API:

    Encoder, BahdanauAttention, Decoder   the three layers of Bahdanau et al. (Keras layers)
    LuongAttention, LuongDecoder          Luong et al.'s scores and decoder
    Seq2Seq                               the network and its train step (a keras.Model)
    Translator                            text in, text out: vectorizers + Seq2Seq + search
    Config, train_and_evaluate            one training run, from corpus to test scores
    load_corpus, split_pairs              data; load_corpus("synthetic") reads the embedded corpus
    load_translator, save_translator      the model directory written by training

Subpackages: `layers` (the Keras layers), `fast` (drop-in CPU kernels), `data`
(corpora, tokenizers, batching), `training`, `inference` (search, translator, export).
`docs/architecture.md` maps every module.
"""

import importlib as _importlib
import os as _os

# TensorFlow's C++ start-up chatter (CUDA probing on CPU-only machines) hides real
# messages; keep warnings and errors. Users can still set TF_CPP_MIN_LOG_LEVEL.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.3.0"

# Public name -> module. Imported on first use, so that `import nmt_keras.config` or
# `nmt_keras.data.corpora` (pure Python) does not pay for importing TensorFlow.
_EXPORTS = {
    "BahdanauAttention": "nmt_keras.layers",
    "Bridge": "nmt_keras.layers",
    "Config": "nmt_keras.config",
    "CorpusError": "nmt_keras.data.corpora",
    "Decoder": "nmt_keras.layers",
    "Encoder": "nmt_keras.layers",
    "LuongAttention": "nmt_keras.layers",
    "LuongDecoder": "nmt_keras.layers",
    "OutputLayer": "nmt_keras.layers",
    "Seq2Seq": "nmt_keras.model",
    "SentencePair": "nmt_keras.data.corpora",
    "Translator": "nmt_keras.inference.translator",
    "load_corpus": "nmt_keras.data.corpora",
    "load_translator": "nmt_keras.saving",
    "save_translator": "nmt_keras.saving",
    "split_pairs": "nmt_keras.data.corpora",
    "train_and_evaluate": "nmt_keras.training.train",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(_importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'nmt_keras' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
