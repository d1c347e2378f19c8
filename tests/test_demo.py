"""The demo pipeline end to end on a shrunken configuration (the real one is `make demo`)."""

import dataclasses
import json

from nmt_keras.config import demo_config
from nmt_keras.data.corpora import SentencePair
from nmt_keras.demo import (
    HANDWRITTEN_SENTENCES,
    crosses,
    pick_examples,
    run_demo,
    summary,
    swaps_neighbours,
)


def test_crosses_and_swaps():
    assert crosses(((0, 0), (1, 2), (2, 1)))
    assert swaps_neighbours(((0, 0), (1, 2), (2, 1)))
    assert not crosses(((0, 0), (1, 1), (2, 2)))
    assert crosses(((0, 2), (1, 0), (2, 1))) and not swaps_neighbours(((0, 2), (1, 0), (2, 1)))


def test_pick_examples_finds_each_kind():
    pairs = [
        SentencePair("A b.", "A b.", ((0, 0), (1, 1), (2, 2))),
        SentencePair("El gato negro.", "The black cat.", ((0, 0), (1, 2), (2, 1), (3, 3))),
        SentencePair("Ayer comí.", "I ate yesterday.", ((0, 2), (1, 0), (1, 1), (2, 3))),
        SentencePair("¿Come?", "Does he eat?", ((1, 0), (1, 2), (2, 3))),
        SentencePair("Uno dos tres cuatro cinco.", "One two three four five.", ((0, 0),)),
    ]
    labels = dict(pick_examples(pairs))
    assert labels["noun_adjective"].source == "El gato negro."
    assert labels["reordering"].source == "Ayer comí."
    assert labels["question"].source == "¿Come?"
    assert labels["long"].source == "Uno dos tres cuatro cinco."


def test_handwritten_sentences_are_new_but_in_vocabulary():
    """The demo's own sentences use only corpus words (bar the deliberate unknown one)
    and are not copies of corpus sentences."""
    from nmt_keras.data.corpora import load_corpus
    from nmt_keras.data.tokenizers import standardize_texts

    sources = [p.source for p in load_corpus("synthetic", "to-english").pairs]
    corpus_sources = set(sources)
    vocabulary = {w for line in standardize_texts(sources) for w in line.split()}
    in_language = [s for s in HANDWRITTEN_SENTENCES if s and "ornitorrinco" not in s]
    assert len(in_language) == 3
    for sentence, line in zip(in_language, standardize_texts(in_language)):
        assert sentence not in corpus_sources
        assert set(line.split()) <= vocabulary, sentence


def test_demo_writes_every_output(tmp_path):
    config = dataclasses.replace(
        demo_config(),
        embedding_dim=8, units=8, epochs=1, batch_size=32, max_train_pairs=256,
        validation_size=64, test_size=64, time_budget=2.0,  # minutes
    )
    report = run_demo(tmp_path, config, verbose=0)
    for name in ("report.json", "history.png", "translations.txt"):
        assert (tmp_path / name).is_file()
    heatmaps = sorted(p.name for p in tmp_path.glob("attention_*.png"))
    assert heatmaps == [
        "attention_long.png", "attention_noun_adjective.png",
        "attention_question.png", "attention_reordering.png",
    ]
    saved = json.loads((tmp_path / "report.json").read_text())
    for key in ("bleu", "chrf", "training_steps", "wall_time_s", "target_tokens_per_second"):
        assert key in saved and saved[key] == report[key]
    assert 0.0 <= saved["alignment_error_rate"] <= 1.0
    assert "outputs written to" in summary(report, tmp_path)
    listing = (tmp_path / "translations.txt").read_text()
    assert listing.count("source:") == 4 + len(HANDWRITTEN_SENTENCES)
