"""Greedy search and sampling: a trained model's decoding step, run until `[END]`.

`greedy_search` (arg-max) and `sample_search` (temperature sampling) run as one symbolic
`tf.while_loop` that stops as soon as every sentence of the batch has produced `[END]`
(or `max_length` tokens). Beam search is `nmt_keras.inference.beam_search`. Both work
on token ids; `nmt_keras.inference.Translator` turns text into ids and back.
"""

import collections

import tensorflow as tf

from nmt_keras.constants import END_ID, NEG_INF, PAD_ID, START_ID

# Token ids a search may never emit: padding and [START] are never targets.
NEVER_EMITTED = (PAD_ID, START_ID)

# token_ids int64 (batch, target_len); attention float32 (batch, target_len, source_len);
# score float32 (batch,): the total log-probability of the output.
SearchResult = collections.namedtuple("SearchResult", ["token_ids", "attention", "score"])


def stack_steps(array, element_shape):
    """`array.stack()` of a per-step `TensorArray`, also when no step was written (every
    source empty, or max_length 0), where `stack()` cannot infer the element shape and
    fails: then an empty `(0, *element_shape)` tensor."""
    return tf.cond(
        array.size() > 0, array.stack, lambda: tf.zeros([0, *element_shape], array.dtype)
    )


def suppress_tokens(logits, token_ids):
    """Sets the logits of `token_ids` to NEG_INF. logits: `(batch, vocab_size)`."""
    vocab_size = tf.shape(logits)[-1]
    banned = tf.reduce_sum(tf.one_hot(list(token_ids), vocab_size, dtype=logits.dtype), axis=0)
    return logits + banned * tf.cast(NEG_INF, logits.dtype)  # (batch, vocab_size)


def _search(model, source_ids, max_length, choose):
    """The shared step-by-step search: `choose(log_probs, step)` picks each next token.

    Args:
        model: a `nmt_keras.model.Seq2Seq`, or anything with its `start` and
            `next_logits`.
        source_ids: int `(batch, source_len)` with `[START]`/`[END]`, `PAD_ID`-padded.
        max_length: int scalar tensor, the maximum number of output tokens.
        choose: function(log_probs `(batch, vocab)`, step) -> int64 `(batch,)`.

    Returns:
        `SearchResult`. token_ids end with `END_ID` then `PAD_ID` padding (no `END_ID`
        if cut at `max_length`); attention is zero after a sentence has finished;
        sources with no words produce no tokens.
    """
    state, memory = model.start(source_ids)
    batch = tf.shape(source_ids)[0]
    source_len = tf.shape(source_ids)[1]
    # [START] and [END] alone: nothing to translate.
    words_per_source = tf.reduce_sum(tf.cast(source_ids != PAD_ID, tf.int32), axis=1) - 2
    done = words_per_source <= 0  # (batch,)

    def keep_going(step, tokens, state, done, score, token_array, attention_array):
        return tf.logical_and(step < max_length, tf.logical_not(tf.reduce_all(done)))

    def one_step(step, tokens, state, done, score, token_array, attention_array):
        logits, state, weights = model.next_logits(tokens, state, memory)
        log_probs = tf.nn.log_softmax(suppress_tokens(logits, NEVER_EMITTED))
        next_tokens = choose(log_probs, step)  # (batch,)
        next_tokens = tf.where(done, tf.cast(PAD_ID, tf.int64), next_tokens)
        chosen = tf.gather(log_probs, next_tokens, axis=1, batch_dims=1)  # (batch,)
        score = score + tf.where(done, 0.0, chosen)
        weights = tf.where(done[:, None], tf.zeros_like(weights), weights)
        done = tf.logical_or(done, next_tokens == END_ID)
        return (
            step + 1,
            next_tokens,
            state,
            done,
            score,
            token_array.write(step, next_tokens),
            attention_array.write(step, weights),
        )

    loop_vars = (
        tf.constant(0),
        tf.fill([batch], tf.cast(START_ID, tf.int64)),
        state,
        done,
        tf.zeros([batch], tf.float32),
        tf.TensorArray(tf.int64, size=0, dynamic_size=True, element_shape=[None]),
        tf.TensorArray(tf.float32, size=0, dynamic_size=True, element_shape=[None, None]),
    )
    _, _, _, _, score, token_array, attention_array = tf.while_loop(keep_going, one_step, loop_vars)
    token_steps = stack_steps(token_array, [batch])  # (target_len, batch)
    attention_steps = stack_steps(attention_array, [batch, source_len])
    token_ids = tf.reshape(tf.transpose(token_steps), [batch, -1])  # (batch, target_len)
    attention = tf.reshape(
        tf.transpose(attention_steps, [1, 0, 2]), [batch, -1, source_len]
    )  # (batch, target_len, source_len)
    return SearchResult(token_ids, attention, score)


def greedy_search(model, source_ids, max_length):
    """Greedy search: at each step emit the arg-max token and feed it back.

    See `_search` for the arguments and the result.
    """
    return _search(
        model, source_ids, max_length,
        lambda log_probs, step: tf.argmax(log_probs, axis=-1, output_type=tf.int64),
    )


def sample_search(model, source_ids, max_length, temperature, seed):
    """Sampling: at each step draw the next token from softmax(logits / temperature).

    Temperatures below 1 sharpen the distribution (towards greedy search), above 1
    flatten it. Draws are stateless: the same `seed` gives the same translations.

    Args:
        temperature: float scalar > 0.
        seed: int scalar.
    """

    def draw(log_probs, step):
        seeds = tf.stack([tf.cast(seed, tf.int32), step])
        return tf.reshape(
            tf.random.stateless_categorical(log_probs / temperature, 1, seeds, dtype=tf.int64),
            [-1],
        )

    return _search(model, source_ids, max_length, draw)
