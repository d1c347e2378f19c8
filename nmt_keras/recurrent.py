"""Recurrent building blocks shared by the encoder and the decoders: GRU or LSTM.

A recurrent state is always a tuple of tensors: `(h,)` for a GRU, `(h, c)` for an LSTM;
`h`, the first element, is what attention and the output layer read.
"""

import keras
import tensorflow as tf

from nmt_keras.checks import require_positive

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


def run_cell(cell, inputs, state, training=None):
    """One step of a Keras GRU/LSTM cell with the tuple-state convention.

    Args:
        cell: `keras.layers.GRUCell` or `LSTMCell`.
        inputs: `(batch, input_dim)`.
        state: tuple `(h,)` or `(h, c)`, each `(batch, units)`.

    Returns:
        the new state tuple.
    """
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
