"""bfloat16: the fused CPU kernels under the "mixed_bfloat16" policy, and a model
trained in bfloat16 that translates and exports in float32.

The bounds. bfloat16 keeps 8 significant bits, so each rounding has a relative error of
at most `UNIT = 2^-8` (the spacing of bfloat16 numbers relative to their size; round
to nearest halves it). Outputs go through a handful of roundings that mostly do not
add up in one direction (the GRU's state is an average of the previous state and the
candidate, which damps errors step by step): their relative error, measured as a norm
over the whole tensor, stays within `OUTPUT_BOUND = 4 UNIT` (about 1.6 %). A gradient
goes through the forward pass and then the backward pass, about twice the roundings:
`GRADIENT_BOUND = 8 UNIT` (about 3.1 %).

Some gradients of an untrained translator are tiny differences of large terms (the
Bahdanau query weights: a change common to every source position does not move the
softmax), and there bfloat16's error is relative to the terms, not to their difference.
So the model test bounds the error of all gradients together, relative to their joint
norm (what gradient clipping reads), and each gradient alone except those tiny ones.
"""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from nmt_keras.config import Config
from nmt_keras.data.corpora import load_corpus
from nmt_keras.data.tokenizers import learn_tokens
from nmt_keras.fast import FusedAdam, FusedGRU
from nmt_keras.inference.translator import Translator
from nmt_keras.model import masked_loss_sums
from nmt_keras.training.distribute import dtype_policy

UNIT = 2.0**-8  # relative spacing of bfloat16 numbers: 8 significant bits
OUTPUT_BOUND = 4 * UNIT
GRADIENT_BOUND = 8 * UNIT
BF16 = "mixed_bfloat16"


def relative_error(got, expected):
    """`|got - expected| / |expected|`, norms over the whole arrays."""
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    return float(np.linalg.norm(got - expected) / np.linalg.norm(expected))


def _as_array(value):
    return np.asarray(tf.cast(tf.convert_to_tensor(value), tf.float32))


# ------------------------------------------------------------------------------ the GRU


@pytest.mark.parametrize("go_backwards", [False, True])
def test_fused_gru_in_bfloat16_is_float32_within_the_bound(go_backwards):
    batch, time, features, units = 16, 30, 32, 64
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(batch, time, features)).astype("float32")
    lengths = rng.integers(3, time + 1, batch)
    mask = tf.constant(np.arange(time)[None] < lengths[:, None])  # right padding
    keras.utils.set_random_seed(0)
    reference = keras.layers.GRU(units)
    reference.build((None, None, features))
    weights = reference.get_weights()

    def run(gru_class, policy):
        layer = gru_class(units, return_sequences=True, return_state=True, dtype=policy,
                          go_backwards=go_backwards)
        layer.build((None, None, features))
        layer.set_weights(weights)
        x = tf.constant(inputs)
        with tf.GradientTape() as tape:
            tape.watch(x)
            raw = layer(x, mask=mask)
            outputs = [tf.cast(o, tf.float32) for o in raw]
            loss = sum(tf.reduce_sum(tf.sin(o) * o) for o in outputs)
        gradients = tape.gradient(loss, [x] + layer.trainable_variables)
        return layer, raw, [o.numpy() for o in outputs], [_as_array(g) for g in gradients]

    _, _, outputs32, gradients32 = run(FusedGRU, "float32")
    layer, raw, outputs16, gradients16 = run(FusedGRU, BF16)
    # It computes in bfloat16 and keeps float32 weights, whose gradients are float32.
    assert raw[0].dtype == tf.bfloat16
    assert all(v.dtype == "float32" for v in layer.trainable_variables)
    for got, expected in zip(outputs16, outputs32):
        assert relative_error(got, expected) <= OUTPUT_BOUND
    for got, expected in zip(gradients16, gradients32):
        assert relative_error(got, expected) <= GRADIENT_BOUND
    # And it is about as close to float32 as Keras' own GRU is in bfloat16.
    _, _, keras_outputs16, keras_gradients16 = run(keras.layers.GRU, BF16)
    for fused, plain, expected in zip(
        outputs16 + gradients16, keras_outputs16 + keras_gradients16, outputs32 + gradients32
    ):
        assert relative_error(fused, expected) <= 2 * relative_error(plain, expected) + UNIT


# --------------------------------------------------------------- the whole model, fused


@pytest.fixture(scope="module")
def words_and_pairs():
    pairs = load_corpus("synthetic", "to-english").pairs[:64]
    config = Config()
    source, target = (
        learn_tokens(config.tokenizer, texts, None, config.casing)
        for texts in ([p.source for p in pairs], [p.target for p in pairs])
    )
    return source, target, pairs


def _translator(policy, words_and_pairs, weights=None, **settings):
    source_words, target_words, _ = words_and_pairs
    config = dataclasses.replace(
        Config(embedding_dim=32, units=32, kernels="fused", max_vocab_size=None), **settings
    )
    keras.utils.set_random_seed(0)
    with dtype_policy(policy):
        translator = Translator(source_words, target_words, config, for_training=True)
    if weights is not None:
        translator.model.set_weights(weights)
    return translator


def _loss_and_gradients(translator, pairs, training=True):
    """The teacher-forced loss (label smoothing 0.1 in training, none otherwise), the
    logits and the gradients of the loss."""
    model = translator.model
    source, target_in, target_out = translator.prepare_batch(
        [p.source for p in pairs], [p.target for p in pairs]
    )
    with tf.GradientTape() as tape:
        logits, labels = model.token_logits(source, target_in, target_out, training=training)
        smoothing = 0.1 if training else 0.0
        loss_sum, _, tokens = masked_loss_sums(labels, logits, smoothing, model.cross_entropy)
        loss = loss_sum / tokens
    gradients = tape.gradient(loss, model.trainable_variables)
    return loss, logits, gradients


@pytest.mark.parametrize("decoder, attention", [("bahdanau", "bahdanau"), ("luong", "luong-general")])
def test_fused_translator_in_bfloat16_is_float32_within_the_bound(decoder, attention, words_and_pairs):
    pairs = words_and_pairs[2][:32]
    full = _translator("float32", words_and_pairs, decoder=decoder, attention=attention)
    half = _translator(BF16, words_and_pairs, full.model.get_weights(), decoder=decoder, attention=attention)
    assert full.model.kernels == half.model.kernels == "fused"
    loss32, _, gradients32 = _loss_and_gradients(full, pairs)
    loss16, logits16, gradients16 = _loss_and_gradients(half, pairs)
    # The loss (the one-pass cross-entropy) is computed in float32 from float32 logits.
    assert logits16.dtype == loss16.dtype == tf.float32
    assert abs(float(loss16) - float(loss32)) <= OUTPUT_BOUND * float(loss32)
    flat16 = np.concatenate([_as_array(g).ravel() for g in gradients16])
    flat32 = np.concatenate([_as_array(g).ravel() for g in gradients32])
    assert relative_error(flat16, flat32) <= GRADIENT_BOUND
    # Each gradient alone, but those that are tiny differences (norm under 1/1000 of
    # the whole gradient's; the Bahdanau query weights here).
    checked = 0
    for variable, got, expected in zip(half.model.trainable_variables, gradients16, gradients32):
        assert tf.convert_to_tensor(got).dtype == tf.float32  # float32 master weights
        got, expected = _as_array(got), _as_array(expected)
        if np.linalg.norm(expected) >= 1e-3 * np.linalg.norm(flat32):
            assert relative_error(got, expected) <= GRADIENT_BOUND, variable.path
            checked += 1
    assert checked >= len(gradients32) - 3


def test_fused_adam_updates_the_float32_master_weights_of_a_bfloat16_model(words_and_pairs):
    pairs = words_and_pairs[2][:32]
    weights = _translator("float32", words_and_pairs).model.get_weights()
    updated = {}
    for optimizer in (FusedAdam(1e-2), keras.optimizers.Adam(1e-2)):
        translator = _translator(BF16, words_and_pairs, weights)
        _, _, gradients = _loss_and_gradients(translator, pairs)
        variables = translator.model.trainable_variables
        optimizer.apply_gradients(zip(gradients, variables))
        assert all(v.dtype == "float32" for v in variables)
        updated[type(optimizer).__name__] = [v.numpy() for v in variables]
    moved = 0
    for fused, plain, before in zip(updated["FusedAdam"], updated["Adam"], weights):
        np.testing.assert_allclose(fused, plain, rtol=1e-5, atol=1e-6)
        moved += not np.allclose(fused, before)
    assert moved >= len(weights) // 2  # the step changed the weights


# ------------------------------------------- trained in bfloat16, translated in float32


def test_a_model_trained_in_bfloat16_translates_and_exports_in_float32(tmp_path, capsys):
    from nmt_keras.inference.export import export_translator
    from nmt_keras.inference.translator import translate_all
    from nmt_keras.saving import load_translator
    from nmt_keras.training.train import train_and_evaluate

    config = Config(
        data="synthetic", max_vocab_size=None, embedding_dim=32, units=32, batch_size=32,
        epochs=2, max_train_pairs=300, validation_size=50, test_size=40, strategy="default",
        precision="mixed", seed=0,
    ).validate()
    trained, data, report = train_and_evaluate(config, tmp_path / "model", verbose=0)
    expected = "mixed_bfloat16: precision 'mixed' asked for, on a CPU"
    assert report["dtype_policy"] == "mixed_bfloat16" and report["precision_choice"] == expected
    assert f"precision {expected}" in capsys.readouterr().out
    assert trained.model.encoder.embedding(tf.constant([[1, 2]])).dtype == tf.bfloat16

    # Loaded on this CPU (no bfloat16 units, conftest.py): float32 everywhere.
    loaded = load_translator(tmp_path / "model")
    assert loaded.model.dtype_policy.name == "float32"
    assert loaded.model.encoder.embedding(tf.constant([[1, 2]])).dtype == tf.float32
    assert all(w.dtype == "float32" for w in loaded.model.weights)
    for saved, restored in zip(trained.model.weights, loaded.model.weights):
        np.testing.assert_array_equal(saved.numpy(), restored.numpy())
    # The same function as trained: the test loss in float32 is the bfloat16 one within
    # the bound, and below the loss of a uniform guess, log(vocabulary size).
    test_pairs = list(data.test)
    loss32, _, _ = _loss_and_gradients(loaded, test_pairs, training=False)
    loss16, _, _ = _loss_and_gradients(trained, test_pairs, training=False)
    assert abs(float(loss32) - float(loss16)) <= OUTPUT_BOUND * float(loss32)
    assert float(loss32) < np.log(len(loaded.target_vocabulary))
    sources = [p.source for p in test_pairs]
    in_float32 = translate_all(loaded, sources)
    in_bfloat16 = translate_all(trained, sources)
    # Greedy search picks the same words but where two were within bfloat16's rounding
    # of each other.
    same = sum(a == b for a, b in zip(in_float32, in_bfloat16))
    assert same >= 0.8 * len(sources)

    exported = export_translator(loaded, tmp_path / "saved_model")
    assert exported is not None
    served = tf.saved_model.load(str(tmp_path / "saved_model"))
    outputs = served.signatures["translate"](texts=tf.constant(sources[:8]))
    texts = [t.decode("utf-8") for t in outputs["text"].numpy()]
    assert texts == in_float32[:8]
