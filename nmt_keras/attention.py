"""Bahdanau (additive) attention over the encoder's annotations."""

import keras
from keras import ops

from nmt_keras.checks import require_positive
from nmt_keras.constants import NEG_INF


@keras.saving.register_keras_serializable(package="nmt_keras")
class BahdanauAttention(keras.layers.Layer):
    """Additive attention of Bahdanau, Cho and Bengio (2015), "Neural Machine Translation
    by Jointly Learning to Align and Translate", appendix A.1.2.

    For a decoder query `s` (the previous decoder state `s_{t-1}`) and annotations `h_j`:

        e_tj  = v^T tanh(W_s s_{t-1} + W_h h_j)     score of source position j
        a_tj  = softmax_j(e_tj)                     attention weights, sum to 1 over j
        c_t   = sum_j a_tj h_j                      context vector

    `W_h h_j` does not depend on the decoder step, so `project_values` computes it once
    per source batch and the decoder passes the result (`keys`) to every step.

    Masking: `source_mask` marks real source positions (True) and padding (False).
    Padded positions get the score `NEG_INF` before the softmax and their weight is
    then multiplied by the mask, so padding receives exactly 0.0 weight.

    The query may carry a time axis: `(batch, query_dim)` attends for one decoder step,
    `(batch, target_len, query_dim)` for all steps at once.

    Args:
        units: int. Size of the hidden layer of the scoring network (the rows of
            `W_s`, `W_h` and the length of `v`).

    Example:
    >>> attention = BahdanauAttention(units=10)
    >>> values = np.random.rand(2, 5, 16).astype("float32")    # (batch, source_len, 16)
    >>> query = np.random.rand(2, 8).astype("float32")         # (batch, query_dim)
    >>> context, weights = attention(query, values)
    >>> context.shape, weights.shape
    (TensorShape([2, 16]), TensorShape([2, 5]))
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        require_positive("BahdanauAttention", units=units)
        self.units = units
        self.query_projection = keras.layers.Dense(units, use_bias=False, name="W_s")
        self.value_projection = keras.layers.Dense(units, use_bias=False, name="W_h")
        self.score_vector = keras.layers.Dense(1, use_bias=False, name="v")

    def build(self, query_shape, values_shape):
        self.query_projection.build(query_shape)
        self.value_projection.build(values_shape)
        self.score_vector.build(tuple(values_shape[:-1]) + (self.units,))
        self.built = True

    def project_values(self, values):
        """`(batch, source_len, value_dim)` -> keys `W_h h_j`, `(batch, source_len, units)`."""
        return self.value_projection(values)

    def call(self, query, values, keys=None, source_mask=None):
        """Attends from `query` over `values`.

        Args:
            query: `(batch, query_dim)` or `(batch, target_len, query_dim)`.
            values: `(batch, source_len, value_dim)`, the annotations h_j.
            keys: optional `(batch, source_len, units)` from `project_values(values)`;
                computed here when not given.
            source_mask: optional bool `(batch, source_len)`, True at real positions.

        Returns:
            context: `(batch, value_dim)` or `(batch, target_len, value_dim)`.
            weights: `(batch, source_len)` or `(batch, target_len, source_len)`.
        """
        if keys is None:
            keys = self.project_values(values)
        single_step = len(query.shape) == 2
        if single_step:
            query = ops.expand_dims(query, 1)  # (batch, 1, query_dim)
        projected_query = self.query_projection(query)  # (batch, target_len, units)
        hidden = ops.tanh(
            ops.expand_dims(projected_query, 2)  # (batch, target_len, 1, units)
            + ops.expand_dims(keys, 1)  # (batch, 1, source_len, units)
        )  # (batch, target_len, source_len, units)
        scores = ops.squeeze(self.score_vector(hidden), -1)  # (batch, target_len, source_len)
        weights = masked_softmax(scores, source_mask)  # float32, even under mixed precision
        context = ops.matmul(ops.cast(weights, values.dtype), values)  # (batch, target_len, value_dim)
        if single_step:
            return ops.squeeze(context, 1), ops.squeeze(weights, 1)
        return context, weights

    def compute_mask(self, *args, **kwargs):
        return None

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units)
        return config


def masked_softmax(scores, source_mask):
    """Softmax over the last axis with exactly zero weight where `source_mask` is False.

    Args:
        scores: `(batch, target_len, source_len)`.
        source_mask: bool `(batch, source_len)` or None.

    Returns:
        float32 `(batch, target_len, source_len)` weights; each row sums to 1 unless it
        is entirely masked, in which case it is all zeros. The softmax runs in float32
        even when `scores` are float16/bfloat16 (mixed precision).
    """
    scores = ops.cast(scores, "float32")
    if source_mask is None:
        return ops.softmax(scores, axis=-1)
    mask = ops.expand_dims(ops.cast(source_mask, "float32"), 1)  # (batch, 1, source_len)
    scores = ops.where(mask > 0, scores, NEG_INF)
    return ops.softmax(scores, axis=-1) * mask
