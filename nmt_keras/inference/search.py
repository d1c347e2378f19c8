"""Decoding: turning a trained translator's step function into output sentences.

`greedy_decode` (arg-max) and `sample_decode` (temperature sampling) run inside a
`tf.function` as one symbolic `tf.while_loop` that stops as soon as every sentence in
the batch has produced `[END]` (or `max_length` tokens). Beam search is in
`nmt_keras.inference.beam_search`.
"""

import collections

import numpy as np
import tensorflow as tf

from nmt_keras.constants import END_ID, NEG_INF, PAD_ID, START_ID

# Token ids greedy search may never emit: padding and [START] are never targets.
NEVER_EMITTED = (PAD_ID, START_ID)

# token_ids int64 (batch, target_len); attention float32 (batch, target_len, source_len);
# score float32 (batch,): the total log-probability of the output.
DecodeResult = collections.namedtuple("DecodeResult", ["token_ids", "attention", "score"])
# Older name, kept for readers of the first notebooks.
GreedyResult = DecodeResult


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


def _decode_loop(translator, source_ids, max_length, choose):
    """The shared step-by-step search: `choose(log_probs, step)` picks each next token.

    Args:
        translator: a `Translator`.
        source_ids: int `(batch, source_len)` with `[START]`/`[END]`, `PAD_ID`-padded.
        max_length: int scalar tensor, the maximum number of output tokens.
        choose: function(log_probs `(batch, vocab)`, step) -> int64 `(batch,)`.

    Returns:
        `DecodeResult`. token_ids end with `END_ID` then `PAD_ID` padding (no `END_ID`
        if cut at `max_length`); attention is zero after a sentence has finished;
        sources with no words produce no tokens.
    """
    decoder = translator.decoder
    memory, final_state = translator.encode(source_ids, training=False)
    batch = tf.shape(source_ids)[0]
    source_len = tf.shape(source_ids)[1]
    # [START] and [END] alone: nothing to translate.
    words_per_source = tf.reduce_sum(tf.cast(source_ids != PAD_ID, tf.int32), axis=1) - 2
    done = words_per_source <= 0  # (batch,)

    def keep_going(step, tokens, carry, done, score, token_array, attention_array):
        return tf.logical_and(step < max_length, tf.logical_not(tf.reduce_all(done)))

    def one_step(step, tokens, carry, done, score, token_array, attention_array):
        logits, carry, weights = decoder.step(tokens, carry, memory)
        log_probs = tf.nn.log_softmax(suppress_tokens(tf.cast(logits, tf.float32), NEVER_EMITTED))
        next_tokens = choose(log_probs, step)  # (batch,)
        next_tokens = tf.where(done, tf.cast(PAD_ID, tf.int64), next_tokens)
        chosen = tf.gather(log_probs, next_tokens, axis=1, batch_dims=1)  # (batch,)
        score = score + tf.where(done, 0.0, chosen)
        weights = tf.where(done[:, None], tf.zeros_like(weights), weights)
        done = tf.logical_or(done, next_tokens == END_ID)
        return (
            step + 1,
            next_tokens,
            carry,
            done,
            score,
            token_array.write(step, next_tokens),
            attention_array.write(step, weights),
        )

    loop_vars = (
        tf.constant(0),
        tf.fill([batch], tf.cast(START_ID, tf.int64)),
        decoder.initial_state(final_state, memory),
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
    return DecodeResult(token_ids, attention, score)


def greedy_decode(translator, source_ids, max_length):
    """Greedy search: at each step emit the arg-max token and feed it back.

    See `_decode_loop` for the arguments and the result.
    """
    return _decode_loop(
        translator, source_ids, max_length,
        lambda log_probs, step: tf.argmax(log_probs, axis=-1, output_type=tf.int64),
    )


def sample_decode(translator, source_ids, max_length, temperature, seed):
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

    return _decode_loop(translator, source_ids, max_length, draw)


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


def describe(target_vocabulary, source_tokens, result, join=join_tokens):
    """Turns a `DecodeResult` into the dict returned by `Translator.translate`.

    `join` turns str tokens `(batch, len)` into text `(batch,)`: space-joined words by
    default; `Translator` passes its tokenizer's detokenizer.
    """
    tokens = ids_to_tokens(target_vocabulary, result.token_ids)
    return {
        "text": join(tokens),
        "tokens": tokens,
        "token_ids": result.token_ids,
        "attention": result.attention,
        "source_tokens": source_tokens,
        "score": result.score,
    }


def to_numpy(outputs):
    """Tensor outputs of `describe` -> NumPy, with strings decoded to str objects."""
    result = {key: value.numpy() for key, value in outputs.items()}
    for key, value in result.items():
        if value.dtype == object:
            result[key] = np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(value)
    return result


def translate_batches(translator, texts, batch_size=64, **options):
    """Translates any number of sentences in batches; returns one result dict per
    sentence, in input order (each value of `Translator.translate`'s dict, for that
    sentence, with batch padding still in place).

    Sentences are sorted by length before batching so each batch wastes little work
    on padding and the decoding loop stops early.

    Args:
        options: `Translator.translate` keyword arguments (max_length, method,
            beam_width, length_penalty, n_best, temperature, seed).
    """
    texts = as_string_batch(texts)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i].split()))
    outputs = [None] * len(texts)
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        translated = translator.translate([texts[i] for i in indices], **options)
        for row, index in enumerate(indices):
            outputs[index] = {key: value[row] for key, value in translated.items()}
    return outputs


def translate_all(translator, texts, batch_size=64, **options):
    """Like `translate_batches`, but returns just the translations, a list of str."""
    return [result["text"] for result in translate_batches(translator, texts, batch_size, **options)]
