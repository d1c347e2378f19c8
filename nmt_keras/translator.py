"""The `Translator` model: vectorizers + encoder + attention decoder, trained with fit()."""

import keras
import numpy as np
import tensorflow as tf

from nmt_keras import decoding
from nmt_keras.constants import END_TOKEN, PAD_ID, START_TOKEN
from nmt_keras.decoder import Decoder
from nmt_keras.encoder import Encoder
from nmt_keras.losses import TokenMean, masked_correct, masked_cross_entropy
from nmt_keras.text import add_start_end, make_vectorizer, standardize, vocabulary_of

# Greedy decoding stops after this many tokens if a sentence has not produced [END].
DEFAULT_MAX_OUTPUT_LENGTH = 50


@keras.saving.register_keras_serializable(package="nmt_keras")
class Translator(keras.Model):
    """Attention-based encoder-decoder translator (Bahdanau et al., 2015).

    It owns everything needed to go from text to text: the source and target
    `TextVectorization` layers (built from word lists learned on the training split),
    the `Encoder`, and the `Decoder` with its `BahdanauAttention`.

    Training is teacher-forced: the decoder reads the gold previous word
    `[START] y_1 ... y_{n-1}` and is trained to predict `y_1 ... y_n [END]`. The loss
    is the cross-entropy averaged over real target tokens (padding excluded from the sum
    and from the count); `accuracy` is the share of real target tokens predicted right.
    `fit()` compiles `train_step` into a `tf.function`.

    Args:
        source_words: list of str. Source vocabulary without the special tokens.
        target_words: list of str. Target vocabulary without the special tokens.
        embedding_dim: int. Word embedding size, both sides.
        units: int. Encoder GRU units per direction, and decoder GRU units.
        attention_units: int. Hidden size of the attention scorer. Defaults to `units`.
        max_output_length: int. Greedy decoding stops after this many tokens.

    Example:
    >>> model = Translator(["el", "gato"], ["the", "cat"], embedding_dim=8, units=16)
    >>> model.compile(optimizer="adam")
    >>> source, target_in, target_out = model.prepare_batch(["el gato"], ["the cat"])
    >>> model.train_on_batch((source, target_in), target_out)
    >>> model.translate(["el gato"])["text"]
    """

    def __init__(
        self,
        source_words,
        target_words,
        embedding_dim,
        units,
        attention_units=None,
        max_output_length=DEFAULT_MAX_OUTPUT_LENGTH,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.source_words = list(source_words)
        self.target_words = list(target_words)
        self.embedding_dim = embedding_dim
        self.units = units
        self.attention_units = attention_units or units
        self.max_output_length = max_output_length

        self.source_vectorizer = make_vectorizer(self.source_words, name="source_vectorizer")
        self.target_vectorizer = make_vectorizer(self.target_words, name="target_vectorizer")
        self.source_vocabulary = vocabulary_of(self.source_vectorizer)
        self.target_vocabulary = vocabulary_of(self.target_vectorizer)
        self.encoder = Encoder(len(self.source_vocabulary), embedding_dim, units, name="encoder")
        self.decoder = Decoder(
            len(self.target_vocabulary),
            embedding_dim,
            units,
            attention_units=self.attention_units,
            name="decoder",
        )
        self.loss_tracker = TokenMean(name="loss")
        self.accuracy_tracker = TokenMean(name="accuracy")
        self.token_counter = keras.metrics.Sum(name="target_tokens")
        # autograph=False: the loops are explicit tf.while_loops, nothing to convert.
        self._translate_graph = tf.function(
            self._translate,
            autograph=False,
            input_signature=[
                tf.TensorSpec([None], tf.string),  # (batch,) sentences
                tf.TensorSpec([], tf.int32),  # max_length
            ],
        )

    # ------------------------------------------------------------------ text <-> ids

    def tokenize_source(self, texts):
        """`(batch,)` strings -> `(batch, source_len)` int64 ids: `[START] words [END]`."""
        return add_start_end(self.source_vectorizer(texts)).to_tensor(default_value=PAD_ID)

    def tokenize_target(self, texts):
        """`(batch,)` strings -> `(target_in, target_out)`, both `(batch, target_len)`.

        `target_in` is `[START] y_1 ... y_n` and `target_out` is `y_1 ... y_n [END]`.
        """
        ids = add_start_end(self.target_vectorizer(texts))  # ragged (batch, (n + 2))
        target_in = ids[:, :-1].to_tensor(default_value=PAD_ID)
        target_out = ids[:, 1:].to_tensor(default_value=PAD_ID)
        return target_in, target_out

    def prepare_batch(self, source_texts, target_texts):
        """Python or tensor strings -> `(source_ids, target_in, target_out)`."""
        source = self.tokenize_source(tf.constant(source_texts, tf.string))
        target_in, target_out = self.tokenize_target(tf.constant(target_texts, tf.string))
        return source, target_in, target_out

    # --------------------------------------------------------------------- forward

    def encode(self, source_ids, training=None):
        """`(batch, source_len)` ids -> annotations, final state and source mask."""
        states, forward_state, backward_state = self.encoder(source_ids, training=training)
        final_state = tf.concat([forward_state, backward_state], axis=-1)  # (batch, 2 * units)
        return states, final_state, source_ids != PAD_ID

    def call(self, inputs, training=None, return_attention=False):
        """Teacher-forced forward pass.

        Args:
            inputs: `(source_ids, target_in)`, int `(batch, source_len)` and
                `(batch, target_len)`.
            return_attention: bool. Also return the attention weights
                `(batch, target_len, source_len)`.

        Returns:
            logits `(batch, target_len, target_vocab_size)` [, weights].
        """
        source_ids, target_in = inputs
        states, final_state, source_mask = self.encode(source_ids, training=training)
        logits, weights = self.decoder(
            target_in, states, final_state, source_mask=source_mask, training=training
        )
        return (logits, weights) if return_attention else logits

    # -------------------------------------------------------------------- training

    def train_step(self, data):
        (source_ids, target_in), target_out = data
        with tf.GradientTape() as tape:
            logits = self((source_ids, target_in), training=True)
            loss_sum, token_count = masked_cross_entropy(target_out, logits)
            # Under tf.distribute each replica sees part of the batch and the optimizer
            # sums the replicas' gradients, so each divides by the *global* token count.
            loss = loss_sum / tf.maximum(global_sum(token_count), 1.0)
            scaled_loss = self.optimizer.scale_loss(loss)  # loss scaling for float16
        variables = self.trainable_variables
        gradients = tape.gradient(scaled_loss, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))
        return self._update_metrics(target_out, logits, loss_sum, token_count)

    def test_step(self, data):
        (source_ids, target_in), target_out = data
        logits = self((source_ids, target_in), training=False)
        loss_sum, token_count = masked_cross_entropy(target_out, logits)
        return self._update_metrics(target_out, logits, loss_sum, token_count)

    def _update_metrics(self, target_out, logits, loss_sum, token_count):
        correct, _ = masked_correct(target_out, logits)
        self.loss_tracker.update_state(loss_sum, token_count)
        self.accuracy_tracker.update_state(correct, token_count)
        self.token_counter.update_state(token_count)
        return {m.name: m.result() for m in self.metrics}

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy_tracker, self.token_counter]

    # ------------------------------------------------------------------- inference

    def translate(self, texts, max_length=None):
        """Greedy translation of a batch of sentences.

        Args:
            texts: a str, or a list/tuple/array of str (any length, empty strings and
                unknown words included).
            max_length: int. Maximum number of output tokens. Defaults to
                `max_output_length`.

        Returns:
            dict of NumPy arrays: `text` `(batch,)` str; `tokens` `(batch, target_len)`
            str, "" as padding; `token_ids` `(batch, target_len)`; `attention`
            `(batch, target_len, source_len)`; `source_tokens` `(batch, source_len)`
            str, with the `[START]`/`[END]` markers the encoder saw.

        Raises:
            TypeError: if `texts` holds anything but strings.
        """
        texts = decoding.as_string_batch(texts)
        if max_length is None:
            max_length = self.max_output_length
        if int(max_length) < 0:
            raise ValueError(f"max_length must be >= 0, got {max_length}")
        outputs = self._translate_graph(tf.constant(texts, tf.string), tf.constant(max_length, tf.int32))
        result = {key: value.numpy() for key, value in outputs.items()}
        for key in ("text", "tokens", "source_tokens"):
            result[key] = np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(result[key])
        return result

    def _translate(self, texts, max_length):
        source_ids = self.tokenize_source(texts)
        result = decoding.greedy_decode(self, source_ids, max_length)
        return decoding.describe(self.target_vocabulary, source_tokens(texts), result)

    # ---------------------------------------------------------------- serialization

    def get_config(self):
        config = super().get_config()
        config.update(
            source_words=self.source_words,
            target_words=self.target_words,
            embedding_dim=self.embedding_dim,
            units=self.units,
            attention_units=self.attention_units,
            max_output_length=self.max_output_length,
        )
        return config

    def build_with_dummy_batch(self):
        """Creates every weight by running one tiny batch (needed before load_weights)."""
        source, target_in, _ = self.prepare_batch(["x"], ["x"])
        self((source, target_in), training=False)


def source_tokens(texts):
    """`(batch,)` strings -> str `(batch, source_len)`: the standardized words the encoder
    reads (unknown words as written, not as `[UNK]`), between `[START]` and `[END]`."""
    words = tf.strings.split(standardize(texts))  # ragged (batch, (num_words))
    batch = words.nrows()
    return tf.concat(
        [tf.fill([batch, 1], START_TOKEN), words, tf.fill([batch, 1], END_TOKEN)], axis=1
    ).to_tensor(default_value="")


def global_sum(value):
    """Sum of `value` over all replicas when running under a `tf.distribute` strategy
    with several replicas; `value` itself otherwise."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value)
