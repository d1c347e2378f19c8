"""Scheduled sampling (Bengio, Vinyals, Jaitly and Shazeer, 2015): how often the
decoder is fed its own previous prediction instead of the gold word during training.

Bengio et al. decay the probability eps_i of feeding the *gold* word with the training
step i; the probability of feeding the model's own sample is `1 - eps_i`, capped at
`maximum` (a model fed only its own guesses early in training learns little):

    linear           eps_i = max(0, 1 - k * i)        k > 0: slope per step
    exponential      eps_i = k ** i                   0 < k < 1
    inverse-sigmoid  eps_i = k / (k + exp(i / k))     k >= 1
"""

import tensorflow as tf

# Default decay constant of each schedule (chosen so the sampling probability reaches
# about one half after roughly 5,000 steps); `Config.validate` checks given ones.
DEFAULT_DECAY = {"linear": 1e-4, "exponential": 0.99986, "inverse-sigmoid": 600.0}


def teacher_forcing_probability(schedule, step, decay=None):
    """eps_i, the probability of feeding the gold word at training step `step`
    (`decay` None: the schedule's default)."""
    if decay is None and schedule in DEFAULT_DECAY:
        decay = DEFAULT_DECAY[schedule]
    i = tf.cast(step, tf.float32)
    if schedule == "linear":
        return tf.maximum(0.0, 1.0 - decay * i)
    if schedule == "exponential":
        return tf.pow(tf.constant(decay, tf.float32), i)
    if schedule == "inverse-sigmoid":
        return decay / (decay + tf.exp(tf.minimum(i / decay, 80.0)))  # no overflow
    return tf.constant(1.0)


def sampling_probability(schedule, step, decay=None, maximum=0.25):
    """`min(maximum, 1 - eps_i)`: the probability of feeding the model's own sample."""
    return tf.minimum(
        tf.constant(maximum, tf.float32), 1.0 - teacher_forcing_probability(schedule, step, decay)
    )
