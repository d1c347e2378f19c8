"""The translator's Keras layers, one class per file.

    encoder.py              Encoder                 source ids -> annotations h_j
    bahdanau_attention.py   BahdanauAttention       additive score
    luong_attention.py      LuongAttention          dot, general, concat scores
    decoder.py              Decoder                 Bahdanau's order: attend, then update
    luong_decoder.py        LuongDecoder            Luong's order: update, then attend
    blocks.py               Bridge, OutputLayer,    pieces both decoders share
                            the step loops
"""

from nmt_keras.layers.bahdanau_attention import BahdanauAttention
from nmt_keras.layers.blocks import Bridge, OutputLayer
from nmt_keras.layers.decoder import Decoder
from nmt_keras.layers.encoder import Encoder
from nmt_keras.layers.luong_attention import LuongAttention
from nmt_keras.layers.luong_decoder import LuongDecoder

__all__ = [
    "BahdanauAttention", "Bridge", "Decoder", "Encoder", "LuongAttention", "LuongDecoder",
    "OutputLayer",
]
