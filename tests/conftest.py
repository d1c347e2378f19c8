"""Shared test helpers."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402


def assert_layer_round_trip(layer, call):
    """`get_config` -> `from_config` rebuilds an equal layer that, given the same weights,
    computes the same outputs, eagerly and under `tf.function`.

    Args:
        layer: a built layer.
        call: function(layer) -> tensor or tuple of tensors.
    """
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    call(clone)  # builds the clone's weights
    clone.set_weights(layer.get_weights())
    expected = tf.nest.flatten(call(layer))
    for got in (tf.nest.flatten(call(clone)), tf.nest.flatten(tf.function(lambda: call(clone))())):
        assert len(got) == len(expected)
        for a, b in zip(got, expected):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


@pytest.fixture
def seeded():
    """Seeds Python, NumPy and TensorFlow so weight initialization is repeatable."""
    import keras

    keras.utils.set_random_seed(1234)


# The flags line of a CPU without bfloat16 units (an AVX2 x86 CPU).
CPUINFO_WITHOUT_BFLOAT16 = "processor\t: 0\nflags\t\t: fpu sse sse2 avx avx2 fma\n"


@pytest.fixture(autouse=True)
def cpu_without_bfloat16(monkeypatch):
    """Every test sees a CPU without bfloat16 units, so that `precision="auto"` means
    float32 on any machine and the numbers tests assert are float32's. Tests of the
    bfloat16 choice replace `read_cpuinfo` themselves; tests of bfloat16 training ask
    for `precision="mixed"`. (Subprocesses read the real CPU: the runs they make pin
    their precision where a number depends on it.)"""
    from nmt_keras.training import distribute

    monkeypatch.setattr(distribute, "read_cpuinfo", lambda: CPUINFO_WITHOUT_BFLOAT16)
