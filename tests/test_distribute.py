"""Strategy and precision choice (on this CPU-only machine: the default strategy)."""

import pytest
import tensorflow as tf

from nmt_keras.distribute import (
    PRECISIONS,
    choose_strategy,
    describe,
    device_kind,
    dtype_policy,
    mixed_precision_policy,
)


def test_auto_picks_the_default_strategy_on_a_cpu_only_machine():
    if tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"):
        pytest.skip("this machine has an accelerator; the CPU-only choice cannot be observed")
    strategy = choose_strategy("auto")
    assert strategy is tf.distribute.get_strategy()
    assert device_kind(strategy) == "CPU"
    assert describe(strategy) == "_DefaultDistributionStrategy on CPU, 1 replica(s)"


def test_precision_policy_per_device_kind():
    strategy = choose_strategy("default")
    assert device_kind(strategy) == "CPU"
    assert mixed_precision_policy(strategy, "auto") == "float32"
    assert mixed_precision_policy(strategy, "float32") == "float32"
    assert mixed_precision_policy(strategy, "mixed") == "mixed_bfloat16"
    with pytest.raises(ValueError, match="unknown precision"):
        mixed_precision_policy(strategy, "half")
    assert "auto" in PRECISIONS


def test_unknown_or_unavailable_strategies_are_clear_errors():
    with pytest.raises(ValueError, match="unknown strategy 'gpu'"):
        choose_strategy("gpu")
    if not tf.config.list_logical_devices("TPU"):
        with pytest.raises(ValueError, match="no TPU is reachable"):
            choose_strategy("tpu")


def test_dtype_policy_is_scoped():
    import keras

    before = keras.config.dtype_policy().name
    with dtype_policy("mixed_bfloat16"):
        layer = keras.layers.Dense(2)
    assert layer.dtype_policy.name == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == before
