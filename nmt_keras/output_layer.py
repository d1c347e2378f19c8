"""The decoder's output layer: features -> logits over the target vocabulary."""

import keras
from keras import ops

from nmt_keras.checks import require_positive

# Maxout takes the maximum over pieces of this size (Bahdanau et al. use pairs).
MAXOUT_POOL = 2
# Initial weight of the source prior: logits of source words start e^1 ≈ 2.7x likelier.
SOURCE_PRIOR_INIT = 1.0


@keras.saving.register_keras_serializable(package="nmt_keras")
class OutputLayer(keras.layers.Layer):
    """Projects decoder features to logits, optionally through a maxout deep output and
    with a learned bonus for target words that occur in the source sentence.

    Plain (default): `logits = W_o x + b`, one Dense over the decoder's features x
    (for the Bahdanau decoder `x = [s_t; c_t; E y_{t-1}]`, for Luong's the attentional
    vector).

    Deep output with maxout (Bahdanau et al. 2015, appendix A.2.2), `maxout_units=l`:

        t~ = U x + b          (2l,)      i.e. U_o s_t + V_o c_t + C_o E y_{t-1}
        t_i = max(t~_{2i}, t~_{2i+1})    (l,)       maxout over pairs
        logits = W_o t + b_o

    Source prior (`source_prior=True`): `logits += w * prior`, where `prior` is a
    per-sentence 0/1 vector over the target vocabulary marking target words that also
    occur in the source sentence (numbers, names, shared spellings) and `w` is a learned
    scalar (initialized to `SOURCE_PRIOR_INIT`).

    Args:
        vocab_size: int. Target vocabulary size.
        maxout_units: int or None. Size l of the maxout layer; None for the plain layer.
        source_prior: bool. Add the learned source-word bonus.
        dropout: float. Dropout on the features before the projection.

    Example:
    >>> head = OutputLayer(50, maxout_units=8)
    >>> head(np.random.rand(2, 3, 20).astype("float32")).shape
    TensorShape([2, 3, 50])
    """

    def __init__(self, vocab_size, maxout_units=None, source_prior=False, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        require_positive("OutputLayer", vocab_size=vocab_size)
        if maxout_units is not None:
            require_positive("OutputLayer", maxout_units=maxout_units)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"OutputLayer dropout must be in [0, 1), got {dropout}")
        self.vocab_size = vocab_size
        self.maxout_units = maxout_units
        self.source_prior = source_prior
        self.dropout = dropout
        self.feature_dropout = keras.layers.Dropout(dropout, name="feature_dropout")
        self.maxout_input = (
            keras.layers.Dense(MAXOUT_POOL * maxout_units, name="maxout_input")
            if maxout_units
            else None
        )
        self.projection = keras.layers.Dense(vocab_size, name="output_projection")

    def build(self, features_shape):
        features_shape = tuple(features_shape)
        if self.maxout_input is not None:
            self.maxout_input.build(features_shape)
            features_shape = features_shape[:-1] + (self.maxout_units,)
        self.projection.build(features_shape)
        if self.source_prior:
            self.prior_weight = self.add_weight(
                shape=(),
                initializer=keras.initializers.Constant(SOURCE_PRIOR_INIT),
                name="source_prior_weight",
            )
        self.built = True

    def call(self, features, prior=None, training=None):
        """Logits from features.

        Args:
            features: `(batch, [target_len,] feature_dim)`.
            prior: `(batch, vocab_size)` 0/1 floats, or None. Used only when the layer
                was built with `source_prior=True`.

        Returns:
            float32 logits `(batch, [target_len,] vocab_size)`, whatever the dtype policy.
        """
        features = self.feature_dropout(features, training=training)
        if self.maxout_input is not None:
            pieces = self.maxout_input(features)  # (..., pool * l)
            shape = ops.shape(pieces)
            pieces = ops.reshape(
                pieces, tuple(shape[:-1]) + (self.maxout_units, MAXOUT_POOL)
            )  # (..., l, pool)
            features = ops.max(pieces, axis=-1)  # (..., l)
        logits = self.projection(features)
        if self.source_prior and prior is not None:
            if len(logits.shape) == 3:
                prior = ops.expand_dims(prior, 1)  # (batch, 1, vocab_size)
            logits = logits + ops.cast(self.prior_weight * prior, logits.dtype)
        # Under mixed precision the projection runs in float16/bfloat16; the softmax and
        # the loss downstream need float32's range and resolution.
        return ops.cast(logits, "float32")

    def compute_mask(self, *args, **kwargs):
        return None

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            maxout_units=self.maxout_units,
            source_prior=self.source_prior,
            dropout=self.dropout,
        )
        return config
