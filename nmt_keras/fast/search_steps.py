"""Decoding steps of the Bahdanau `Decoder` with the context's share of the logits
read from a table computed once per sentence.

The plain output layer projects o_t = [s_t; c_t; E y_{t-1}] onto the vocabulary, and
splitting its kernel W into the row blocks that meet each part gives

    logits_t = s_t W_s + c_t W_c + (E y_{t-1}) W_e + b
    c_t W_c  = (sum_j a_tj h_j) W_c = sum_j a_tj (h_j W_c)

`h_j W_c` does not depend on the step: `ContextTableSteps.start` computes the table
`(batch, source_len, vocab)` once, and every step reads `a_t` times it, `source_len`
numbers per word instead of `value_dim` (the widest of the three products: 512 of the
1,024 inputs of the output layer with the default sizes). The result is the same
function, summed in another order; tests check the translations against the plain
steps. It applies when the decoder is `nmt_keras.layers.Decoder` with a plain output
layer (no maxout).
"""

import tensorflow as tf

from nmt_keras.layers.decoder import Decoder


def applies(model):
    """True if `ContextTableSteps(model)` computes what `model.next_logits` does."""
    decoder = model.decoder
    return isinstance(decoder, Decoder) and decoder.output_layer.maxout_units is None


class ContextTableSteps:
    """`model.start` and `model.next_logits` (see `nmt_keras.model.Seq2Seq`), with the
    context's share of the logits from a per-sentence table (see the module docstring).

    Args:
        model: a `Seq2Seq` for which `applies(model)` is true.
    """

    def __init__(self, model):
        if not applies(model):
            raise ValueError("ContextTableSteps needs the Bahdanau Decoder with a plain output layer")
        self.model = model
        self.target_vocab_size = model.target_vocab_size

    def _kernel_blocks(self, value_dim):
        decoder = self.model.decoder
        kernel = decoder.output_layer.projection.kernel  # (units + value_dim + E, vocab)
        units = decoder.units
        return kernel[:units], kernel[units : units + value_dim], kernel[units + value_dim :]

    def start(self, source_ids):
        """`(state, (memory, table))`; table: `(batch, source_len, vocab)`, h_j W_c."""
        state, memory = self.model.start(source_ids)
        _, context_kernel, _ = self._kernel_blocks(memory.values.shape[-1])
        table = tf.einsum("bsd,dv->bsv", memory.values, tf.cast(context_kernel, memory.values.dtype))
        return state, (memory, table)

    def next_logits(self, token_ids, state, memory_and_table):
        memory, table = memory_and_table
        decoder = self.model.decoder
        embedded = decoder.embedding(token_ids)  # (batch, E)
        output, state, weights = decoder.step(embedded, state, memory)
        state_kernel, _, embedding_kernel = self._kernel_blocks(memory.values.shape[-1])
        dtype = output.dtype
        logits = (
            tf.matmul(output[:, : decoder.units], tf.cast(state_kernel, dtype))  # s_t W_s
            + tf.matmul(embedded, tf.cast(embedding_kernel, dtype))  # (E y_{t-1}) W_e
            + tf.einsum("bs,bsv->bv", tf.cast(weights, dtype), table)  # sum_j a_tj h_j W_c
            + tf.cast(decoder.output_layer.projection.bias, dtype)
        )
        logits = tf.cast(logits, tf.float32)
        if decoder.output_layer.source_prior and memory.prior is not None:
            logits += decoder.output_layer.prior_weight * memory.prior
        return logits, state, weights
