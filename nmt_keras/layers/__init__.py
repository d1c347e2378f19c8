"""The translator's Keras layers, one class per file.

    encoder.py              Encoder                 source ids -> annotations h_j
    bahdanau_attention.py   BahdanauAttention       additive score
    luong_attention.py      LuongAttention          dot, general, concat scores
    decoder.py              Decoder                 Bahdanau's order: attend, then update
    luong_decoder.py        LuongDecoder            Luong's order: update, then attend
    blocks.py               Bridge, OutputLayer,    pieces both decoders share
                            the step loops

`from nmt_keras.layers import Decoder` works for every class above; each module is
imported on first use, so a model of Bahdanau's design never imports Luong's.
"""

import importlib as _importlib

_MODULES = {
    "BahdanauAttention": "bahdanau_attention",
    "Bridge": "blocks",
    "Decoder": "decoder",
    "Encoder": "encoder",
    "LuongAttention": "luong_attention",
    "LuongDecoder": "luong_decoder",
    "OutputLayer": "blocks",
}

__all__ = sorted(_MODULES)


def __getattr__(name):
    if name in _MODULES:
        return getattr(_importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
