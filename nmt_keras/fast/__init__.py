"""Fast kernels: drop-in replacements for Keras pieces, chosen once when a model is built.

    FusedGRU, FusedGRUCell   `keras.layers.GRU` / `GRUCell` with a hand-written
                             backward pass and whole-gate splits (`gru.py`)
    sparse_cross_entropy     softmax cross-entropy from one softmax pass (`cross_entropy.py`)
    FusedAdam                `keras.optimizers.Adam` with one fused update kernel (`adam.py`)

Each computes the same function as the Keras (or TensorFlow) original, with the same
weights; tests check values and gradients against it. The teaching layers never branch
on devices: `resolve_kernels` picks "keras" or "fused" once, when the model is built,
and the choice is passed to the layers (`kernels=...`) and picks the loss;
`nmt_keras.training.train.build_translator` picks the optimizer with the same setting.
"""

from nmt_keras.constants import KERNELS


def resolve_kernels(kernels="auto"):
    """"keras" or "fused" for a `kernels` setting: "auto" is "fused" unless TensorFlow
    sees a GPU (where Keras' GRU runs cuDNN's fused kernel)."""
    if kernels not in KERNELS:
        raise ValueError(f"kernels must be one of {KERNELS}, got {kernels!r}")
    if kernels != "auto":
        return kernels
    import tensorflow as tf

    return "keras" if tf.config.list_logical_devices("GPU") else "fused"


def __getattr__(name):  # the kernels import TensorFlow: load them on first use
    if name in ("FusedGRU", "FusedGRUCell"):
        from nmt_keras.fast import gru

        return getattr(gru, name)
    if name == "sparse_cross_entropy":
        from nmt_keras.fast.cross_entropy import sparse_cross_entropy

        return sparse_cross_entropy
    if name == "FusedAdam":
        from nmt_keras.fast.adam import FusedAdam

        return FusedAdam
    raise AttributeError(f"module 'nmt_keras.fast' has no attribute {name!r}")
