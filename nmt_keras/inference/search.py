"""Search: a trained model's decoding step, run until `[END]`, on token ids
(`nmt_keras.inference.Translator` turns text into ids and back).

`greedy_search` (arg-max) and `sample_search` (temperature sampling) run as one symbolic
`tf.while_loop` that stops as soon as every sentence of the batch has produced `[END]`
(or `max_length` tokens).

Every search can block repeats (`block_repeats`): a token is never chosen if it would
end a loop, that is make the last 2 to `REPEAT_NGRAM` tokens repeat the ones just
before them ("go to go to") or put one token three times in a row. Each sentence (each
beam) keeps its last `REPEAT_WINDOW` tokens for it; `repeat_bans` reads them.

Beam search
-----------
Each sentence keeps `beam_width` hypotheses. At every step each live hypothesis is
extended by every word; the `beam_width` best extensions by total log-probability
survive. A hypothesis that has produced `[END]` is finished: it stops growing (it is
extended only by padding, at no cost) and keeps its score. The search stops when every
hypothesis of every sentence has finished, or after `max_length` steps.

Candidates are finally ranked by the GNMT length-normalized score (Wu et al. 2016)

    score(Y) / lp(Y),    lp(Y) = ((5 + |Y|) / 6) ** alpha

(`alpha = 0` ranks by total log-probability). The greedy hypothesis is always one of
the final candidates: plain beam search can prune the prefix of the greedy translation
and end with something the model scores lower, and adding the greedy translation (one
cheap extra pass) makes sure beam search never returns a worse-scoring translation.
"""

import collections

import tensorflow as tf

from nmt_keras.constants import END_ID, NEG_INF, PAD_ID, START_ID

# Token ids a search may never emit: padding and [START] are never targets.
NEVER_EMITTED = (PAD_ID, START_ID)
# The longest token sequence whose immediate repetition `block_repeats` prevents, and
# how many of the last tokens that takes.
REPEAT_NGRAM = 4
REPEAT_WINDOW = 2 * REPEAT_NGRAM - 1

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


def empty_window(rows):
    """The token window before any token: distinct negative ids, which match nothing."""
    return tf.tile(-tf.range(1, REPEAT_WINDOW + 1, dtype=tf.int64)[None], [rows, 1])


def repeat_bans(window):
    """The tokens that would end a loop after `window`.

    Args:
        window: int64 `(rows, REPEAT_WINDOW)`, each row's last tokens, the latest last.

    Returns:
        int64 `(rows, REPEAT_NGRAM)`: per row, for a third token in a row and for each
        n-gram of 2 to `REPEAT_NGRAM` tokens, the token that would complete it, or -1.
    """
    bans = [tf.where(window[:, -1] == window[:, -2], window[:, -1], -1)]  # a third in a row
    for n in range(2, REPEAT_NGRAM + 1):
        # window[-n] would repeat the n-gram window[-2n+1 .. -n] after window[-n+1 ..]
        repeats = tf.reduce_all(window[:, -(2 * n - 1) : -n] == window[:, -(n - 1) :], axis=1)
        bans.append(tf.where(repeats, window[:, -n], -1))
    return tf.stack(bans, axis=1)


def suppress_repeats(logits, window, block):
    """`logits` `(rows, vocab_size)` with the `repeat_bans` of `window` set to NEG_INF
    where `block` (a bool scalar) is True."""
    banned = tf.reduce_max(tf.one_hot(repeat_bans(window), tf.shape(logits)[-1], dtype=logits.dtype), axis=1)
    return logits + banned * tf.cast(block, logits.dtype) * tf.cast(NEG_INF, logits.dtype)


def slide(window, tokens):
    """The window after `tokens` `(rows,)`: the oldest token out, `tokens` in."""
    return tf.concat([window[:, 1:], tokens[:, None]], axis=1)


def _search(model, source_ids, max_length, choose, block_repeats=False):
    """The shared step-by-step search: `choose(log_probs, step)` picks each next token.

    Args:
        model: a `nmt_keras.model.Seq2Seq`, or anything with its `start` and
            `next_logits`.
        source_ids: int `(batch, source_len)` with `[START]`/`[END]`, `PAD_ID`-padded.
        max_length: int scalar tensor, the maximum number of output tokens.
        choose: function(log_probs `(batch, vocab)`, step) -> int64 `(batch,)`.
        block_repeats: bool scalar. Never choose a token that would end a loop.

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

    def keep_going(step, tokens, window, state, done, score, token_array, attention_array):
        return tf.logical_and(step < max_length, tf.logical_not(tf.reduce_all(done)))

    def one_step(step, tokens, window, state, done, score, token_array, attention_array):
        logits, state, weights = model.next_logits(tokens, state, memory)
        logits = suppress_repeats(suppress_tokens(logits, NEVER_EMITTED), window, block_repeats)
        log_probs = tf.nn.log_softmax(logits)
        next_tokens = choose(log_probs, step)  # (batch,)
        next_tokens = tf.where(done, tf.cast(PAD_ID, tf.int64), next_tokens)
        chosen = tf.gather(log_probs, next_tokens, axis=1, batch_dims=1)  # (batch,)
        score = score + tf.where(done, 0.0, chosen)
        weights = tf.where(done[:, None], tf.zeros_like(weights), weights)
        done = tf.logical_or(done, next_tokens == END_ID)
        return (
            step + 1,
            next_tokens,
            slide(window, next_tokens),
            state,
            done,
            score,
            token_array.write(step, next_tokens),
            attention_array.write(step, weights),
        )

    loop_vars = (
        tf.constant(0),
        tf.fill([batch], tf.cast(START_ID, tf.int64)),
        empty_window(batch),
        state,
        done,
        tf.zeros([batch], tf.float32),
        tf.TensorArray(tf.int64, size=0, dynamic_size=True, element_shape=[None]),
        tf.TensorArray(tf.float32, size=0, dynamic_size=True, element_shape=[None, None]),
    )
    _, _, _, _, _, score, token_array, attention_array = tf.while_loop(keep_going, one_step, loop_vars)
    token_steps = stack_steps(token_array, [batch])  # (target_len, batch)
    attention_steps = stack_steps(attention_array, [batch, source_len])
    token_ids = tf.reshape(tf.transpose(token_steps), [batch, -1])  # (batch, target_len)
    attention = tf.reshape(
        tf.transpose(attention_steps, [1, 0, 2]), [batch, -1, source_len]
    )  # (batch, target_len, source_len)
    return SearchResult(token_ids, attention, score)


def greedy_search(model, source_ids, max_length, block_repeats=False):
    """Greedy search: at each step emit the arg-max token and feed it back.

    See `_search` for the arguments and the result.
    """
    return _search(
        model, source_ids, max_length,
        lambda log_probs, step: tf.argmax(log_probs, axis=-1, output_type=tf.int64), block_repeats,
    )


def sample_search(model, source_ids, max_length, temperature, seed, block_repeats=False):
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

    return _search(model, source_ids, max_length, draw, block_repeats)


# ----------------------------------------------------------------------- beam search

# GNMT length penalty constants: lp(Y) = ((LP_BASE + |Y|) / (LP_BASE + 1)) ** alpha.
LP_BASE = 5.0

# best: a SearchResult for the top-ranked hypothesis (score = its total log-probability);
# n_best_ids int64 (batch, n_best, target_len); n_best_scores float32 (batch, n_best),
# the length-normalized ranking scores, best first.
BeamResult = collections.namedtuple("BeamResult", ["best", "n_best_ids", "n_best_scores"])


def length_penalty(lengths, alpha):
    """GNMT length penalty `((5 + length) / 6) ** alpha`."""
    return tf.pow((LP_BASE + tf.cast(lengths, tf.float32)) / (LP_BASE + 1.0), alpha)


def _pad_time(tensor, length, axis):
    """Pads `tensor` with zeros along `axis` up to `length`."""
    padding = [[0, 0]] * len(tensor.shape)
    padding[axis] = [0, length - tf.shape(tensor)[axis]]
    return tf.pad(tensor, padding)


def beam_search(model, source_ids, max_length, beam_width, alpha, n_best, block_repeats=False):
    """Beam search for a batch of sources.

    Args:
        model: a `nmt_keras.model.Seq2Seq`.
        source_ids: int `(batch, source_len)` with `[START]`/`[END]`, `PAD_ID`-padded.
        max_length: int scalar, the maximum number of output tokens.
        beam_width: int scalar >= 1.
        alpha: float scalar, the length-penalty exponent.
        n_best: int scalar in [1, beam_width].
        block_repeats: bool scalar. Never extend a hypothesis into a loop.

    Returns:
        `BeamResult`.
    """
    batch = tf.shape(source_ids)[0]
    source_len = tf.shape(source_ids)[1]
    k = beam_width
    state, memory = model.start(source_ids)
    # Every sentence's state and memory k times: (batch, ...) -> (batch * k, ...).
    state, memory = tf.nest.map_structure(
        lambda tensor: None if tensor is None else tf.repeat(tensor, k, axis=0), (state, memory)
    )
    vocab_size = model.target_vocab_size

    words_per_source = tf.reduce_sum(tf.cast(source_ids != PAD_ID, tf.int32), axis=1) - 2
    finished = tf.tile((words_per_source <= 0)[:, None], [1, k])  # (batch, k)
    # Only beam 0 is alive at the start; the others would duplicate it.
    first_beam = tf.one_hot(tf.zeros([batch], tf.int32), k, on_value=0.0, off_value=NEG_INF)
    scores = tf.where(finished, tf.zeros_like(first_beam), first_beam)  # (batch, k)
    lengths = tf.zeros([batch, k], tf.int32)
    # Extending a finished hypothesis: padding only, at no cost.
    padding_only = tf.one_hot(PAD_ID, vocab_size, on_value=0.0, off_value=NEG_INF)  # (vocab,)
    beam_offsets = (tf.range(batch) * k)[:, None]  # (batch, 1)

    def keep_going(step, *state):
        finished = state[2]  # (tokens, carry, finished, ...)
        return tf.logical_and(step < max_length, tf.logical_not(tf.reduce_all(finished)))

    def one_step(step, tokens, carry, finished, scores, lengths, window, token_array, parent_array,
                 attention_array):
        logits, carry, weights = model.next_logits(tokens, carry, memory)
        logits = suppress_repeats(suppress_tokens(logits, NEVER_EMITTED), window, block_repeats)
        log_probs = tf.nn.log_softmax(logits)
        log_probs = tf.reshape(log_probs, [batch, k, vocab_size])
        log_probs = tf.where(finished[:, :, None], padding_only, log_probs)
        candidates = tf.reshape(scores[:, :, None] + log_probs, [batch, k * vocab_size])
        scores, index = tf.math.top_k(candidates, k=k)  # (batch, k)
        parents = index // vocab_size
        next_tokens = tf.cast(index % vocab_size, tf.int64)
        was_finished = tf.gather(finished, parents, batch_dims=1)
        lengths = tf.gather(lengths, parents, batch_dims=1) + tf.cast(~was_finished, tf.int32)
        finished = tf.logical_or(was_finished, next_tokens == END_ID)
        flat_parents = tf.reshape(parents + beam_offsets, [-1])  # (batch * k,)
        carry = tf.nest.map_structure(lambda s: tf.gather(s, flat_parents), carry)
        window = slide(tf.gather(window, flat_parents), tf.reshape(next_tokens, [-1]))
        weights = tf.reshape(tf.gather(weights, flat_parents), [batch, k, -1])
        weights = tf.where(was_finished[:, :, None], tf.zeros_like(weights), weights)
        return (
            step + 1,
            tf.reshape(next_tokens, [-1]),
            carry,
            finished,
            scores,
            lengths,
            window,
            token_array.write(step, next_tokens),
            parent_array.write(step, parents),
            attention_array.write(step, weights),
        )

    loop_vars = (
        tf.constant(0),
        tf.fill([batch * k], tf.cast(START_ID, tf.int64)),
        state,
        finished,
        scores,
        lengths,
        empty_window(batch * k),
        tf.TensorArray(tf.int64, size=0, dynamic_size=True, element_shape=[None, None]),
        tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=[None, None]),
        tf.TensorArray(tf.float32, size=0, dynamic_size=True, element_shape=[None, None, None]),
    )
    outputs = tf.while_loop(keep_going, one_step, loop_vars)
    _, _, _, _, scores, lengths, _, token_array, parent_array, attention_array = outputs
    # No step at all (every source empty, or max_length 0): nothing to backtrack, and
    # stacking an empty TensorArray of unknown element shape would fail.
    sequences, attention = tf.cond(
        token_array.size() > 0,
        lambda: _backtrack(
            token_array.stack(), parent_array.stack(), attention_array.stack(), batch, k, source_len
        ),
        lambda: (tf.zeros([batch, k, 0], tf.int64), tf.zeros([batch, k, 0, source_len], tf.float32)),
    )  # (batch, k, steps), (batch, k, steps, source_len)

    # The greedy translation joins the candidates (see the module docstring).
    greedy = greedy_search(model, source_ids, max_length, block_repeats)
    steps = tf.maximum(tf.shape(sequences)[2], tf.shape(greedy.token_ids)[1])
    sequences = _pad_time(sequences, steps, axis=2)
    attention = _pad_time(attention, steps, axis=2)
    greedy_ids = _pad_time(greedy.token_ids, steps, axis=1)[:, None, :]  # (batch, 1, steps)
    greedy_attention = _pad_time(greedy.attention, steps, axis=1)[:, None]
    greedy_length = tf.reduce_sum(tf.cast(greedy.token_ids != PAD_ID, tf.int32), axis=1)
    duplicate = tf.reduce_any(tf.reduce_all(tf.equal(sequences, greedy_ids), axis=2), axis=1)
    greedy_score = tf.where(duplicate, NEG_INF, greedy.score)

    all_ids = tf.concat([sequences, greedy_ids], axis=1)  # (batch, k + 1, steps)
    all_attention = tf.concat([attention, greedy_attention], axis=1)
    all_scores = tf.concat([scores, greedy_score[:, None]], axis=1)  # (batch, k + 1)
    all_lengths = tf.concat([lengths, greedy_length[:, None]], axis=1)
    ranking = all_scores / length_penalty(all_lengths, alpha)
    n_best_scores, order = tf.math.top_k(ranking, k=n_best)  # (batch, n_best)
    n_best_ids = tf.gather(all_ids, order, batch_dims=1)  # (batch, n_best, steps)
    best = SearchResult(
        token_ids=_trim_padding(n_best_ids[:, 0]),
        attention=tf.gather(all_attention, order[:, 0], batch_dims=1),
        score=tf.gather(all_scores, order[:, 0], batch_dims=1),
    )
    best = best._replace(attention=best.attention[:, : tf.shape(best.token_ids)[1]])
    return BeamResult(best, n_best_ids, n_best_scores)


def _backtrack(tokens, parents, attention, batch, k, source_len):
    """Follows the parent pointers back from the final beams.

    Args:
        tokens: `(steps, batch, k)`, parents: `(steps, batch, k)`,
        attention: `(steps, batch, k, source_len)`.

    Returns:
        sequences `(batch, k, steps)` and their attention `(batch, k, steps, source_len)`.
    """

    def back_step(carry, inputs):
        beam, _, _ = carry
        step_tokens, step_parents, step_attention = inputs
        token = tf.gather(step_tokens, beam, batch_dims=1)  # (batch, k)
        weights = tf.gather(step_attention, beam, batch_dims=1)  # (batch, k, source_len)
        return tf.gather(step_parents, beam, batch_dims=1), token, weights

    start = (
        tf.tile(tf.range(k)[None, :], [batch, 1]),
        tf.zeros([batch, k], tf.int64),
        tf.zeros([batch, k, source_len], tf.float32),
    )
    _, sequences, weights = tf.scan(
        back_step, (tokens, parents, attention), initializer=start, reverse=True
    )
    return tf.transpose(sequences, [1, 2, 0]), tf.transpose(weights, [1, 2, 0, 3])


def _trim_padding(token_ids):
    """Drops trailing columns that are padding in every row."""
    used = tf.reduce_any(token_ids != PAD_ID, axis=0)  # (steps,)
    length = tf.reduce_max(tf.where(used, tf.range(1, tf.shape(used)[0] + 1), 0))
    return token_ids[:, :length]
