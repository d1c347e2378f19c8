"""Export a `Translator` as a TensorFlow SavedModel that serves text in, text out.

The SavedModel holds the translator's weights, its vocabulary lookup tables and two
serving signatures, each taking a batch of raw sentences (`tf.string`, shape `(batch,)`):

    translate(texts)
        -> text `(batch,)` str, tokens `(batch, target_len)` str ("" as padding),
           attention `(batch, target_len, source_len)` float32, source_tokens
           `(batch, source_len)` str (with the `[START]`/`[END]` markers the encoder
           read), score `(batch,)` float32 (total log-probability), decoded as the
           model's saved settings say (greedy or beam search, `unk_replace`), like
           `Translator.translate` with its defaults.
    translate_beam(texts, beam_width, length_penalty)
        -> texts `(batch, beam_width)` str and scores `(batch, beam_width)` float32, the
           n-best list, best first, ranked by the GNMT length-normalized score; plus
           text `(batch,)` and score `(batch,)` of the best hypothesis (its raw
           log-probability), as `Translator.translate(method="beam")` reports them.

`beam_width` (int32 scalar >= 1) and `length_penalty` (float32 scalar, the GNMT alpha)
are runtime inputs: the beam search takes the width as a tensor, so one graph serves
every width. The maximum output length is the translator's `max_output_length`, fixed
at export time.

Everything happens inside the graph (standardization with tensorflow-text ops, the
vocabulary lookups, decoding, `tf.strings.reduce_join`), so serving needs no Python
from this package: a process that imports only `tensorflow` and `tensorflow_text` (for
the `NormalizeUTF8` op) can load and call it. Unknown words map to `[UNK]`; an empty
batch and empty sentences give empty translations.

The graphs are the translator's own search functions (`Translator.greedy` and
`Translator.beam`, which tokenize with its `tokenize_source`), so the exported model
computes exactly what `Translator.translate` computes, with whatever tokenizer the
translator has.

The SavedModel is written into a temporary directory beside `out_dir`, fsynced, and
put in `out_dir`'s place by a rename (`nmt_keras.atomic.staged_directory`): a failed
or killed export leaves `out_dir` as it was, and `--overwrite` replaces the previous
contents only once the new export is complete.
"""

import os
import pathlib

import keras
import tensorflow as tf

import nmt_keras.atomic as atomic
from nmt_keras.constants import PAD_ID
from nmt_keras.inference.search import SearchResult

# Names of the serving signatures (also the attribute names of the loaded object).
TRANSLATE = "translate"
TRANSLATE_BEAM = "translate_beam"
# Outputs of each signature, in the order they are documented above.
TRANSLATE_OUTPUTS = ("text", "tokens", "attention", "source_tokens", "score")
BEAM_OUTPUTS = ("texts", "scores", "text", "score")

TEXTS_SPEC = tf.TensorSpec([None], tf.string, name="texts")  # (batch,) sentences
BEAM_WIDTH_SPEC = tf.TensorSpec([], tf.int32, name="beam_width")
LENGTH_PENALTY_SPEC = tf.TensorSpec([], tf.float32, name="length_penalty")


class ExportError(ValueError):
    """The export destination or the model to export is not usable."""


def _no_translation(translator, texts, source_ids):
    """What decoding gives when no sentence has a word to translate: the same dict as
    `Translator.greedy`, with zero output tokens."""
    batch = tf.shape(source_ids)[0]
    source_len = tf.shape(source_ids)[1]
    nothing = SearchResult(
        token_ids=tf.zeros([batch, 0], tf.int64),
        attention=tf.zeros([batch, 0, source_len], tf.float32),
        score=tf.zeros([batch], tf.float32),
    )
    return translator.outputs(texts, source_ids, nothing)


def _anything_to_translate(source_ids):
    """True if some sentence has a word between its `[START]` and `[END]` markers.

    The decoding loops cannot stack zero steps of output (an empty batch, or a batch of
    empty sentences), so those batches take a shortcut with the same output structure.
    """
    words = tf.reduce_sum(tf.cast(source_ids != PAD_ID, tf.int32), axis=1) - 2  # (batch,)
    return tf.reduce_any(words > 0)


def _translate_fn(translator):
    """`translate(texts)`: the decoding saved with the model, as `Translator.translate`
    does by default (greedy or beam search, and `unk_replace`)."""
    max_length = tf.constant(translator.max_output_length, tf.int32)
    config = translator.config

    block = translator.blocks_repeats()

    def search(texts):
        if config.beam_width == 1:
            outputs = translator.greedy(texts, max_length, block)
        else:
            width, alpha = tf.constant(config.beam_width), tf.constant(config.length_penalty)
            outputs = translator.beam(texts, max_length, block, width, alpha, tf.constant(1))
        outputs = {name: outputs[name] for name in TRANSLATE_OUTPUTS}
        return translator.replace_unknown(outputs) if config.unk_replace else outputs

    def translate(texts):
        source_ids = translator.tokenize_source(texts)  # (batch, source_len)
        outputs = tf.cond(
            _anything_to_translate(source_ids),
            lambda: search(texts),
            lambda: {name: value for name, value in _no_translation(translator, texts, source_ids).items()
                     if name in TRANSLATE_OUTPUTS},
        )
        return {name: outputs[name] for name in TRANSLATE_OUTPUTS}

    return translate


def _translate_beam_fn(translator):
    max_length = tf.constant(translator.max_output_length, tf.int32)

    def translate_beam(texts, beam_width, length_penalty):
        check = tf.debugging.assert_greater_equal(
            beam_width, 1, message="translate_beam: beam_width must be >= 1"
        )
        with tf.control_dependencies([check]):
            source_ids = translator.tokenize_source(texts)  # (batch, source_len)

        def search():
            block = translator.blocks_repeats()
            outputs = translator.beam(texts, max_length, block, beam_width, length_penalty, beam_width)
            n_best_text = outputs["n_best_text"]  # ragged (batch, (beam_width)), all rows full
            if isinstance(n_best_text, tf.RaggedTensor):
                n_best_text = n_best_text.to_tensor(default_value="")
            return n_best_text, outputs["n_best_score"], outputs["text"], outputs["score"]

        def nothing():
            outputs = _no_translation(translator, texts, source_ids)
            batch = tf.shape(source_ids)[0]
            return (
                tf.fill([batch, beam_width], ""),  # (batch, beam_width)
                tf.zeros([batch, beam_width], tf.float32),
                outputs["text"],
                outputs["score"],
            )

        values = tf.cond(_anything_to_translate(source_ids), search, nothing)
        return dict(zip(BEAM_OUTPUTS, values))

    return translate_beam


def export_translator(translator, out_dir, verbose=False):
    """Writes `translator` as a SavedModel with the `translate` and `translate_beam`
    signatures (see the module docstring) into `out_dir`.

    Args:
        translator: a `Translator` (built or not).
        out_dir: str or path. Created, or replaced whole once the export is complete
            (`check_out_dir` says whether it may be).
        verbose: bool. Let Keras print the endpoints and the variables.

    Returns:
        `keras.export.ExportArchive`, the archive that was written.
    """
    archive = keras.export.ExportArchive()
    archive.track(translator)  # the weights and the vocabulary lookup tables
    archive.add_endpoint(TRANSLATE, _translate_fn(translator), input_signature=[TEXTS_SPEC])
    archive.add_endpoint(
        TRANSLATE_BEAM,
        _translate_beam_fn(translator),
        input_signature=[TEXTS_SPEC, BEAM_WIDTH_SPEC, LENGTH_PENALTY_SPEC],
    )
    with atomic.staged_directory(out_dir) as staging:
        archive.write_out(str(staging), verbose=verbose)
    return archive


def _contains(directory, path):
    """True if `path` is `directory` or lies inside it (symbolic links resolved)."""
    directory, path = os.path.realpath(directory), os.path.realpath(path)
    return os.path.commonpath([directory, path]) == directory


def check_out_dir(out_dir, overwrite=False, model_dir=None):
    """Raises `ExportError` unless the export may be written to `out_dir`: not a file,
    a mount point or in an unwritable directory; empty or new unless `overwrite`; and
    never a directory that holds `model_dir`, the model being exported. Removes nothing."""
    out_dir = pathlib.Path(out_dir)
    if model_dir is not None and _contains(out_dir, model_dir):
        raise ExportError(
            f"export destination {out_dir} holds the model directory {model_dir}: the "
            f"export would replace the model; choose another directory"
        )
    problem = atomic.replacement_problem(out_dir)
    if problem:
        raise ExportError(f"export destination {out_dir} {problem}")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise ExportError(
            f"export destination {out_dir} is not empty; choose another directory "
            f"or pass --overwrite to replace its contents"
        )


def describe_signatures(out_dir):
    """One line per serving signature of the SavedModel in `out_dir`: name, inputs,
    outputs (with dtypes and shapes)."""
    loaded = tf.saved_model.load(str(out_dir))
    lines = []
    for name in sorted(loaded.signatures):
        function = loaded.signatures[name]
        inputs = function.structured_input_signature[1]
        outputs = function.structured_outputs
        lines.append(
            f"{name}({_specs(inputs)}) -> {{{_specs(outputs)}}}"
        )
    return lines


def _specs(specs):
    return ", ".join(
        f"{key}: {spec.dtype.name}{list(spec.shape) if spec.shape.rank else '[]'}"
        for key, spec in sorted(specs.items())
    )
