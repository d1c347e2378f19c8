"""Training runs that must configure TensorFlow before it starts, for test_distribute.py.

The tests run this file in fresh subprocesses (TensorFlow fixes its devices and its
cluster at the first op, so each run needs its own process):

    python tests/distributed_runs.py mirrored OUTPUT.json
        Splits the CPU into two logical devices, trains the same seeded tiny translator
        on the same batches under the default strategy and under `MirroredStrategy`
        over the two devices, and writes both runs' per-step losses and final weights.

    TF_CONFIG=... python tests/distributed_runs.py worker WORKDIR WEIGHTS.npz
        One worker of a multi-worker run: `train_and_evaluate` with strategy
        "multi-worker" on a tiny config, then this worker's final weights to WEIGHTS.npz.
"""

import dataclasses
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Tiny sizes: the tests compare runs, they do not need a good model.
UNITS = 8
EMBEDDING_DIM = 8
BATCH_SIZE = 16
TRAIN_PAIRS = 64
MIRRORED_STEPS = 4
LEARNING_RATE = 1e-2  # large enough that the weights move visibly in a few steps


def tiny_config(**changes):
    from nmt_keras.config import Config

    return dataclasses.replace(
        Config(
            data="synthetic", max_vocab_size=None, embedding_dim=EMBEDDING_DIM, units=UNITS,
            batch_size=BATCH_SIZE, learning_rate=LEARNING_RATE, max_train_pairs=TRAIN_PAIRS,
            validation_size=32, test_size=16, epochs=1, max_output_length=12, seed=3,
            # These runs compare losses across strategies within float32 rounding; a
            # subprocess reads the real CPU, so "auto" could mean bfloat16 here.
            precision="float32",
        ),
        **changes,
    )


def run_mirrored(output_path):
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
    import keras

    from nmt_keras.data.batching import encode_pairs, make_dataset
    from nmt_keras.training.train import build_translator, prepare_data

    config = tiny_config(strategy="default").validate()
    data = prepare_data(config)
    keras.utils.set_random_seed(config.seed)
    single = build_translator(config, data.train, tf.distribute.get_strategy())
    initial_weights = single.model.get_weights()
    devices = [device.name for device in tf.config.list_logical_devices("CPU")]
    mirrored_strategy = tf.distribute.MirroredStrategy(devices)
    mirrored = build_translator(config, data.train, mirrored_strategy)
    mirrored.model.set_weights(initial_weights)  # the same starting point, variable by variable

    # Fixed-shape batches: every batch splits evenly over the two replicas.
    batches = make_dataset(
        encode_pairs(single, data.train), BATCH_SIZE, shuffle_seed=config.seed, fixed_shapes=True
    )
    batches = list(batches.take(MIRRORED_STEPS))
    result = {"devices": devices, "replicas": mirrored_strategy.num_replicas_in_sync}
    for name, model in (("single", single.model), ("mirrored", mirrored.model)):
        losses = []
        for batch in batches:
            # One fit() per batch: its logged loss is that step's (pre-update) loss.
            history = model.fit(tf.data.Dataset.from_tensors(batch), verbose=0, shuffle=False)
            losses.append(history.history["loss"][0])
        result[name] = {
            "losses": losses,
            "weights": [w.tolist() for w in model.get_weights()],
        }
    with open(output_path, "w") as handle:
        json.dump(result, handle)


def run_worker(workdir, weights_path):
    import numpy as np

    from nmt_keras.training.train import train_and_evaluate

    # Fixed shapes: every global batch splits evenly between the workers, so both run
    # the same number of steps (a worker left without a batch would wait forever).
    # Global batches of 8 pairs: 4 per worker, and several steps from the 64 pairs.
    config = tiny_config(strategy="multi-worker", fixed_shapes=True, batch_size=8)
    translator, _, report = train_and_evaluate(config, workdir, verbose=0)
    np.savez(weights_path, *translator.model.get_weights())
    print(json.dumps({"strategy": report["strategy"], "training_steps": report["training_steps"]}))


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    if command == "mirrored":
        run_mirrored(*arguments)
    elif command == "worker":
        run_worker(*arguments)
    else:
        raise SystemExit(f"unknown command {command!r}")
