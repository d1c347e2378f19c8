"""Every use of a private Keras internal, in one place.

Each helper below leans on a name Keras does not document; `tests/test_compat.py`
checks each one against the installed Keras, so an upgrade that changes one fails a test
instead of silently changing training.

    adam_slots           the first and second moment variables of `keras.optimizers.Adam`
    BuiltBeforeFit       skips Keras' "symbolic build" of a model under tf.distribute

`nmt_keras.fast.FusedGRU` also overrides `keras.layers.RNN.inner_loop` (the method
`GRU` overrides for cuDNN: undocumented, but not underscored); the same test file checks
its signature, and the kernel tests check that Keras calls it.
"""


def adam_slots(optimizer, variable):
    """The `(momentum, velocity)` variables that `keras.optimizers.Adam` keeps for
    `variable` (private: `_get_variable_index`, `_momentums`, `_velocities`)."""
    index = optimizer._get_variable_index(variable)
    return optimizer._momentums[index], optimizer._velocities[index]


class BuiltBeforeFit:
    """Mixin for a `keras.Model` that builds all its weights itself before `fit`.

    Under a `tf.distribute` strategy, Keras' TensorFlow trainer calls
    `_maybe_symbolic_build(iterator)` at the start of `fit`, `evaluate` and
    `train_on_batch`: it takes a batch from the data iterator and averages it over the
    replicas, only to build the model, and that average fails for the translator's
    nested integer batches under `MultiWorkerMirroredStrategy`. A model that can build
    its weights from shapes needs no data: this override builds what is missing (the
    model with `build_for_fit()`, the optimizer from the trainable variables).
    """

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        with self.distribute_strategy.scope():
            if not self.built:
                self.build_for_fit()
            if self.optimizer is not None and not self.optimizer.built:
                self.optimizer.build(self.trainable_variables)

    def build_for_fit(self):
        raise NotImplementedError


def symbolic_build_method():
    """The Keras trainer method `BuiltBeforeFit` overrides (for the compatibility test)."""
    from keras.src.backend.tensorflow.trainer import TensorFlowTrainer

    return TensorFlowTrainer._maybe_symbolic_build
