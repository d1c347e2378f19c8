"""The fused GRU computes what Keras' GRU layers compute: outputs, final states and
every gradient, with masks, in both directions, and one step at a time."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nmt_keras.fast import FusedGRU, FusedGRUCell
from nmt_keras.model import resolve_kernels
from nmt_keras.fast import check_fusable, gru_sequence, gru_step
from nmt_keras.layers.blocks import recurrent_cell, recurrent_layer

BATCH, TIME, INPUT_DIM, UNITS = 4, 7, 5, 6
LENGTHS = np.array([7, 4, 1, 3])  # right padding; one sequence without any
MASK = np.arange(TIME)[None, :] < LENGTHS[:, None]  # (batch, time)


def random_inputs(seed=0):
    return tf.constant(np.random.default_rng(seed).normal(size=(BATCH, TIME, INPUT_DIM)), tf.float32)


def bidirectional(gru_class):
    """A bidirectional GRU as the encoder makes it, with non-zero biases (so that bias
    handling is checked too); the same weights for either class."""
    layer = keras.layers.Bidirectional(
        gru_class(UNITS, name="gru", return_sequences=True, return_state=True, zero_output_for_mask=True),
        merge_mode="concat",
    )
    layer.build((BATCH, TIME, INPUT_DIM))
    rng = np.random.default_rng(1)
    for variable in layer.weights:
        values = rng.normal(size=variable.shape) * (0.5 if "bias" in variable.path else 0.3)
        variable.assign(values.astype("float32"))
    return layer


def outputs_and_gradients(compute, layer, inputs):
    """The layer's outputs and the gradients of a weighted sum of them with respect
    to the inputs and every weight."""
    rng = np.random.default_rng(2)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs = compute(inputs)
        loss = sum(
            tf.reduce_sum(output * tf.constant(rng.normal(size=output.shape), tf.float32))
            for output in outputs
        )
    gradients = tape.gradient(loss, [inputs] + layer.trainable_weights)
    return outputs, gradients


def assert_same(got, expected, got_gradients, expected_gradients):
    for got_output, expected_output in zip(got, expected, strict=True):
        np.testing.assert_allclose(got_output.numpy(), expected_output.numpy(), atol=1e-5)
    for got_gradient, expected_gradient in zip(got_gradients, expected_gradients, strict=True):
        np.testing.assert_allclose(got_gradient.numpy(), expected_gradient.numpy(), rtol=1e-4, atol=1e-5)


def test_the_fused_kernels_are_chosen_by_the_kernels_setting():
    assert resolve_kernels("keras") == "keras" and resolve_kernels("fused") == "fused"
    if not tf.config.list_logical_devices("GPU"):
        assert resolve_kernels("auto") == "fused"  # a CPU-only machine
    with pytest.raises(ValueError, match="kernels must be one of"):
        resolve_kernels("fast")
    assert recurrent_layer("gru", "fused") is FusedGRU and recurrent_cell("gru", "fused") is FusedGRUCell
    assert recurrent_layer("gru", "keras") is keras.layers.GRU
    assert recurrent_cell("gru", "keras") is keras.layers.GRUCell
    # No fused LSTM: the LSTM is Keras' with either setting.
    assert recurrent_layer("lstm", "fused") is keras.layers.LSTM
    assert recurrent_cell("lstm", "fused") is keras.layers.LSTMCell


def test_the_fused_gru_is_a_keras_gru_and_refuses_what_it_does_not_compute():
    layer = FusedGRU(UNITS)
    assert isinstance(layer, keras.layers.GRU) and type(layer.cell) is keras.layers.GRUCell  # no class swap
    assert isinstance(FusedGRUCell(UNITS), keras.layers.GRUCell)
    check_fusable(keras.layers.GRUCell(UNITS))  # Keras' defaults are what it computes
    for options, problem in (
        ({"reset_after": False}, "reset_after=True"),
        ({"recurrent_dropout": 0.1}, "recurrent_dropout=0"),
        ({"dropout": 0.1}, "dropout=0"),
        ({"activation": "relu"}, "activation='tanh'"),
    ):
        with pytest.raises(ValueError, match=problem):
            check_fusable(keras.layers.GRUCell(UNITS, **options))
        with pytest.raises(ValueError, match=problem):
            FusedGRU(UNITS, **options)
        with pytest.raises(ValueError, match=problem):
            FusedGRUCell(UNITS, **options)


def test_the_fused_gru_serializes_as_itself():
    layer = FusedGRU(UNITS, return_sequences=True, go_backwards=True)
    clone = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(clone) is FusedGRU and type(clone.cell) is keras.layers.GRUCell
    assert clone.get_config() == layer.get_config()
    assert layer.get_config() == keras.layers.GRU(UNITS, return_sequences=True, go_backwards=True,
                                                  name=layer.name).get_config()


@pytest.mark.parametrize("graph", [False, True], ids=["eager", "tf.function"])
def test_bidirectional_gru_matches_keras_with_padding(graph):
    keras_layer, fused_layer = bidirectional(keras.layers.GRU), bidirectional(FusedGRU)
    fused_layer.set_weights(keras_layer.get_weights())
    inputs = random_inputs()
    mask = tf.constant(MASK)

    def keras_path(x):
        return keras_layer(x, mask=mask)

    def fused_path(x):
        return fused_layer(x, mask=mask)

    if graph:
        keras_path, fused_path = tf.function(keras_path), tf.function(fused_path)
    expected, expected_gradients = outputs_and_gradients(keras_path, keras_layer, inputs)
    got, got_gradients = outputs_and_gradients(fused_path, fused_layer, inputs)
    # Outputs (zero at padding, as zero_output_for_mask asks), forward and backward final states.
    assert len(got) == 3
    assert np.all(got[0].numpy()[~MASK] == 0.0)
    assert_same(got, expected, got_gradients, expected_gradients)


@pytest.mark.parametrize("go_backwards", [False, True], ids=["forward", "go_backwards"])
def test_gru_with_initial_state_matches_keras(go_backwards):
    keras_layer = keras.layers.GRU(UNITS, return_sequences=True, return_state=True, go_backwards=go_backwards)
    fused_layer = FusedGRU(UNITS, return_sequences=True, return_state=True, go_backwards=go_backwards)
    for layer in (keras_layer, fused_layer):
        layer.build((BATCH, TIME, INPUT_DIM))
    fused_layer.set_weights(keras_layer.get_weights())
    inputs = random_inputs(3)
    initial = tf.constant(np.random.default_rng(4).normal(size=(BATCH, UNITS)), tf.float32)
    # Read backwards, the padding comes first: Keras' outputs there are zeros (not the
    # initial state), its states the initial state.
    for mask in (None, tf.constant(MASK)):
        expected, expected_gradients = outputs_and_gradients(
            lambda x: keras_layer(x, initial_state=[initial], mask=mask), keras_layer, inputs
        )
        got, got_gradients = outputs_and_gradients(
            lambda x: fused_layer(x, initial_state=[initial], mask=mask), fused_layer, inputs
        )
        assert_same(got, expected, got_gradients, expected_gradients)


def test_gradient_of_the_initial_state_matches_autodiff():
    cell = keras.layers.GRUCell(UNITS)
    cell.build((BATCH, INPUT_DIM))
    inputs = random_inputs(5)
    initial = tf.constant(np.random.default_rng(6).normal(size=(BATCH, UNITS)), tf.float32)

    def keras_loop(x, h):
        states = []
        for t in range(TIME):  # plain unrolled Keras cell steps, masked like the layer
            new, _ = cell(x[:, t], [h])
            h = tf.where(MASK[:, t : t + 1], new, h)
            states.append(h)
        return tf.reduce_sum(tf.stack(states, 1) * MASK[..., None]) + tf.reduce_sum(h * h)

    def fused(x, h):
        outputs, final = gru_sequence(
            cell, x, initial_state=h, mask=tf.constant(MASK), zero_output_for_mask=True
        )
        return tf.reduce_sum(outputs) + tf.reduce_sum(final * final)

    for compute in (keras_loop, fused):
        with tf.GradientTape() as tape:
            tape.watch(initial)
            loss = compute(inputs, initial)
        gradient = tape.gradient(loss, initial)
        if compute is keras_loop:
            expected = (loss, gradient)
    np.testing.assert_allclose(loss.numpy(), expected[0].numpy(), rtol=1e-5)
    np.testing.assert_allclose(gradient.numpy(), expected[1].numpy(), rtol=1e-4, atol=1e-5)


def test_gru_sequence_carries_the_state_over_padding():
    cell = keras.layers.GRUCell(UNITS)
    cell.build((BATCH, INPUT_DIM))
    initial = tf.zeros((BATCH, UNITS))
    carried, final = gru_sequence(cell, random_inputs(7), initial, mask=tf.constant(MASK))
    zeroed, _ = gru_sequence(cell, random_inputs(7), initial, mask=tf.constant(MASK), zero_output_for_mask=True)
    carried, zeroed = carried.numpy(), zeroed.numpy()
    for b, length in enumerate(LENGTHS):
        np.testing.assert_array_equal(carried[b, length:], np.broadcast_to(carried[b, length - 1], carried[b, length:].shape))
        np.testing.assert_array_equal(final.numpy()[b], carried[b, length - 1])
        assert np.all(zeroed[b, length:] == 0.0)
        np.testing.assert_array_equal(zeroed[b, :length], carried[b, :length])


def test_gru_step_matches_the_keras_cell():
    cell = keras.layers.GRUCell(UNITS)
    cell.build((BATCH, INPUT_DIM))
    cell.bias.assign(np.random.default_rng(7).normal(size=cell.bias.shape))
    fused_cell = FusedGRUCell(UNITS)
    fused_cell.build((BATCH, INPUT_DIM))
    fused_cell.set_weights(cell.get_weights())
    x = random_inputs(8)[:, 0]
    h = tf.constant(np.random.default_rng(9).normal(size=(BATCH, UNITS)), tf.float32)
    expected, _ = cell(x, [h])
    np.testing.assert_allclose(gru_step(cell, x, h).numpy(), expected.numpy(), atol=1e-6)
    output, state = fused_cell(x, [h])
    np.testing.assert_allclose(output.numpy(), expected.numpy(), atol=1e-6)
    np.testing.assert_allclose(state[0].numpy(), expected.numpy(), atol=1e-6)
