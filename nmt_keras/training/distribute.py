"""Choosing where to train: a `tf.distribute` strategy and a matching numeric policy.

`choose_strategy("auto")` picks, in order: a TPU if one is reachable (Colab, Cloud TPU
VMs), `MirroredStrategy` over all GPUs if there is at least one, otherwise TensorFlow's
default strategy (one CPU device). Build and compile the model inside
`strategy.scope()`; Keras' `fit()` then splits each batch across the replicas.

`choose_strategy("multi-worker")` trains on several machines in sync
(`MultiWorkerMirroredStrategy`), each described by the `TF_CONFIG` environment
variable; only the chief (worker 0) writes the model directory (`output_dir`).

`choose_precision(strategy, precision)` names the Keras dtype policy and says why: with
"auto", the one that speeds training up on that hardware: "mixed_float16" on GPUs (with
loss scaling), "mixed_bfloat16" on TPUs and on CPUs with bfloat16 matrix units (the
`amx_bf16` or `avx512_bf16` flag in /proc/cpuinfo), and "float32" on other CPUs, where
bfloat16 is emulated and slower; with "mixed", mixed precision on any device
("mixed_bfloat16" on a CPU). The attention softmax and the loss are always computed in
float32, and the weights are kept in float32. The CPU's flags are read from the
operating system (`read_cpuinfo`, `cpu_flags`, `bfloat16_cpu_flags`); tests replace
`read_cpuinfo` to play either kind of CPU.
"""

import contextlib
import dataclasses
import json
import os
import pathlib
import sys
import tempfile

import keras
import tensorflow as tf

from nmt_keras.constants import BFLOAT16_CPU_FLAGS, PRECISIONS, STRATEGIES


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
            or the CPU when there is none), "multi-worker" (`MultiWorkerMirroredStrategy`
            over the cluster in `TF_CONFIG`), or "default" (TensorFlow's default
            strategy).

    Raises:
        ValueError: for an unknown name, "tpu" when no TPU is reachable, or
            "multi-worker" without a usable `TF_CONFIG` (see `read_tf_config`).
    """
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose one of {STRATEGIES}")
    if name == "multi-worker":
        read_tf_config()  # fail with a clear message before TensorFlow tries to connect
        return tf.distribute.MultiWorkerMirroredStrategy()
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


CPUINFO = pathlib.Path("/proc/cpuinfo")


def read_cpuinfo():
    """The text of /proc/cpuinfo, or None where there is none (macOS, Windows) or it
    cannot be read."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def cpu_flags(cpuinfo):
    """The feature flags of the first processor in a /proc/cpuinfo text (its `flags`
    line; `Features` on ARM), as a frozenset; None when `cpuinfo` is None or has no
    such line."""
    for line in (cpuinfo or "").splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return None


def bfloat16_cpu_flags(flags):
    """The flags among `BFLOAT16_CPU_FLAGS` (bfloat16 matrix units) that `flags` has,
    in that order."""
    return tuple(flag for flag in BFLOAT16_CPU_FLAGS if flag in (flags or ()))


@dataclasses.dataclass(frozen=True)
class PrecisionChoice:
    """A Keras dtype policy and why it was chosen."""

    policy: str  # "float32", "mixed_float16" or "mixed_bfloat16"
    reason: str  # e.g. "CPU reports amx_bf16"

    def __str__(self):
        return f"{self.policy}: {self.reason}"


def choose_precision(strategy, precision="auto"):
    """The Keras dtype policy for the strategy's hardware, and why.

    On a CPU, "auto" reads the CPU's flags (`cpu_flags`): bfloat16
    ("mixed_bfloat16") when it has bfloat16 matrix units (`BFLOAT16_CPU_FLAGS`),
    float32 otherwise, and float32 where the flags cannot be read (an OS without
    /proc/cpuinfo).

    Args:
        strategy: a `tf.distribute.Strategy`.
        precision: "auto" (mixed on GPU/TPU and on CPUs with bfloat16 units, float32 on
            other CPUs), "float32", or "mixed" (float16 on GPU, bfloat16 on TPU and CPU).

    Returns:
        `PrecisionChoice`.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {PRECISIONS}")
    kind = device_kind(strategy)
    mixed = "mixed_float16" if kind == "GPU" else "mixed_bfloat16"
    if precision == "float32":
        return PrecisionChoice("float32", "precision 'float32' asked for")
    if precision == "mixed":
        return PrecisionChoice(mixed, f"precision 'mixed' asked for, on a {kind}")
    if kind != "CPU":
        return PrecisionChoice(mixed, f"{kind} computes fast in {mixed.removeprefix('mixed_')}")
    flags = cpu_flags(read_cpuinfo())
    if flags is None:
        return PrecisionChoice(
            "float32", f"CPU flags unknown on {sys.platform} (no /proc/cpuinfo), so no bfloat16"
        )
    found = bfloat16_cpu_flags(flags)
    if found:
        return PrecisionChoice("mixed_bfloat16", f"CPU reports {found[0]}")
    return PrecisionChoice(
        "float32", f"CPU has no bfloat16 units (no {'/'.join(BFLOAT16_CPU_FLAGS)})"
    )


def mixed_precision_policy(strategy, precision="auto"):
    """The name of the Keras dtype policy `choose_precision` picks."""
    return choose_precision(strategy, precision).policy


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


def describe_strategy(strategy):
    """One line: strategy class, device kind, replica count."""
    return (
        f"{type(strategy).__name__} on {device_kind(strategy)}, "
        f"{strategy.num_replicas_in_sync} replica(s)"
    )


def read_tf_config(environ=None):
    """The parsed `TF_CONFIG` of a multi-worker run, checked.

    `TF_CONFIG` is JSON: `{"cluster": {"worker": ["host0:port", "host1:port"]},
    "task": {"type": "worker", "index": i}}`, the same cluster on every worker and
    each worker's own index. Without it, a "multi-worker" run is refused rather than
    silently trained on one machine.

    Raises:
        ValueError: `TF_CONFIG` is unset, not JSON, or lacks the workers or the task.
    """
    environ = os.environ if environ is None else environ
    text = environ.get("TF_CONFIG")
    if not text:
        raise ValueError(
            "strategy 'multi-worker' needs the TF_CONFIG environment variable (the cluster's "
            "worker addresses and this worker's index); see docs/performance.md"
        )
    try:
        tf_config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON: {error}") from None
    workers = tf_config.get("cluster", {}).get("worker")
    task = tf_config.get("task", {})
    if not workers or task.get("type") not in ("worker", "chief") or "index" not in task:
        raise ValueError(
            "TF_CONFIG must name the workers (cluster.worker: list of host:port) and this "
            f"task (task.type 'worker', task.index); got {text}"
        )
    if task["type"] == "worker" and not 0 <= task["index"] < len(workers):
        raise ValueError(f"TF_CONFIG task.index {task['index']} is not one of the {len(workers)} workers")
    return tf_config


def is_chief(strategy):
    """True unless this process is a non-chief worker of a multi-worker strategy (only
    the chief - worker 0, or the task of type "chief" - writes the model and report)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type is None or task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and not has_chief


def output_dir(workdir, strategy):
    """Where this process writes: `workdir` on the chief; on other workers a fresh
    temporary directory (they run the same saving code - under multi-worker training
    every worker must take part in the collective steps - but their copy is thrown
    away), following the Keras multi-worker convention."""
    if is_chief(strategy):
        return workdir
    resolver = strategy.cluster_resolver
    return pathlib.Path(
        tempfile.mkdtemp(prefix=f"nmt_keras_{resolver.task_type}{resolver.task_id}_")
    )


def needs_loss_scaling(policy):
    """Loss scaling only for float16, whose narrow exponent range lets small gradients
    underflow to zero; bfloat16 has float32's range and needs none."""
    return policy == "mixed_float16"


def make_optimizer(learning_rate, clipnorm=None, policy="float32", kernels="keras"):
    """Adam, wrapped in a dynamic `keras.optimizers.LossScaleOptimizer` when the dtype
    policy needs loss scaling (`needs_loss_scaling`).

    Args:
        kernels: "keras" (`keras.optimizers.Adam`) or "fused" (`nmt_keras.fast.FusedAdam`,
            the same update in one kernel per variable).
    """
    if kernels == "fused":
        from nmt_keras.fast import FusedAdam as Adam
    else:
        Adam = keras.optimizers.Adam
    optimizer = Adam(learning_rate, clipnorm=clipnorm)
    if needs_loss_scaling(policy):
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer
