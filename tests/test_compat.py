"""Each private Keras internal in `nmt_keras.compat` against the installed Keras: an
upgrade that renames or changes one fails here instead of silently changing training."""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

from nmt_keras import compat


def test_adam_slots_are_the_moments_keras_adam_updates():
    variable = keras.Variable(np.zeros((2, 3), "float32"))
    optimizer = keras.optimizers.Adam(learning_rate=0.1, beta_1=0.9, beta_2=0.999)
    gradient = np.full((2, 3), 2.0, "float32")
    optimizer.apply_gradients([(gradient, variable)])
    momentum, velocity = compat.adam_slots(optimizer, variable)
    assert isinstance(momentum, keras.Variable) and isinstance(velocity, keras.Variable)
    # After one step from zero: m = (1 - beta_1) g, v = (1 - beta_2) g^2.
    np.testing.assert_allclose(momentum.numpy(), 0.1 * gradient, rtol=1e-6)
    np.testing.assert_allclose(velocity.numpy(), 0.001 * gradient**2, rtol=1e-6)


def test_adam_slots_tell_variables_apart():
    first, second = keras.Variable(np.zeros(2, "float32")), keras.Variable(np.zeros(3, "float32"))
    optimizer = keras.optimizers.Adam()
    optimizer.build([first, second])
    assert compat.adam_slots(optimizer, first)[0].shape == (2,)
    assert compat.adam_slots(optimizer, second)[1].shape == (3,)


def test_the_symbolic_build_method_still_exists_with_its_signature():
    method = compat.symbolic_build_method()
    assert list(inspect.signature(method).parameters) == ["self", "iterator", "data_batch"]
    # Keras' own version reads a batch from the iterator under a strategy: the reason
    # for the override.
    assert "next(it)" in inspect.getsource(method)


def _summing_model(base):
    """A model whose train step adds up the inputs it is given."""

    class Summing(base):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1)
            self.total = keras.Variable(0.0, trainable=False)

        def build(self, input_shape=(None, 1)):
            self.dense.build(input_shape)

        def build_for_fit(self):
            self.build()

        def call(self, x):
            return self.dense(x)

        def train_step(self, data):
            x, _ = data
            self.total.assign_add(tf.reduce_sum(x))
            return {"total": self.total.value}

    return Summing


def _total_after_fit(base):
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = _summing_model(base)()
        model.compile(optimizer="sgd")
    x = np.arange(20, dtype="float32")[:, None]  # batches [0, 1], [2, 3], [4, 5], ...
    data = tf.data.Dataset.from_tensor_slices((x, x)).batch(2).repeat()
    model.fit(data, epochs=1, steps_per_epoch=3, verbose=0, shuffle=False)
    return float(model.total.numpy())


def test_fit_under_a_strategy_trains_on_the_first_batches():
    """With the override, `fit` under a strategy builds without reading data and trains
    on the first three batches (0 + 1 + ... + 5 = 15). (The two-worker run in
    test_distribute.py is what fails without it.)"""
    assert _total_after_fit(type("WithOverride", (compat.BuiltBeforeFit, keras.Model), {})) == 15.0


def test_build_for_fit_is_required():
    class Missing(compat.BuiltBeforeFit, keras.Model):
        pass

    with pytest.raises(NotImplementedError):
        Missing().build_for_fit()


def test_rnn_inner_loop_has_the_signature_fused_gru_overrides():
    expected = ["self", "sequences", "initial_state", "mask", "training"]
    assert list(inspect.signature(keras.layers.RNN.inner_loop).parameters) == expected
    assert list(inspect.signature(keras.layers.GRU.inner_loop).parameters) == expected
    # RNN.call hands the sequences to inner_loop: the hook FusedGRU replaces.
    assert "self.inner_loop(" in inspect.getsource(keras.layers.RNN.call)
