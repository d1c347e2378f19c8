"""Input pipeline: sentence pairs -> batches of `((source, target_in), target_out)` ids."""

import numpy as np
import tensorflow as tf

from nmt_keras.constants import PAD_ID
from nmt_keras.data.tokenizers import add_start_end

# Sentences are vectorized this many at a time when a corpus is first encoded.
_ENCODE_CHUNK = 8192
# Length buckets are this many tokens wide (see `make_dataset`). One token: each batch
# holds pairs whose longer side has the same length, so the only padding left is where
# a pair's shorter side is shorter (docs/performance.md measures the padding share).
BUCKET_WIDTH = 1
# With fixed shapes every bucket is one shape that XLA compiles separately: wider
# buckets, fewer compilations, at the cost of more padding.
FIXED_SHAPE_BUCKET_WIDTH = 4
# `bucket_width` argument: BUCKET_WIDTH, or FIXED_SHAPE_BUCKET_WIDTH with fixed shapes.
AUTO = "auto"


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


# Named functions rather than lambdas for tf.data: AutoGraph cannot always find a
# lambda's source (several on nearby lines) and then prints a warning for each.
def _as_dense(source, target):
    """Slices of a ragged batch come out as ragged-rank-0 "ragged" specs; make them
    plain 1-D tensors so they can be padded."""
    return tf.identity(source), tf.identity(target)


def _pair_length(source, target):
    """The bucketing length of a pair: its longer side."""
    return tf.maximum(tf.shape(source)[0], tf.shape(target)[0])


def _pair_lengths(encoded):
    """The bucketing length of every pair of `encode_pairs` output, as a NumPy array."""
    source_ids, target_ids = encoded
    return tf.maximum(source_ids.row_lengths(), target_ids.row_lengths()).numpy()


def _with_static_batch(batch_size):
    """Fixed-shape mode: states the batch dimension, which bucketing leaves unknown."""

    def ensure(source, target):
        return tuple(tf.ensure_shape(ids, [batch_size, None]) for ids in (source, target))

    return ensure


def _to_model_inputs(source, target):
    """Padded batch -> `((source, target_in), target_out)`.

    `target` is `[START] y_1 ... y_n [END]` + padding, `(batch, target_len + 1)`.
    Slicing a padded batch leaves, for shorter sentences, `[END]` in `target_in` facing
    padding in `target_out`; the masked loss ignores those positions.
    """
    target_in = target[:, :-1]  # (batch, target_len): [START] y_1 ... y_n
    target_out = target[:, 1:]  # (batch, target_len): y_1 ... y_n [END]
    return (source, target_in), target_out


def resolve_bucket_width(bucket_width, fixed_shapes):
    """`AUTO` -> the default width for the mode; anything else is returned unchanged."""
    if bucket_width == AUTO:
        return FIXED_SHAPE_BUCKET_WIDTH if fixed_shapes else BUCKET_WIDTH
    return bucket_width


def bucket_boundaries(encoded, width=AUTO, fixed_shapes=False):
    """Length boundaries every `width` tokens (`AUTO`: see `resolve_bucket_width`), up
    to the longest sentence pair.

    With `fixed_shapes` the last boundary is strictly greater than the longest pair, so
    every pair falls in a bucket that has an upper boundary to pad to.
    """
    width = resolve_bucket_width(width, fixed_shapes)
    longest = int(tf.reduce_max(_pair_lengths(encoded)))
    stop = longest + width + (1 if fixed_shapes else 0)
    return list(range(width, stop, width))


def _fill_batch(batch_size):
    """Pads a short batch with all-`PAD_ID` rows up to `batch_size` rows. The masked loss
    gives such rows no weight (no real tokens), so scores are unchanged."""

    def fill(source, target):
        missing = batch_size - tf.shape(source)[0]
        return tuple(tf.pad(ids, [[0, missing], [0, 0]], constant_values=PAD_ID) for ids in (source, target))

    return fill


def _batched(dataset, encoded, batch_size, bucket_width, fixed_shapes, drop_remainder):
    """Pairs -> batches padded with `PAD_ID`, as `make_dataset` describes: by length
    bucket (`bucket_width`: see `resolve_bucket_width`; None: in input order), padded
    per batch or, with `fixed_shapes`, to the bucket's boundary."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    bucket_width = resolve_bucket_width(bucket_width, fixed_shapes)
    if fixed_shapes and not bucket_width:
        raise ValueError("fixed_shapes needs length buckets (a bucket_width)")
    padding = (tf.constant(PAD_ID, tf.int64), tf.constant(PAD_ID, tf.int64))
    if not bucket_width:
        return dataset.padded_batch(batch_size, padded_shapes=([None], [None]), padding_values=padding)
    boundaries = bucket_boundaries(encoded, bucket_width, fixed_shapes=fixed_shapes)
    drop = bool(fixed_shapes and drop_remainder)
    dataset = dataset.bucket_by_sequence_length(
        element_length_func=_pair_length,
        bucket_boundaries=boundaries,
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
        padded_shapes=([None], [None]),
        padding_values=padding,
        pad_to_bucket_boundary=fixed_shapes,
        drop_remainder=drop,
    )
    if fixed_shapes and not drop:
        dataset = dataset.map(_fill_batch(batch_size), num_parallel_calls=tf.data.AUTOTUNE)
    if fixed_shapes:
        dataset = dataset.map(_with_static_batch(batch_size))
    return dataset


def make_dataset(
    encoded,
    batch_size,
    shuffle_seed=None,
    bucket_width=AUTO,
    fixed_shapes=False,
    drop_remainder=True,
):
    """Builds a `tf.data.Dataset` of padded batches from `encode_pairs` output.

    Sentence pairs are grouped by length (`bucket_by_sequence_length`, buckets
    `bucket_width` tokens wide) so each batch holds sentences of similar length and
    little padding: the decoder's time loop runs as many steps as the longest target
    in the batch, so padding costs as much as real words. The encoded pairs are cached
    in memory after the first pass; batching runs in parallel with training (prefetch).

    Fixed-shape mode (`fixed_shapes=True`, for TPUs and XLA): every batch of a bucket has
    the same shape. Both sides are padded to the bucket's upper boundary minus one (the
    longest length the bucket admits), so `source_len + 1` is a bucket boundary and
    `target_len = source_len - 1` (the target loses one position to the in/out shift),
    and every batch has exactly `batch_size` rows: with `drop_remainder` (training) each
    bucket's last, incomplete batch is dropped - at most `batch_size - 1` pairs per
    bucket and epoch; the pairs are reshuffled every epoch (with `shuffle_seed`), so a
    different few are left out each time. Without `drop_remainder` (validation and test
    scores) the last batch is filled up with all-padding rows, which the masked loss
    ignores, so no pair is lost.

    Args:
        encoded: `(source_ids, target_ids)` ragged tensors from `encode_pairs`.
        batch_size: int. Sentence pairs per batch (a bucket's last batch may be smaller,
            except in fixed-shape mode).
        shuffle_seed: int or None. If given, pairs are shuffled with this seed before
            bucketing, differently every epoch but identically on every run.
        bucket_width: int, `AUTO` (`BUCKET_WIDTH`, or `FIXED_SHAPE_BUCKET_WIDTH` with
            fixed shapes) or None. None disables bucketing (plain shuffled batches).
        fixed_shapes: bool. Fixed-shape mode (needs bucketing).
        drop_remainder: bool. Fixed-shape mode only: drop incomplete batches (True) or
            fill them with padding rows (False).

    Returns:
        Dataset of `((source (batch, source_len), target_in (batch, target_len)),
        target_out (batch, target_len))`, int64, padded with `PAD_ID`.
    """
    source_ids, target_ids = encoded
    dataset = (
        tf.data.Dataset.from_tensor_slices((source_ids, target_ids))
        .map(
            _as_dense,
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        .cache()
    )
    if shuffle_seed is not None:
        count = int(source_ids.nrows())
        dataset = dataset.shuffle(count, seed=shuffle_seed, reshuffle_each_iteration=True)
    dataset = _batched(dataset, encoded, batch_size, bucket_width, fixed_shapes, drop_remainder)
    # Bucketing hides the number of batches from tf.data; state it (for plain batches
    # too, where it is known anyway), so Keras shows progress against a total and knows
    # where an epoch ends.
    batches = batches_per_pass(encoded, batch_size, bucket_width, fixed_shapes, drop_remainder)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(batches))
    dataset = dataset.map(_to_model_inputs, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def padding_fraction(dataset):
    """Share of padding in one pass over a `make_dataset` dataset.

    Counts the positions of the `source` and `target_out` tensors of every batch (the
    tensors the encoder reads and the loss is taken over; `target_in` has the same
    shape as `target_out`) and the share of them that hold `PAD_ID`. The all-padding
    rows that fill up short batches in fixed-shape mode count as padding.

    Returns:
        dict of floats in [0, 1]: `source`, `target` and `total` (both sides together).
    """
    padded = np.zeros(2)
    positions = np.zeros(2)
    for (source, _), target_out in dataset:
        for side, ids in enumerate((source, target_out)):
            padded[side] += int(tf.reduce_sum(tf.cast(ids == PAD_ID, tf.int64)))
            positions[side] += int(tf.size(ids))
    shares = np.divide(padded, positions, out=np.zeros(2), where=positions > 0)
    total = padded.sum() / positions.sum() if positions.sum() else 0.0
    return {"source": float(shares[0]), "target": float(shares[1]), "total": float(total)}


def _pass_order(count, seed, pass_index):
    """The `pass_index`-th shuffled order of `count` examples, a function of (seed, pass)
    only: no iterator state, so a resumed run can regenerate it."""
    pair_seed = tf.stack([tf.cast(seed, tf.int64), tf.cast(pass_index, tf.int64)])
    return tf.random.experimental.stateless_shuffle(tf.range(count, dtype=tf.int64), seed=pair_seed)


def make_training_stream(
    encoded, batch_size, seed, skip_batches=0, bucket_width=AUTO, fixed_shapes=False
):
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
    With `fixed_shapes` every batch is padded to its bucket's boundary and has exactly
    `batch_size` rows (see `make_dataset`); the stream never ends, so no pair is dropped.

    Returns:
        Dataset of `((source (batch, source_len), target_in (batch, target_len)),
        target_out (batch, target_len))`, int64, padded with `PAD_ID` per batch.
    """
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
    # drop_remainder gives fixed shapes a static batch size; an endless stream has no remainder.
    dataset = _batched(dataset.map(example), encoded, batch_size, bucket_width, fixed_shapes, True)
    if skip_batches:
        dataset = dataset.skip(skip_batches)
    dataset = dataset.map(_to_model_inputs, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def batches_per_pass(encoded, batch_size, bucket_width=AUTO, fixed_shapes=False, drop_remainder=False):
    """Batches in one pass over `encoded` as `make_dataset` cuts it (the same arguments;
    `drop_remainder` counts in fixed-shape mode only): the epoch length used with
    `make_training_stream`.

    Per length bucket, ceil(n / batch_size), or floor(n / batch_size) when incomplete
    batches are dropped; a length L goes to bucket i when boundaries[i-1] <= L < boundaries[i].
    """
    bucket_width = resolve_bucket_width(bucket_width, fixed_shapes)
    if not bucket_width:
        return -(-int(encoded[0].nrows()) // batch_size)
    boundaries = bucket_boundaries(encoded, bucket_width, fixed_shapes=fixed_shapes)
    buckets = np.searchsorted(boundaries, _pair_lengths(encoded), side="right")
    counts = np.bincount(buckets, minlength=len(boundaries) + 1)
    if fixed_shapes and drop_remainder:
        return int(np.sum(counts // batch_size))
    return int(np.sum(-(-counts // batch_size)))
