"""Decoding: turning a trained translator's step function into output sentences.

`greedy_decode` runs inside a `tf.function` as one symbolic `tf.while_loop` that stops
as soon as every sentence in the batch has produced `[END]` (or `max_length` tokens).
"""

import collections

import numpy as np
import tensorflow as tf

from nmt_keras.constants import END_ID, NEG_INF, PAD_ID, START_ID

# Token ids greedy search may never emit: padding and [START] are never targets.
_NEVER_EMITTED = (PAD_ID, START_ID)

GreedyResult = collections.namedtuple("GreedyResult", ["token_ids", "attention"])


def as_string_batch(texts):
    """Checks user input and returns a list of str; a lone str becomes a batch of one.

    Raises:
        TypeError: naming the position and type of the first item that is not a str.
    """
    if isinstance(texts, (str, bytes)):
        texts = [texts]
    elif isinstance(texts, np.ndarray):
        texts = texts.tolist()
    elif not isinstance(texts, (list, tuple)):
        raise TypeError(
            f"translate() takes a str or a list of str, got {type(texts).__name__}: {texts!r:.60}"
        )
    batch = []
    for index, text in enumerate(texts):
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as error:
                raise TypeError(f"item {index} is bytes that are not UTF-8: {error}") from None
        if not isinstance(text, str):
            raise TypeError(
                f"translate() takes strings; item {index} is {type(text).__name__}: {text!r:.60}"
            )
        batch.append(text)
    return batch


def suppress_tokens(logits, token_ids):
    """Sets the logits of `token_ids` to NEG_INF. logits: `(batch, vocab_size)`."""
    vocab_size = tf.shape(logits)[-1]
    banned = tf.reduce_sum(tf.one_hot(list(token_ids), vocab_size, dtype=logits.dtype), axis=0)
    return logits + banned * tf.cast(NEG_INF, logits.dtype)  # (batch, vocab_size)


def greedy_decode(translator, source_ids, max_length):
    """Greedy search: at each step emit the arg-max token and feed it back.

    Args:
        translator: a `Translator`.
        source_ids: int `(batch, source_len)` with `[START]`/`[END]`, `PAD_ID`-padded.
        max_length: int scalar tensor, the maximum number of output tokens.

    Returns:
        `GreedyResult(token_ids, attention)`: token_ids int64 `(batch, target_len)`
        ending with `END_ID` then `PAD_ID` padding (no `END_ID` if cut at
        `max_length`); attention float32 `(batch, target_len, source_len)`, zero after
        a sentence has finished. Sources with no words produce no tokens.
    """
    decoder = translator.decoder
    encoder_states, final_state, source_mask = translator.encode(source_ids, training=False)
    keys = decoder.attention.project_values(encoder_states)  # (batch, source_len, A)
    batch = tf.shape(source_ids)[0]
    source_len = tf.shape(source_ids)[1]
    # [START] and [END] alone: nothing to translate.
    words_per_source = tf.reduce_sum(tf.cast(source_mask, tf.int32), axis=1) - 2
    done = words_per_source <= 0  # (batch,)

    def keep_going(step, tokens, state, done, token_array, attention_array):
        return tf.logical_and(step < max_length, tf.logical_not(tf.reduce_all(done)))

    def one_step(step, tokens, state, done, token_array, attention_array):
        logits, state, weights = decoder.step(tokens, state, encoder_states, keys, source_mask)
        logits = suppress_tokens(logits, _NEVER_EMITTED)
        next_tokens = tf.argmax(logits, axis=-1, output_type=tf.int64)  # (batch,)
        next_tokens = tf.where(done, tf.cast(PAD_ID, tf.int64), next_tokens)
        weights = tf.where(done[:, None], tf.zeros_like(weights), weights)
        done = tf.logical_or(done, next_tokens == END_ID)
        return (
            step + 1,
            next_tokens,
            state,
            done,
            token_array.write(step, next_tokens),
            attention_array.write(step, weights),
        )

    loop_vars = (
        tf.constant(0),
        tf.fill([batch], tf.cast(START_ID, tf.int64)),
        decoder.initial_state(final_state),
        done,
        tf.TensorArray(tf.int64, size=0, dynamic_size=True, element_shape=[None]),
        tf.TensorArray(tf.float32, size=0, dynamic_size=True, element_shape=[None, None]),
    )
    _, _, _, _, token_array, attention_array = tf.while_loop(keep_going, one_step, loop_vars)
    token_ids = tf.reshape(tf.transpose(token_array.stack()), [batch, -1])  # (batch, target_len)
    attention = tf.reshape(
        tf.transpose(attention_array.stack(), [1, 0, 2]), [batch, -1, source_len]
    )  # (batch, target_len, source_len)
    return GreedyResult(token_ids, attention)


def ids_to_tokens(vocabulary, token_ids):
    """int `(batch, len)` -> str `(batch, len)`; special ids become "" except [UNK]."""
    tokens = tf.gather(tf.constant(vocabulary), token_ids)
    is_special = tf.logical_or(
        token_ids == PAD_ID, tf.logical_or(token_ids == START_ID, token_ids == END_ID)
    )
    return tf.where(is_special, tf.constant(""), tokens)


def join_tokens(tokens):
    """str `(batch, len)` with "" padding -> `(batch,)` space-joined sentences."""
    ragged = tf.ragged.boolean_mask(tokens, tokens != "")
    return tf.strings.reduce_join(ragged, axis=-1, separator=" ")


def describe(target_vocabulary, source_tokens, result):
    """Turns a decoding result into the dict returned by `Translator.translate`."""
    tokens = ids_to_tokens(target_vocabulary, result.token_ids)
    return {
        "text": join_tokens(tokens),
        "tokens": tokens,
        "token_ids": result.token_ids,
        "attention": result.attention,
        "source_tokens": source_tokens,
    }


def translate_all(translator, texts, batch_size=64, max_length=None):
    """Translates any number of sentences in batches; returns a list of str in order.

    Sentences are sorted by length before batching so each batch wastes little work
    on padding and the decoding loop stops early; the output keeps the input order.
    """
    texts = as_string_batch(texts)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i].split()))
    outputs = [None] * len(texts)
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        translated = translator.translate([texts[i] for i in indices], max_length=max_length)
        for index, text in zip(indices, translated["text"]):
            outputs[index] = text
    return outputs
