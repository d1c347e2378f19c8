"""`unk_replace`: an `[UNK]` in the output becomes the source word the attention weighs
most (Luong et al. 2015, "Addressing the Rare Word Problem")."""

import keras
import numpy as np
import tensorflow as tf

from nmt_keras.config import Config
from nmt_keras.evaluation import unk_share
from nmt_keras.inference.translator import Translator


def _translator():
    return Translator(["ana", "come", "pan"], ["eats", "bread"], Config(embedding_dim=8, units=8))


def test_each_unknown_token_takes_the_most_attended_source_word():
    translator = _translator()
    outputs = {
        "tokens": tf.constant([["[UNK]", "eats", "[UNK]", ""]]),
        "source_tokens": tf.constant([["[START]", "ana", "come", "zoe", "[END]"]]),
        # step 0 looks at "ana", step 2 at "zoe"; step 3 is padding
        "attention": tf.constant([[[0.0, 0.9, 0.1, 0.0, 0.0], [0.0, 0.1, 0.8, 0.1, 0.0],
                                   [0.1, 0.0, 0.2, 0.6, 0.1], [0.0, 0.0, 0.0, 0.0, 0.0]]]),
        "text": tf.constant(["[UNK] eats [UNK]"]),
    }
    replaced = translator.replace_unknown(outputs)
    assert replaced["tokens"].numpy().astype(str).tolist() == [["ana", "eats", "zoe", ""]]
    assert replaced["text"].numpy().astype(str).tolist() == ["ana eats zoe"]


def test_the_markers_are_never_copied():
    outputs = {
        "tokens": tf.constant([["[UNK]"]]),
        "source_tokens": tf.constant([["[START]", "ana", "[END]", ""]]),
        "attention": tf.constant([[[0.7, 0.1, 0.2, 0.0]]]),  # most on [START]: "ana" wins
        "text": tf.constant(["[UNK]"]),
    }
    assert _translator().replace_unknown(outputs)["text"].numpy().astype(str).tolist() == ["ana"]
    only_markers = dict(outputs, source_tokens=tf.constant([["[START]", "[END]", "", ""]]))
    kept = _translator().replace_unknown(only_markers)
    assert kept["text"].numpy().astype(str).tolist() == ["[UNK]"]


def test_a_trained_model_copies_a_name_it_never_learned():
    """The model learns to copy known names (so its first step attends to the name) and
    to emit `[UNK]` for names outside both vocabularies; `unk_replace` then puts an
    unseen name back."""
    keras.utils.set_random_seed(5)
    names = ["ana", "luis", "xu", "bo"]  # xu and bo: in neither vocabulary
    sources = [f"{name} come pan" for name in names] + [f"come pan {name}" for name in names]
    targets = [f"{name} eats bread" for name in names] * 2
    translator = Translator(
        ["come", "pan", "ana", "luis"], ["eats", "bread", "ana", "luis"],
        Config(embedding_dim=16, units=32),
    )
    translator.model.compile(optimizer=keras.optimizers.Adam(0.02))
    source, target_in, target_out = translator.prepare_batch(sources, targets)
    for _ in range(200):
        translator.model.train_on_batch((source, target_in), target_out)
    assert translator.translate(["luis come pan"])["text"].tolist() == ["luis eats bread"]
    plain = translator.translate(["zoe come pan", "come pan zoe"], unk_replace=False)["text"].tolist()
    assert plain == ["[UNK] eats bread"] * 2
    assert unk_share(plain) == 1.0
    replaced = translator.translate(["zoe come pan", "come pan zoe"], unk_replace=True)["text"].tolist()
    assert replaced == ["zoe eats bread"] * 2
    assert unk_share(replaced) == 0.0
    beam = translator.translate(["zoe come pan"], method="beam", unk_replace=True)
    assert beam["text"].tolist() == ["zoe eats bread"]


def test_unk_share_counts_outputs_not_tokens():
    assert unk_share(["a [UNK] [UNK]", "b", "[UNK] c", "d"]) == 0.5
    assert unk_share([]) == 0.0
    assert np.isclose(unk_share(["x"] * 3 + ["[UNK]"]), 0.25)
