"""Choosing where to train: a `tf.distribute` strategy and a matching numeric policy.

`choose_strategy("auto")` picks, in order: a TPU if one is reachable (Colab, Cloud TPU
VMs), `MirroredStrategy` over all GPUs if there is at least one, otherwise TensorFlow's
default strategy (one CPU device). Build and compile the model inside
`strategy.scope()`; Keras' `fit()` then splits each batch across the replicas.

`mixed_precision_policy(strategy)` names the Keras dtype policy that speeds training up
on that hardware: "mixed_float16" on GPUs (with loss scaling), "mixed_bfloat16" on TPUs,
and "float32" on CPUs, where reduced precision does not pay off. The attention softmax
and the loss are always computed in float32.
"""

import contextlib

import keras
import tensorflow as tf

STRATEGIES = ("auto", "tpu", "mirrored", "default")
# "auto": mixed precision on GPU/TPU, float32 on CPU; "mixed": mixed on any device.
PRECISIONS = ("auto", "float32", "mixed")


def _connect_to_tpu():
    """A `TPUStrategy` if a TPU is reachable, else None."""
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
    except (ValueError, RuntimeError):  # no TPU_NAME / not on a TPU host
        return None
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def choose_strategy(name="auto"):
    """Returns a `tf.distribute.Strategy`.

    Args:
        name: "auto" (TPU, else all GPUs, else default), "tpu", "mirrored" (all GPUs,
            or the CPU when there is none), or "default" (TensorFlow's default strategy).

    Raises:
        ValueError: for an unknown name, or "tpu" when no TPU is reachable.
    """
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose one of {STRATEGIES}")
    if name in ("auto", "tpu"):
        strategy = _connect_to_tpu()
        if strategy is not None:
            return strategy
        if name == "tpu":
            raise ValueError("strategy 'tpu' was asked for, but no TPU is reachable")
    if name == "mirrored" or (name == "auto" and tf.config.list_logical_devices("GPU")):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def device_kind(strategy):
    """ "TPU", "GPU" or "CPU": the kind of device the strategy's replicas run on."""
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return "TPU"
    try:
        devices = strategy.extended.worker_devices
    except RuntimeError:  # the default strategy has no device list
        devices = ()
    if any("GPU" in device.upper() for device in devices):
        return "GPU"
    if not devices and tf.config.list_logical_devices("GPU"):
        return "GPU"  # the default strategy places ops on the first GPU
    return "CPU"


def mixed_precision_policy(strategy, precision="auto"):
    """The Keras dtype policy for the strategy's hardware.

    Args:
        strategy: a `tf.distribute.Strategy`.
        precision: "auto" (mixed on GPU/TPU, float32 on CPU), "float32", or "mixed"
            (float16 on GPU, bfloat16 on TPU and CPU).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {PRECISIONS}")
    kind = device_kind(strategy)
    if precision == "float32" or (precision == "auto" and kind == "CPU"):
        return "float32"
    return "mixed_float16" if kind == "GPU" else "mixed_bfloat16"


@contextlib.contextmanager
def dtype_policy(name):
    """Layers created inside this block use the Keras dtype policy `name`; the global
    policy is restored afterwards (Keras layers read it when they are constructed)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def describe(strategy):
    """One line: strategy class, device kind, replica count."""
    return (
        f"{type(strategy).__name__} on {device_kind(strategy)}, "
        f"{strategy.num_replicas_in_sync} replica(s)"
    )
