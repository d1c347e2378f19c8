"""Tests of tools/synthetic_corpus.py, the generator of the embedded Spanish→English
corpus, and of the committed corpus file against a fresh generation."""

import collections
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from nmt_keras.constants import DIRECTIONS
from nmt_keras.data.corpora import SYNTHETIC_FILE, SentencePair, load_corpus, parse_alignment
from tool_modules import load_tool

REPO_ROOT = Path(__file__).resolve().parent.parent
TOOL_PATH = REPO_ROOT / "tools" / "synthetic_corpus.py"

synthetic = load_tool("synthetic_corpus")
# The generator's names that the tests use unqualified.
BARE = synthetic.BARE
DEFINITE = synthetic.DEFINITE
DEMONSTRATIVE = synthetic.DEMONSTRATIVE
FEMININE = synthetic.FEMININE
FUTURE = synthetic.FUTURE
IMPERATIVE = synthetic.IMPERATIVE
INDEFINITE = synthetic.INDEFINITE
PLURAL = synthetic.PLURAL
PRESENT = synthetic.PRESENT
PRETERITE = synthetic.PRETERITE
Clause = synthetic.Clause
Verb = synthetic.Verb
noun_phrase = synthetic.noun_phrase

VERBS = {verb.infinitive: verb for verb in synthetic.VERBS}
NOUNS = {noun.spanish: noun for noun in synthetic.NOUNS}
ADJECTIVES = {adjective.forms[0]: adjective for adjective in synthetic.ADJECTIVES}
PRONOUNS = {pronoun.spanish: pronoun for pronoun in synthetic.PRONOUNS}
ADVERBS = {adverb.spanish: adverb for adverb in synthetic.ADVERBS}
CONJUNCTIONS = {c.spanish: c for c in synthetic.CONJUNCTIONS}

# Expected ranges of the default corpus (see the module docstring and data/README.md).
MIN_MEAN_ENGLISH_TOKENS, MAX_MEAN_ENGLISH_TOKENS = 10, 13
MIN_LONG_SHARE = 0.10
SPANISH_VOCABULARY = (300, 600)
ENGLISH_VOCABULARY = (200, 450)
MIN_TYPE_COUNT = 10
# Minimum shares of pairs showing each phenomenon.
MIN_SHARES = {
    "adjective crossing": 0.2,
    "question": 0.08,
    "command": 0.03,
    "negation": 0.15,
    "digits": 0.05,
    "number word": 0.05,
    "personal a": 0.1,
    "al": 0.01,
    "dropped pronoun": 0.1,
    "pero or porque": 0.2,
    "future": 0.2,
    "name": 0.2,
    "time adverb": 0.2,
    "preposition": 0.2,
}
SMALL = 300  # pairs, for tests that do not need the whole corpus


@pytest.fixture(scope="module")
def corpus():
    return synthetic.generate_corpus()


@pytest.fixture(scope="module")
def stripped(corpus):
    """(Spanish, English) token tuples of every pair, accents stripped."""
    strip = synthetic.strip_accents
    return [
        (tuple(strip(t) for t in es), tuple(strip(t) for t in en))
        for es, en in zip(corpus.spanish_tokens, corpus.english_tokens)
    ]


def words(phrase_words):
    return " ".join(w.text for w in phrase_words)


def realize(sentence):
    pair = synthetic.make_pair(*sentence)
    return pair.spanish, pair.english, synthetic.format_alignment(pair.alignment)


# ----------------------------------------------------------------------------------
# Determinism and freshness
# ----------------------------------------------------------------------------------


def test_same_seed_gives_same_pairs_and_other_seed_other_pairs():
    first = synthetic.generate_pairs(SMALL, seed=5)
    assert first == synthetic.generate_pairs(SMALL, seed=5)
    assert first != synthetic.generate_pairs(SMALL, seed=6)
    assert len(first) == SMALL


def test_a_shorter_corpus_is_a_prefix_of_a_longer_one():
    assert synthetic.generate_pairs(SMALL) == synthetic.generate_pairs(2 * SMALL)[:SMALL]


def test_committed_tsv_is_fresh(corpus):
    assert synthetic.DEFAULT_PATH == REPO_ROOT / "nmt_keras" / "data" / SYNTHETIC_FILE
    committed = synthetic.DEFAULT_PATH.read_bytes()
    assert committed == synthetic.format_tsv(corpus.pairs).encode("utf-8"), (
        "nmt_keras/data/spa_eng_synthetic.tsv is stale: run `python tools/synthetic_corpus.py`"
    )


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_load_corpus_gives_the_generated_pairs(corpus, direction):
    """The embedded corpus, read from the package file, is the generator's output:
    same pairs in the same order, alignments sorted and, from English, flipped."""
    if direction == "to-english":
        expected = tuple(SentencePair(p.spanish, p.english, tuple(sorted(p.alignment)))
                         for p in corpus.pairs)
    else:
        expected = tuple(
            SentencePair(p.english, p.spanish, tuple(sorted((j, i) for i, j in p.alignment)))
            for p in corpus.pairs
        )
    assert load_corpus("synthetic", direction).pairs == expected


def test_tsv_layout(corpus):
    text = synthetic.format_tsv(corpus.pairs[:SMALL])
    assert "\r" not in text and text.endswith("\n")
    lines = text.split("\n")[:-1]
    assert len(lines) == SMALL
    for line, pair in zip(lines, corpus.pairs):
        english, spanish, alignment = line.split("\t")
        assert (english, spanish) == (pair.english, pair.spanish)
        assert parse_alignment(alignment) == pair.alignment


def test_write_tsv_writes_format_tsv(tmp_path):
    pairs = synthetic.generate_pairs(SMALL, seed=3)
    path = tmp_path / "out.tsv"
    synthetic.write_tsv(pairs, path)
    assert path.read_bytes() == synthetic.format_tsv(pairs).encode("utf-8")


def test_cli_writes_format_tsv(tmp_path, capsys):
    # `python tools/synthetic_corpus.py ...` calls `main()`; `test_runs_as_a_script` runs
    # it as a program once.
    path = tmp_path / "sub" / "corpus.tsv"
    synthetic.main(["--output", str(path), "--num-pairs", "40", "--seed", "11"])
    assert path.read_text(encoding="utf-8") == synthetic.format_tsv(
        synthetic.generate_pairs(40, seed=11))
    printed = capsys.readouterr().out
    assert "40 pairs" in printed and str(path) in printed


def test_main_rejects_a_non_positive_size(tmp_path):
    with pytest.raises(SystemExit):
        synthetic.main(["--output", str(tmp_path / "x.tsv"), "--num-pairs", "0"])


def test_runs_as_a_script_on_the_standard_library_alone(tmp_path):
    # -I -S: no PYTHONPATH, no site-packages, so neither nmt_keras nor any other
    # installed package can be imported.
    path = tmp_path / "corpus.tsv"
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(TOOL_PATH), "--output", str(path),
         "--num-pairs", "40", "--seed", "11"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    )
    assert path.read_bytes() == synthetic.format_tsv(
        synthetic.generate_pairs(40, seed=11)).encode("utf-8")
    assert "wrote 40 pairs" in done.stdout


# ----------------------------------------------------------------------------------
# Size, distinctness, translation determinism
# ----------------------------------------------------------------------------------


def test_default_corpus_has_the_requested_number_of_distinct_pairs(corpus):
    pairs = corpus.pairs
    assert len(pairs) == synthetic.DEFAULT_NUM_PAIRS >= 50_000
    assert len({(p.spanish, p.english) for p in pairs}) == len(pairs)
    assert len(corpus.spanish_tokens) == len(corpus.english_tokens) == len(pairs)


def test_no_spanish_sentence_has_two_translations(corpus, stripped):
    # The grammar never produced a conflicting pair (not even one later rejected) ...
    assert corpus.conflicts == 0
    # ... and in the corpus, each Spanish sentence, as rendered and as the model sees it
    # (lower-cased, accents stripped), has exactly one English translation.
    for keys in ([p.spanish for p in corpus.pairs], [es for es, _ in stripped]):
        translations = collections.defaultdict(set)
        for key, pair in zip(keys, corpus.pairs):
            translations[key].add(pair.english)
        assert max(len(t) for t in translations.values()) == 1


def test_conflicting_and_duplicate_pairs_are_rejected(monkeypatch):
    # A broken grammar that translates "uno" two ways: the generator keeps the first
    # translation, rejects the other one as a conflict, and the repeat as a duplicate.
    sentences = iter([("uno", "one"), ("uno", "two"), ("uno", "one"), ("dos", "three")])

    def fake_sentence(rng):
        phrase = synthetic.word_pair(*next(sentences)) + synthetic.word_pair(".", ".")
        return phrase.spanish, phrase.english

    monkeypatch.setattr(synthetic, "sample_sentence", fake_sentence)
    corpus = synthetic.generate_corpus(2, seed=0)
    assert [(p.spanish, p.english) for p in corpus.pairs] == [("Uno.", "One."),
                                                              ("Dos.", "Three.")]
    assert (corpus.conflicts, corpus.duplicates) == (1, 1)


# ----------------------------------------------------------------------------------
# Lengths and vocabulary
# ----------------------------------------------------------------------------------


def test_english_lengths(corpus):
    lengths = [len(tokens) for tokens in corpus.english_tokens]
    assert min(lengths) >= synthetic.MIN_ENGLISH_TOKENS == 2
    assert max(lengths) <= synthetic.MAX_ENGLISH_TOKENS == 30
    assert MIN_MEAN_ENGLISH_TOKENS <= statistics.mean(lengths) <= MAX_MEAN_ENGLISH_TOKENS
    long_share = sum(n >= synthetic.LONG_SENTENCE_TOKENS for n in lengths) / len(lengths)
    assert long_share >= MIN_LONG_SHARE


@pytest.mark.parametrize("side, bounds", [(0, SPANISH_VOCABULARY), (1, ENGLISH_VOCABULARY)])
def test_vocabulary_size_and_every_type_is_frequent(stripped, side, bounds):
    counts = collections.Counter(token for pair in stripped for token in pair[side])
    low, high = bounds
    assert low <= len(counts) <= high
    rare = {token: n for token, n in counts.items() if n < MIN_TYPE_COUNT}
    assert not rare


def test_every_spanish_word_of_the_lexicon_occurs(stripped):
    # (A cell left out by `usable_cells` is spelled like the cell that was kept.)
    spanish = {token for es, _ in stripped for token in es}
    lexicon = {synthetic.strip_accents(form) for form, _ in synthetic.lexicon_entries()}
    assert lexicon - spanish == set()


# ----------------------------------------------------------------------------------
# Tokens agree with the project's standardizer
# ----------------------------------------------------------------------------------


def test_tokens_match_the_standardizer_for_every_pair(corpus, stripped):
    from nmt_keras.data.tokenizers import standardize_texts

    texts = [p.spanish for p in corpus.pairs] + [p.english for p in corpus.pairs]
    expected = [es for es, _ in stripped] + [en for _, en in stripped]
    batch = 10_000
    for start in range(0, len(texts), batch):
        standardized = standardize_texts(texts[start : start + batch])
        for text, line, tokens in zip(texts[start:], standardized, expected[start:]):
            assert tuple(line.split()) == tokens, text


def test_rendering_capitalizes_and_attaches_punctuation(corpus):
    names = set(synthetic.NAMES)
    for pair in corpus.pairs:
        for text in (pair.spanish, pair.english):
            assert text.lstrip("¿¡")[0] == text.lstrip("¿¡")[0].upper()
            assert not any(f" {mark}" in text for mark in "?!.,")
            assert not any(f"{mark} " in text for mark in "¿¡")
            for word in text.split():
                word = word.strip("¿¡?!.,")
                if word.lower() in names or word.lower() == "i" and text is pair.english:
                    assert word[0].isupper(), text
            # Anything else is capitalized only as the sentence's first word.
            for word in text.split()[1:]:
                word = word.strip("¿¡?!.,")
                if word.lower() not in names and word != "I":
                    assert word == word.lower(), (word, text)
    assert any("Lucía" in p.spanish and "Lucía" in p.english for p in corpus.pairs)


# ----------------------------------------------------------------------------------
# Alignments
# ----------------------------------------------------------------------------------


def test_alignments_are_in_range_sorted_complete_and_round_trip(corpus, stripped):
    unaligned_spanish = collections.Counter()
    for pair, (es, en) in zip(corpus.pairs, stripped):
        alignment = pair.alignment
        assert list(alignment) == sorted(set(alignment))
        assert all(0 <= i < len(es) and 0 <= j < len(en) for i, j in alignment)
        assert parse_alignment(synthetic.format_alignment(alignment)) == alignment
        # Every English token is aligned.
        assert {j for _, j in alignment} == set(range(len(en))), pair
        aligned = {i for i, _ in alignment}
        unaligned_spanish.update(es[i] for i in range(len(es)) if i not in aligned)
    # Only "¿", "¡" and the personal "a" are left unaligned.
    assert set(unaligned_spanish) <= {"¿", "¡", "a"}


def test_format_alignment():
    assert synthetic.format_alignment(((0, 1), (1, 0), (2, 2))) == "0-1 1-0 2-2"
    assert synthetic.format_alignment(()) == ""
    assert parse_alignment("") == ()


# ----------------------------------------------------------------------------------
# Hand-checked examples
# ----------------------------------------------------------------------------------


def test_noun_phrases_agree_and_put_the_adjective_first_in_english():
    cases = [
        ((NOUNS["gato"], DEFINITE, "singular", ADJECTIVES["negro"]), "el gato negro",
         "the black cat", [(0, 0), (1, 2), (2, 1)]),
        ((NOUNS["casa"], DEMONSTRATIVE, PLURAL, ADJECTIVES["blanco"]), "estas casas blancas",
         "these white houses", [(0, 0), (1, 2), (2, 1)]),
        ((NOUNS["mujer"], DEFINITE, PLURAL, ADJECTIVES["feliz"]), "las mujeres felices",
         "the happy women", [(0, 0), (1, 2), (2, 1)]),
        ((NOUNS["paraguas"], DEFINITE, PLURAL, ADJECTIVES["rojo"]), "los paraguas rojos",
         "the red umbrellas", [(0, 0), (1, 2), (2, 1)]),
        ((NOUNS["gato"], INDEFINITE, "singular", ADJECTIVES["viejo"]), "un gato viejo",
         "an old cat", [(0, 0), (1, 2), (2, 1)]),
        ((NOUNS["elefante"], INDEFINITE), "un elefante", "an elephant", [(0, 0), (1, 1)]),
        ((NOUNS["manzana"], INDEFINITE), "una manzana", "an apple", [(0, 0), (1, 1)]),
        ((NOUNS["manzana"], INDEFINITE, PLURAL), "unas manzanas", "some apples",
         [(0, 0), (1, 1)]),
        ((NOUNS["ratón"], BARE, PLURAL), "ratones", "mice", [(0, 0)]),
        ((NOUNS["leche"], BARE), "leche", "milk", [(0, 0)]),
    ]
    for args, spanish, english, links in cases:
        phrase = noun_phrase(*args)
        assert (words(phrase.spanish), words(phrase.english)) == (spanish, english)
        assert list(synthetic.alignment_of(phrase.spanish, phrase.english)) == links
    artist = noun_phrase(NOUNS["artista"], DEFINITE, adjective=ADJECTIVES["joven"],
                         gender=FEMININE)
    assert (words(artist.spanish), words(artist.english)) == ("la artista joven",
                                                               "the young artist")
    three = noun_phrase(NOUNS["gato"], synthetic.NUMBER_WORD, quantity=3)
    assert (words(three.spanish), words(three.english)) == ("tres gatos", "three cats")
    digits = noun_phrase(NOUNS["gato"], synthetic.DIGITS, quantity=15)
    assert (words(digits.spanish), words(digits.english)) == ("15 gatos", "15 cats")


def test_statement_with_third_person_present():
    clause = Clause(VERBS["comer"], PRESENT, "3sg",
                    noun_phrase(NOUNS["gato"], DEFINITE, adjective=ADJECTIVES["negro"]),
                    obj=noun_phrase(NOUNS["pescado"], BARE))
    assert realize(synthetic.statement(clause)) == (
        "El gato negro come pescado.", "The black cat eats fish.", "0-0 1-2 2-1 3-3 4-4 5-5")


def test_question_with_preterite_and_adverb():
    clause = Clause(VERBS["comer"], PRETERITE, "3sg",
                    noun_phrase(NOUNS["gato"], DEFINITE, adjective=ADJECTIVES["negro"]),
                    obj=noun_phrase(NOUNS["pescado"], BARE), adverb=ADVERBS["ayer"])
    assert realize(synthetic.question(clause)) == (
        "¿Comió el gato negro pescado ayer?", "Did the black cat eat fish yesterday?",
        "1-0 1-4 2-1 3-3 4-2 5-5 6-6 7-7")


def test_question_with_dropped_tu_and_future():
    clause = Clause(VERBS["leer"], FUTURE, "2sg",
                    synthetic.pronoun_phrase(PRONOUNS["tú"]), drop_subject=True,
                    obj=noun_phrase(NOUNS["libro"], DEFINITE))
    assert realize(synthetic.question(clause)) == (
        "¿Leerás el libro?", "Will you read the book?", "1-0 1-1 1-2 2-3 3-4 4-5")


def test_negation_dropped_yo_and_personal_a():
    yo = synthetic.pronoun_phrase(PRONOUNS["yo"])
    clause = Clause(VERBS["ver"], PRESENT, "1sg", yo, drop_subject=True, negated=True,
                    obj=noun_phrase(NOUNS["niño"], DEFINITE))
    # "al" aligns to "the"; the dropped "yo" makes "I" align to the verb.
    assert realize(synthetic.statement(clause)) == (
        "No veo al niño.", "I do not see the child.", "0-2 1-0 1-1 1-3 2-4 3-5 4-6")
    clause = Clause(VERBS["ver"], PRESENT, "1sg", synthetic.pronoun_phrase(PRONOUNS["yo"]),
                    drop_subject=True, obj=noun_phrase(NOUNS["mujer"], DEFINITE))
    # The personal "a" (index 1) is unaligned.
    assert realize(synthetic.statement(clause)) == (
        "Veo a la mujer.", "I see the woman.", "0-0 0-1 2-2 3-3 4-4")
    clause = Clause(VERBS["escuchar"], PRETERITE, "3sg",
                    synthetic.pronoun_phrase(PRONOUNS["ella"]), negated=True,
                    obj=synthetic.name_phrase("lucía"))
    assert realize(synthetic.statement(clause)) == (
        "Ella no escuchó a Lucía.", "She did not listen to Lucía.",
        "0-0 1-2 2-1 2-3 2-4 4-5 5-6")


def test_command():
    clause = Clause(VERBS["comer"], IMPERATIVE, "2sg",
                    obj=noun_phrase(NOUNS["pan"], DEFINITE))
    assert realize(synthetic.command(clause)) == (
        "¡Come el pan!", "Eat the bread!", "1-0 2-1 3-2 4-3")
    clause = Clause(VERBS["correr"], IMPERATIVE, "2sg")
    assert realize(synthetic.command(clause)) == ("¡Corre!", "Run!", "1-0 2-1")


def test_compound_with_coordinated_subject_digits_and_fronted_adverb():
    subject = synthetic.coordinated(noun_phrase(NOUNS["gato"], DEFINITE),
                                    noun_phrase(NOUNS["perro"], DEFINITE))
    first = Clause(VERBS["buscar"], PRESENT, subject.person, subject,
                   obj=noun_phrase(NOUNS["ratón"], synthetic.DIGITS, quantity=15))
    second = Clause(VERBS["dormir"], FUTURE, "3sg", synthetic.name_phrase("lucía"),
                    negated=True, adverb=ADVERBS["mañana"], adverb_first=True)
    assert realize(synthetic.compound(first, CONJUNCTIONS["pero"], second)) == (
        "El gato y el perro buscan 15 ratones, pero mañana Lucía no dormirá.",
        "The cat and the dog look for 15 mice, but Lucía will not sleep tomorrow.",
        "0-0 1-1 2-2 3-3 4-4 5-5 5-6 6-7 7-8 8-9 9-10 10-15 11-11 12-13 13-12 13-14 14-16",
    )


# ----------------------------------------------------------------------------------
# Phenomena in the default corpus
# ----------------------------------------------------------------------------------


def _share(flags):
    flags = list(flags)
    return sum(flags) / len(flags)


def test_every_phenomenon_is_frequent(corpus, stripped):
    adjectives = {synthetic.strip_accents(f) for a in synthetic.ADJECTIVES for f in a.forms}
    number_words = {es for es, _ in synthetic.NUMBER_WORDS.values()}

    def crossing(pair, es):
        links = set(pair.alignment)
        return any(es[i] in adjectives and (i - 1, j + 1) in links for i, j in links)

    def dropped(pair, es, en):
        return any(en[j] in ("i", "you", "we") and es[i] not in ("yo", "tu", "nosotros")
                   for i, j in pair.alignment)

    checks = {
        "adjective crossing": lambda p, es, en: crossing(p, es),
        "question": lambda p, es, en: es[0] == "¿",
        "command": lambda p, es, en: es[0] == "¡",
        "negation": lambda p, es, en: "no" in es,
        "digits": lambda p, es, en: any(t.isdigit() for t in es),
        "number word": lambda p, es, en: bool(number_words & set(es)),
        "personal a": lambda p, es, en: "a" in es,
        "al": lambda p, es, en: "al" in es,
        "dropped pronoun": dropped,
        "pero or porque": lambda p, es, en: bool({"pero", "porque"} & set(es)),
        "future": lambda p, es, en: "will" in en,
        "name": lambda p, es, en: bool(set(map(synthetic.strip_accents, synthetic.NAMES))
                                       & set(es)),
        "time adverb": lambda p, es, en: bool({"ayer", "hoy", "manana"} & set(es)),
        "preposition": lambda p, es, en: bool({"en", "con"} & set(es)),
    }
    assert set(checks) == set(MIN_SHARES)
    for name, check in checks.items():
        share = _share(check(p, es, en) for p, (es, en) in zip(corpus.pairs, stripped))
        assert share >= MIN_SHARES[name], (name, share)


def test_questions_and_commands_are_punctuated(corpus, stripped):
    auxiliaries = ("do", "does", "did", "will")
    for pair, (es, en) in zip(corpus.pairs, stripped):
        if es[0] == "¿":
            assert pair.spanish.startswith("¿") and pair.spanish.endswith("?")
            assert pair.english.endswith("?") and en[0] in auxiliaries
            assert all(i != 0 for i, _ in pair.alignment)  # "¿" is unaligned
            assert (len(es) - 1, len(en) - 1) in pair.alignment
        elif es[0] == "¡":
            assert pair.spanish.endswith("!") and pair.english.endswith("!")
        else:
            assert pair.spanish.endswith(".") and pair.english.endswith(".")


def test_negation_uses_do_support(corpus, stripped):
    base_forms = {verb.english[0] for verb in synthetic.VERBS}
    seen = collections.Counter()
    for pair, (es, en) in zip(corpus.pairs, stripped):
        links = collections.defaultdict(set)
        for i, j in pair.alignment:
            links[i].add(j)
        for i, token in enumerate(es):
            if token == "no":
                (j,) = links[i]
                assert en[j] == "not"
                seen[en[j - 1]] += 1
                assert en[j - 1] in ("do", "does", "did", "will")
                assert en[j + 1] in base_forms
    assert min(seen[aux] for aux in ("do", "does", "did", "will")) > 0


def test_digits_are_copied_and_aligned_to_themselves(corpus, stripped):
    count = 0
    for pair, (es, en) in zip(corpus.pairs, stripped):
        for i, j in pair.alignment:
            if es[i].isdigit() or en[j].isdigit():
                assert es[i] == en[j] and 11 <= int(es[i]) <= 99
                count += 1
        assert sum(t.isdigit() for t in es) == sum(t.isdigit() for t in en)
    assert count > 0


def test_a_or_an_by_the_next_words_first_letter(stripped):
    count = collections.Counter()
    for _, en in stripped:
        for token, following in zip(en, en[1:]):
            if token in ("a", "an"):
                assert token == ("an" if following[0] in "aeiou" else "a"), en
                count[token] += 1
    assert count["a"] > 0 and count["an"] > 0


def test_personal_a_is_unaligned_and_al_aligns_to_the(corpus, stripped):
    for pair, (es, en) in zip(corpus.pairs, stripped):
        for i, j in pair.alignment:
            assert es[i] != "a"
            if es[i] == "al":
                assert en[j] == "the"


def test_third_person_pronouns_are_never_dropped(corpus, stripped):
    sources = {"he": {"el"}, "she": {"ella"}, "they": {"ellos", "ellas"}}
    for pair, (es, en) in zip(corpus.pairs, stripped):
        for i, j in pair.alignment:
            if en[j] in sources:
                assert es[i] in sources[en[j]], pair


def test_time_adverbs_agree_with_the_tense(corpus, stripped):
    # English puts the adverb last in its clause, so the nearest English word before it
    # that is aligned to a Spanish verb form belongs to its clause; every English word
    # aligned to that verb form is its verb group ("did ... eat", "will eat", "ate").
    verb_forms = {synthetic.strip_accents(verb.form(*cell))
                  for verb in synthetic.VERBS for cell in verb.cells()}
    markers = {"yesterday": {"did"} | {verb.english[2] for verb in synthetic.VERBS},
               "tomorrow": {"will"}}
    count = 0
    for pair, (es, en) in zip(corpus.pairs, stripped):
        if es[0] == "¡":
            continue  # commands: "¡Come el pan mañana!"
        verb_of = {j: i for i, j in pair.alignment if es[i] in verb_forms}
        for j, token in enumerate(en):
            if token in markers:
                verb = verb_of[max(k for k in verb_of if k < j)]
                group = {en[k] for k, i in verb_of.items() if i == verb}
                assert markers[token] & group, pair
                count += 1
    assert count > 0


def test_conjunctions_join_clauses_with_a_comma_before_but(corpus):
    counts = collections.Counter()
    for pair in corpus.pairs:
        if " pero " in pair.spanish:
            assert ", pero " in pair.spanish and ", but " in pair.english
            counts["pero"] += 1
        if " porque " in pair.spanish:
            assert " because " in pair.english
            counts["porque"] += 1
    assert counts["pero"] > 0 and counts["porque"] > 0


def test_generated_clauses_respect_the_grammar():
    import random

    rng = random.Random(1)
    for shape in ("statement", "question", "command") * 500:
        clause = synthetic.sample_clause(rng, shape)
        verb = clause.verb
        assert bool(clause.obj) == bool(verb.objects)
        assert (clause.tense, clause.person) in synthetic.USABLE_CELLS[verb.infinitive]
        if clause.drop_subject:
            assert clause.person in synthetic.DROPPABLE_PERSONS
        if clause.adverb is not None:
            assert clause.tense in clause.adverb.tenses
        assert (shape == "command") == (clause.tense == IMPERATIVE)
        assert not clause.negated or shape == "statement"


# ----------------------------------------------------------------------------------
# The lexicon cannot make a translation ambiguous
# ----------------------------------------------------------------------------------


def test_lexicon_has_no_ambiguity():
    assert synthetic.conjugation_clashes(synthetic.VERBS,
                                         cells_of=synthetic.usable_cells) == []
    assert synthetic.lexicon_homographs() == {}
    synthetic.check_lexicon()


def test_usable_cells_keep_the_present_of_clashing_nosotros_forms():
    buscar = VERBS["buscar"]
    assert buscar.form(PRESENT, "1pl") == buscar.form(PRETERITE, "1pl") == "buscamos"
    assert (PRESENT, "1pl") in synthetic.usable_cells(buscar)
    assert (PRETERITE, "1pl") not in synthetic.usable_cells(buscar)
    # -er verbs have distinct forms: nothing is left out.
    assert synthetic.usable_cells(VERBS["comer"]) == VERBS["comer"].cells()


def _toy_verb(infinitive, present, preterite, future="x1 x2 x3 x4 x5", imperative=None):
    return Verb(infinitive, tuple(present.split()), tuple(preterite.split()),
                tuple(future.split()), imperative, ("toy", "toys", "toyed"), None, (), ())


def test_clash_check_catches_a_deliberately_clashing_table():
    # "-ar" verb: nosotros present == preterite.
    hablar = _toy_verb("hablar", "hablo hablas habla hablamos hablan",
                       "hablé hablaste habló hablamos hablaron",
                       "hablaré hablarás hablará hablaremos hablarán")
    clashes = synthetic.conjugation_clashes([hablar])
    assert [(c.form, c.first, c.second) for c in clashes] == [
        ("hablamos", ("hablar", PRESENT, "1pl"), ("hablar", PRETERITE, "1pl"))]
    # "hablo" (yo) and "habló" (él) do not clash: "él" is never dropped.
    # Two droppable persons sharing a form do ("comí" as yo and tú, accents stripped).
    toy = _toy_verb("toy", "a1 a2 a3 a4 a5", "comí comi b3 b4 b5")
    assert [c.form for c in synthetic.conjugation_clashes([toy])] == ["comi"]
    # Two verbs sharing a form clash too.
    other = _toy_verb("otro", "a1 y2 y3 y4 y5", "z1 z2 z3 z4 z5", "w1 w2 w3 w4 w5")
    assert [(c.form, c.first[0], c.second[0])
            for c in synthetic.conjugation_clashes([toy, other])
            if c.first[0] != c.second[0]] == [("a1", "toy", "otro")]
    assert len(synthetic.conjugation_clashes([hablar, other])) == 1


def test_homograph_check_catches_a_word_in_two_classes(monkeypatch):
    cocina = synthetic.Noun("cocina", "cocinas", FEMININE, "kitchen", "kitchens",
                            (synthetic.PLACE,))
    cocinar = _toy_verb("cocinar", "cocino cocinas cocina cocinamos cocinan",
                        "q1 q2 q3 q4 q5")
    monkeypatch.setattr(synthetic, "NOUNS", synthetic.NOUNS + (cocina,))
    monkeypatch.setattr(synthetic, "VERBS", synthetic.VERBS + (cocinar,))
    found = synthetic.lexicon_homographs()
    assert set(found) == {"cocina", "cocinas"}
    with pytest.raises(ValueError, match="cocina"):
        synthetic.check_lexicon()
