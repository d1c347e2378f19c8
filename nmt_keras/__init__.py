"""nmt_keras: attention-based neural machine translation with Keras 3 and TensorFlow.

The public API:

    Encoder, BahdanauAttention, Decoder   the three layers of Bahdanau et al. (Keras `Layer`s)
    LuongAttention, LuongDecoder          Luong et al.'s scores and decoder
    Translator                            the model (a Keras `Model`): text in, text out
    Config, train_and_evaluate            one training run, from corpus to test scores
    load_corpus, split_pairs              data; `nmt_keras.data.synthetic` makes the embedded corpus
    load_translator, save_translator      the model directory written by training

Modules (one job each): constants, text, synthetic, corpora, recurrent, encoder,
attention, decoder_base, decoder, luong_decoder, output_layer, schedules, losses,
translator, decoding, beam_search, dataset, callbacks, distribute, config, training,
evaluation, plots, saving, demo, cli.
"""

import importlib as _importlib
import os as _os

# TensorFlow's C++ start-up chatter (CUDA probing on CPU-only machines) hides real
# messages; keep warnings and errors. Users can still set TF_CPP_MIN_LOG_LEVEL.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

# Public name -> module. Imported on first use, so that `import nmt_keras.data.synthetic` or
# `nmt_keras.data.corpora` (pure Python) does not pay for importing TensorFlow.
_EXPORTS = {
    "BahdanauAttention": "nmt_keras.attention",
    "LuongAttention": "nmt_keras.attention",
    "LuongDecoder": "nmt_keras.luong_decoder",
    "Config": "nmt_keras.config",
    "CorpusError": "nmt_keras.data.corpora",
    "Decoder": "nmt_keras.decoder",
    "Encoder": "nmt_keras.encoder",
    "SentencePair": "nmt_keras.data.corpora",
    "Translator": "nmt_keras.translator",
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
