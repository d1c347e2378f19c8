"""Softmax cross-entropy from one softmax pass, with its gradient written out."""

import tensorflow as tf

# Below this gold-word probability, -log(p) loses precision (float32's smallest normal
# number is ~1.2e-38), so the loss is recomputed from a log-sum-exp instead.
MIN_GOLD_PROBABILITY = 1e-30


@tf.custom_gradient
def sparse_cross_entropy(logits, labels):
    """`-log softmax(logits)[label]` per row, and its gradient `softmax - one_hot`.

    The same function as `tf.nn.sparse_softmax_cross_entropy_with_logits`, computed
    from one `tf.nn.softmax` (a oneDNN kernel on x86 CPUs), whose result the gradient
    reuses: one pass over the logits instead of two (see `docs/performance.md`). A test
    checks values and gradients against TensorFlow's op.

    Args:
        logits: float32 `(tokens, vocab_size)`.
        labels: int `(tokens,)`.

    Returns:
        float32 `(tokens,)`.
    """
    probabilities = tf.nn.softmax(logits, axis=-1)  # (tokens, vocab_size)
    gold = tf.gather(probabilities, labels, axis=1, batch_dims=1)  # (tokens,)

    def from_probabilities():
        return -tf.math.log(gold)

    def from_logits():  # a gold probability too small for float32's log
        gold_logit = tf.gather(logits, labels, axis=1, batch_dims=1)
        return tf.reduce_logsumexp(logits, axis=-1) - gold_logit

    loss = tf.cond(
        tf.reduce_all(gold > MIN_GOLD_PROBABILITY), from_probabilities, from_logits
    )

    def gradient(upstream):  # upstream: (tokens,)
        rows = tf.range(tf.shape(labels, out_type=labels.dtype)[0], dtype=labels.dtype)
        gold_positions = tf.stack([rows, labels], axis=1)  # (tokens, 2)
        scaled = probabilities * upstream[:, None]  # (tokens, vocab_size)
        return tf.tensor_scatter_nd_sub(scaled, gold_positions, upstream), None

    return loss, gradient
