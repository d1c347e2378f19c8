"""Encoder, BahdanauAttention and Decoder: shapes, masking, the formula, serialization."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import assert_layer_round_trip

from nmt_keras import BahdanauAttention, Decoder, Encoder, LuongAttention, LuongDecoder
from nmt_keras.constants import PAD_ID
from nmt_keras.layers import Bridge, OutputLayer

BATCH, SOURCE_LEN, TARGET_LEN = 3, 6, 5
SOURCE_VOCAB, TARGET_VOCAB, EMBEDDING, UNITS = 30, 25, 8, 16

# Three right-padded source sentences: [START] words [END] 0...
SOURCE_IDS = np.array(
    [[2, 5, 6, 7, 8, 3], [2, 9, 10, 3, 0, 0], [2, 11, 3, 0, 0, 0]], dtype=np.int64
)
TARGET_IN = np.array([[2, 4, 5, 6, 7], [2, 8, 9, 0, 0], [2, 10, 0, 0, 0]], dtype=np.int64)


def encode(encoder, source_ids=SOURCE_IDS):
    states, final_state = encoder(source_ids)
    return states, final_state, source_ids != PAD_ID


@pytest.mark.parametrize("kernels", ["keras", "fused"])
def test_encoder_shapes(seeded, kernels):
    """The final state is one tensor: [->h_n; <-h_1], the forward state after each
    sentence's last real word and the backward state after its first word."""
    states, final_state = Encoder(SOURCE_VOCAB, EMBEDDING, UNITS, kernels=kernels)(SOURCE_IDS)
    assert states.shape == (BATCH, SOURCE_LEN, 2 * UNITS)
    assert final_state.shape == (BATCH, 2 * UNITS)
    states, final_state = states.numpy(), final_state.numpy()
    lengths = (SOURCE_IDS != PAD_ID).sum(axis=1)
    for b, length in enumerate(lengths):
        np.testing.assert_allclose(final_state[b, :UNITS], states[b, length - 1, :UNITS], atol=1e-6)
        np.testing.assert_allclose(final_state[b, UNITS:], states[b, 0, UNITS:], atol=1e-6)
        assert np.all(states[b, length:] == 0.0)  # annotations are zero at padding


def test_encoder_padding_changes_nothing_at_real_positions(seeded):
    encoder = Encoder(SOURCE_VOCAB, EMBEDDING, UNITS)
    short = np.array([[2, 9, 10, 3]])
    padded = np.array([[2, 9, 10, 3, 0, 0, 0]])
    short_states, short_final = encoder(short)
    padded_states, padded_final = encoder(padded)
    np.testing.assert_allclose(padded_states[:, :4].numpy(), short_states.numpy(), atol=1e-6)
    np.testing.assert_allclose(padded_final.numpy(), short_final.numpy(), atol=1e-6)


def test_encoder_rejects_bad_sizes():
    with pytest.raises(ValueError, match="Encoder units must be an int >= 1, got 0"):
        Encoder(SOURCE_VOCAB, EMBEDDING, 0)(SOURCE_IDS)


@pytest.mark.parametrize("init", ["uniform", "normal"])
def test_embeddings_start_from_the_chosen_distribution(seeded, init):
    encoder = Encoder(vocab_size=400, embedding_dim=32, units=8, embedding_init=init)
    encoder(np.array([[2, 7, 3]]))
    decoder = Decoder(vocab_size=400, embedding_dim=32, units=8, embedding_init=init)
    decoder(np.array([[2, 7]]), np.random.rand(1, 3, 16).astype("float32"), np.random.rand(1, 16).astype("float32"))
    for layer in (encoder, decoder):
        weights = layer.embedding.embeddings.numpy()  # (400, 32): 12,800 draws
        assert layer.get_config()["embedding_init"] == init
        if init == "uniform":  # Keras' default, uniform in [-0.05, 0.05]
            assert np.abs(weights).max() <= 0.05 and weights.std() == pytest.approx(0.05 / np.sqrt(3), rel=0.05)
        else:  # unit variance
            assert weights.std() == pytest.approx(1.0, rel=0.05) and np.abs(weights).max() > 2.0


def test_unknown_embedding_init_is_refused():
    with pytest.raises(ValueError, match="Embedding init must be one of .*, got 'zeros'"):
        Encoder(vocab_size=10, embedding_dim=4, units=4, embedding_init="zeros")


def test_unknown_cell_or_kernels_are_refused():
    with pytest.raises(ValueError, match="cell_type must be one of .*, got 'rnn'"):
        Encoder(SOURCE_VOCAB, EMBEDDING, UNITS, cell_type="rnn")
    with pytest.raises(ValueError, match="kernels must be one of .*, got 'auto'"):
        Decoder(TARGET_VOCAB, EMBEDDING, UNITS, kernels="auto")  # resolved by the model


def test_attention_shapes_single_step_and_all_steps(seeded):
    attention = BahdanauAttention(10)
    values = tf.random.normal((BATCH, SOURCE_LEN, 2 * UNITS))
    context, weights = attention(tf.random.normal((BATCH, UNITS)), values)
    assert context.shape == (BATCH, 2 * UNITS) and weights.shape == (BATCH, SOURCE_LEN)
    context, weights = attention(tf.random.normal((BATCH, TARGET_LEN, UNITS)), values)
    assert context.shape == (BATCH, TARGET_LEN, 2 * UNITS)
    assert weights.shape == (BATCH, TARGET_LEN, SOURCE_LEN)


def test_attention_is_zero_on_padding_and_sums_to_one(seeded):
    attention = BahdanauAttention(10)
    values = tf.random.normal((BATCH, SOURCE_LEN, 2 * UNITS))
    mask = SOURCE_IDS != PAD_ID
    _, weights = attention(tf.random.normal((BATCH, TARGET_LEN, UNITS)), values, source_mask=mask)
    weights = weights.numpy()
    assert np.all(weights[~np.broadcast_to(mask[:, None, :], weights.shape)] == 0.0)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-6)
    assert np.all(weights[np.broadcast_to(mask[:, None, :], weights.shape)] > 0.0)


def test_attention_matches_the_formula(seeded):
    """e_j = v^T tanh(W_s s + W_h h_j); a = softmax(e); c = sum_j a_j h_j, in NumPy."""
    attention = BahdanauAttention(7)
    values = np.random.rand(BATCH, SOURCE_LEN, 4).astype("float32")
    query = np.random.rand(BATCH, 5).astype("float32")
    mask = SOURCE_IDS != PAD_ID
    context, weights = attention(query, values, source_mask=mask)
    w_s = attention.query_projection.kernel.numpy()
    w_h = attention.key_projection.kernel.numpy()
    v = attention.v.numpy()
    assert v.shape == (7,)  # a 1-D weight, not a Dense
    scores = np.tanh((query @ w_s)[:, None, :] + values @ w_h) @ v  # (batch, source_len)
    scores = np.where(mask, scores, -np.inf)
    expected = np.exp(scores - scores.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(weights.numpy(), expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        context.numpy(), np.einsum("bj,bjd->bd", expected, values), rtol=1e-5, atol=1e-6
    )


def test_attention_precomputed_keys_give_the_same_result(seeded):
    attention = BahdanauAttention(10)
    values = tf.random.normal((BATCH, SOURCE_LEN, 2 * UNITS))
    query = tf.random.normal((BATCH, UNITS))
    direct = attention(query, values)
    keyed = attention(query, values, keys=attention.keys(values))
    for a, b in zip(direct, keyed):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)


def test_attention_keeps_no_weights_on_self(seeded):
    attention = BahdanauAttention(10)
    attention(tf.random.normal((BATCH, UNITS)), tf.random.normal((BATCH, SOURCE_LEN, 4)))
    tensors = [k for k, v in vars(attention).items() if isinstance(v, tf.Tensor)]
    assert tensors == []


def test_decoder_shapes_and_attention_masking(seeded):
    encoder = Encoder(SOURCE_VOCAB, EMBEDDING, UNITS)
    decoder = Decoder(TARGET_VOCAB, EMBEDDING, UNITS)
    states, final, mask = encode(encoder)
    logits, weights = decoder(TARGET_IN, states, final, source_mask=mask)
    assert logits.shape == (BATCH, TARGET_LEN, TARGET_VOCAB)
    assert weights.shape == (BATCH, TARGET_LEN, SOURCE_LEN)
    weights = weights.numpy()
    padded = np.broadcast_to(~mask[:, None, :], weights.shape)
    assert np.all(weights[padded] == 0.0)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-6)


def test_decoder_is_causal_and_ignores_target_padding(seeded):
    """Logits at step t depend only on target tokens before t."""
    encoder = Encoder(SOURCE_VOCAB, EMBEDDING, UNITS)
    decoder = Decoder(TARGET_VOCAB, EMBEDDING, UNITS)
    states, final, mask = encode(encoder)
    logits, _ = decoder(TARGET_IN, states, final, source_mask=mask)
    changed = TARGET_IN.copy()
    changed[:, 3:] = 12  # overwrite steps 3 and 4 (real tokens and padding)
    changed_logits, _ = decoder(changed, states, final, source_mask=mask)
    np.testing.assert_allclose(changed_logits[:, :3].numpy(), logits[:, :3].numpy(), atol=1e-6)
    assert not np.allclose(changed_logits[:, 4].numpy(), logits[:, 4].numpy())


DECODER_VARIANTS = {
    "bahdanau": lambda: Decoder(TARGET_VOCAB, EMBEDDING, UNITS),
    "bahdanau-lstm-general-maxout": lambda: Decoder(
        TARGET_VOCAB, EMBEDDING, UNITS, attention="luong-general", cell_type="lstm", maxout_units=6
    ),
    "bahdanau-fused": lambda: Decoder(TARGET_VOCAB, EMBEDDING, UNITS, kernels="fused"),
    "luong-general": lambda: LuongDecoder(TARGET_VOCAB, EMBEDDING, UNITS),
    "luong-general-fused": lambda: LuongDecoder(TARGET_VOCAB, EMBEDDING, UNITS, kernels="fused"),
    "luong-concat-lstm": lambda: LuongDecoder(
        TARGET_VOCAB, EMBEDDING, UNITS, attention="luong-concat", cell_type="lstm"
    ),
    "luong-input-feeding": lambda: LuongDecoder(
        TARGET_VOCAB, EMBEDDING, UNITS, attention="bahdanau", input_feeding=True
    ),
}


@pytest.mark.parametrize("variant", sorted(DECODER_VARIANTS))
def test_decoder_step_reproduces_teacher_forced_call(seeded, variant):
    """Inference steps and teacher-forced training compute the same thing; for the Luong
    decoder without input feeding this compares the whole-sequence fast path with the
    step-by-step cell."""
    cell = "lstm" if "lstm" in variant else "gru"
    kernels = "fused" if "fused" in variant else "keras"
    encoder = Encoder(SOURCE_VOCAB, EMBEDDING, UNITS, cell_type=cell, kernels=kernels)
    decoder = DECODER_VARIANTS[variant]()
    states, final, mask = encode(encoder)
    logits, weights = decoder(TARGET_IN, states, final, source_mask=mask)
    state, memory = decoder.start(states, final, mask)
    for t in range(TARGET_LEN):
        output, state, step_weights = decoder.step(decoder.embedding(TARGET_IN[:, t]), state, memory)
        step_logits = decoder.output_layer(output, memory.prior)
        np.testing.assert_allclose(step_logits.numpy(), logits[:, t].numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(step_weights.numpy(), weights[:, t].numpy(), atol=1e-6)


@pytest.mark.parametrize("cell, bidirectional, layers", [("lstm", True, 1), ("gru", False, 2), ("lstm", False, 3)])
def test_encoder_variants_shapes(seeded, cell, bidirectional, layers):
    encoder = Encoder(SOURCE_VOCAB, EMBEDDING, UNITS, cell_type=cell, num_layers=layers, bidirectional=bidirectional)
    states, final_state = encoder(SOURCE_IDS)
    directions = 2 if bidirectional else 1
    per_state = UNITS * (2 if cell == "lstm" else 1)  # LSTM finals are [h; c]
    assert states.shape == (BATCH, SOURCE_LEN, directions * UNITS) == (BATCH, SOURCE_LEN, encoder.output_dim)
    assert final_state.shape == (BATCH, directions * per_state) == (BATCH, encoder.final_state_dim)
    # The forward direction's h (the first UNITS features) is its last real annotation.
    lengths = (SOURCE_IDS != PAD_ID).sum(axis=1)
    last = states.numpy()[np.arange(BATCH), lengths - 1, :UNITS]
    np.testing.assert_allclose(final_state.numpy()[:, :UNITS], last, atol=1e-6)


@pytest.mark.parametrize("score", ["dot", "general", "concat"])
def test_luong_attention_matches_the_formula(seeded, score):
    attention = LuongAttention(score, units=7)
    values = np.random.rand(BATCH, SOURCE_LEN, 4).astype("float32")
    query = np.random.rand(BATCH, TARGET_LEN, 4).astype("float32")
    mask = SOURCE_IDS != PAD_ID
    context, weights = attention(query, values, source_mask=mask)
    assert attention.score_kind == score
    if score == "dot":
        scores = np.einsum("btd,bjd->btj", query, values)
    elif score == "general":
        w_a = attention.key_projection.kernel.numpy()  # (value_dim, query_dim)
        scores = np.einsum("btd,bjd->btj", query, values @ w_a)
    else:
        w_q = attention.query_projection.kernel.numpy()
        w_k = attention.key_projection.kernel.numpy()
        v = attention.v.numpy()
        scores = np.tanh((query @ w_q)[:, :, None, :] + (values @ w_k)[:, None, :, :]) @ v
    scores = np.where(mask[:, None, :], scores, -np.inf)
    expected = np.exp(scores - scores.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(weights.numpy(), expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        context.numpy(), np.einsum("btj,bjd->btd", expected, values), rtol=1e-5, atol=1e-6
    )


def test_luong_dot_refuses_mismatched_sizes():
    with pytest.raises(ValueError, match="same size, got query 8 and annotations 16"):
        LuongAttention("dot")(np.zeros((1, 8), "float32"), np.zeros((1, 3, 16), "float32"))


@pytest.mark.parametrize("leading", [(BATCH,), (BATCH, TARGET_LEN)])
def test_maxout_output_shapes_and_pairs(seeded, leading):
    head = OutputLayer(TARGET_VOCAB, maxout_units=6)
    features = tf.random.normal(leading + (20,))
    logits = head(features)
    assert logits.shape == leading + (TARGET_VOCAB,)
    assert head.maxout_input.kernel.shape == (20, 12)
    assert head.projection.kernel.shape == (6, TARGET_VOCAB)
    pieces = head.maxout_input(features).numpy().reshape(leading + (6, 2))
    expected = pieces.max(-1) @ head.projection.kernel.numpy() + head.projection.bias.numpy()
    np.testing.assert_allclose(logits.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_source_prior_adds_the_learned_weight_to_source_words(seeded):
    head = OutputLayer(TARGET_VOCAB, source_prior=True)
    features = tf.random.normal((2, 3, 10))
    prior = np.zeros((2, TARGET_VOCAB), "float32")
    prior[0, 7] = 1.0
    plain = head(features)
    boosted = head(features, prior)
    difference = (boosted - plain).numpy()
    np.testing.assert_allclose(difference[0, :, 7], head.prior_weight.numpy(), rtol=1e-6)
    difference[0, :, 7] = 0.0
    assert np.all(difference == 0.0)


def test_decoder_uses_the_previous_state_as_query(seeded):
    """Bahdanau order: the first step's attention depends on s_0 only, not on y_0."""
    encoder = Encoder(SOURCE_VOCAB, EMBEDDING, UNITS)
    decoder = Decoder(TARGET_VOCAB, EMBEDDING, UNITS)
    states, final, mask = encode(encoder)
    _, weights = decoder(TARGET_IN, states, final, source_mask=mask)
    other_first = TARGET_IN.copy()
    other_first[:, 0] = 13
    _, other_weights = decoder(other_first, states, final, source_mask=mask)
    np.testing.assert_array_equal(other_weights[:, 0].numpy(), weights[:, 0].numpy())
    # Untrained weights are small, so the effect on step 1 is small, but it is there.
    assert np.abs(other_weights[:, 1].numpy() - weights[:, 1].numpy()).max() > 1e-7


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_bridge_maps_the_final_state_to_the_initial_state(seeded, cell):
    bridge = Bridge(UNITS, cell)
    final_state = tf.random.normal((BATCH, 2 * UNITS))
    state = bridge(final_state)
    assert len(state) == (2 if cell == "lstm" else 1)
    assert all(s.shape == (BATCH, UNITS) for s in state)
    dense = bridge.to_hidden
    expected = np.tanh(final_state.numpy() @ dense.kernel.numpy() + dense.bias.numpy())
    np.testing.assert_allclose(state[0].numpy(), expected, rtol=1e-5, atol=1e-6)


def _graph_op_count(decoder, states, final, mask, target_len):
    function = tf.function(lambda t: decoder(t, states, final, source_mask=mask))
    graph = function.get_concrete_function(tf.TensorSpec((BATCH, target_len), tf.int64)).graph
    return len(graph.get_operations()), {op.type for op in graph.get_operations()}


def test_decoder_loop_is_symbolic_not_unrolled(seeded):
    encoder = Encoder(SOURCE_VOCAB, EMBEDDING, UNITS)
    decoder = Decoder(TARGET_VOCAB, EMBEDDING, UNITS)
    states, final, mask = encode(encoder)
    short_ops, short_types = _graph_op_count(decoder, states, final, mask, 3)
    long_ops, _ = _graph_op_count(decoder, states, final, mask, 40)
    assert short_ops == long_ops
    assert "While" in short_types or "StatelessWhile" in short_types


def test_vocabulary_projection_runs_once_outside_the_loop(seeded):
    """Attention and GRU run inside the while-loop body; the output Dense does not."""
    encoder = Encoder(SOURCE_VOCAB, EMBEDDING, UNITS)
    decoder = Decoder(TARGET_VOCAB, EMBEDDING, UNITS)
    states, final, mask = encode(encoder)
    function = tf.function(lambda t: decoder(t, states, final, source_mask=mask))
    graph = function.get_concrete_function(tf.TensorSpec((BATCH, None), tf.int64)).graph
    bodies = [f for f in graph.as_graph_def().library.function if "while_body" in f.signature.name]
    assert len(bodies) == 1
    body_nodes = [node.name for node in bodies[0].node_def]
    assert any("attention" in name for name in body_nodes)
    assert any("gru_cell" in name or "gru_step" in name for name in body_nodes)
    assert not any("output_layer" in name for name in body_nodes)
    assert any("output_layer" in op.name and "projection" in op.name for op in graph.get_operations())


@pytest.mark.parametrize(
    "make_layer, call",
    [
        (lambda: Encoder(SOURCE_VOCAB, EMBEDDING, UNITS), lambda layer: layer(SOURCE_IDS)),
        (
            lambda: BahdanauAttention(9),
            lambda layer: layer(
                tf.ones((BATCH, UNITS)) * 0.1,
                tf.reshape(tf.range(BATCH * SOURCE_LEN * 4, dtype=tf.float32) / 100, (BATCH, SOURCE_LEN, 4)),
                source_mask=SOURCE_IDS != PAD_ID,
            ),
        ),
        (
            lambda: Decoder(TARGET_VOCAB, EMBEDDING, UNITS, attention_units=12),
            lambda layer: layer(
                TARGET_IN,
                tf.reshape(tf.range(BATCH * SOURCE_LEN * 4, dtype=tf.float32) / 100, (BATCH, SOURCE_LEN, 4)),
                tf.ones((BATCH, 6)) * 0.2,
                source_mask=SOURCE_IDS != PAD_ID,
            ),
        ),
        (
            lambda: LuongDecoder(TARGET_VOCAB, EMBEDDING, UNITS, cell_type="lstm", input_feeding=True, maxout_units=4, source_prior=True),
            lambda layer: layer(
                TARGET_IN,
                tf.reshape(tf.range(BATCH * SOURCE_LEN * 4, dtype=tf.float32) / 100, (BATCH, SOURCE_LEN, 4)),
                tf.ones((BATCH, 6)) * 0.2,
                source_mask=SOURCE_IDS != PAD_ID,
                prior=tf.one_hot([1, 2, 3], TARGET_VOCAB),
            ),
        ),
        (
            lambda: LuongAttention("concat", units=5),
            lambda layer: layer(tf.ones((BATCH, TARGET_LEN, 4)) * 0.3, tf.ones((BATCH, SOURCE_LEN, 4)) * 0.1),
        ),
        (
            lambda: Encoder(SOURCE_VOCAB, EMBEDDING, UNITS, cell_type="lstm", num_layers=2, bidirectional=False),
            lambda layer: layer(SOURCE_IDS),
        ),
        (lambda: OutputLayer(TARGET_VOCAB, maxout_units=3), lambda layer: layer(tf.ones((2, 5)))),
        (lambda: Bridge(UNITS, "lstm"), lambda layer: layer(tf.ones((BATCH, 6)) * 0.3)),
        (
            lambda: Encoder(SOURCE_VOCAB, EMBEDDING, UNITS, kernels="fused"),
            lambda layer: layer(SOURCE_IDS),
        ),
        (
            lambda: LuongDecoder(TARGET_VOCAB, EMBEDDING, UNITS, kernels="fused"),
            lambda layer: layer(
                TARGET_IN,
                tf.reshape(tf.range(BATCH * SOURCE_LEN * 4, dtype=tf.float32) / 100, (BATCH, SOURCE_LEN, 4)),
                tf.ones((BATCH, 6)) * 0.2,
                source_mask=SOURCE_IDS != PAD_ID,
            ),
        ),
    ],
    ids=["Encoder", "BahdanauAttention", "Decoder", "LuongDecoder", "LuongAttention", "EncoderLSTM",
         "OutputLayer", "Bridge", "EncoderFused", "LuongDecoderFused"],
)
def test_get_config_round_trip(seeded, make_layer, call):
    layer = make_layer()
    call(layer)
    assert_layer_round_trip(layer, call)
