"""`Translator`: text in, text out, around a `Seq2Seq` model.

    translator = Translator(source_words, target_words, Config(units=256))
    translator.model.compile(optimizer="adam")          # a keras.Model: fit, evaluate
    translator.model.fit(dataset)                       # ((source_ids, target_in), target_out)
    translator.translate(["¿Dónde está el gato?"])["text"]

It owns the source and target vectorizers (strings -> token ids, learned word lists),
the search (greedy, sampling, beam) and the detokenizer; the network and its train step
are `translator.model`.
"""

import dataclasses
import warnings

import keras
import numpy as np
import tensorflow as tf

from nmt_keras.config import Config
from nmt_keras.constants import (
    DECODING_METHODS,
    END_ID,
    END_TOKEN,
    PAD_ID,
    PAD_TOKEN,
    QUANTIZATION_MODES,
    START_ID,
    START_TOKEN,
    TRANSLATE_BATCH_SIZE,
    UNK_TOKEN,
)
from nmt_keras.data.tokenizers import add_start_end, vocabulary_of
from nmt_keras.data import tokenizers
from nmt_keras.inference import search
from nmt_keras.model import Seq2Seq, shared_word_ids

# (batch,) sentences, the maximum output length and whether to block repeats: the inputs
# of every search graph.
TEXTS_AND_LENGTH = [
    tf.TensorSpec([None], tf.string), tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.bool),
]


@keras.saving.register_keras_serializable(package="nmt_keras")
class Translator(keras.layers.Layer):
    """A trained (or trainable) `Seq2Seq` with its vocabularies: text in, text out.

    A Keras layer so that its vectorizers and model are tracked, saved (`.keras`) and
    exported as one object; it is not trained itself: `translator.model` is.

    Args:
        source_words: list of str. Source tokens without the special tokens (words,
            word pieces or characters, as `config.tokenizer` says).
        target_words: list of str. Target tokens without the special tokens.
        config: `Config` (the settings saved with a model are used), or None for the
            defaults.
        for_training: bool. The model will be trained: `kernels="auto"` then picks the
            fused CPU kernels (`nmt_keras.model.resolve_kernels`).
        **settings: `Config` fields to override, e.g. `units=16`.

    Example:
    >>> translator = Translator(["el", "gato"], ["the", "cat"], embedding_dim=8, units=16)
    >>> translator.model.compile(optimizer="adam")
    >>> source, target_in, target_out = translator.prepare_batch(["el gato"], ["the cat"])
    >>> translator.model.train_on_batch((source, target_in), target_out)
    >>> translator.translate(["el gato"])["text"]
    """

    def __init__(self, source_words, target_words, config=None, for_training=False, **settings):
        layer_options = {k: settings.pop(k) for k in ("name", "trainable", "dtype") if k in settings}
        super().__init__(**layer_options)
        config = dataclasses.replace(config or Config(), **settings)
        self.config = config
        self.source_words = list(source_words)
        self.target_words = list(target_words)
        self.tokenizer = config.tokenizer
        self.casing = config.casing
        self.max_output_length = config.max_output_length
        self.source_vectorizer, self.target_vectorizer = (
            tokenizers.make_vectorizer(config.tokenizer, tokens, f"{side}_vectorizer", config.casing)
            for side, tokens in (("source", self.source_words), ("target", self.target_words))
        )
        self.source_vocabulary = vocabulary_of(self.source_vectorizer)
        self.target_vocabulary = vocabulary_of(self.target_vectorizer)
        shared = (
            shared_word_ids(self.source_vocabulary, self.target_vocabulary)
            if config.source_prior else None
        )
        self.model = Seq2Seq(
            len(self.source_vocabulary), len(self.target_vocabulary), config, shared, for_training,
            name="seq2seq",
        )
        self.model.build()
        self.built = True
        self.quantization = None  # "int8" once `quantize_weights` has run
        self._make_searches()

    def _make_searches(self):
        """The search graphs, traced once per input signature. autograph=False: their
        loops are explicit tf.while_loops."""
        self.greedy = tf.function(self._greedy, autograph=False, input_signature=TEXTS_AND_LENGTH)
        self.sample = tf.function(
            self._sample, autograph=False,
            input_signature=TEXTS_AND_LENGTH + [
                tf.TensorSpec([], tf.float32),  # temperature
                tf.TensorSpec([], tf.int32),  # seed
            ],
        )
        self.beam = tf.function(
            self._beam, autograph=False,
            input_signature=TEXTS_AND_LENGTH + [
                tf.TensorSpec([], tf.int32),  # beam width
                tf.TensorSpec([], tf.float32),  # length penalty alpha
                tf.TensorSpec([], tf.int32),  # n best
            ],
        )

    def quantize_weights(self, mode):
        """Quantizes the model's weights for translation, with Keras' `Model.quantize`.

        With "int8", every `keras.layers.Embedding` (source and target embeddings) and
        every `keras.layers.Dense` (the output projection and maxout layer, the bridge,
        the attention projections, Luong's W_c) keeps an int8 matrix and a float32
        scale per row (embeddings) or per output column (kernels); a Dense layer also
        quantizes its input to int8 at each call. Everything else stays float32: the
        recurrent cells (GRU or LSTM: Keras has no quantized cell), biases, Bahdanau's
        `v`, Luong's concat `v` and the source prior's weight. The search graphs are
        traced again for the new weights.

        A quantized translator is for translating and exporting, not for training (its
        int8 matrices are not trainable), and is not saved (`save_translator` and
        `save_keras` refuse it): keep the float32 model and quantize when loading
        (`load_translator(model_dir, quantize="int8")`).

        Args:
            mode: str. One of `QUANTIZATION_MODES` ("int8").

        Raises:
            ValueError: an unknown mode, or a translator already quantized.
        """
        if mode not in QUANTIZATION_MODES:
            raise ValueError(f"quantize mode must be one of {QUANTIZATION_MODES}, got {mode!r}")
        if self.quantization is not None:
            raise ValueError(f"this translator is already quantized ({self.quantization})")
        with warnings.catch_warnings():
            # Keras warns for every layer it leaves float (cells, dropout), and NumPy 2
            # about Keras' `__array__` while the weights are converted.
            warnings.filterwarnings("ignore", message=r"Layer \w+ does not have a `quantize`")
            warnings.filterwarnings("ignore", message=r"__array__ implementation")
            self.model.quantize(mode)
        self.quantization = mode
        self._make_searches()

    # ---------------------------------------------------------------- text <-> ids

    def tokenize_source(self, texts):
        """`(batch,)` strings -> `(batch, source_len)` int64 ids: `[START] words [END]`."""
        return add_start_end(self.source_vectorizer(texts)).to_tensor(default_value=PAD_ID)

    def tokenize_target(self, texts):
        """`(batch,)` strings -> `(target_in, target_out)`, both `(batch, target_len)`:
        `[START] y_1 ... y_m` and `y_1 ... y_m [END]`."""
        ids = add_start_end(self.target_vectorizer(texts))  # ragged (batch, (m + 2))
        return ids[:, :-1].to_tensor(default_value=PAD_ID), ids[:, 1:].to_tensor(default_value=PAD_ID)

    def prepare_batch(self, source_texts, target_texts):
        """Python or tensor strings -> `(source_ids, target_in, target_out)`."""
        source = self.tokenize_source(tf.constant(source_texts, tf.string))
        target_in, target_out = self.tokenize_target(tf.constant(target_texts, tf.string))
        return source, target_in, target_out

    def source_tokens(self, texts):
        """`(batch,)` strings -> str `(batch, source_len)`: the tokens the encoder reads,
        between `[START]` and `[END]`, "" padded."""
        tokens = tokenizers.source_tokens(self.tokenizer, self.source_vectorizer, texts, self.casing)
        batch = tokens.nrows()
        return tf.concat(
            [tf.fill([batch, 1], START_TOKEN), tokens, tf.fill([batch, 1], END_TOKEN)], axis=1
        ).to_tensor(default_value="")

    def detokenize(self, tokens):
        """str tokens `(batch, len)`, "" padding -> `(batch,)` clean text."""
        return tokenizers.detokenize(self.tokenizer, tokens, self.casing)

    def ids_to_tokens(self, token_ids):
        """int `(batch, len)` -> str `(batch, len)`; special ids become "" except [UNK]."""
        tokens = tf.gather(tf.constant(self.target_vocabulary), token_ids)
        special = (token_ids == PAD_ID) | (token_ids == START_ID) | (token_ids == END_ID)
        return tf.where(special, tf.constant(""), tokens)

    # ------------------------------------------------------------------- translation

    def translate(
        self, texts, method=None, beam_width=None, length_penalty=None, unk_replace=None,
        block_repeats=None, n_best=1, temperature=1.0, seed=0, max_length=None,
    ):
        """Translates a batch of sentences.

        The decoding defaults to the one saved with the model (`config.beam_width`,
        `length_penalty`, `unk_replace`, `block_repeats`, which `train` evaluated it with and
        `python -m nmt_keras translate` uses too); each argument overrides its setting.

        Args:
            texts: a str, or a list / tuple / array of str (empty strings and unknown
                words included).
            method: "greedy" (arg-max each step), "sample" (draw from
                softmax(logits / temperature)) or "beam" (beam search). Defaults to
                "beam" when the beam width is above 1, else "greedy".
            beam_width: int. Beams per sentence for "beam".
            length_penalty: float. GNMT length-penalty exponent alpha for "beam".
            unk_replace: bool. Replace each `[UNK]` of the output by the source token
                its attention weighs most (Luong et al. 2015, "Addressing the Rare Word
                Problem"): unknown names and numbers are copied through. For "beam",
                the best hypothesis only.
            block_repeats: bool. Never output a loop (`nmt_keras.inference.search`);
                never applied to characters, which repeat as spelling needs.
            n_best: int. Hypotheses returned per sentence for "beam" (<= beam_width).
            temperature: float > 0. For "sample".
            seed: int. For "sample": the same seed draws the same translations.
            max_length: int. Maximum output tokens. Defaults to `max_output_length`.

        Returns:
            dict of NumPy arrays: `text` `(batch,)` str; `tokens` `(batch, target_len)`
            str, "" as padding; `token_ids`; `attention` `(batch, target_len,
            source_len)`; `source_tokens` `(batch, source_len)` with the `[START]` /
            `[END]` markers; `score` `(batch,)`, the total log-probability of each
            output. For "beam" also `n_best_text` and `n_best_score`
            `(batch, n_best)`, best first (ranked with the length penalty).

        Raises:
            TypeError: if `texts` holds anything but strings.
            ValueError: for an unknown method or out-of-range settings.
        """
        beam_width = self.config.beam_width if beam_width is None else beam_width
        length_penalty = self.config.length_penalty if length_penalty is None else length_penalty
        unk_replace = self.config.unk_replace if unk_replace is None else unk_replace
        block = self.blocks_repeats(block_repeats)
        method = method or ("beam" if beam_width > 1 else "greedy")
        texts = tf.constant(as_string_batch(texts), tf.string)
        max_length = self.max_output_length if max_length is None else int(max_length)
        if max_length < 0:
            raise ValueError(f"max_length must be >= 0, got {max_length}")
        max_length = tf.constant(max_length, tf.int32)
        if method == "greedy":
            outputs = self.greedy(texts, max_length, block)
        elif method == "sample":
            if not temperature > 0:
                raise ValueError(f"temperature must be > 0, got {temperature}")
            outputs = self.sample(
                texts, max_length, block, tf.constant(temperature, tf.float32), tf.constant(seed, tf.int32)
            )
        elif method == "beam":
            if not 1 <= n_best <= beam_width:
                raise ValueError(f"need 1 <= n_best <= beam_width, got {n_best} and {beam_width}")
            outputs = self.beam(
                texts, max_length, block, tf.constant(beam_width, tf.int32),
                tf.constant(length_penalty, tf.float32), tf.constant(n_best, tf.int32),
            )
        else:
            raise ValueError(f"unknown decoding method {method!r}; choose one of {DECODING_METHODS}")
        if unk_replace:
            outputs = self.replace_unknown(outputs)
        return to_numpy(outputs)

    def blocks_repeats(self, block_repeats=None):
        """The bool tensor the searches take: `block_repeats` (None: the saved setting),
        never for character tokens."""
        block = self.config.block_repeats if block_repeats is None else block_repeats
        return tf.constant(bool(block) and self.tokenizer != "char")

    def replace_unknown(self, outputs):
        """`outputs` (a dict as `translate` returns, of tensors) with every `[UNK]`
        output token replaced by the source token it attends to most, `text` rebuilt.

        The `[START]` / `[END]` markers and padding are never chosen; an `[UNK]` whose
        step attends only to them stays `[UNK]`.
        """
        tokens, source = outputs["tokens"], outputs["source_tokens"]  # (batch, T), (batch, S)
        is_word = (source != START_TOKEN) & (source != END_TOKEN) & (source != PAD_TOKEN)
        weights = tf.where(is_word[:, None, :], outputs["attention"], -1.0)  # (batch, T, S)
        attended = tf.gather(source, tf.argmax(weights, axis=-1), batch_dims=1)  # (batch, T)
        found = tf.reduce_max(weights, axis=-1) >= 0.0  # some source word to copy
        replaced = tf.where((tokens == UNK_TOKEN) & found, attended, tokens)
        return {**outputs, "tokens": replaced, "text": self.detokenize(replaced)}

    def outputs(self, texts, source_ids, result):
        """A `search.SearchResult` -> the dict of tensors `translate` returns."""
        tokens = self.ids_to_tokens(result.token_ids)
        return {
            "text": self.detokenize(tokens),
            "tokens": tokens,
            "token_ids": result.token_ids,
            "attention": self.model.source_order(result.attention, source_ids),
            "source_tokens": self.source_tokens(texts),
            "score": result.score,
        }

    def _greedy(self, texts, max_length, block_repeats):
        source_ids = self.tokenize_source(texts)
        result = search.greedy_search(self.model, source_ids, max_length, block_repeats)
        return self.outputs(texts, source_ids, result)

    def _sample(self, texts, max_length, block_repeats, temperature, seed):
        source_ids = self.tokenize_source(texts)
        result = search.sample_search(self.model, source_ids, max_length, temperature, seed, block_repeats)
        return self.outputs(texts, source_ids, result)

    def _beam(self, texts, max_length, block_repeats, beam_width, length_penalty, n_best):
        source_ids = self.tokenize_source(texts)
        result = search.beam_search(
            self.model, source_ids, max_length, beam_width, length_penalty, n_best, block_repeats
        )
        outputs = self.outputs(texts, source_ids, result.best)
        outputs["n_best_text"] = self.detokenize(self.ids_to_tokens(result.n_best_ids))
        outputs["n_best_score"] = result.n_best_scores
        return outputs

    # ----------------------------------------------------------------- serialization

    def get_config(self):
        return {
            **super().get_config(),
            "source_words": list(self.source_words),
            "target_words": list(self.target_words),
            "settings": self.config.saved_settings(),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        settings = Config.from_saved(config.pop("settings"), source="Translator settings")
        layer_options = {k: config[k] for k in ("name", "trainable") if k in config}
        return cls(config["source_words"], config["target_words"], settings, **layer_options)

    # A `.keras` file records how `model` was compiled, so that loading recreates its
    # optimizer and the optimizer's variables are restored with the weights (Keras
    # does this for the saved object itself; the model is a part of it).
    def get_compile_config(self):
        return self.model.get_compile_config()

    def compile_from_config(self, config):
        self.model.compile_from_config(config)


def as_string_batch(texts):
    """Checks user input and returns a list of str; a lone str becomes a batch of one.

    Raises:
        TypeError: naming the position and type of the first item that is not a str.
    """
    if isinstance(texts, (str, bytes)):
        texts = [texts]
    elif isinstance(texts, np.ndarray):
        texts = texts.tolist()
    elif not isinstance(texts, (list, tuple)):
        raise TypeError(
            f"translate() takes a str or a list of str, got {type(texts).__name__}: {texts!r:.60}"
        )
    batch = []
    for index, text in enumerate(texts):
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as error:
                raise TypeError(f"item {index} is bytes that are not UTF-8: {error}") from None
        if not isinstance(text, str):
            raise TypeError(
                f"translate() takes strings; item {index} is {type(text).__name__}: {text!r:.60}"
            )
        batch.append(text)
    return batch


def to_numpy(outputs):
    """A dict of tensors -> NumPy arrays, with strings decoded to str objects."""
    result = {key: value.numpy() for key, value in outputs.items()}
    for key, value in result.items():
        if value.dtype == object:
            result[key] = np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(value)
    return result


def translate_batches(translator, texts, batch_size=TRANSLATE_BATCH_SIZE, **options):
    """Translates any number of sentences in batches; returns one result dict per
    sentence, in input order (each value of `Translator.translate`'s dict, for that
    sentence, batch padding still in place).

    Sentences are sorted by length before batching, so each batch wastes little work on
    padding and its search loop stops early.

    Args:
        options: `Translator.translate` keyword arguments.
    """
    texts = as_string_batch(texts)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i].split()))
    results = [None] * len(texts)
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        translated = translator.translate([texts[i] for i in indices], **options)
        for row, index in enumerate(indices):
            results[index] = {key: value[row] for key, value in translated.items()}
    return results


def translate_all(translator, texts, batch_size=TRANSLATE_BATCH_SIZE, **options):
    """Like `translate_batches`, but only the translations: a list of str."""
    return [result["text"] for result in translate_batches(translator, texts, batch_size, **options)]
