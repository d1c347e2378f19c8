"""Luong's multiplicative (dot, general) and concat attention scores."""

import keras
from keras import ops

from nmt_keras.layers.bahdanau_attention import masked_softmax
from nmt_keras.layers.blocks import require_positive

SCORES = ("dot", "general", "concat")


@keras.saving.register_keras_serializable(package="nmt_keras")
class LuongAttention(keras.layers.Layer):
    """Attention of Luong, Pham and Manning (2015), "Effective Approaches to
    Attention-based Neural Machine Translation", section 3.1, eq. 8.

    With the decoder's current state h_t as the query and annotations h_j:

        dot:      score(h_t, h_j) = h_t^T h_j              (needs equal sizes)
        general:  score(h_t, h_j) = h_t^T W_a h_j
        concat:   score(h_t, h_j) = v^T tanh(W_a [h_t; h_j])

    then the masked softmax over source positions and the weighted sum. `concat` is
    computed as `v^T tanh(W_q h_t + W_k h_j)`, the same
    function with `W_a = [W_q W_k]`; `keys(values)` computes the query-free part
    (`W_a h_j` for general, `W_k h_j` for concat) once per source batch.

    Masking: as in `BahdanauAttention`, padded positions get exactly zero weight.

    Args:
        score: str. "dot", "general" or "concat".
        units: int. Hidden size of the concat scorer; ignored by "dot" and "general"
            ("general" projects the annotations to the query's size).

    Example:
    >>> attention = LuongAttention("general")
    >>> context, weights = attention(np.random.rand(2, 3, 8).astype("float32"),
    ...                              np.random.rand(2, 5, 16).astype("float32"))
    >>> context.shape, weights.shape       # (batch, target_len, 16), (batch, target_len, source_len)
    (TensorShape([2, 3, 16]), TensorShape([2, 3, 5]))
    """

    def __init__(self, score="general", units=None, **kwargs):
        super().__init__(**kwargs)
        if score not in SCORES:
            raise ValueError(f"LuongAttention score must be one of {SCORES}, got {score!r}")
        if score == "concat":
            require_positive("LuongAttention", units=units)
        self.score_kind = score
        self.units = units
        self.key_projection = None
        if score == "concat":
            self.query_projection = keras.layers.Dense(units, use_bias=False, name="W_q")
            self.key_projection = keras.layers.Dense(units, use_bias=False, name="W_k")

    def build(self, query_shape, values_shape):
        query_dim, value_dim = query_shape[-1], values_shape[-1]
        if self.score_kind == "dot" and query_dim != value_dim:
            raise ValueError(
                f"Luong 'dot' attention needs the query and the annotations to have the same "
                f"size, got query {query_dim} and annotations {value_dim} (a bidirectional "
                f"encoder doubles the size); use 'general', or make the sizes match"
            )
        if self.score_kind == "general":
            self.key_projection = keras.layers.Dense(query_dim, use_bias=False, name="W_a")
            self.key_projection.build(values_shape)
        if self.score_kind == "concat":
            self.query_projection.build(query_shape)
            self.key_projection.build(values_shape)
            self.v = self.add_weight(shape=(self.units,), initializer="glorot_uniform", name="v")

    def keys(self, values):
        """The query-free part of the score: `W_a h_j` (general), `W_k h_j` (concat), or
        the annotations themselves (dot)."""
        if self.key_projection is None:
            return values
        return self.key_projection(values)

    def score(self, query, keys):
        """`(batch, target_len, query_dim)`, keys -> `(batch, target_len, source_len)`."""
        if self.score_kind == "concat":
            hidden = ops.tanh(
                ops.expand_dims(self.query_projection(query), 2)  # (batch, target_len, 1, units)
                + ops.expand_dims(keys, 1)  # (batch, 1, source_len, units)
            )
            return ops.sum(hidden * ops.cast(self.v, hidden.dtype), axis=-1)
        return ops.matmul(query, ops.transpose(keys, (0, 2, 1)))  # h_t^T (W_a) h_j

    def call(self, query, values, keys=None, source_mask=None):
        """Attends from `query` over `values`.

        Args:
            query: `(batch, query_dim)` or `(batch, target_len, query_dim)`, h_t.
            values: `(batch, source_len, value_dim)`, the annotations h_j.
            keys: `keys(values)`, or None to compute them here.
            source_mask: bool `(batch, source_len)`, True at real positions, or None.

        Returns:
            context: `(batch, [target_len,] value_dim)`.
            weights: float32 `(batch, [target_len,] source_len)`.
        """
        keys = self.keys(values) if keys is None else keys
        one_step = len(query.shape) == 2
        query = ops.expand_dims(query, 1) if one_step else query  # (batch, target_len, query_dim)
        weights = masked_softmax(self.score(query, keys), source_mask)  # (batch, target_len, source_len)
        context = ops.matmul(ops.cast(weights, values.dtype), values)  # (batch, target_len, value_dim)
        if one_step:
            return ops.squeeze(context, 1), ops.squeeze(weights, 1)
        return context, weights

    def compute_mask(self, *args, **kwargs):
        return None

    def get_config(self):
        return {**super().get_config(), "score": self.score_kind, "units": self.units}
