"""The reference model (a) of the benchmark: the design of the TensorFlow NMT tutorial.

It is deliberately *not* optimized; it stands for the common way of writing an
attention translator in Keras, so that the benchmark measures what nmt_keras' own
choices (bucketing, prefetching, symbolic decoding loops) buy. The design:

* encoder: source embedding -> bidirectional GRU over the whole source; the forward
  and backward annotations are summed, and so are the two final states;
* decoder: target embedding -> one GRU over the whole (teacher-forced) target,
  started from the encoder's summed final state -> one single-head cross-attention
  (`keras.layers.MultiHeadAttention(num_heads=1)`) of the GRU outputs over the encoder
  annotations -> residual add + layer normalization -> Dense logits over the vocabulary;
* loss: Keras' sparse categorical cross-entropy from logits (TensorFlow's fused
  `SparseSoftmaxCrossEntropyWithLogits` kernel), averaged over real (non-padding)
  target tokens, computed at every position and masked, as the tutorial does;
* input pipeline: shuffled pairs cut into padded batches (`padded_batch` after
  `shuffle`), no length bucketing and no prefetching;
* greedy translation: an eager Python `for` loop over output steps, calling the decoder
  layers on one step at a time with the GRU state carried in Python; no `tf.function`.

Token ids come from nmt_keras' vectorizers, so all benchmark variants read exactly the
same ids (`PAD_ID` 0, `[START]`, `[END]` as in `nmt_keras.constants`).
"""

import keras
import numpy as np
import tensorflow as tf

from nmt_keras.constants import END_ID, PAD_ID, START_ID
from nmt_keras.data.tokenizers import add_start_end, vocabulary_of, word_vectorizer

# Attention heads of the cross-attention: one, as in the tutorial.
NUM_HEADS = 1


@keras.saving.register_keras_serializable(package="bench")
class ReferenceTranslator(keras.Model):
    """Tutorial-style encoder-decoder (see the module docstring).

    Args:
        source_words: list of str. Source vocabulary without the special tokens.
        target_words: list of str. Target vocabulary without the special tokens.
        embedding_dim: int. Word embedding size, both sides.
        units: int. GRU units (encoder per direction, decoder) and attention size.
    """

    def __init__(self, source_words, target_words, embedding_dim, units, **kwargs):
        super().__init__(**kwargs)
        self.source_words = list(source_words)
        self.target_words = list(target_words)
        self.embedding_dim = embedding_dim
        self.units = units
        # The tutorial's standardized, lower-cased tokens.
        self.source_vectorizer = word_vectorizer(self.source_words, "source_vectorizer", casing="lower")
        self.target_vectorizer = word_vectorizer(self.target_words, "target_vectorizer", casing="lower")
        self.target_vocabulary = vocabulary_of(self.target_vectorizer)
        source_size = len(vocabulary_of(self.source_vectorizer))
        target_size = len(self.target_vocabulary)
        self.source_embedding = keras.layers.Embedding(
            source_size, embedding_dim, mask_zero=True, name="source_embedding"
        )
        self.encoder_rnn = keras.layers.Bidirectional(
            keras.layers.GRU(units, return_sequences=True, return_state=True),
            merge_mode="sum",
            name="encoder_rnn",
        )
        self.target_embedding = keras.layers.Embedding(target_size, embedding_dim, name="target_embedding")
        self.decoder_rnn = keras.layers.GRU(
            units, return_sequences=True, return_state=True, name="decoder_rnn"
        )
        self.cross_attention = keras.layers.MultiHeadAttention(
            num_heads=NUM_HEADS, key_dim=units, name="cross_attention"
        )
        self.add = keras.layers.Add(name="residual")
        self.norm = keras.layers.LayerNormalization(name="norm")
        self.output_projection = keras.layers.Dense(target_size, name="logits")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.token_counter = keras.metrics.Sum(name="target_tokens")

    # ------------------------------------------------------------------ pieces

    def tokenize_source(self, texts):
        """`(batch,)` strings -> int64 `(batch, source_len)`: `[START] words [END]` + padding."""
        return add_start_end(self.source_vectorizer(texts)).to_tensor(default_value=PAD_ID)

    def encode(self, source_ids, training=None):
        """`(batch, source_len)` ids -> annotations `(batch, source_len, units)`, the
        summed final state `(batch, units)` and the source mask `(batch, source_len)`."""
        mask = source_ids != PAD_ID
        embedded = self.source_embedding(source_ids)
        annotations, forward, backward = self.encoder_rnn(embedded, mask=mask, training=training)
        return annotations, forward + backward, mask

    def decode(self, target_in, state, annotations, source_mask, training=None):
        """Decoder over `(batch, steps)` previous words from GRU `state`.

        Returns:
            logits `(batch, steps, vocab)` and the new GRU state `(batch, units)`.
        """
        embedded = self.target_embedding(target_in)  # (batch, steps, E)
        outputs, state = self.decoder_rnn(embedded, initial_state=state, training=training)
        steps = tf.shape(target_in)[1]
        # (batch, steps, source_len): every target step may look at every real source word.
        attention_mask = tf.repeat(source_mask[:, None, :], steps, axis=1)
        attended = self.cross_attention(
            query=outputs, value=annotations, attention_mask=attention_mask, training=training
        )
        features = self.norm(self.add([outputs, attended]))
        return self.output_projection(features), state

    def call(self, inputs, training=None):
        """Teacher forcing: `(source_ids, target_in)` -> logits `(batch, target_len, vocab)`."""
        source_ids, target_in = inputs
        annotations, state, mask = self.encode(source_ids, training=training)
        logits, _ = self.decode(target_in, state, annotations, mask, training=training)
        return logits

    def train_step(self, data):
        (source_ids, target_in), target_out = data
        with tf.GradientTape() as tape:
            logits = self((source_ids, target_in), training=True)
            loss_sum, token_count = tutorial_masked_loss(target_out, logits)
            loss = loss_sum / tf.maximum(token_count, 1.0)
        gradients = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        self.loss_tracker.update_state(loss)
        self.token_counter.update_state(token_count)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        (source_ids, target_in), target_out = data
        logits = self((source_ids, target_in), training=False)
        loss_sum, token_count = tutorial_masked_loss(target_out, logits)
        self.loss_tracker.update_state(loss_sum / tf.maximum(token_count, 1.0))
        self.token_counter.update_state(token_count)
        return {m.name: m.result() for m in self.metrics}

    @property
    def metrics(self):
        return [self.loss_tracker, self.token_counter]

    # ------------------------------------------------------------- translation

    def translate(self, texts, max_length):
        """Greedy translation of a batch, step by step in an eager Python loop.

        Stops when every sentence has produced `[END]` or after `max_length` tokens.

        Args:
            texts: list of str.
            max_length: int.

        Returns:
            list of str, the translations.
        """
        source_ids = self.tokenize_source(tf.constant(texts, tf.string))
        annotations, state, mask = self.encode(source_ids)
        batch = len(texts)
        tokens = tf.fill([batch, 1], tf.constant(START_ID, tf.int64))
        done = np.zeros(batch, dtype=bool)
        outputs = []
        for _ in range(max_length):
            logits, state = self.decode(tokens, state, annotations, mask)  # (batch, 1, vocab)
            tokens = tf.argmax(logits, axis=-1)  # (batch, 1)
            chosen = tokens.numpy()[:, 0]
            outputs.append(np.where(done, PAD_ID, chosen))
            done |= chosen == END_ID
            if done.all():
                break
        return self.ids_to_text(np.stack(outputs, axis=1) if outputs else np.zeros((batch, 0), int))

    def ids_to_text(self, token_ids):
        """int `(batch, steps)` -> list of str, stopping at `[END]`; padding dropped."""
        texts = []
        for row in token_ids:
            words = []
            for token in row:
                if token == END_ID:
                    break
                if token != PAD_ID:
                    words.append(self.target_vocabulary[token])
            texts.append(" ".join(words))
        return texts

    def build_with_dummy_batch(self):
        """Creates every weight by running one tiny batch."""
        source = self.tokenize_source(tf.constant(["x"]))
        target_in = tf.constant([[START_ID]], tf.int64)
        self((source, target_in), training=False)

    def get_config(self):
        config = super().get_config()
        config.update(
            source_words=self.source_words,
            target_words=self.target_words,
            embedding_dim=self.embedding_dim,
            units=self.units,
        )
        return config


def tutorial_masked_loss(labels, logits):
    """Cross-entropy at every target position, padding masked out afterwards.

    Returns:
        `(loss_sum, token_count)` over the real (non-`PAD_ID`) tokens.
    """
    per_token = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    mask = tf.cast(labels != PAD_ID, per_token.dtype)  # (batch, target_len)
    return tf.reduce_sum(per_token * mask), tf.reduce_sum(mask)


def make_dataset(encoded, batch_size, seed):
    """The tutorial-style pipeline: shuffle, then pad each batch to its own longest
    sentence; no bucketing, no prefetch.

    Returns:
        Dataset of `((source, target_in), target_out)`, int64, `PAD_ID`-padded.
    """
    source_ids, target_ids = encoded
    dataset = tf.data.Dataset.from_tensor_slices((source_ids, target_ids)).map(
        lambda source, target: (tf.identity(source), tf.identity(target))
    )
    dataset = dataset.shuffle(int(source_ids.nrows()), seed=seed)
    padding = (tf.constant(PAD_ID, tf.int64), tf.constant(PAD_ID, tf.int64))
    dataset = dataset.padded_batch(batch_size, padded_shapes=([None], [None]), padding_values=padding)
    return dataset.map(lambda source, target: ((source, target[:, :-1]), target[:, 1:]))


def translate_all(model, texts, batch_size, max_length):
    """Translates `texts` in batches of `batch_size`, in input order (no sorting)."""
    outputs = []
    for start in range(0, len(texts), batch_size):
        outputs.extend(model.translate(list(texts[start : start + batch_size]), max_length))
    return outputs
