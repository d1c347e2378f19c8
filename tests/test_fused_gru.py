"""The fused GRU path computes what Keras' GRU layers compute: outputs, final states
and every gradient, with masks, in both directions, and one step at a time."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nmt_keras.fast.gru import fused_gru_applies, gru_sequence, gru_step
from nmt_keras.recurrent import make_rnn, run_cell, run_rnn, uses_fused_gru

BATCH, TIME, INPUT_DIM, UNITS = 4, 7, 5, 6
LENGTHS = np.array([7, 4, 1, 3])  # right padding; one sequence without any
MASK = np.arange(TIME)[None, :] < LENGTHS[:, None]  # (batch, time)


def random_inputs(seed=0):
    return tf.constant(np.random.default_rng(seed).normal(size=(BATCH, TIME, INPUT_DIM)), tf.float32)


def bidirectional_gru():
    layer = keras.layers.Bidirectional(
        make_rnn("gru", UNITS, name="gru", return_sequences=True, return_state=True),
        merge_mode="concat",
    )
    layer.build((BATCH, TIME, INPUT_DIM))
    # Non-zero biases, so that bias handling is checked too.
    for variable in layer.weights:
        if "bias" in variable.path:
            variable.assign(np.random.default_rng(1).normal(size=variable.shape) * 0.5)
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


def test_the_tutorial_sized_gru_takes_the_fused_path_on_a_cpu():
    layer = bidirectional_gru()
    assert fused_gru_applies(layer.forward_layer.cell)
    assert uses_fused_gru(layer)
    assert not uses_fused_gru(make_rnn("lstm", UNITS, name="lstm", return_sequences=True))
    assert not uses_fused_gru(keras.layers.GRU(UNITS, reset_after=False))
    assert not uses_fused_gru(keras.layers.GRU(UNITS, recurrent_dropout=0.1))
    assert not uses_fused_gru(keras.layers.GRU(UNITS, go_backwards=True))


@pytest.mark.parametrize("graph", [False, True], ids=["eager", "tf.function"])
def test_bidirectional_gru_matches_keras_with_padding(graph):
    layer = bidirectional_gru()
    inputs = random_inputs()
    mask = tf.constant(MASK)

    def keras_path(x):
        return layer(x, mask=mask)

    def fused_path(x):
        return run_rnn(layer, x, mask=mask)

    if graph:
        keras_path, fused_path = tf.function(keras_path), tf.function(fused_path)
    def keras_masked(x):  # Keras' outputs at padded positions are not defined as 0
        outputs, *states = keras_path(x)
        return [outputs * MASK[..., None], *states]

    expected, expected_gradients = outputs_and_gradients(keras_masked, layer, inputs)
    got, got_gradients = outputs_and_gradients(fused_path, layer, inputs)
    # Outputs at real positions (the fused path's are zero at padding), final states.
    np.testing.assert_allclose(got[0].numpy(), expected[0].numpy(), atol=1e-5)
    assert np.all(got[0].numpy()[~MASK] == 0.0)
    for got_state, expected_state in zip(got[1:], expected[1:], strict=True):
        np.testing.assert_allclose(got_state.numpy(), expected_state.numpy(), atol=1e-5)
    for got_gradient, expected_gradient in zip(got_gradients, expected_gradients, strict=True):
        np.testing.assert_allclose(got_gradient.numpy(), expected_gradient.numpy(), rtol=1e-4, atol=1e-5)


def test_gru_with_initial_state_and_no_mask_matches_keras():
    layer = make_rnn("gru", UNITS, name="gru", return_sequences=True)
    layer.build((BATCH, TIME, INPUT_DIM))
    inputs = random_inputs(3)
    initial = tf.constant(np.random.default_rng(4).normal(size=(BATCH, UNITS)), tf.float32)
    expected, expected_gradients = outputs_and_gradients(
        lambda x: [layer(x, initial_state=[initial])], layer, inputs
    )
    got, got_gradients = outputs_and_gradients(
        lambda x: [run_rnn(layer, x, initial_state=[initial])], layer, inputs
    )
    np.testing.assert_allclose(got[0].numpy(), expected[0].numpy(), atol=1e-5)
    for got_gradient, expected_gradient in zip(got_gradients, expected_gradients, strict=True):
        np.testing.assert_allclose(got_gradient.numpy(), expected_gradient.numpy(), rtol=1e-4, atol=1e-5)


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
        outputs, final = gru_sequence(cell, x, initial_state=h, mask=tf.constant(MASK))
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


def test_gru_step_matches_the_keras_cell():
    cell = keras.layers.GRUCell(UNITS)
    cell.build((BATCH, INPUT_DIM))
    cell.bias.assign(np.random.default_rng(7).normal(size=cell.bias.shape))
    x = random_inputs(8)[:, 0]
    h = tf.constant(np.random.default_rng(9).normal(size=(BATCH, UNITS)), tf.float32)
    expected, _ = cell(x, [h])
    np.testing.assert_allclose(gru_step(cell, x, h).numpy(), expected.numpy(), atol=1e-6)
    np.testing.assert_allclose(run_cell(cell, x, (h,))[0].numpy(), expected.numpy(), atol=1e-6)
