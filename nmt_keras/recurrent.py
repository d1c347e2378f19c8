"""Recurrent building blocks shared by the encoder and the decoders: GRU or LSTM.

A recurrent state is always a tuple of tensors: `(h,)` for a GRU, `(h, c)` for an LSTM;
`h`, the first element, is what attention and the output layer read.
"""

import keras
import tensorflow as tf

from nmt_keras.checks import require_positive
from nmt_keras.fast.gru import fused_gru_applies, gru_sequence, gru_step

CELLS = ("gru", "lstm")


def check_cell(kind):
    if kind not in CELLS:
        raise ValueError(f"unknown recurrent cell {kind!r}; choose one of {CELLS}")
    return kind


def make_rnn(kind, units, name, **kwargs):
    """A Keras GRU or LSTM layer with cuDNN-eligible settings (tanh/sigmoid,
    `recurrent_dropout=0`, `unroll=False`, `use_bias=True`, GRU `reset_after=True`)."""
    layer = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM}[check_cell(kind)]
    return layer(units, name=name, **kwargs)


def state_count(kind):
    """Tensors in one recurrent state: 1 for a GRU (h), 2 for an LSTM (h, c)."""
    return {"gru": 1, "lstm": 2}[check_cell(kind)]


def uses_fused_gru(layer):
    """True when `run_rnn` runs `layer` (a GRU or a `Bidirectional` GRU layer, or a GRU
    cell for `run_cell`) with `nmt_keras.fast.gru` instead of calling it: on machines
    without a GPU (with one, Keras' layer runs cuDNN's fused kernel)."""
    if isinstance(layer, keras.layers.Bidirectional):
        return uses_fused_gru(layer.forward_layer.cell) and uses_fused_gru(layer.backward_layer.cell)
    if isinstance(layer, keras.layers.RNN):
        # A lone go_backwards layer returns its outputs reversed: left to Keras.
        return uses_fused_gru(layer.cell) and not layer.go_backwards
    return fused_gru_applies(layer) and not tf.config.list_logical_devices("GPU")


def run_rnn(layer, inputs, mask=None, initial_state=None, training=None):
    """Calls a recurrent layer made by `make_rnn` (or a `Bidirectional` of one, merged by
    concatenation) on right-padded inputs; returns what the layer would return.

    GRUs run through `nmt_keras.fast.gru` when `uses_fused_gru(layer)`: the same
    function with the same weights, computed faster on CPUs. Other layers are called.

    Args:
        layer: a built `keras.layers.GRU`/`LSTM` (`return_sequences=True`) or a
            `Bidirectional` of one.
        inputs: `(batch, time, input_dim)`.
        mask: bool `(batch, time)`, True at real steps (right padding), or None.
        initial_state: list of initial states, or None (zeros).

    Returns:
        outputs `(batch, time, output_dim)`, or `[outputs, *final_states]` when the
        layer has `return_state=True` (forward then backward for `Bidirectional`).
    """
    if not uses_fused_gru(layer):
        return layer(inputs, mask=mask, initial_state=initial_state, training=training)
    if isinstance(layer, keras.layers.Bidirectional):
        if initial_state is not None:
            raise ValueError("run_rnn: initial states of a Bidirectional layer are not supported")
        if layer.merge_mode != "concat":
            raise ValueError(f"run_rnn: Bidirectional merge_mode must be 'concat', got {layer.merge_mode!r}")
        forward, forward_state = gru_sequence(layer.forward_layer.cell, inputs, mask=mask)
        backward, backward_state = gru_sequence(layer.backward_layer.cell, inputs, mask=mask, reverse=True)
        outputs = tf.concat([forward, backward], axis=-1)  # (batch, time, 2 * units)
        if layer.return_state:
            return [outputs, forward_state, backward_state]
        return outputs
    state = None if initial_state is None else initial_state[0]
    outputs, final_state = gru_sequence(layer.cell, inputs, initial_state=state, mask=mask)
    if layer.return_state:
        return [outputs, final_state]
    return outputs


def run_cell(cell, inputs, state, training=None):
    """One step of a Keras GRU/LSTM cell with the tuple-state convention (through
    `nmt_keras.fast.gru.gru_step` when `uses_fused_gru(cell)`).

    Args:
        cell: `keras.layers.GRUCell` or `LSTMCell`.
        inputs: `(batch, input_dim)`.
        state: tuple `(h,)` or `(h, c)`, each `(batch, units)`.

    Returns:
        the new state tuple.
    """
    if uses_fused_gru(cell):
        return (gru_step(cell, inputs, state[0]),)
    _, new_state = cell(inputs, list(state), training=training)
    return tuple(new_state)


@keras.saving.register_keras_serializable(package="nmt_keras")
class StateBridge(keras.layers.Layer):
    """Maps the encoder's final states to a decoder's initial recurrent state.

        h_0 = tanh(W_h f + b_h)           (GRU and LSTM)
        c_0 = W_c f + b_c                 (LSTM only: the memory cell has no squashing)

    where f concatenates the encoder's final forward and backward states.

    Args:
        units: int. The decoder's state size.
        cell: str. "gru" or "lstm".
    """

    def __init__(self, units, cell="gru", **kwargs):
        super().__init__(**kwargs)
        require_positive("StateBridge", units=units)
        self.units = units
        self.cell = check_cell(cell)
        self.to_hidden = keras.layers.Dense(units, activation="tanh", name="bridge")
        self.to_memory = (
            keras.layers.Dense(units, name="bridge_memory") if cell == "lstm" else None
        )

    def build(self, final_state_shape):
        self.to_hidden.build(final_state_shape)
        if self.to_memory is not None:
            self.to_memory.build(final_state_shape)
        self.built = True

    def call(self, final_state):
        """`(batch, final_dim)` -> tuple of `(batch, units)`: `(h_0,)` or `(h_0, c_0)`."""
        if self.to_memory is None:
            return (self.to_hidden(final_state),)
        return self.to_hidden(final_state), self.to_memory(final_state)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, cell=self.cell)
        return config
