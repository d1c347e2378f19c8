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

SCHEDULES = ("none", "linear", "exponential", "inverse-sigmoid")
# Default decay constant of each schedule (chosen so the sampling probability reaches
# about one half after roughly 5,000 steps).
DEFAULT_DECAY = {"linear": 1e-4, "exponential": 0.99986, "inverse-sigmoid": 600.0}
DEFAULT_MAX_PROBABILITY = 0.25


def check_schedule(schedule, decay):
    """Raises ValueError unless `decay` is valid for `schedule`; returns the decay."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown scheduled sampling {schedule!r}; choose one of {SCHEDULES}")
    if schedule == "none":
        return decay
    if decay is None:
        return DEFAULT_DECAY[schedule]
    valid = {
        "linear": decay > 0,
        "exponential": 0 < decay < 1,
        "inverse-sigmoid": decay >= 1,
    }[schedule]
    if not valid:
        rule = {"linear": "> 0", "exponential": "in (0, 1)", "inverse-sigmoid": ">= 1"}[schedule]
        raise ValueError(f"the {schedule} schedule needs a decay {rule}, got {decay}")
    return decay


def teacher_forcing_probability(schedule, step, decay):
    """eps_i, the probability of feeding the gold word at training step `step`."""
    i = tf.cast(step, tf.float32)
    if schedule == "linear":
        return tf.maximum(0.0, 1.0 - decay * i)
    if schedule == "exponential":
        return tf.pow(tf.constant(decay, tf.float32), i)
    if schedule == "inverse-sigmoid":
        return decay / (decay + tf.exp(tf.minimum(i / decay, 80.0)))  # no overflow
    return tf.constant(1.0)


def sampling_probability(schedule, step, decay, maximum=DEFAULT_MAX_PROBABILITY):
    """`min(maximum, 1 - eps_i)`: the probability of feeding the model's own sample."""
    return tf.minimum(
        tf.constant(maximum, tf.float32), 1.0 - teacher_forcing_probability(schedule, step, decay)
    )
