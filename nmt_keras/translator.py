"""The `Translator` model: vectorizers + encoder + attention decoder, trained with fit()."""

import keras
import numpy as np
import tensorflow as tf

from nmt_keras.inference import beam_search
from nmt_keras.inference import search as decoding
from nmt_keras.attention import ATTENTION_TYPES
from nmt_keras.constants import END_TOKEN, NUM_SPECIAL_TOKENS, PAD_ID, START_TOKEN
from nmt_keras.decoder import Decoder
from nmt_keras.embeddings import DEFAULT_EMBEDDING_INIT, check_embedding_init
from nmt_keras.encoder import Encoder
from nmt_keras.losses import LastValue, TokenMean, masked_correct, masked_loss_sums
from nmt_keras.luong_decoder import LuongDecoder
from nmt_keras.training.schedules import (
    DEFAULT_MAX_PROBABILITY,
    check_schedule,
    sampling_probability,
)
from nmt_keras.data.text import add_start_end, vocabulary_of
from nmt_keras.data.tokenizers import check_kind, detokenize, make_vectorizer
from nmt_keras.data.tokenizers import source_tokens as tokenizer_source_tokens

# Decoding stops after this many tokens if a sentence has not produced [END].
DEFAULT_MAX_OUTPUT_LENGTH = 50
DECODERS = ("bahdanau", "luong")
DECODING_METHODS = ("greedy", "sample", "beam")


@keras.saving.register_keras_serializable(package="nmt_keras")
class Translator(keras.Model):
    """Attention-based encoder-decoder translator.

    It owns everything needed to go from text to text: the source and target
    `TextVectorization` layers (built from word lists learned on the training split),
    the `Encoder`, and a decoder with its attention: `Decoder` (Bahdanau et al. 2015,
    the default) or `LuongDecoder` (Luong et al. 2015).

    Training is teacher-forced: the decoder reads the gold previous word
    `[START] y_1 ... y_{n-1}` and is trained to predict `y_1 ... y_n [END]`; with
    `scheduled_sampling` it is sometimes fed its own sample instead (Bengio et al. 2015).
    The loss is the cross-entropy averaged over real target tokens (padding excluded
    from the sum and from the count), optionally label-smoothed; `accuracy` is the share
    of real target tokens predicted right. `fit()` compiles `train_step` into a
    `tf.function`.

    Args:
        source_words: list of str. Source vocabulary without the special tokens (words,
            word pieces or characters, as `tokenizer` says).
        target_words: list of str. Target vocabulary without the special tokens.
        embedding_dim: int. Word embedding size, both sides.
        units: int. Encoder RNN units per direction, and decoder RNN units.
        attention_units: int. Hidden size of additive/concat scorers. Defaults to `units`.
        max_output_length: int. Decoding stops after this many tokens.
        attention: str. "bahdanau" (additive), "luong-dot", "luong-general" or
            "luong-concat". Defaults to "bahdanau".
        decoder: str. "bahdanau" (attend with s_{t-1}, context into the RNN) or "luong"
            (RNN first, attend with h_t). Defaults to "bahdanau".
        input_feeding: bool. Luong decoder only: feed the attentional vector to the
            next step.
        cell: str. "gru" or "lstm", encoder and decoder.
        encoder_layers: int. Stacked encoder RNN layers.
        bidirectional: bool. Bidirectional encoder.
        reverse_source: bool. Feed the source words in reverse order (Sutskever et al.
            2014); attention weights are reported in the original order.
        maxout_units: int or None. Maxout deep output with this many units.
        source_prior: bool. Learned bonus for target words that occur in the source.
        dropout: float. Dropout on embeddings, between encoder layers, before the output.
        embedding_init: str. How word embeddings start, both sides: "uniform" (Keras'
            default) or "normal" (unit variance); see `nmt_keras.embeddings`.
        label_smoothing: float. Label smoothing of the training loss.
        scheduled_sampling: str. "none", "linear", "exponential" or "inverse-sigmoid".
        sampling_decay: float or None. The schedule's constant (see
            `nmt_keras.training.schedules`); None takes the schedule's default.
        max_sampling_probability: float. Cap on the probability of feeding a sample.
        tokenizer: str. "word" (default), "wordpiece" or "char", both sides (see
            `nmt_keras.data.tokenizers`).

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
        attention="bahdanau",
        decoder="bahdanau",
        input_feeding=False,
        cell="gru",
        encoder_layers=1,
        bidirectional=True,
        reverse_source=False,
        maxout_units=None,
        source_prior=False,
        dropout=0.0,
        embedding_init=DEFAULT_EMBEDDING_INIT,
        label_smoothing=0.0,
        scheduled_sampling="none",
        sampling_decay=None,
        max_sampling_probability=DEFAULT_MAX_PROBABILITY,
        tokenizer="word",
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_kind(tokenizer)
        if attention not in ATTENTION_TYPES:
            raise ValueError(f"unknown attention {attention!r}; choose one of {ATTENTION_TYPES}")
        if decoder not in DECODERS:
            raise ValueError(f"unknown decoder {decoder!r}; choose one of {DECODERS}")
        if input_feeding and decoder != "luong":
            raise ValueError("input_feeding applies to the luong decoder only")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        if not 0.0 <= max_sampling_probability <= 1.0:
            raise ValueError(
                f"max_sampling_probability must be in [0, 1], got {max_sampling_probability}"
            )
        self.source_words = list(source_words)
        self.target_words = list(target_words)
        self.embedding_dim = embedding_dim
        self.units = units
        self.attention_units = attention_units or units
        self.max_output_length = max_output_length
        self.attention_type = attention
        self.decoder_type = decoder
        self.input_feeding = input_feeding
        self.cell = cell
        self.encoder_layers = encoder_layers
        self.bidirectional = bidirectional
        self.reverse_source = reverse_source
        self.maxout_units = maxout_units
        self.source_prior = source_prior
        self.dropout = dropout
        self.embedding_init = check_embedding_init(embedding_init)
        self.label_smoothing = label_smoothing
        self.scheduled_sampling = scheduled_sampling
        self.sampling_decay = check_schedule(scheduled_sampling, sampling_decay)
        self.max_sampling_probability = max_sampling_probability
        self.tokenizer = tokenizer

        self.source_vectorizer = make_vectorizer(
            tokenizer, self.source_words, name="source_vectorizer"
        )
        self.target_vectorizer = make_vectorizer(
            tokenizer, self.target_words, name="target_vectorizer"
        )
        self.source_vocabulary = vocabulary_of(self.source_vectorizer)
        self.target_vocabulary = vocabulary_of(self.target_vectorizer)
        self.encoder = Encoder(
            len(self.source_vocabulary), embedding_dim, units, cell=cell,
            num_layers=encoder_layers, bidirectional=bidirectional, dropout=dropout,
            embedding_init=embedding_init,
            name="encoder",
        )
        decoder_class = LuongDecoder if decoder == "luong" else Decoder
        extra = {"input_feeding": input_feeding} if decoder == "luong" else {}
        self.decoder = decoder_class(
            len(self.target_vocabulary), embedding_dim, units,
            attention=attention, attention_units=self.attention_units, cell=cell,
            maxout_units=maxout_units, source_prior=source_prior, dropout=dropout,
            embedding_init=embedding_init,
            name="decoder", **extra,
        )
        # Source vocabulary id -> id of the same word in the target vocabulary, or -1.
        self._source_to_target = tf.constant(
            shared_word_ids(self.source_vocabulary, self.target_vocabulary), tf.int64
        )
        self.loss_tracker = TokenMean(name="loss")
        self.accuracy_tracker = TokenMean(name="accuracy")
        self.token_counter = keras.metrics.Sum(name="target_tokens")
        self.sampling_tracker = LastValue(name="sampling_probability")
        # autograph=False: the loops are explicit tf.while_loops, nothing to convert.
        texts_and_length = [
            tf.TensorSpec([None], tf.string),  # (batch,) sentences
            tf.TensorSpec([], tf.int32),  # max_length
        ]
        self._translate_graph = tf.function(
            self._translate, autograph=False, input_signature=texts_and_length
        )
        self._sample_graph = tf.function(
            self._sample,
            autograph=False,
            input_signature=texts_and_length
            + [tf.TensorSpec([], tf.float32), tf.TensorSpec([], tf.int32)],  # temperature, seed
        )
        self._beam_graph = tf.function(
            self._beam,
            autograph=False,
            input_signature=texts_and_length
            + [
                tf.TensorSpec([], tf.int32),  # beam width
                tf.TensorSpec([], tf.float32),  # length penalty alpha
                tf.TensorSpec([], tf.int32),  # n best
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

    def source_prior_vector(self, source_ids):
        """`(batch, source_len)` ids -> `(batch, target_vocab)`: 1.0 for each target word
        that also occurs in the source sentence, 0.0 elsewhere."""
        target_ids = tf.gather(self._source_to_target, source_ids)  # (batch, source_len), -1 if none
        hits = tf.one_hot(target_ids, len(self.target_vocabulary))  # all-zero rows for -1
        return tf.reduce_max(hits, axis=1)

    def run_encoder(self, source_ids, training=None):
        """Runs the encoder on (possibly reversed) source ids.

        Args:
            source_ids: int `(batch, source_len)`, `[START] words [END]` + padding.

        Returns:
            states `(batch, source_len, value_dim)`, the concatenated final encoder
            states `(batch, final_dim)`, the source mask (in the encoder's order) and
            the source prior `(batch, target_vocab)` or None.
        """
        encoder_ids = reverse_words(source_ids) if self.reverse_source else source_ids
        states, final_states = self.encoder(encoder_ids, training=training)
        final_state = tf.concat(final_states, axis=-1)  # (batch, final_dim)
        prior = self.source_prior_vector(source_ids) if self.source_prior else None
        return states, final_state, encoder_ids != PAD_ID, prior

    def encode(self, source_ids, training=None):
        """What the decoding loops need: `(memory, final_state)`, the decoder's `Memory`
        and the concatenated final encoder states. (The model must be built.)"""
        states, final_state, mask, prior = self.run_encoder(source_ids, training=training)
        return self.decoder.memory(states, mask, prior), final_state

    def source_order(self, weights, source_ids):
        """Attention weights over the encoder's positions -> over the source as written
        (they differ only with `reverse_source`). weights: `(batch, ..., source_len)`."""
        if not self.reverse_source:
            return weights
        index = reversal_index(source_ids)  # (batch, source_len)
        return tf.gather(weights, index, axis=len(weights.shape) - 1, batch_dims=1)

    def call(self, inputs, training=None, return_attention=False, sampling_probability=None):
        """Teacher-forced forward pass (or scheduled sampling, see `Decoder.call`).

        Args:
            inputs: `(source_ids, target_in)`, int `(batch, source_len)` and
                `(batch, target_len)`.
            return_attention: bool. Also return the attention weights
                `(batch, target_len, source_len)`, in the source's written order.

        Returns:
            logits `(batch, target_len, target_vocab_size)` [, weights].
        """
        source_ids, target_in = inputs
        states, final_state, mask, prior = self.run_encoder(source_ids, training=training)
        logits, weights = self.decoder(
            target_in, states, final_state, source_mask=mask, source_prior=prior,
            sampling_probability=sampling_probability, training=training,
        )
        if return_attention:
            return logits, self.source_order(weights, source_ids)
        return logits

    # -------------------------------------------------------------------- training

    def current_sampling_probability(self):
        """The scheduled-sampling probability at the optimizer's current step, or None."""
        if self.scheduled_sampling == "none":
            return None
        return sampling_probability(
            self.scheduled_sampling, self.optimizer.iterations, self.sampling_decay,
            self.max_sampling_probability,
        )

    def loss_logits(self, source_ids, target_in, target_out, training=None, sampling_probability=None):
        """Logits where the loss is taken, and their gold labels.

        With dynamic shapes (the default), only real target positions are kept before
        the output layer: the projection onto the vocabulary, the softmax and the loss
        then skip the padding instead of computing it and masking it away. Under XLA
        (`jit_compile`) and on TPUs, where shapes must be static, every position is
        computed and the loss masks the padding; the loss is the same either way.

        Args:
            source_ids: int `(batch, source_len)`.
            target_in: int `(batch, target_len)`.
            target_out: int `(batch, target_len)`, `PAD_ID`-padded.

        Returns:
            `(logits, labels)`: `(tokens, vocab_size)` and `(tokens,)` for the real
            tokens, or `(batch, target_len, vocab_size)` and `target_out` with static
            shapes.
        """
        states, final_state, mask, prior = self.run_encoder(source_ids, training=training)
        features, _ = self.decoder.output_features(
            target_in, states, final_state, source_mask=mask, source_prior=prior,
            sampling_probability=sampling_probability, training=training,
        )  # (batch, target_len, feature_dim)
        if self.needs_static_shapes():
            return self.decoder.head(features, prior, training=training), target_out
        positions = tf.where(target_out != PAD_ID)  # (tokens, 2): (sentence, step)
        features = tf.gather_nd(features, positions)  # (tokens, feature_dim)
        if prior is not None:
            prior = tf.gather(prior, positions[:, 0])  # (tokens, vocab_size)
        logits = self.decoder.head(features, prior, training=training)  # (tokens, vocab_size)
        return logits, tf.gather_nd(target_out, positions)

    def needs_static_shapes(self):
        """True when the train and test steps are compiled with XLA or run on a TPU."""
        return bool(self.jit_compile) or isinstance(
            self.distribute_strategy, tf.distribute.TPUStrategy
        )

    def train_step(self, data):
        (source_ids, target_in), target_out = unpack_batch(data)
        probability = self.current_sampling_probability()
        with tf.GradientTape() as tape:
            logits, labels = self.loss_logits(
                source_ids, target_in, target_out, training=True, sampling_probability=probability
            )
            loss_sum, cross_entropy_sum, token_count = masked_loss_sums(
                labels, logits, label_smoothing=self.label_smoothing
            )
            # Under tf.distribute each replica sees part of the batch and the optimizer
            # sums the replicas' gradients, so each divides by the *global* token count.
            loss = loss_sum / tf.maximum(global_sum(token_count), 1.0)
            scaled_loss = self.optimizer.scale_loss(loss)  # loss scaling for float16
        variables = self.trainable_variables
        gradients = tape.gradient(scaled_loss, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))
        if probability is not None:
            self.sampling_tracker.update_state(probability)
        return self._update_metrics(labels, logits, cross_entropy_sum, token_count)

    def test_step(self, data):
        (source_ids, target_in), target_out = unpack_batch(data)
        logits, labels = self.loss_logits(source_ids, target_in, target_out, training=False)
        _, cross_entropy_sum, token_count = masked_loss_sums(labels, logits)
        return self._update_metrics(labels, logits, cross_entropy_sum, token_count)

    def _update_metrics(self, labels, logits, cross_entropy_sum, token_count):
        # The reported loss is the plain cross-entropy (no label smoothing), so runs
        # with and without smoothing compare.
        correct, _ = masked_correct(labels, logits)
        self.loss_tracker.update_state(cross_entropy_sum, token_count)
        self.accuracy_tracker.update_state(correct, token_count)
        self.token_counter.update_state(token_count)
        results = {m.name: m.result() for m in self.metrics}
        if isinstance(self.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy):
            # Keras averages step outputs over the workers with reduce(MEAN, axis=0),
            # which needs an axis: return each metric as a 1-element vector.
            results = {name: tf.reshape(value, [1]) for name, value in results.items()}
        return results

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras calls this before fit/evaluate/train_on_batch. Its own version builds
        # the model from the first batch only under a tf.distribute strategy (and then
        # reduces that batch over the replicas, which fails on nested batches under
        # MultiWorkerMirroredStrategy); otherwise it leaves building to the first trace
        # of `train_step`, which calls the decoder's `output_features` directly, not
        # through `__call__`, so nothing would build it. Build every weight here,
        # eagerly and under the strategy, from a tiny batch; then the optimizer's.
        with self.distribute_strategy.scope():
            if not (self.built and self.encoder.built and self.decoder.built):
                self.build_with_dummy_batch()
            if self.optimizer is not None and not self.optimizer.built:
                self.optimizer.build(self.trainable_variables)

    @property
    def metrics(self):
        trackers = [self.loss_tracker, self.accuracy_tracker, self.token_counter]
        if self.scheduled_sampling != "none":
            trackers.append(self.sampling_tracker)
        return trackers

    # ------------------------------------------------------------------- inference

    def translate(
        self,
        texts,
        max_length=None,
        method="greedy",
        beam_width=4,
        length_penalty=0.0,
        n_best=1,
        temperature=1.0,
        seed=0,
    ):
        """Translates a batch of sentences.

        Args:
            texts: a str, or a list/tuple/array of str (any length; empty strings and
                unknown words included).
            max_length: int. Maximum number of output tokens. Defaults to
                `max_output_length`.
            method: "greedy" (arg-max each step), "sample" (draw from
                softmax(logits / temperature)) or "beam" (beam search).
            beam_width: int. Beams per sentence for "beam".
            length_penalty: float. GNMT length-penalty exponent alpha for "beam"
                (0: rank by total log-probability).
            n_best: int. Hypotheses returned per sentence for "beam" (<= beam_width).
            temperature: float > 0. For "sample".
            seed: int. For "sample": the same seed draws the same translations.

        Returns:
            dict of NumPy arrays: `text` `(batch,)` str; `tokens` `(batch, target_len)`
            str, "" as padding; `token_ids` `(batch, target_len)`; `attention`
            `(batch, target_len, source_len)`; `source_tokens` `(batch, source_len)` str,
            with the `[START]`/`[END]` markers the encoder saw; and `score`
            `(batch,)`, the total log-probability of each output. For "beam" also
            `n_best_text` `(batch, n_best)` and `n_best_score` `(batch, n_best)`, best
            first (ranked with the length penalty; `score` is the best's raw
            log-probability).

        Raises:
            TypeError: if `texts` holds anything but strings.
            ValueError: for an unknown method or out-of-range settings.
        """
        texts = tf.constant(decoding.as_string_batch(texts), tf.string)
        if not self.decoder.built:  # a fresh model: create its weights before decoding
            self.build_with_dummy_batch()
        if max_length is None:
            max_length = self.max_output_length
        if int(max_length) < 0:
            raise ValueError(f"max_length must be >= 0, got {max_length}")
        max_length = tf.constant(max_length, tf.int32)
        if method == "greedy":
            outputs = self._translate_graph(texts, max_length)
        elif method == "sample":
            if not temperature > 0:
                raise ValueError(f"temperature must be > 0, got {temperature}")
            outputs = self._sample_graph(
                texts, max_length, tf.constant(temperature, tf.float32), tf.constant(seed, tf.int32)
            )
        elif method == "beam":
            if not 1 <= n_best <= beam_width:
                raise ValueError(f"need 1 <= n_best <= beam_width, got {n_best} and {beam_width}")
            outputs = self._beam_graph(
                texts, max_length, tf.constant(beam_width, tf.int32),
                tf.constant(length_penalty, tf.float32), tf.constant(n_best, tf.int32),
            )
        else:
            raise ValueError(f"unknown decoding method {method!r}; choose one of {DECODING_METHODS}")
        return decoding.to_numpy(outputs)

    def _describe(self, texts, source_ids, result):
        attention = self.source_order(result.attention, source_ids)
        return decoding.describe(
            self.target_vocabulary,
            self.source_tokens(texts),
            result._replace(attention=attention),
            join=self.detokenize,
        )

    def detokenize(self, tokens):
        """str tokens `(batch, len)`, "" padding -> `(batch,)` clean text."""
        return detokenize(self.tokenizer, tokens)

    def source_tokens(self, texts):
        """`(batch,)` strings -> str `(batch, source_len)`: the tokens the encoder reads
        between `[START]` and `[END]` (see `nmt_keras.data.tokenizers.source_tokens`)."""
        tokens = tokenizer_source_tokens(self.tokenizer, self.source_vectorizer, texts)
        return with_markers(tokens)

    def _translate(self, texts, max_length):
        source_ids = self.tokenize_source(texts)
        result = decoding.greedy_decode(self, source_ids, max_length)
        return self._describe(texts, source_ids, result)

    def _sample(self, texts, max_length, temperature, seed):
        source_ids = self.tokenize_source(texts)
        result = decoding.sample_decode(self, source_ids, max_length, temperature, seed)
        return self._describe(texts, source_ids, result)

    def _beam(self, texts, max_length, beam_width, length_penalty, n_best):
        source_ids = self.tokenize_source(texts)
        result = beam_search.beam_search(
            self, source_ids, max_length, beam_width, length_penalty, n_best
        )
        outputs = self._describe(texts, source_ids, result.best)
        n_best_tokens = decoding.ids_to_tokens(self.target_vocabulary, result.n_best_ids)
        outputs["n_best_text"] = self.detokenize(n_best_tokens)
        outputs["n_best_score"] = result.n_best_scores
        return outputs

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
            attention=self.attention_type,
            decoder=self.decoder_type,
            input_feeding=self.input_feeding,
            cell=self.cell,
            encoder_layers=self.encoder_layers,
            bidirectional=self.bidirectional,
            reverse_source=self.reverse_source,
            maxout_units=self.maxout_units,
            source_prior=self.source_prior,
            dropout=self.dropout,
            embedding_init=self.embedding_init,
            label_smoothing=self.label_smoothing,
            scheduled_sampling=self.scheduled_sampling,
            sampling_decay=self.sampling_decay,
            max_sampling_probability=self.max_sampling_probability,
            tokenizer=self.tokenizer,
        )
        return config

    def build_with_dummy_batch(self):
        """Creates every weight by running one tiny batch (needed before load_weights)."""
        source, target_in, _ = self.prepare_batch(["x"], ["x"])
        self((source, target_in), training=False)

    def get_build_config(self):
        # `.keras` files: the weights' shapes follow from get_config(), so loading only
        # needs to know whether to create them (see build_from_config).
        return {"built": bool(self.decoder.built)}

    def build_from_config(self, config):
        """Creates the weights before a `.keras` file's values are loaded into them."""
        if config.get("built", False):
            self.build_with_dummy_batch()


def unpack_batch(data):
    """`((source_ids, target_in), target_out)` from what `fit`, `evaluate` or
    `train_on_batch` pass to a step (the latter adds a `None` sample weight)."""
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    if sample_weight is not None:
        raise ValueError(
            "Translator does not take sample weights: every real target token counts once "
            "(padding, PAD_ID, is what is left out)"
        )
    return x, y


def global_sum(value):
    """Sum of `value` over all replicas when running under a `tf.distribute` strategy
    with several replicas; `value` itself otherwise."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value)


def shared_word_ids(source_vocabulary, target_vocabulary):
    """For each source id, the target id of the same word, or -1 (always -1 for the
    special tokens and for words only one side knows)."""
    target_index = {word: i for i, word in enumerate(target_vocabulary)}
    mapping = np.full(len(source_vocabulary), -1, dtype=np.int64)
    for i, word in enumerate(source_vocabulary):
        if i >= NUM_SPECIAL_TOKENS and word in target_index:
            mapping[i] = target_index[word]
    return mapping


def reversal_index(source_ids):
    """Per sentence, the permutation that reverses the words between `[START]` and
    `[END]` and keeps the markers and the padding in place. It is its own inverse.

    Args:
        source_ids: `(batch, source_len)`.

    Returns:
        int `(batch, source_len)`: position p reads position index[p].
    """
    source_len = tf.shape(source_ids)[1]
    lengths = tf.reduce_sum(tf.cast(source_ids != PAD_ID, tf.int32), axis=1)  # [START]..[END]
    positions = tf.range(source_len)[None, :]  # (1, source_len)
    last_word = (lengths - 2)[:, None]  # (batch, 1): index of the last word
    is_word = tf.logical_and(positions >= 1, positions <= last_word)
    return tf.where(is_word, last_word + 1 - positions, positions)


def reverse_words(source_ids):
    """`[START] w1 ... wn [END] pad` -> `[START] wn ... w1 [END] pad` (Sutskever et al.)."""
    return tf.gather(source_ids, reversal_index(source_ids), axis=1, batch_dims=1)


def source_tokens(texts):
    """`(batch,)` strings -> str `(batch, source_len)`: the standardized words the encoder
    reads (unknown words as written, not as `[UNK]`), between `[START]` and `[END]`.
    (Word tokenizer; `Translator.source_tokens` handles every kind.)"""
    return with_markers(tokenizer_source_tokens("word", None, texts))


def with_markers(tokens):
    """Ragged str `(batch, (num_tokens))` -> `(batch, num_tokens + 2)` between
    `[START]` and `[END]`, "" padded."""
    batch = tokens.nrows()
    return tf.concat(
        [tf.fill([batch, 1], START_TOKEN), tokens, tf.fill([batch, 1], END_TOKEN)], axis=1
    ).to_tensor(default_value="")
