"""FusedAdam: Keras' Adam, one fused kernel per variable."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nmt_keras.training.distribute import make_optimizer
from nmt_keras.fast import FusedAdam

SHAPES = [(6, 4), (4,), (10, 3)]


def train(optimizer, steps=5, sparse=False):
    """Applies `steps` seeded random gradients; returns the final weights."""
    rng = np.random.default_rng(0)
    variables = [keras.Variable(rng.normal(size=shape).astype("float32")) for shape in SHAPES]
    for _ in range(steps):
        gradients = [tf.constant(rng.normal(size=shape), tf.float32) for shape in SHAPES]
        if sparse:  # rows of the last matrix, some repeated, as an embedding lookup gives
            rows = tf.constant(rng.integers(0, SHAPES[-1][0], size=8), tf.int32)
            values = tf.constant(rng.normal(size=(8, SHAPES[-1][1])), tf.float32)
            gradients[-1] = tf.IndexedSlices(values, rows, tf.constant(SHAPES[-1]))
        optimizer.apply_gradients(zip(gradients, variables))
    return [v.numpy() for v in variables]


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "indexed-slices"])
def test_fused_adam_gives_kerases_adam_weights(sparse):
    expected = train(keras.optimizers.Adam(0.05), sparse=sparse)
    got = train(FusedAdam(0.05), sparse=sparse)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(got[0], train(FusedAdam(0.05), steps=0)[0])  # it did train


def test_fused_adam_under_tf_function_with_clipping_and_amsgrad():
    for options in ({"clipnorm": 0.5}, {"amsgrad": True}):
        expected = train(keras.optimizers.Adam(0.05, **options))
        optimizer = FusedAdam(0.05, **options)
        rng = np.random.default_rng(0)
        variables = [keras.Variable(rng.normal(size=shape).astype("float32")) for shape in SHAPES]
        step = tf.function(lambda gradients: optimizer.apply_gradients(zip(gradients, variables)))
        for _ in range(5):
            step([tf.constant(rng.normal(size=shape), tf.float32) for shape in SHAPES])
        for a, b in zip([v.numpy() for v in variables], expected, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_make_optimizer_uses_it_with_fused_kernels_and_it_serializes():
    plain = make_optimizer(1e-3, clipnorm=1.0)  # kernels="keras"
    assert type(plain) is keras.optimizers.Adam
    optimizer = make_optimizer(1e-3, clipnorm=1.0, kernels="fused")
    assert isinstance(optimizer, FusedAdam)
    clone = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(clone, FusedAdam)
    assert clone.get_config() == optimizer.get_config()
    scaled = make_optimizer(1e-3, policy="mixed_float16", kernels="fused")
    assert isinstance(scaled.inner_optimizer, FusedAdam)
