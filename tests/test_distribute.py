"""Strategies, precision, XLA and the input pipeline's shape modes.

The tests that need TensorFlow configured before it starts (two logical CPU devices,
a multi-worker cluster) run `tests/distributed_runs.py` in subprocesses.
"""

import dataclasses
import json
import os
import pathlib
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from nmt_keras.config import Config
from nmt_keras.constants import PAD_ID, PRECISIONS, STRATEGIES
from nmt_keras.data.batching import (
    FIXED_SHAPE_BUCKET_WIDTH,
    bucket_boundaries,
    encode_pairs,
    make_dataset,
    padding_fraction,
)
from nmt_keras.data.corpora import load_corpus
from nmt_keras.data.tokenizers import learn_vocabulary
from nmt_keras.inference.translator import Translator
from nmt_keras.training import distribute
from nmt_keras.training.distribute import (
    bfloat16_cpu_flags,
    choose_precision,
    choose_strategy,
    cpu_flags,
    describe_strategy,
    device_kind,
    dtype_policy,
    is_chief,
    make_optimizer,
    mixed_precision_policy,
    needs_loss_scaling,
    output_dir,
    read_tf_config,
)


def test_auto_picks_the_default_strategy_on_a_cpu_only_machine():
    if tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"):
        pytest.skip("this machine has an accelerator; the CPU-only choice cannot be observed")
    strategy = choose_strategy("auto")
    assert strategy is tf.distribute.get_strategy()
    assert device_kind(strategy) == "CPU"
    assert describe_strategy(strategy) == "_DefaultDistributionStrategy on CPU, 1 replica(s)"


class _Device:
    def __init__(self, name):
        self.name = name


class _Extended:
    def __init__(self, devices):
        self.worker_devices = devices


class _Mirrored:
    """Stands in for `tf.distribute.MirroredStrategy` on a machine with GPUs."""

    num_replicas_in_sync = 2

    def __init__(self, devices=None):
        self.extended = _Extended(("/job:localhost/replica:0/task:0/device:GPU:0",
                                   "/job:localhost/replica:0/task:0/device:GPU:1"))


def test_auto_uses_a_tpu_then_the_gpus_then_the_cpu_with_devices_mocked(monkeypatch):
    """What `choose_strategy("auto")` and `mixed_precision_policy` do on Colab's TPU and
    GPU runtimes, with the devices mocked (this machine has neither; docs/environments.md
    lists how to check it on real ones)."""
    from nmt_keras.training import distribute

    tpu = tf.distribute.TPUStrategy.__new__(tf.distribute.TPUStrategy)  # never connected
    monkeypatch.setattr(distribute, "_connect_to_tpu", lambda: tpu)
    assert choose_strategy("auto") is tpu and choose_strategy("tpu") is tpu
    assert device_kind(tpu) == "TPU" and mixed_precision_policy(tpu, "auto") == "mixed_bfloat16"

    monkeypatch.setattr(distribute, "_connect_to_tpu", lambda: None)
    monkeypatch.setattr(distribute.tf.config, "list_logical_devices",
                        lambda kind=None: [_Device("/device:GPU:0"), _Device("/device:GPU:1")] if kind == "GPU" else [])
    monkeypatch.setattr(distribute.tf.distribute, "MirroredStrategy", _Mirrored)
    gpus = choose_strategy("auto")
    assert isinstance(gpus, _Mirrored)
    assert device_kind(gpus) == "GPU" and describe_strategy(gpus) == "_Mirrored on GPU, 2 replica(s)"
    assert mixed_precision_policy(gpus, "auto") == "mixed_float16"
    assert needs_loss_scaling(mixed_precision_policy(gpus, "auto"))
    with pytest.raises(ValueError, match="no TPU is reachable"):
        choose_strategy("tpu")

    monkeypatch.setattr(distribute.tf.config, "list_logical_devices", lambda kind=None: [])
    assert choose_strategy("auto") is tf.distribute.get_strategy()


def test_without_a_tpu_the_resolver_error_means_no_tpu(monkeypatch):
    from nmt_keras.training import distribute

    def no_tpu(*args, **kwargs):
        raise ValueError("Please provide a TPU Name to connect to.")

    monkeypatch.setattr(distribute.tf.distribute.cluster_resolver, "TPUClusterResolver", no_tpu)
    assert distribute._connect_to_tpu() is None


def test_precision_policy_per_device_kind():
    strategy = choose_strategy("default")
    assert device_kind(strategy) == "CPU"
    assert mixed_precision_policy(strategy, "auto") == "float32"  # conftest: no bfloat16 units
    assert mixed_precision_policy(strategy, "float32") == "float32"
    assert mixed_precision_policy(strategy, "mixed") == "mixed_bfloat16"
    with pytest.raises(ValueError, match="unknown precision"):
        mixed_precision_policy(strategy, "half")
    assert "auto" in PRECISIONS


def _cpuinfo(flags):
    """A /proc/cpuinfo text of two processors with these flags."""
    return "".join(
        f"processor\t: {n}\nvendor_id\t: GenuineIntel\nflags\t\t: {flags}\nbugs\t\t:\n\n"
        for n in range(2)
    )


@pytest.mark.parametrize("flags, policy, reason", [
    ("fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile", "mixed_bfloat16", "CPU reports amx_bf16"),
    ("fpu avx2 avx512f avx512_bf16", "mixed_bfloat16", "CPU reports avx512_bf16"),
    ("fpu avx2 avx512f avx512_vnni amx_tile", "float32",
     "CPU has no bfloat16 units (no amx_bf16/avx512_bf16)"),
    ("fpu sse2 avx avx2 fma", "float32", "CPU has no bfloat16 units (no amx_bf16/avx512_bf16)"),
])
def test_auto_precision_on_a_cpu_follows_its_bfloat16_flags(monkeypatch, flags, policy, reason):
    monkeypatch.setattr(distribute, "read_cpuinfo", lambda: _cpuinfo(flags))
    strategy = choose_strategy("default")
    choice = choose_precision(strategy, "auto")
    assert (choice.policy, choice.reason) == (policy, reason)
    assert str(choice) == f"{policy}: {reason}"
    assert mixed_precision_policy(strategy, "auto") == policy
    # Asking for a precision overrides the hardware's answer.
    assert choose_precision(strategy, "float32").policy == "float32"
    assert choose_precision(strategy, "mixed").policy == "mixed_bfloat16"


def test_cpu_flags_are_read_from_the_flags_line():
    assert cpu_flags(_cpuinfo("fpu amx_bf16 sse2")) == {"fpu", "amx_bf16", "sse2"}
    assert cpu_flags("Features\t: fp asimd bf16\n") == {"fp", "asimd", "bf16"}  # ARM's name
    assert cpu_flags("processor\t: 0\n") is None and cpu_flags(None) is None
    assert bfloat16_cpu_flags({"avx512_bf16", "amx_bf16", "sse2"}) == ("amx_bf16", "avx512_bf16")
    assert bfloat16_cpu_flags(None) == ()


def test_auto_precision_without_proc_cpuinfo_is_float32_and_says_why(monkeypatch):
    monkeypatch.undo()  # the real `read_cpuinfo`, on another OS
    monkeypatch.setattr(distribute.sys, "platform", "darwin")
    assert distribute.read_cpuinfo() is None
    choice = choose_precision(choose_strategy("default"), "auto")
    assert choice.policy == "float32"
    assert choice.reason == "CPU flags unknown on darwin (no /proc/cpuinfo), so no bfloat16"


def test_auto_precision_on_this_linux_machine_reads_proc_cpuinfo(monkeypatch):
    monkeypatch.undo()  # the real CPU
    if not sys.platform.startswith("linux"):
        pytest.skip("/proc/cpuinfo exists on Linux only; the other-OS answer is tested above")
    flags = cpu_flags(pathlib.Path("/proc/cpuinfo").read_text())
    assert flags and cpu_flags(distribute.read_cpuinfo()) == flags
    has_units = bool(bfloat16_cpu_flags(flags))
    choice = choose_precision(choose_strategy("default"), "auto")
    assert choice.policy == ("mixed_bfloat16" if has_units else "float32")


def test_gpu_and_tpu_keep_their_mixed_policies_whatever_the_cpu(monkeypatch):
    monkeypatch.setattr(distribute, "read_cpuinfo", lambda: _cpuinfo("fpu amx_bf16"))
    tpu = tf.distribute.TPUStrategy.__new__(tf.distribute.TPUStrategy)
    assert str(choose_precision(tpu, "auto")) == "mixed_bfloat16: TPU computes fast in bfloat16"
    assert str(choose_precision(_Mirrored(), "auto")) == "mixed_float16: GPU computes fast in float16"
    assert choose_precision(_Mirrored(), "mixed").policy == "mixed_float16"


def test_unknown_or_unavailable_strategies_are_clear_errors():
    with pytest.raises(ValueError, match="unknown strategy 'gpu'"):
        choose_strategy("gpu")
    if not tf.config.list_logical_devices("TPU"):
        with pytest.raises(ValueError, match="no TPU is reachable"):
            choose_strategy("tpu")


def test_dtype_policy_is_scoped():
    before = keras.config.dtype_policy().name
    with dtype_policy("mixed_bfloat16"):
        layer = keras.layers.Dense(2)
    assert layer.dtype_policy.name == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == before


# --------------------------------------------------------------------------------------
# Input pipeline: fixed shapes and padding.

TESTS = pathlib.Path(__file__).parent
REPOSITORY = TESTS.parent
# Subprocess runs: generous, since the machine may be shared; a hang fails clearly.
SUBPROCESS_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def corpus_sample():
    """300 synthetic pairs, a translator over their words, and the encoded pairs."""
    pairs = load_corpus("synthetic").pairs[:300]
    translator = Translator(
        learn_vocabulary([p.source for p in pairs], None),
        learn_vocabulary([p.target for p in pairs], None),
        embedding_dim=8, units=8,
    )
    return pairs, translator, encode_pairs(translator, pairs)


def _real_tokens(dataset):
    return sum(int(np.sum(target_out.numpy() != PAD_ID)) for _, target_out in dataset)


def test_fixed_shape_batches_are_full_and_padded_to_bucket_boundaries(corpus_sample):
    _, _, encoded = corpus_sample
    batch_size = 16
    boundaries = bucket_boundaries(encoded, fixed_shapes=True)
    dataset = make_dataset(encoded, batch_size, shuffle_seed=1, fixed_shapes=True)
    lengths = np.maximum(encoded[0].row_lengths().numpy(), encoded[1].row_lengths().numpy())
    assert lengths.max() < boundaries[-1]  # every pair has a boundary to pad to
    per_bucket = np.bincount(np.searchsorted(boundaries, lengths, side="right"))
    expected_batches = int(np.sum(per_bucket // batch_size))  # incomplete batches dropped

    batches = list(dataset)
    assert int(dataset.cardinality()) == expected_batches == len(batches)
    for (source, target_in), target_out in batches:
        assert source.shape[0] == target_in.shape[0] == target_out.shape[0] == batch_size
        assert source.shape[1] + 1 in boundaries  # padded to the bucket's longest length
        assert target_in.shape == target_out.shape
        assert target_out.shape[1] == source.shape[1] - 1
    dropped = len(lengths) - expected_batches * batch_size
    assert 0 < dropped < batch_size * len(per_bucket)
    assert sum(int(np.sum(s.numpy()[:, 0] != PAD_ID)) for (s, _), _ in batches) == len(lengths) - dropped


def test_fixed_shapes_without_drop_remainder_keep_every_pair(corpus_sample):
    _, _, encoded = corpus_sample
    plain = make_dataset(encoded, 16, bucket_width=FIXED_SHAPE_BUCKET_WIDTH)  # the same buckets
    filled = make_dataset(encoded, 16, fixed_shapes=True, drop_remainder=False)
    shapes = {tuple(source.shape) for (source, _), _ in filled}
    assert {shape[0] for shape in shapes} == {16}
    assert int(filled.cardinality()) == len(list(filled)) == int(plain.cardinality())
    assert _real_tokens(filled) == _real_tokens(plain)  # fill rows are all padding


def test_bucketing_reduces_the_padding_fraction(corpus_sample):
    _, _, encoded = corpus_sample
    bucketed = padding_fraction(make_dataset(encoded, 32, shuffle_seed=0))
    unbucketed = padding_fraction(make_dataset(encoded, 32, shuffle_seed=0, bucket_width=None))
    wide = padding_fraction(
        make_dataset(encoded, 32, shuffle_seed=0, bucket_width=FIXED_SHAPE_BUCKET_WIDTH)
    )
    for side in ("source", "target", "total"):
        assert 0.0 <= bucketed[side] < wide[side] < unbucketed[side] < 1.0
    assert bucketed["total"] < 0.5 * unbucketed["total"]


# --------------------------------------------------------------------------------------
# Numerics: mixed precision, loss scaling, XLA.


def test_loss_scaling_only_for_float16():
    assert needs_loss_scaling("mixed_float16")
    assert not needs_loss_scaling("mixed_bfloat16") and not needs_loss_scaling("float32")
    assert isinstance(make_optimizer(1e-3, policy="mixed_float16"), keras.optimizers.LossScaleOptimizer)
    for policy in ("mixed_bfloat16", "float32"):
        optimizer = make_optimizer(1e-3, clipnorm=1.0, policy=policy)
        assert isinstance(optimizer, keras.optimizers.Adam)
        assert optimizer.clipnorm == 1.0


def _tiny_config(**changes):
    return dataclasses.replace(
        Config(
            data="synthetic", max_vocab_size=None, embedding_dim=8, units=8, batch_size=16,
            strategy="default", seed=0,
        ),
        **changes,
    ).validate()


def test_mixed_bfloat16_trains_with_float32_logits_attention_and_loss(corpus_sample):
    from nmt_keras.model import masked_cross_entropy
    from nmt_keras.training.train import build_translator

    pairs, _, _ = corpus_sample
    keras.utils.set_random_seed(0)
    translator = build_translator(_tiny_config(precision="mixed"), pairs)
    model = translator.model
    assert model.dtype_policy.name == "mixed_bfloat16"
    assert model.decoder.attention.dtype_policy.name == "mixed_bfloat16"
    assert not isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    source, target_in, target_out = translator.prepare_batch(
        [p.source for p in pairs[:16]], [p.target for p in pairs[:16]]
    )
    embedded = model.encoder.embedding(source)  # compute dtype of the layers
    logits, weights = model((source, target_in), return_attention=True)
    loss_sum, _ = masked_cross_entropy(target_out, logits)
    assert embedded.dtype == tf.bfloat16
    assert logits.dtype == weights.dtype == loss_sum.dtype == tf.float32
    assert model.encoder.embedding.embeddings.dtype == tf.float32  # master weights
    history = model.fit(tf.data.Dataset.from_tensors(((source, target_in), target_out)), verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert int(model.optimizer.iterations.numpy()) == 1


def test_jit_compile_implies_fixed_shapes_and_the_flags_say_so():
    from nmt_keras.cli import build_parser, options_from_args
    from nmt_keras.training.train import uses_fixed_shapes

    config = Config(jit_compile=True).validate()  # no "needs fixed_shapes" error any more
    assert config.uses_fixed_shapes and not config.fixed_shapes
    assert uses_fixed_shapes(config, choose_strategy("default"))
    assert not Config().uses_fixed_shapes and Config(fixed_shapes=True).uses_fixed_shapes
    args = build_parser().parse_args(["train", "--output", "x", "--jit-compile", "--precision", "mixed"])
    config = options_from_args(args, Config())
    assert config.jit_compile and config.uses_fixed_shapes and config.precision == "mixed"
    args = build_parser().parse_args(["train", "--output", "x", "--strategy", "multi-worker"])
    assert options_from_args(args, Config()).strategy == "multi-worker"


def test_jit_compiled_training_step_runs_on_fixed_shape_batches(corpus_sample):
    from nmt_keras.training.train import build_translator

    pairs, _, _ = corpus_sample
    keras.utils.set_random_seed(0)
    translator = build_translator(_tiny_config(jit_compile=True), pairs)
    model = translator.model
    assert model.jit_compile and model.needs_static_shapes()
    batch = make_dataset(encode_pairs(translator, pairs), 16, fixed_shapes=True).take(1)
    history = model.fit(batch, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert int(model.optimizer.iterations.numpy()) == 1


# --------------------------------------------------------------------------------------
# Strategies: multi-worker configuration, mirrored and multi-worker training.


def test_multi_worker_needs_a_valid_tf_config(monkeypatch):
    assert "multi-worker" in STRATEGIES
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="needs the TF_CONFIG environment variable"):
        choose_strategy("multi-worker")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_tf_config({"TF_CONFIG": "{cluster"})
    with pytest.raises(ValueError, match="must name the workers"):
        read_tf_config({"TF_CONFIG": json.dumps({"cluster": {}, "task": {}})})
    with pytest.raises(ValueError, match="task.index 2"):
        read_tf_config({"TF_CONFIG": json.dumps(
            {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}
        )})


def test_cli_multi_worker_without_tf_config_exits_with_a_message(monkeypatch, tmp_path, capsys):
    from nmt_keras.cli import EXIT_BAD_INPUT, main

    monkeypatch.delenv("TF_CONFIG", raising=False)
    status = main(["train", "--strategy", "multi-worker", "--output", str(tmp_path / "run")])
    assert status == EXIT_BAD_INPUT
    assert "needs the TF_CONFIG environment variable" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_single_process_strategies_write_to_the_given_directory(tmp_path):
    strategy = choose_strategy("default")
    assert is_chief(strategy)
    assert output_dir(tmp_path, strategy) == tmp_path


def _run(arguments, env=None):
    """Runs `tests/distributed_runs.py` with `arguments`; fails with its output."""
    command = [sys.executable, str(TESTS / "distributed_runs.py"), *arguments]
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY), **(env or {})}
    return subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _wait(processes, what):
    outputs = []
    try:
        for process in processes:
            output, _ = process.communicate(timeout=SUBPROCESS_TIMEOUT_S)
            outputs.append(output)
    except subprocess.TimeoutExpired:
        for process in processes:
            process.kill()
        pytest.fail(f"{what} did not finish within {SUBPROCESS_TIMEOUT_S} s (hung?)")
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, f"{what} failed:\n{output[-3000:]}"
    return outputs


# Per-step losses and final weights of the mirrored run agree with the single-device
# run to float32 rounding: the replicas compute the same sums in a different order
# (each replica sums its half of the batch; the halves are then added by all-reduce).
MIRRORED_RTOL = 1e-5
MIRRORED_WEIGHTS_ATOL = 1e-5


def test_mirrored_over_two_logical_cpus_matches_single_device_training(tmp_path):
    output = tmp_path / "mirrored.json"
    _wait([_run(["mirrored", str(output)])], "the MirroredStrategy run")
    result = json.loads(output.read_text())
    assert result["replicas"] == 2
    single, mirrored = result["single"], result["mirrored"]
    assert len(single["losses"]) >= 2
    np.testing.assert_allclose(mirrored["losses"], single["losses"], rtol=MIRRORED_RTOL)
    assert single["losses"][-1] < single["losses"][0]  # it trains
    for a, b in zip(mirrored["weights"], single["weights"]):
        np.testing.assert_allclose(np.array(a), np.array(b), atol=MIRRORED_WEIGHTS_ATOL)


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_workers_train_in_sync_and_finish_with_identical_weights(tmp_path):
    workers = [f"127.0.0.1:{_free_port()}" for _ in range(2)]
    workdir = tmp_path / "run"
    worker_tmp = tmp_path / "tmp"  # the workers' TMPDIR
    worker_tmp.mkdir()
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        processes.append(_run(
            ["worker", str(workdir), str(tmp_path / f"weights{index}.npz")],
            env={"TF_CONFIG": json.dumps(tf_config), "TMPDIR": str(worker_tmp)},
        ))
    outputs = _wait(processes, "the two-worker run")
    summaries = [json.loads(output.strip().splitlines()[-1]) for output in outputs]
    # MultiWorkerMirroredStrategy's class is CollectiveAllReduceStrategy.
    assert all(s["strategy"] == "CollectiveAllReduceStrategy on CPU, 2 replica(s)" for s in summaries)
    assert summaries[0]["training_steps"] == summaries[1]["training_steps"] >= 3
    weights = [np.load(tmp_path / f"weights{index}.npz") for index in range(2)]
    assert len(weights[0].files) == len(weights[1].files) > 0
    for name in weights[0].files:
        np.testing.assert_array_equal(weights[0][name], weights[1][name])
    # Only the chief (worker 0) wrote the model directory and the report.
    report = json.loads((workdir / "report.json").read_text())
    assert 0.0 < report["padding_fraction"] < 1.0 and report["fixed_shapes"]
    assert (workdir / "model.weights.h5").is_file()
    # The other worker wrote into a temporary directory and removed it.
    assert not list(worker_tmp.glob("nmt_keras_*"))
