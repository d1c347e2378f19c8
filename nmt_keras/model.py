"""`Seq2Seq`: the encoder-decoder network and how it trains (token ids in, logits out):
the masked loss and accuracy, the metrics that average them exactly, and the choice of
kernels (`resolve_kernels`).

Text in and out (vectorizers, search, detokenization) is `nmt_keras.inference.Translator`.
"""

import keras
import numpy as np
import tensorflow as tf

from nmt_keras.compat import BuiltBeforeFit
from nmt_keras.config import Config
from nmt_keras.constants import KERNELS, NUM_SPECIAL_TOKENS, PAD_ID
from nmt_keras.layers.blocks import sampling_probability
from nmt_keras.layers.decoder import Decoder
from nmt_keras.layers.encoder import Encoder

# Inputs: source ids `(batch, source_len)` and decoder inputs `(batch, target_len)`.
INPUT_SHAPES = ((None, None), (None, None))


@keras.saving.register_keras_serializable(package="nmt_keras")
class Seq2Seq(BuiltBeforeFit, keras.Model):
    """An `Encoder` and a decoder (`Decoder`, or `LuongDecoder` with
    `decoder="luong"`), trained with teacher forcing (or scheduled sampling) on the
    masked cross-entropy.

    Training pairs are `((source_ids, target_in), target_out)`: the decoder reads the
    gold previous words `[START] y_1 ... y_m` and learns to predict `y_1 ... y_m [END]`.
    The loss is the cross-entropy averaged over real target tokens (padding is neither
    summed nor counted), optionally label-smoothed; `accuracy` is the share of real
    target tokens predicted right. `fit()` compiles `train_step` into a `tf.function`.

    Args:
        source_vocab_size: int. Source vocabulary size, special tokens included.
        target_vocab_size: int. Target vocabulary size.
        settings: `Config`, or a dict of its model settings (`Config.model_settings()`):
            sizes, attention, decoder, cell type, dropout, objective, kernels.
        shared_ids: list of int, or None. For each source id, the target id of the same
            word, or -1: what the source prior (`source_prior=True`) marks.
        for_training: bool. Built to be trained: `kernels="auto"` then picks the fused
            kernels on a CPU (see `resolve_kernels`).

    Example:
    >>> model = Seq2Seq(100, 120, Config(embedding_dim=8, units=16))
    >>> model.compile(optimizer="adam")
    >>> logits = model((np.array([[2, 7, 3]]), np.array([[2, 9]])))   # (1, 2, 120)
    """

    def __init__(
        self, source_vocab_size, target_vocab_size, settings=None, shared_ids=None, for_training=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if settings is None or isinstance(settings, dict):
            settings = Config.from_dict(settings or {}, source="Seq2Seq settings")
        self.config = settings
        self.source_vocab_size = source_vocab_size
        self.target_vocab_size = target_vocab_size
        self.shared_ids = None if shared_ids is None else [int(i) for i in shared_ids]
        config = self.config
        kernels = resolve_kernels(config.kernels, for_training)
        self.kernels = kernels  # "keras" or "fused", as resolved for this machine and use
        shared = dict(
            cell_type=config.cell_type, dropout=config.dropout, embedding_init=config.embedding_init,
            kernels=kernels,
        )
        self.encoder = Encoder(
            source_vocab_size, config.embedding_dim, config.units,
            num_layers=config.encoder_layers, bidirectional=config.bidirectional,
            name="encoder", **shared,
        )
        decoder_options = dict(
            attention=config.attention, attention_units=config.attention_units,
            maxout_units=config.maxout_units, source_prior=config.source_prior,
            name="decoder", **shared,
        )
        DecoderClass = Decoder
        if config.decoder == "luong":
            from nmt_keras.layers.luong_decoder import LuongDecoder as DecoderClass

            decoder_options["input_feeding"] = config.input_feeding
        self.decoder = DecoderClass(target_vocab_size, config.embedding_dim, config.units, **decoder_options)
        if kernels == "fused":
            from nmt_keras.fast import sparse_cross_entropy as cross_entropy
        else:
            cross_entropy = keras_cross_entropy
        self.cross_entropy = cross_entropy  # function(logits, labels) -> (tokens,)
        self.loss_tracker = TokenMean(name="loss")
        self.accuracy_tracker = TokenMean(name="accuracy")
        self.token_counter = keras.metrics.Sum(name="target_tokens")
        self.sampling_tracker = LastValue(name="sampling_probability")

    def build(self, inputs_shape=INPUT_SHAPES):
        source_shape, target_shape = inputs_shape
        self.encoder.build(source_shape)
        self.decoder.build(
            target_shape,
            (source_shape[0], source_shape[1], self.encoder.output_dim),
            (source_shape[0], self.encoder.final_state_dim),
        )

    def build_for_fit(self):
        self.build(INPUT_SHAPES)

    # ---------------------------------------------------------------------- forward

    def encode(self, source_ids, training=None):
        """Runs the encoder.

        Args:
            source_ids: int `(batch, source_len)`, `[START] words [END]` + padding.

        Returns:
            annotations `(batch, source_len, value_dim)`, final state
            `(batch, final_dim)`, source mask, and the source prior
            `(batch, target_vocab)` (None without `source_prior`). With
            `reverse_source`, positions are in the encoder's (reversed) order.
        """
        encoder_ids = reverse_words(source_ids) if self.config.reverse_source else source_ids
        annotations, final_state = self.encoder(encoder_ids, training=training)
        prior = self.word_prior(source_ids) if self.config.source_prior else None
        return annotations, final_state, encoder_ids != PAD_ID, prior

    def start(self, source_ids):
        """What step-by-step decoding needs: the decoder's initial `(state, memory)`."""
        annotations, final_state, mask, prior = self.encode(source_ids, training=False)
        return self.decoder.start(annotations, final_state, mask, prior)

    def next_logits(self, token_ids, state, memory):
        """One decoding step from the previous words `(batch,)`: logits
        `(batch, target_vocab)` (float32), the new state and the attention weights."""
        output, state, weights = self.decoder.step(self.decoder.embedding(token_ids), state, memory)
        return self.decoder.output_layer(output, memory.prior), state, weights

    def call(self, inputs, training=None, return_attention=False):
        """Teacher-forced logits.

        Args:
            inputs: `(source_ids, target_in)`, int `(batch, source_len)` and
                `(batch, target_len)`.
            return_attention: bool. Also return the attention weights
                `(batch, target_len, source_len)`, over the source as written.

        Returns:
            logits `(batch, target_len, target_vocab)` [, weights].
        """
        source_ids, target_in = inputs
        annotations, final_state, mask, prior = self.encode(source_ids, training=training)
        logits, weights = self.decoder(
            target_in, annotations, final_state, source_mask=mask, prior=prior,
            training=training,
        )
        if return_attention:
            return logits, self.source_order(weights, source_ids)
        return logits

    def word_prior(self, source_ids):
        """`(batch, source_len)` ids -> `(batch, target_vocab)`: 1.0 for each target word
        that also occurs in the source sentence."""
        shared = tf.constant(self.shared_ids or [-1] * self.source_vocab_size, tf.int64)
        target_ids = tf.gather(shared, source_ids)  # (batch, source_len), -1: none
        return tf.reduce_max(tf.one_hot(target_ids, self.target_vocab_size), axis=1)

    def source_order(self, weights, source_ids):
        """Attention weights over the encoder's positions -> over the source as written
        (they differ only with `reverse_source`). weights: `(batch, ..., source_len)`."""
        if not self.config.reverse_source:
            return weights
        index = reversal_index(source_ids)  # (batch, source_len)
        return tf.gather(weights, index, axis=len(weights.shape) - 1, batch_dims=1)

    # --------------------------------------------------------------------- training

    def token_logits(self, source_ids, target_in, target_out, training=None, sampling_probability=None):
        """Logits where the loss is taken, and their gold labels.

        With dynamic shapes (the default) only real target positions are projected onto
        the vocabulary: the largest product, the softmax and the loss skip the padding.
        Under XLA (`jit_compile`) and on TPUs shapes must be static: every position is
        computed and the loss masks the padding. The loss is the same either way.

        Returns:
            `(logits, labels)`: `(tokens, vocab)` and `(tokens,)`, or
            `(batch, target_len, vocab)` and `target_out` with static shapes.
        """
        annotations, final_state, mask, prior = self.encode(source_ids, training=training)
        static = self.needs_static_shapes()
        target_mask = None if static else target_out != PAD_ID
        logits, _ = self.decoder(
            target_in, annotations, final_state, source_mask=mask, prior=prior,
            sampling_probability=sampling_probability, target_mask=target_mask,
            training=training,
        )
        labels = target_out if static else tf.boolean_mask(target_out, target_mask)
        return logits, labels

    def needs_static_shapes(self):
        """True when the steps are compiled with XLA or run on a TPU."""
        return bool(self.jit_compile) or isinstance(
            self.distribute_strategy, tf.distribute.TPUStrategy
        )

    def current_sampling_probability(self):
        """The scheduled-sampling probability at the optimizer's step, or None."""
        if self.config.scheduled_sampling == "none":
            return None
        return sampling_probability(
            self.config.scheduled_sampling, self.optimizer.iterations,
            self.config.sampling_decay, self.config.max_sampling_probability,
        )

    def train_step(self, data):
        (source_ids, target_in), target_out = unpack_batch(data)
        probability = self.current_sampling_probability()
        with tf.GradientTape() as tape:
            logits, labels = self.token_logits(
                source_ids, target_in, target_out, training=True, sampling_probability=probability
            )
            loss_sum, cross_entropy_sum, token_count = masked_loss_sums(
                labels, logits, self.config.label_smoothing, self.cross_entropy
            )
            # Under tf.distribute each replica sees part of the batch and the optimizer
            # sums the replicas' gradients, so each divides by the *global* token count.
            loss = loss_sum / tf.maximum(global_sum(token_count), 1.0)
            scaled_loss = self.optimizer.scale_loss(loss)  # loss scaling for float16
        gradients = tape.gradient(scaled_loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        if probability is not None:
            self.sampling_tracker.update_state(probability)
        return self.update_metrics(labels, logits, cross_entropy_sum, token_count)

    def test_step(self, data):
        (source_ids, target_in), target_out = unpack_batch(data)
        logits, labels = self.token_logits(source_ids, target_in, target_out, training=False)
        _, cross_entropy_sum, token_count = masked_loss_sums(
            labels, logits, cross_entropy=self.cross_entropy
        )
        return self.update_metrics(labels, logits, cross_entropy_sum, token_count)

    def update_metrics(self, labels, logits, cross_entropy_sum, token_count):
        """Updates the trackers; returns `{name: value}`. The reported loss is the plain
        cross-entropy (no label smoothing), so runs with and without smoothing compare."""
        correct, _ = masked_correct(labels, logits)
        self.loss_tracker.update_state(cross_entropy_sum, token_count)
        self.accuracy_tracker.update_state(correct, token_count)
        self.token_counter.update_state(token_count)
        results = {m.name: m.result() for m in self.metrics}
        if isinstance(self.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy):
            # Keras averages step outputs over the workers with reduce(MEAN, axis=0),
            # which needs an axis: return each metric as a 1-element vector.
            results = {name: tf.reshape(value, [1]) for name, value in results.items()}
        return results

    @property
    def metrics(self):
        trackers = [self.loss_tracker, self.accuracy_tracker, self.token_counter]
        if self.config.scheduled_sampling != "none":
            trackers.append(self.sampling_tracker)
        return trackers

    def get_config(self):
        return {
            **super().get_config(),
            "source_vocab_size": self.source_vocab_size,
            "target_vocab_size": self.target_vocab_size,
            "settings": self.config.model_settings(),
            "shared_ids": None if self.shared_ids is None else list(self.shared_ids),
        }


def resolve_kernels(kernels="auto", for_training=True):
    """"keras" or "fused" for a `kernels` setting.

    "auto" picks the fused kernels of `nmt_keras.fast` for a model built to train on a
    CPU, and Keras' own on a GPU (where Keras' GRU runs cuDNN's kernel) and for a model
    built to translate: the fused kernels speed up the backward pass, and a forward pass
    runs as fast with Keras' layers (docs/performance.md, "Kernels for translation").
    """
    if kernels not in KERNELS:
        raise ValueError(f"kernels must be one of {KERNELS}, got {kernels!r}")
    if kernels != "auto":
        return kernels
    return "fused" if for_training and not tf.config.list_logical_devices("GPU") else "keras"


# ----------------------------------------------------------------- loss and metrics


def keras_cross_entropy(logits, labels):
    """`-log softmax(logits)[label]` per row: TensorFlow's fused op."""
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)


def token_cross_entropy(labels, logits, label_smoothing=0.0, cross_entropy=keras_cross_entropy):
    """Per-token training loss and plain cross-entropy.

    With label smoothing `e`, the target distribution is `(1 - e)` on the gold word plus
    `e` spread uniformly over the vocabulary: per token,
    `(1 - e) * (-log p_gold) + e * mean_k(-log p_k)`.

    Args:
        labels: int `(...)`, the gold next tokens.
        logits: `(..., vocab_size)`; computed in float32.
        label_smoothing: float in [0, 1).
        cross_entropy: function(logits `(tokens, vocab)`, labels `(tokens,)`) ->
            `(tokens,)`, the plain cross-entropy.

    Returns:
        `(loss, cross_entropy)`, float32 `(...)`: the label-smoothed training loss and
        the plain `-log p_gold` (equal without smoothing). Padding is not masked here.
    """
    logits = tf.cast(logits, tf.float32)
    vocab_size = tf.shape(logits)[-1]
    flat_logits = tf.reshape(logits, [-1, vocab_size])  # (tokens, vocab_size)
    flat_labels = tf.reshape(tf.cast(labels, tf.int64), [-1])  # (tokens,)
    plain = tf.reshape(cross_entropy(flat_logits, flat_labels), tf.shape(labels))
    if not label_smoothing:
        return plain, plain
    # mean_k(-log p_k) = logsumexp(logits) - mean_k(logits), and
    # logsumexp(logits) = -log p_gold + gold logit.
    gold_logit = tf.gather(logits, tf.cast(labels, tf.int64), axis=-1, batch_dims=len(labels.shape))
    uniform = plain + gold_logit - tf.reduce_mean(logits, axis=-1)
    return (1.0 - label_smoothing) * plain + label_smoothing * uniform, plain


def masked_loss_sums(labels, logits, label_smoothing=0.0, cross_entropy=keras_cross_entropy):
    """Loss sums over real (non-padding) tokens, and their count.

    Padding (`PAD_ID`) is excluded from both the sums and the count, so a batch's mean
    loss does not depend on how much padding it carries.

    Args:
        labels: int `(...)`, the gold next tokens, `PAD_ID`-padded.
        logits: `(..., vocab_size)`.
        label_smoothing: float in [0, 1).

    Returns:
        `(loss_sum, cross_entropy_sum, token_count)`, float32 scalars: the training loss
        (label-smoothed) summed, the plain cross-entropy summed (what is reported), and
        the number of real tokens.
    """
    loss, plain = token_cross_entropy(labels, logits, label_smoothing, cross_entropy)
    mask = tf.cast(labels != PAD_ID, tf.float32)
    return tf.reduce_sum(loss * mask), tf.reduce_sum(plain * mask), tf.reduce_sum(mask)


def masked_cross_entropy(labels, logits, label_smoothing=0.0):
    """`(loss_sum, token_count)`: the training loss summed over real (non-padding)
    tokens, and their number (`masked_loss_sums` without the plain sum)."""
    loss_sum, _, token_count = masked_loss_sums(labels, logits, label_smoothing)
    return loss_sum, token_count


def masked_correct(labels, logits):
    """Number of real tokens whose arg-max prediction is right, and the token count."""
    mask = labels != PAD_ID
    predictions = tf.argmax(logits, axis=-1, output_type=labels.dtype)
    correct = tf.logical_and(mask, tf.equal(predictions, labels))
    return tf.reduce_sum(tf.cast(correct, tf.float32)), tf.reduce_sum(tf.cast(mask, tf.float32))


@keras.saving.register_keras_serializable(package="nmt_keras")
class TokenMean(keras.metrics.Metric):
    """Running `sum(numerators) / sum(denominators)`: an exact per-token mean over an
    epoch, unlike the mean of per-batch means (batches hold different token counts)."""

    def __init__(self, name="token_mean", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, numerator, denominator):
        self.total.assign_add(tf.cast(numerator, self.dtype))
        self.count.assign_add(tf.cast(denominator, self.dtype))

    def result(self):
        return tf.math.divide_no_nan(self.total, self.count)


@keras.saving.register_keras_serializable(package="nmt_keras")
class LastValue(keras.metrics.Metric):
    """Reports the last value it was given (e.g. the current scheduled-sampling
    probability at the end of an epoch)."""

    def __init__(self, name="last_value", **kwargs):
        super().__init__(name=name, **kwargs)
        self.value = self.add_variable(shape=(), initializer="zeros", name="value", aggregation="mean")

    def update_state(self, value):
        self.value.assign(tf.cast(value, self.dtype))

    def result(self):
        return tf.identity(self.value)


def unpack_batch(data):
    """`((source_ids, target_in), target_out)` from what `fit`, `evaluate` or
    `train_on_batch` pass to a step (the latter adds a `None` sample weight)."""
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    if sample_weight is not None:
        raise ValueError(
            "Seq2Seq takes no sample weights: every real target token counts once "
            "(padding, PAD_ID, is what is left out)"
        )
    return x, y


def global_sum(value):
    """`value` summed over the replicas under a `tf.distribute` strategy with several."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value)


def shared_word_ids(source_vocabulary, target_vocabulary):
    """For each source id, the target id of the same word, or -1 (always -1 for the
    special tokens and for words only one side knows)."""
    target_index = {word: i for i, word in enumerate(target_vocabulary)}
    mapping = np.full(len(source_vocabulary), -1, dtype=np.int64)
    for i, word in enumerate(source_vocabulary):
        if i >= NUM_SPECIAL_TOKENS and word in target_index:
            mapping[i] = target_index[word]
    return mapping.tolist()


def reversal_index(source_ids):
    """Per sentence, the permutation that reverses the words between `[START]` and
    `[END]` and keeps the markers and the padding in place (its own inverse).

    Args:
        source_ids: `(batch, source_len)`.

    Returns:
        int `(batch, source_len)`: position p reads position index[p].
    """
    source_len = tf.shape(source_ids)[1]
    lengths = tf.reduce_sum(tf.cast(source_ids != PAD_ID, tf.int32), axis=1)  # [START]..[END]
    positions = tf.range(source_len)[None, :]  # (1, source_len)
    last_word = (lengths - 2)[:, None]  # (batch, 1): index of the last word
    is_word = tf.logical_and(positions >= 1, positions <= last_word)
    return tf.where(is_word, last_word + 1 - positions, positions)


def reverse_words(source_ids):
    """`[START] w1 ... wn [END] pad` -> `[START] wn ... w1 [END] pad` (Sutskever et al.)."""
    return tf.gather(source_ids, reversal_index(source_ids), axis=1, batch_dims=1)
