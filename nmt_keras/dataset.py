"""Input pipeline: sentence pairs -> batches of `((source, target_in), target_out)` ids."""

import numpy as np
import tensorflow as tf

from nmt_keras.constants import PAD_ID
from nmt_keras.text import add_start_end

# Sentences are vectorized this many at a time when a corpus is first encoded.
_ENCODE_CHUNK = 8192
# Length buckets are this many tokens wide (see `make_dataset`).
BUCKET_WIDTH = 4


def encode_pairs(translator, pairs):
    """Vectorizes all pairs once with the translator's vectorizers.

    Returns:
        `(source_ids, target_ids)`, ragged int64 `(num_pairs, (len))`, each sentence
        wrapped in `[START]` ... `[END]`.
    """
    sources, targets = [], []
    for start in range(0, len(pairs), _ENCODE_CHUNK):
        chunk = pairs[start : start + _ENCODE_CHUNK]
        sources.append(add_start_end(translator.source_vectorizer([p.source for p in chunk])))
        targets.append(add_start_end(translator.target_vectorizer([p.target for p in chunk])))
    return tf.concat(sources, axis=0), tf.concat(targets, axis=0)


def _to_model_inputs(source, target):
    """Padded batch -> `((source, target_in), target_out)`.

    `target` is `[START] y_1 ... y_n [END]` + padding, `(batch, target_len + 1)`.
    Slicing a padded batch leaves, for shorter sentences, `[END]` in `target_in` facing
    padding in `target_out`; the masked loss ignores those positions.
    """
    target_in = target[:, :-1]  # (batch, target_len): [START] y_1 ... y_n
    target_out = target[:, 1:]  # (batch, target_len): y_1 ... y_n [END]
    return (source, target_in), target_out


def bucket_boundaries(encoded, width=BUCKET_WIDTH):
    """Length boundaries every `width` tokens, up to the longest sentence pair."""
    source_ids, target_ids = encoded
    longest = int(tf.reduce_max(tf.maximum(source_ids.row_lengths(), target_ids.row_lengths())))
    return list(range(width, longest + width, width))


def bucketed_batch_count(lengths, boundaries, batch_size):
    """Number of batches `bucket_by_sequence_length` makes: per bucket, ceil(n / batch).

    A length L goes to bucket i when boundaries[i-1] <= L < boundaries[i].
    """
    buckets = np.searchsorted(boundaries, lengths, side="right")
    counts = np.bincount(buckets, minlength=len(boundaries) + 1)
    return int(np.sum(-(-counts // batch_size)))


def make_dataset(encoded, batch_size, shuffle_seed=None, bucket_width=BUCKET_WIDTH):
    """Builds a `tf.data.Dataset` of padded batches from `encode_pairs` output.

    Sentence pairs are grouped by length (`bucket_by_sequence_length`, buckets
    `bucket_width` tokens wide) so each batch holds sentences of similar length and
    little padding: the decoder's time loop runs as many steps as the longest target
    in the batch, so padding costs as much as real words.

    Args:
        encoded: `(source_ids, target_ids)` ragged tensors from `encode_pairs`.
        batch_size: int. Sentence pairs per batch (a bucket's last batch may be smaller).
        shuffle_seed: int or None. If given, pairs are shuffled with this seed before
            bucketing, differently every epoch but identically on every run.
        bucket_width: int or None. None disables bucketing (plain shuffled batches).

    Returns:
        Dataset of `((source (batch, source_len), target_in (batch, target_len)),
        target_out (batch, target_len))`, int64, padded with `PAD_ID` per batch.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    source_ids, target_ids = encoded
    # Slices of a ragged batch come out as ragged-rank-0 "ragged" specs; make them
    # plain 1-D tensors so they can be padded.
    dataset = tf.data.Dataset.from_tensor_slices((source_ids, target_ids)).map(
        lambda source, target: (tf.identity(source), tf.identity(target))
    )
    if shuffle_seed is not None:
        count = int(source_ids.nrows())
        dataset = dataset.shuffle(count, seed=shuffle_seed, reshuffle_each_iteration=True)
    padding = (tf.constant(PAD_ID, tf.int64), tf.constant(PAD_ID, tf.int64))
    if bucket_width:
        boundaries = bucket_boundaries(encoded, bucket_width)
        lengths = tf.maximum(source_ids.row_lengths(), target_ids.row_lengths()).numpy()
        dataset = dataset.bucket_by_sequence_length(
            element_length_func=lambda source, target: tf.maximum(
                tf.shape(source)[0], tf.shape(target)[0]
            ),
            bucket_boundaries=boundaries,
            bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
            padded_shapes=([None], [None]),
            padding_values=padding,
        )
        # Bucketing hides the number of batches from tf.data; state it, so Keras shows
        # progress against a total and knows where an epoch ends.
        batches = bucketed_batch_count(lengths, boundaries, batch_size)
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(batches))
    else:
        dataset = dataset.padded_batch(batch_size, padded_shapes=([None], [None]), padding_values=padding)
    dataset = dataset.map(_to_model_inputs, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def count_target_tokens(encoded):
    """Real target tokens per epoch (the words plus [END]), the unit of tokens/s."""
    _, target_ids = encoded
    return int(tf.reduce_sum(target_ids.row_lengths() - 1))


def _pass_order(count, seed, pass_index):
    """The `pass_index`-th shuffled order of `count` examples, a function of (seed, pass)
    only: no iterator state, so a resumed run can regenerate it."""
    pair_seed = tf.stack([tf.cast(seed, tf.int64), tf.cast(pass_index, tf.int64)])
    return tf.random.experimental.stateless_shuffle(tf.range(count, dtype=tf.int64), seed=pair_seed)


def make_training_stream(encoded, batch_size, seed, skip_batches=0, bucket_width=BUCKET_WIDTH):
    """An endless, reproducible stream of training batches, for resumable training.

    Pass p over the data visits the pairs in the order `stateless_shuffle(seed, p)`;
    passes follow each other without end and are bucketed by length like
    `make_dataset`. The stream is a pure function of `(encoded, batch_size, seed)`, so
    `skip_batches=n` gives exactly the batches that follow the first n: a run resumed
    after n optimizer steps sees the same data, in the same order, as a run that was
    never interrupted. (A `shuffle(reshuffle_each_iteration=True)` dataset cannot do
    this: its per-epoch order lives in iterator state that a new process does not have.)

    Fit it with `steps_per_epoch` (see `batches_per_pass`): the stream has no end.
    Length buckets fill across pass boundaries, so a pass is not exactly one epoch.

    Returns:
        Dataset of `((source (batch, source_len), target_in (batch, target_len)),
        target_out (batch, target_len))`, int64, padded with `PAD_ID` per batch.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    source_ids, target_ids = encoded
    count = int(source_ids.nrows())
    if count == 0:
        raise ValueError("cannot make a training stream from zero sentence pairs")
    source_values, source_splits = source_ids.values, source_ids.row_splits
    target_values, target_splits = target_ids.values, target_ids.row_splits

    def example(index):
        source = source_values[source_splits[index] : source_splits[index + 1]]
        target = target_values[target_splits[index] : target_splits[index + 1]]
        return source, target

    dataset = tf.data.Dataset.counter().flat_map(
        lambda pass_index: tf.data.Dataset.from_tensor_slices(_pass_order(count, seed, pass_index))
    )
    dataset = dataset.map(example)
    padding = (tf.constant(PAD_ID, tf.int64), tf.constant(PAD_ID, tf.int64))
    if bucket_width:
        boundaries = bucket_boundaries(encoded, bucket_width)
        dataset = dataset.bucket_by_sequence_length(
            element_length_func=lambda source, target: tf.maximum(
                tf.shape(source)[0], tf.shape(target)[0]
            ),
            bucket_boundaries=boundaries,
            bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
            padded_shapes=([None], [None]),
            padding_values=padding,
        )
    else:
        dataset = dataset.padded_batch(batch_size, padded_shapes=([None], [None]), padding_values=padding)
    if skip_batches:
        dataset = dataset.skip(skip_batches)
    dataset = dataset.map(_to_model_inputs, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def batches_per_pass(encoded, batch_size, bucket_width=BUCKET_WIDTH):
    """Batches in one pass over `encoded` as `make_dataset` cuts it: the epoch length
    used with `make_training_stream`."""
    source_ids, target_ids = encoded
    if not bucket_width:
        return -(-int(source_ids.nrows()) // batch_size)
    lengths = tf.maximum(source_ids.row_lengths(), target_ids.row_lengths()).numpy()
    return bucketed_batch_count(lengths, bucket_boundaries(encoded, bucket_width), batch_size)
