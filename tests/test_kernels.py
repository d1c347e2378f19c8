"""`--kernels`: the fused kernels of `nmt_keras.fast` are drop-in replacements.

A model built with `kernels="fused"` and one built with `kernels="keras"` start from the
same weights and give the same losses, step after step; `FusedGRU` and `FusedGRUCell`
compute what Keras' GRU and GRUCell compute (outputs at every position, final states,
gradients) inside Keras' own machinery (masks, `go_backwards`, `Bidirectional`,
serialization).
"""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from nmt_keras.config import Config
from nmt_keras.fast import FusedGRU, FusedGRUCell
from nmt_keras.model import resolve_kernels
from nmt_keras.fast import check_fusable
from nmt_keras.inference.translator import Translator
from nmt_keras.training.distribute import make_optimizer

TOL = dict(rtol=2e-4, atol=2e-5)


def _gru_pair(**options):
    """A Keras GRU and a FusedGRU with the same weights, built for 5 input features."""
    keras.utils.set_random_seed(7)
    plain = keras.layers.GRU(6, **options)
    fused = FusedGRU(6, **options)
    plain.build((None, None, 5))
    fused.build((None, None, 5))
    fused.set_weights(plain.get_weights())
    return plain, fused


def _outputs_and_gradients(layer, inputs, mask, wrap=None):
    layer = wrap(layer) if wrap else layer
    inputs = tf.constant(inputs)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs = tf.nest.flatten(layer(inputs, mask=mask))
        # Nonlinear in each output, so that every position and state gets its own gradient.
        loss = sum(tf.reduce_sum(tf.sin(o) * o) for o in outputs)
    gradients = tape.gradient(loss, [inputs] + layer.trainable_variables)
    return [o.numpy() for o in outputs], [g.numpy() for g in gradients]


@pytest.mark.parametrize("options", [
    dict(return_sequences=True, return_state=True),
    dict(return_sequences=True, zero_output_for_mask=True),
    dict(return_sequences=False, go_backwards=True),
    dict(return_sequences=True, return_state=True, go_backwards=True),
])
def test_fused_gru_is_keras_gru_with_masks(options):
    plain, fused = _gru_pair(**options)
    inputs = np.random.default_rng(0).normal(size=(3, 7, 5)).astype("float32")
    mask = np.array([[1] * 7, [1] * 4 + [0] * 3, [1] * 2 + [0] * 5], bool)  # right padding
    expected = _outputs_and_gradients(plain, inputs, mask)
    got = _outputs_and_gradients(fused, inputs, mask)
    for want, have in zip(expected[0] + expected[1], got[0] + got[1]):
        np.testing.assert_allclose(have, want, **TOL)


def test_bidirectional_fused_gru_is_bidirectional_keras_gru():
    plain, fused = _gru_pair(return_sequences=True, return_state=True)
    inputs = np.random.default_rng(1).normal(size=(2, 6, 5)).astype("float32")
    mask = np.array([[1] * 6, [1] * 3 + [0] * 3], bool)
    wraps = []
    for layer in (plain, fused):
        wrapped = keras.layers.Bidirectional(layer)
        wrapped.build((None, None, 5))
        wraps.append(wrapped)
    wraps[1].set_weights(wraps[0].get_weights())
    assert isinstance(wraps[1].backward_layer, FusedGRU) and wraps[1].backward_layer.go_backwards
    expected = _outputs_and_gradients(wraps[0], inputs, mask)
    got = _outputs_and_gradients(wraps[1], inputs, mask)
    for want, have in zip(expected[0] + expected[1], got[0] + got[1]):
        np.testing.assert_allclose(have, want, **TOL)


def test_fused_gru_cell_is_keras_gru_cell():
    keras.utils.set_random_seed(3)
    plain, fused = keras.layers.GRUCell(4), FusedGRUCell(4)
    plain.build((None, 3))
    fused.build((None, 3))
    fused.set_weights(plain.get_weights())
    x = tf.constant(np.random.default_rng(2).normal(size=(2, 3)).astype("float32"))
    h = tf.constant(np.random.default_rng(3).normal(size=(2, 4)).astype("float32"))
    results = []
    for cell in (plain, fused):
        with tf.GradientTape() as tape:
            tape.watch([x, h])
            output, state = cell(x, [h])
            loss = tf.reduce_sum(output * output)
        results.append([output.numpy(), state[0].numpy()]
                       + [g.numpy() for g in tape.gradient(loss, [x, h] + cell.trainable_variables)])
    for want, have in zip(*results):
        np.testing.assert_allclose(have, want, **TOL)


def test_fused_layers_serialize_as_themselves():
    layer = keras.layers.Bidirectional(FusedGRU(4, return_sequences=True))
    clone = keras.layers.deserialize(keras.layers.serialize(layer))
    assert isinstance(clone.forward_layer, FusedGRU)
    assert type(clone.forward_layer.cell) is keras.layers.GRUCell  # Keras' cell, holding the weights
    assert isinstance(keras.layers.deserialize(keras.layers.serialize(FusedGRUCell(3))), FusedGRUCell)


@pytest.mark.parametrize("setting", [dict(dropout=0.1), dict(reset_after=False), dict(activation="relu")])
def test_settings_the_fused_gru_does_not_compute_are_refused(setting):
    with pytest.raises(ValueError, match="fused GRU needs"):
        FusedGRU(4, **setting)
    with pytest.raises(ValueError, match="fused GRU needs"):
        check_fusable(keras.layers.GRUCell(4, **setting))


def test_auto_kernels_are_fused_for_training_on_this_cpu_and_keras_for_translation():
    """A forward pass runs as fast with Keras' layers (docs/performance.md): a model
    built to translate (as `load_translator` builds it) uses them; one built to train
    (`build_translator`) the fused kernels. An explicit setting is kept either way."""
    from nmt_keras.config import Config
    from nmt_keras.inference.translator import Translator

    assert not tf.config.list_logical_devices("GPU")
    assert resolve_kernels("auto", for_training=True) == "fused"
    assert resolve_kernels("auto", for_training=False) == "keras"
    assert resolve_kernels("fused", for_training=False) == "fused"
    small = Config(embedding_dim=4, units=4)
    assert Translator(["a"], ["b"], small).model.kernels == "keras"
    assert Translator(["a"], ["b"], small, for_training=True).model.kernels == "fused"
    assert isinstance(Translator(["a"], ["b"], small, for_training=True).model.encoder.rnns[0].forward_layer, FusedGRU)


SOURCES = ["el gato negro come", "la casa", "un perro grande y un gato", "come"]
TARGETS = ["the black cat eats", "the house", "a big dog and a cat", "eat"]


def _losses(decoder, kernels, steps=4):
    keras.utils.set_random_seed(11)
    config = Config(embedding_dim=8, units=12, decoder=decoder, kernels=kernels,
                    attention="bahdanau" if decoder == "bahdanau" else "luong-general")
    words = sorted({w for s in SOURCES for w in s.split()})
    targets = sorted({w for t in TARGETS for w in t.split()})
    translator = Translator(words, targets, config)
    translator.model.compile(optimizer=make_optimizer(1e-2, kernels=kernels))
    source, target_in, target_out = translator.prepare_batch(SOURCES, TARGETS)
    initial = [w.copy() for w in translator.model.get_weights()]
    losses = [
        float(translator.model.train_on_batch((source, target_in), target_out, return_dict=True)["loss"])
        for _ in range(steps)
    ]
    return initial, losses, translator.model.get_weights()


@pytest.mark.parametrize("decoder", ["bahdanau", "luong"])
def test_keras_and_fused_kernels_train_alike(decoder):
    keras_initial, keras_losses, keras_final = _losses(decoder, "keras")
    fused_initial, fused_losses, fused_final = _losses(decoder, "fused")
    for a, b in zip(keras_initial, fused_initial):
        np.testing.assert_array_equal(a, b)  # the same weights to start from
    assert keras_losses[-1] < keras_losses[0]  # it trains
    np.testing.assert_allclose(fused_losses, keras_losses, rtol=1e-4)
    for a, b in zip(keras_final, fused_final):
        np.testing.assert_allclose(b, a, rtol=1e-3, atol=1e-5)


def test_the_kernels_setting_picks_the_layers_and_the_loss():
    fused = Translator(["a"], ["b"], Config(embedding_dim=4, units=4, kernels="fused")).model
    plain = Translator(["a"], ["b"], dataclasses.replace(Config(embedding_dim=4, units=4), kernels="keras")).model
    assert isinstance(fused.encoder.rnns[0].forward_layer, FusedGRU)
    assert isinstance(fused.decoder.cell, FusedGRUCell)
    assert type(plain.encoder.rnns[0].forward_layer) is keras.layers.GRU
    assert type(plain.decoder.cell) is keras.layers.GRUCell
    assert fused.cross_entropy is not plain.cross_entropy
