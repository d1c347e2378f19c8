"""Attention over the encoder's annotations: Bahdanau's additive score and Luong's
dot, general and concat scores.

Every attention layer has the same interface, so the decoders can use any of them:

    keys = attention.project_values(values)      once per source batch
    context, weights = attention(query, values, keys=keys, source_mask=mask)

`make_attention(name, ...)` builds one from its command-line name (`ATTENTION_TYPES`).
"""

import keras
from keras import ops

from nmt_keras.checks import require_positive
from nmt_keras.constants import NEG_INF

# Command-line names of the attention scores.
ATTENTION_TYPES = ("bahdanau", "luong-dot", "luong-general", "luong-concat")


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
        return attend(self.scores, query, values, keys, source_mask)

    def scores(self, query, keys):
        """`(batch, target_len, query_dim)`, keys -> scores `(batch, target_len, source_len)`."""
        projected_query = self.query_projection(query)  # (batch, target_len, units)
        hidden = ops.tanh(
            ops.expand_dims(projected_query, 2)  # (batch, target_len, 1, units)
            + ops.expand_dims(keys, 1)  # (batch, 1, source_len, units)
        )  # (batch, target_len, source_len, units)
        return score_with_vector(self.score_vector, hidden)  # (batch, target_len, source_len)

    def compute_mask(self, *args, **kwargs):
        return None

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units)
        return config


@keras.saving.register_keras_serializable(package="nmt_keras")
class LuongAttention(keras.layers.Layer):
    """Multiplicative attention of Luong, Pham and Manning (2015), "Effective Approaches
    to Attention-based Neural Machine Translation", section 3.1, eq. 8.

    With the decoder's current state `h_t` as the query and annotations `h_j`:

        dot:      score(h_t, h_j) = h_t^T h_j               (needs equal sizes)
        general:  score(h_t, h_j) = h_t^T W_a h_j
        concat:   score(h_t, h_j) = v^T tanh(W_a [h_t; h_j])

    then softmax over source positions and the weighted sum, as in `BahdanauAttention`.
    `concat` is computed as `v^T tanh(W_q h_t + W_k h_j)`, which is the same function
    (`W_a = [W_q W_k]`) and lets `W_k h_j` be computed once per batch; it is the additive
    score of Bahdanau et al. applied to Luong's query. For `general`, `W_a h_j` is
    likewise computed once per batch by `project_values`.

    Masking: as in `BahdanauAttention`, padded positions get exactly zero weight.

    Args:
        score: str. "dot", "general" or "concat".
        units: int. For "concat", the hidden size of the scorer. Ignored otherwise
            (`general` projects the annotations to the query size).

    Example:
    >>> attention = LuongAttention("general")
    >>> context, weights = attention(np.random.rand(2, 3, 8).astype("float32"),
    ...                              np.random.rand(2, 5, 16).astype("float32"))
    >>> context.shape, weights.shape
    (TensorShape([2, 3, 16]), TensorShape([2, 3, 5]))
    """

    SCORES = ("dot", "general", "concat")

    def __init__(self, score="general", units=None, **kwargs):
        super().__init__(**kwargs)
        if score not in self.SCORES:
            raise ValueError(f"LuongAttention score must be one of {self.SCORES}, got {score!r}")
        if score == "concat":
            require_positive("LuongAttention", units=units)
        self.score = score
        self.units = units
        if score == "concat":
            self.query_projection = keras.layers.Dense(units, use_bias=False, name="W_q")
            self.value_projection = keras.layers.Dense(units, use_bias=False, name="W_k")
            self.score_vector = keras.layers.Dense(1, use_bias=False, name="v")

    def build(self, query_shape, values_shape):
        query_dim, value_dim = query_shape[-1], values_shape[-1]
        if self.score == "dot" and query_dim != value_dim:
            raise ValueError(
                f"Luong 'dot' attention needs the query and the annotations to have the same "
                f"size, got query {query_dim} and annotations {value_dim} (a bidirectional "
                f"encoder doubles the size); use 'general', or make the sizes match"
            )
        if self.score == "general":
            self.value_projection = keras.layers.Dense(query_dim, use_bias=False, name="W_a")
            self.value_projection.build(values_shape)
        if self.score == "concat":
            self.query_projection.build(query_shape)
            self.value_projection.build(values_shape)
            self.score_vector.build(tuple(values_shape[:-1]) + (self.units,))
        self.built = True

    def project_values(self, values):
        """Keys computed once per batch: `W_a h_j` (general), `W_k h_j` (concat), or the
        annotations themselves (dot)."""
        if self.score == "dot":
            return values
        return self.value_projection(values)

    def call(self, query, values, keys=None, source_mask=None):
        """Same arguments and results as `BahdanauAttention.call`."""
        if keys is None:
            keys = self.project_values(values)
        return attend(self.scores, query, values, keys, source_mask)

    def scores(self, query, keys):
        """`(batch, target_len, query_dim)`, keys -> scores `(batch, target_len, source_len)`."""
        if self.score == "concat":
            hidden = ops.tanh(
                ops.expand_dims(self.query_projection(query), 2)  # (batch, target_len, 1, units)
                + ops.expand_dims(keys, 1)  # (batch, 1, source_len, units)
            )
            return score_with_vector(self.score_vector, hidden)
        return ops.matmul(query, ops.transpose(keys, (0, 2, 1)))  # (batch, target_len, source_len)

    def compute_mask(self, *args, **kwargs):
        return None

    def get_config(self):
        config = super().get_config()
        config.update(score=self.score, units=self.units)
        return config


def make_attention(kind, units, **kwargs):
    """An attention layer from its command-line name (one of `ATTENTION_TYPES`)."""
    if kind == "bahdanau":
        return BahdanauAttention(units, **kwargs)
    if kind in ("luong-dot", "luong-general", "luong-concat"):
        return LuongAttention(kind.split("-", 1)[1], units=units, **kwargs)
    raise ValueError(f"unknown attention {kind!r}; choose one of {ATTENTION_TYPES}")


def attend(score_fn, query, values, keys, source_mask):
    """Scores -> masked softmax -> context, for a query with or without a time axis.

    Args:
        score_fn: function(query `(batch, target_len, q)`, keys) -> scores
            `(batch, target_len, source_len)`.
        query: `(batch, q)` or `(batch, target_len, q)`.
        values: `(batch, source_len, value_dim)`.
        keys: what the layer's `project_values(values)` returned.
        source_mask: bool `(batch, source_len)` or None.

    Returns:
        context `(batch, [target_len,] value_dim)`, float32 weights
        `(batch, [target_len,] source_len)`.
    """
    single_step = len(query.shape) == 2
    if single_step:
        query = ops.expand_dims(query, 1)  # (batch, 1, q)
    scores = score_fn(query, keys)  # (batch, target_len, source_len)
    weights = masked_softmax(scores, source_mask)  # float32, even under mixed precision
    context = ops.matmul(ops.cast(weights, values.dtype), values)  # (batch, target_len, value_dim)
    if single_step:
        return ops.squeeze(context, 1), ops.squeeze(weights, 1)
    return context, weights


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


def score_with_vector(score_vector, hidden):
    """`v^T hidden` over the last axis: `(..., units)` -> `(...)`.

    The same as `squeeze(score_vector(hidden), -1)` for the built `Dense(1)` layer
    `score_vector`, written as a product and a sum: a Dense call on a 4-D tensor is a
    `Tensordot` whose transpose depends on the runtime shape, which XLA cannot compile
    inside the gradient of the decoder's time loop (`--jit-compile`).
    """
    v = ops.cast(score_vector.kernel[:, 0], hidden.dtype)  # (units,)
    return ops.sum(hidden * v, axis=-1)
