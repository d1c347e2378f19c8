"""Bahdanau's additive attention over the encoder's annotations."""

import keras
from keras import ops

from nmt_keras.constants import NEG_INF
from nmt_keras.layers.blocks import require_positive


@keras.saving.register_keras_serializable(package="nmt_keras")
class BahdanauAttention(keras.layers.Layer):
    """Additive attention of Bahdanau, Cho and Bengio (2015), "Neural Machine Translation
    by Jointly Learning to Align and Translate", appendix A.1.2.

    For a query s (the decoder's previous state s_{t-1}) and annotations h_1 ... h_n:

        e_tj = v^T tanh(W_s s_{t-1} + W_h h_j)      score of source position j
        a_tj = softmax_j(e_tj)                      weights, summing to 1 over j
        c_t  = sum_j a_tj h_j                       the context vector

    `W_h h_j` does not depend on the decoder step: `keys(values)` computes it once per
    source batch, and the decoder passes the result to every step.

    Masking: `source_mask` marks real source positions (True) and padding (False).
    Padded positions get the score `NEG_INF` before the softmax and their weight is then
    multiplied by the mask, so padding receives exactly 0.0.

    The query may carry a time axis: `(batch, query_dim)` attends for one decoder step,
    `(batch, target_len, query_dim)` for every step at once.

    Args:
        units: int. Size of the scoring network's hidden layer (the rows of `W_s` and
            `W_h`, the length of `v`).

    Example:
    >>> attention = BahdanauAttention(units=10)
    >>> query = np.random.rand(2, 8).astype("float32")          # (batch, query_dim)
    >>> values = np.random.rand(2, 5, 16).astype("float32")     # (batch, source_len, 16)
    >>> context, weights = attention(query, values)
    >>> context.shape, weights.shape                            # (batch, 16), (batch, source_len)
    (TensorShape([2, 16]), TensorShape([2, 5]))
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        require_positive("BahdanauAttention", units=units)
        self.units = units
        self.query_projection = keras.layers.Dense(units, use_bias=False, name="W_s")
        self.key_projection = keras.layers.Dense(units, use_bias=False, name="W_h")

    def build(self, query_shape, values_shape):
        self.query_projection.build(query_shape)
        self.key_projection.build(values_shape)
        self.v = self.add_weight(shape=(self.units,), initializer="glorot_uniform", name="v")

    def keys(self, values):
        """`(batch, source_len, value_dim)` -> `W_h h_j`, `(batch, source_len, units)`."""
        return self.key_projection(values)

    def score(self, query, keys):
        """e_tj for every step t and position j.

        Args:
            query: `(batch, target_len, query_dim)`.
            keys: `(batch, source_len, units)`, from `keys(values)`.

        Returns:
            `(batch, target_len, source_len)`.
        """
        hidden = ops.tanh(
            ops.expand_dims(self.query_projection(query), 2)  # (batch, target_len, 1, units)
            + ops.expand_dims(keys, 1)  # (batch, 1, source_len, units)
        )  # (batch, target_len, source_len, units)
        # v^T hidden as a product and a sum (a Dense(1) here would be a Tensordot, which
        # XLA cannot compile inside the gradient of the decoder's loop).
        return ops.sum(hidden * ops.cast(self.v, hidden.dtype), axis=-1)

    def call(self, query, values, keys=None, source_mask=None):
        """Attends from `query` over `values`.

        Args:
            query: `(batch, query_dim)` or `(batch, target_len, query_dim)`.
            values: `(batch, source_len, value_dim)`, the annotations h_j.
            keys: `(batch, source_len, units)` from `keys(values)`, or None to compute
                them here.
            source_mask: bool `(batch, source_len)`, True at real positions, or None.

        Returns:
            context: `(batch, [target_len,] value_dim)`.
            weights: float32 `(batch, [target_len,] source_len)`.
        """
        if keys is None:
            keys = self.keys(values)
        one_step = len(query.shape) == 2
        if one_step:
            query = ops.expand_dims(query, 1)  # (batch, 1, query_dim)
        weights = masked_softmax(self.score(query, keys), source_mask)  # (batch, target_len, source_len)
        context = ops.matmul(ops.cast(weights, values.dtype), values)  # (batch, target_len, value_dim)
        if one_step:
            return ops.squeeze(context, 1), ops.squeeze(weights, 1)
        return context, weights

    def compute_mask(self, *args, **kwargs):
        return None

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def masked_softmax(scores, source_mask):
    """Softmax over source positions with exactly zero weight where `source_mask` is False.

    Args:
        scores: `(batch, target_len, source_len)`.
        source_mask: bool `(batch, source_len)` or None.

    Returns:
        float32 `(batch, target_len, source_len)`, each row summing to 1 (all zeros if a
        row is entirely masked). Computed in float32 also under mixed precision.
    """
    scores = ops.cast(scores, "float32")
    if source_mask is None:
        return ops.softmax(scores, axis=-1)
    mask = ops.expand_dims(ops.cast(source_mask, "float32"), 1)  # (batch, 1, source_len)
    return ops.softmax(ops.where(mask > 0, scores, NEG_INF), axis=-1) * mask
