"""A synthetic Spanish→English parallel language with gold word alignments.

    python tools/synthetic_corpus.py        # rewrites nmt_keras/data/spa_eng_synthetic.tsv
    python tools/synthetic_corpus.py --output other.tsv --num-pairs 1000 --seed 7

This generates the project's embedded corpus, the package file that
`nmt_keras.data.corpora.load_corpus("synthetic")` reads. It is generated, in pure Python
(standard library only), from a seed, so it is reproducible byte for byte
(`tests/test_synthetic.py` checks that the committed file equals a fresh generation).
It is small enough to train an attention translator in minutes, yet it contains real
translation phenomena, and each pair carries the gold word alignment against which the
model's attention can be scored.

Determinism
-----------
The English is a *function* of the Spanish: a Spanish sentence (as the model sees it, i.e.
lower-cased with accents stripped) never has two English translations, neither in the
corpus nor in the grammar. Three safeguards:

* the tables avoid words that need context to translate (no usted/ustedes/vosotros, no
  ser/estar, no dropped third-person pronouns, English "you" only ever from "tú");
* `conjugation_clashes` compares every pair of conjugated forms: two forms of a verb that
  are spelled alike but translate differently ("buscamos" = "we look for" / "we looked
  for") are resolved automatically by `usable_cells`, which keeps the cell of the earlier
  tense in `TENSES` only; `lexicon_homographs` rejects a spelling shared by two entries of
  the lexicon ("cocina" the noun and the verb). Both are checked when the module loads;
* the generator itself rejects a pair whose Spanish was already produced with another
  English, and counts such rejections (`Corpus.conflicts`; the tests require zero).

Phenomena
---------
* noun–adjective order: "el gato negro" ↔ "the black cat" (crossing links);
* gender and number agreement of articles, demonstratives and adjectives
  (el/la/los/las, un/una/unos/unas, este/esta/estos/estas; -o/-a/-os/-as and invariable
  adjectives such as grande/grandes, feliz/felices; "la radio", "el/la artista",
  "el/los paraguas"); English the / a / an (by the next word's first letter) / some /
  this / these, irregular plurals (men, women, children, people, mice, sheep);
* subject–verb agreement in the present, preterite and future, for yo, tú, él, ella,
  nosotros, ellos, ellas, names, noun phrases and coordinated subjects ("el gato y el
  perro comen"); English third-person -s; irregular Spanish forms written out in full;
* negation: "no" + verb ↔ do/does/did/will + "not" + base verb;
* dropped subject pronouns, for yo, tú and nosotros only (their verb forms are unique);
* yes/no questions with verb–subject inversion ↔ do-support or "will":
  "¿Come el gato pescado?" ↔ "Does the cat eat fish?";
* tú imperatives: "¡Come el pan!" ↔ "Eat the bread!", "¡Corre!" ↔ "Run!";
* the personal "a" before human objects, contracted "a" + "el" → "al":
  "Veo a la mujer" ↔ "I see the woman";
* number words (dos … diez ↔ two … ten) and digits (11 … 99, copied verbatim);
* proper names, identical in both languages (Ana, Lucía …), as subjects and objects;
* clauses joined by "y" / ", pero" / "porque" ↔ "and" / ", but" / "because";
* time adverbs (ayer ↔ yesterday with the preterite only, mañana ↔ tomorrow with the
  future and commands, hoy ↔ today), first or last in the Spanish clause, always last in
  the English one; prepositional phrases "en la casa" ↔ "in the house", "con el perro" ↔
  "with the dog";
* verbs constrain their subjects (people, or people and animals) and objects (comer takes
  food, beber drinks, leer reading matter, abrir things that open …); intransitive verbs
  take none; English two-word verbs: look for, listen to, come back.

Alignment rules
---------------
Alignments are `(spanish_index, english_index)` pairs over the standardized tokens of
`nmt_keras.data.tokenizers.standardize_texts` (no start/end markers), 0-based, sorted; written in
Pharaoh style "0-1 1-0 2-2" (Spanish first).

* Content words align to their translation (nouns, adjectives, names, numbers, digits,
  pronouns, adverbs, prepositions en/con, conjunctions y/pero/porque).
* The Spanish verb form aligns to every English token of the verb group: the auxiliary
  do/does/did/will, the main verb and its particle ("for", "to", "back").
* "no" ↔ "not".
* Determiners align to determiners (el/la/los/las ↔ the, un/una ↔ a/an, unos/unas ↔ some,
  este/esta ↔ this, estos/estas ↔ these); "al" ↔ "the".
* A dropped Spanish pronoun: the English pronoun aligns to the Spanish verb.
* Punctuation: "?" ↔ "?", "!" ↔ "!", "." ↔ ".", "," ↔ ",".
* Unaligned: the personal "a", "¿" and "¡". Every English token is aligned.

Example (the tokens are those of the standardizer):

    Spanish  ¿Comió el gato negro pescado ayer?
             ¿ comio el gato negro pescado ayer ?
             0 1     2  3    4     5       6    7
    English  Did the black cat eat fish yesterday?
             did the black cat eat fish yesterday ?
             0   1   2     3   4   5    6         7
    Alignment  1-0 1-4 2-1 3-3 4-2 5-5 6-6 7-7
"""

from __future__ import annotations

import argparse
import bisect
import dataclasses
import functools
import itertools
import random
import time
import unicodedata
from pathlib import Path

DEFAULT_SEED = 20261123
DEFAULT_NUM_PAIRS = 50_000
# The package file of the embedded corpus (`nmt_keras.data.corpora.SYNTHETIC_FILE`).
DEFAULT_PATH = Path(__file__).resolve().parents[1] / "nmt_keras" / "data" / "spa_eng_synthetic.tsv"

# English sentence length limits, in standardized tokens (punctuation included).
MIN_ENGLISH_TOKENS = 2
MAX_ENGLISH_TOKENS = 30
# A sentence this long or longer counts as "long" in the statistics.
LONG_SENTENCE_TOKENS = 18
# `generate_pairs` gives up after this many attempts per requested pair (only reachable
# when more distinct pairs are requested than the grammar can produce).
MAX_ATTEMPTS_PER_PAIR = 50

# ----------------------------------------------------------------------------------
# Grammatical categories
# ----------------------------------------------------------------------------------

# Persons, in the order of the conjugation tables below.
PERSONS = ("1sg", "2sg", "3sg", "1pl", "3pl")
FIRST_SINGULAR, SECOND_SINGULAR, THIRD_SINGULAR, FIRST_PLURAL, THIRD_PLURAL = PERSONS

# Tenses in order of preference: when two forms of a verb clash, the form of the later
# tense is never generated (see `usable_cells`).
TENSES = ("present", "preterite", "future")
PRESENT, PRETERITE, FUTURE = TENSES
IMPERATIVE = "imperative"  # tú commands only

SINGULAR, PLURAL = "singular", "plural"
MASCULINE, FEMININE, EITHER_GENDER = "m", "f", "mf"  # "mf": el/la artista

# Semantic classes of nouns; verbs and adjectives name the classes they combine with.
PERSON = "person"
ANIMAL = "animal"
FOOD = "food"
DRINK = "drink"
READING = "reading"  # things one reads or writes
THING = "thing"  # concrete objects one can see, look for, buy, have
OPENABLE = "openable"
SOUND = "sound"  # things one listens to
PLACE = "place"
ANIMATE = (PERSON, ANIMAL)

# Determiner kinds of a noun phrase.
DEFINITE = "definite"
INDEFINITE = "indefinite"
DEMONSTRATIVE = "demonstrative"
NUMBER_WORD = "number word"
DIGITS = "digits"
BARE = "bare"  # no determiner: plural or mass objects ("como manzanas", "bebo leche")

ENGLISH_VOWELS = "aeiou"  # "an" before these (the word lists avoid "hour", "university")

# ----------------------------------------------------------------------------------
# Lexicon: one table per word class
# ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Noun:
    spanish: str
    spanish_plural: str | None  # None: a mass noun (no plural, no "un", no number)
    gender: str  # MASCULINE, FEMININE or EITHER_GENDER
    english: str
    english_plural: str | None
    classes: tuple

    @property
    def countable(self):
        return self.spanish_plural is not None


# Nouns: Spanish singular and plural, gender, English singular and plural, classes.
NOUNS = tuple(
    Noun(*row)
    for row in (
        # People (human objects take the personal "a").
        ("hombre", "hombres", MASCULINE, "man", "men", (PERSON,)),
        ("mujer", "mujeres", FEMININE, "woman", "women", (PERSON,)),
        ("niño", "niños", MASCULINE, "child", "children", (PERSON,)),
        ("chico", "chicos", MASCULINE, "boy", "boys", (PERSON,)),
        ("chica", "chicas", FEMININE, "girl", "girls", (PERSON,)),
        ("persona", "personas", FEMININE, "person", "people", (PERSON,)),
        ("maestro", "maestros", MASCULINE, "teacher", "teachers", (PERSON,)),
        ("maestra", "maestras", FEMININE, "teacher", "teachers", (PERSON,)),
        ("amigo", "amigos", MASCULINE, "friend", "friends", (PERSON,)),
        ("amiga", "amigas", FEMININE, "friend", "friends", (PERSON,)),
        ("artista", "artistas", EITHER_GENDER, "artist", "artists", (PERSON,)),
        # Animals.
        ("gato", "gatos", MASCULINE, "cat", "cats", (ANIMAL,)),
        ("perro", "perros", MASCULINE, "dog", "dogs", (ANIMAL,)),
        ("ratón", "ratones", MASCULINE, "mouse", "mice", (ANIMAL,)),
        ("caballo", "caballos", MASCULINE, "horse", "horses", (ANIMAL,)),
        ("vaca", "vacas", FEMININE, "cow", "cows", (ANIMAL,)),
        ("pájaro", "pájaros", MASCULINE, "bird", "birds", (ANIMAL,)),
        ("oveja", "ovejas", FEMININE, "sheep", "sheep", (ANIMAL,)),
        ("elefante", "elefantes", MASCULINE, "elephant", "elephants", (ANIMAL,)),
        ("oso", "osos", MASCULINE, "bear", "bears", (ANIMAL,)),
        # Food (the first five are mass nouns).
        ("pan", None, MASCULINE, "bread", None, (FOOD,)),
        ("pescado", None, MASCULINE, "fish", None, (FOOD,)),
        ("queso", None, MASCULINE, "cheese", None, (FOOD,)),
        ("arroz", None, MASCULINE, "rice", None, (FOOD,)),
        ("sopa", None, FEMININE, "soup", None, (FOOD,)),
        ("manzana", "manzanas", FEMININE, "apple", "apples", (FOOD,)),
        ("naranja", "naranjas", FEMININE, "orange", "oranges", (FOOD,)),
        ("huevo", "huevos", MASCULINE, "egg", "eggs", (FOOD,)),
        ("pastel", "pasteles", MASCULINE, "cake", "cakes", (FOOD,)),
        ("galleta", "galletas", FEMININE, "cookie", "cookies", (FOOD,)),
        ("plátano", "plátanos", MASCULINE, "banana", "bananas", (FOOD,)),
        # Drinks (mass nouns).
        ("leche", None, FEMININE, "milk", None, (DRINK,)),
        ("café", None, MASCULINE, "coffee", None, (DRINK,)),
        ("té", None, MASCULINE, "tea", None, (DRINK,)),
        ("jugo", None, MASCULINE, "juice", None, (DRINK,)),
        ("limonada", None, FEMININE, "lemonade", None, (DRINK,)),
        # Reading matter.
        ("libro", "libros", MASCULINE, "book", "books", (READING, OPENABLE)),
        ("carta", "cartas", FEMININE, "letter", "letters", (READING, OPENABLE)),
        ("periódico", "periódicos", MASCULINE, "newspaper", "newspapers", (READING,)),
        ("revista", "revistas", FEMININE, "magazine", "magazines", (READING,)),
        ("cuento", "cuentos", MASCULINE, "story", "stories", (READING,)),
        ("poema", "poemas", MASCULINE, "poem", "poems", (READING,)),
        # Things ("paraguas" is the same word in the singular and the plural).
        ("llave", "llaves", FEMININE, "key", "keys", (THING,)),
        ("pelota", "pelotas", FEMININE, "ball", "balls", (THING,)),
        ("caja", "cajas", FEMININE, "box", "boxes", (THING, OPENABLE)),
        ("reloj", "relojes", MASCULINE, "watch", "watches", (THING,)),
        ("paraguas", "paraguas", MASCULINE, "umbrella", "umbrellas", (THING,)),
        ("bicicleta", "bicicletas", FEMININE, "bicycle", "bicycles", (THING,)),
        ("coche", "coches", MASCULINE, "car", "cars", (THING,)),
        ("lámpara", "lámparas", FEMININE, "lamp", "lamps", (THING,)),
        ("radio", "radios", FEMININE, "radio", "radios", (THING, SOUND)),
        ("puerta", "puertas", FEMININE, "door", "doors", (OPENABLE,)),
        ("ventana", "ventanas", FEMININE, "window", "windows", (OPENABLE,)),
        # Sounds.
        ("música", None, FEMININE, "music", None, (SOUND,)),
        ("canción", "canciones", FEMININE, "song", "songs", (SOUND,)),
        # Places (after "en").
        ("casa", "casas", FEMININE, "house", "houses", (PLACE,)),
        ("parque", "parques", MASCULINE, "park", "parks", (PLACE,)),
        ("jardín", "jardines", MASCULINE, "garden", "gardens", (PLACE,)),
        ("escuela", "escuelas", FEMININE, "school", "schools", (PLACE,)),
        ("ciudad", "ciudades", FEMININE, "city", "cities", (PLACE,)),
        ("oficina", "oficinas", FEMININE, "office", "offices", (PLACE,)),
        ("calle", "calles", FEMININE, "street", "streets", (PLACE,)),
    )
)


@dataclasses.dataclass(frozen=True)
class Adjective:
    forms: tuple  # masculine singular, feminine singular, masculine plural, feminine plural
    english: str
    classes: tuple  # noun classes it may describe

    def spanish(self, gender, number):
        index = (0 if gender == MASCULINE else 1) + (2 if number == PLURAL else 0)
        return self.forms[index]


def _adjective(forms, english, classes):
    """`forms`: "viejo vieja viejos viejas", or "grande grandes" for invariable ones."""
    forms = forms.split()
    if len(forms) == 2:
        forms = [forms[0], forms[0], forms[1], forms[1]]
    return Adjective(tuple(forms), english, classes)


# Adjectives: Spanish forms, English, the noun classes they describe.
ADJECTIVES = (
    # Four forms: -o / -a / -os / -as.
    _adjective("viejo vieja viejos viejas", "old", (PERSON, ANIMAL, THING, READING, PLACE)),
    _adjective("nuevo nueva nuevos nuevas", "new", (THING, READING, PLACE, OPENABLE)),
    _adjective("negro negra negros negras", "black", (ANIMAL, THING, OPENABLE)),
    _adjective("blanco blanca blancos blancas", "white", (ANIMAL, THING, OPENABLE, PLACE)),
    _adjective("rojo roja rojos rojas", "red", (THING, OPENABLE, FOOD)),
    _adjective("pequeño pequeña pequeños pequeñas", "small", (ANIMATE + (THING, PLACE))),
    _adjective("feo fea feos feas", "ugly", (ANIMAL, THING, PLACE, OPENABLE)),
    _adjective("caro cara caros caras", "expensive", (THING, FOOD, DRINK, READING)),
    _adjective("frío fría fríos frías", "cold", (FOOD, DRINK)),
    # Invariable in gender: two forms.
    _adjective("grande grandes", "big", ANIMATE + (THING, PLACE, OPENABLE)),
    _adjective("verde verdes", "green", (THING, OPENABLE, FOOD)),
    _adjective("azul azules", "blue", (THING, OPENABLE)),
    _adjective("feliz felices", "happy", ANIMATE),
    _adjective("triste tristes", "sad", ANIMATE + (SOUND,)),
    _adjective("inteligente inteligentes", "intelligent", ANIMATE),
    _adjective("caliente calientes", "hot", (FOOD, DRINK)),
    _adjective("interesante interesantes", "interesting", (READING, SOUND)),
    _adjective("joven jóvenes", "young", (PERSON,)),
)

# Determiners: kind -> ({gender: (singular, plural)}, English (singular, plural)).
# The English "a" becomes "an" before a vowel (see `noun_phrase`).
DETERMINERS = {
    DEFINITE: ({MASCULINE: ("el", "los"), FEMININE: ("la", "las")}, ("the", "the")),
    INDEFINITE: ({MASCULINE: ("un", "unos"), FEMININE: ("una", "unas")}, ("a", "some")),
    DEMONSTRATIVE: (
        {MASCULINE: ("este", "estos"), FEMININE: ("esta", "estas")},
        ("this", "these"),
    ),
}

# Number words 2-10; larger quantities are written in digits, copied verbatim.
NUMBER_WORDS = {
    2: ("dos", "two"),
    3: ("tres", "three"),
    4: ("cuatro", "four"),
    5: ("cinco", "five"),
    6: ("seis", "six"),
    7: ("siete", "seven"),
    8: ("ocho", "eight"),
    9: ("nueve", "nine"),
    10: ("diez", "ten"),
}
DIGIT_QUANTITIES = range(11, 100)


@dataclasses.dataclass(frozen=True)
class Pronoun:
    spanish: str
    english: str
    person: str
    droppable: bool  # may Spanish omit it? Only where the verb form alone is unambiguous.


# Subject pronouns (no usted/ustedes/vosotros: English "you" comes from "tú" only).
PRONOUNS = (
    Pronoun("yo", "i", FIRST_SINGULAR, True),
    Pronoun("tú", "you", SECOND_SINGULAR, True),
    Pronoun("él", "he", THIRD_SINGULAR, False),
    Pronoun("ella", "she", THIRD_SINGULAR, False),
    Pronoun("nosotros", "we", FIRST_PLURAL, True),
    Pronoun("ellos", "they", THIRD_PLURAL, False),
    Pronoun("ellas", "they", THIRD_PLURAL, False),
)
DROPPABLE_PERSONS = tuple(p.person for p in PRONOUNS if p.droppable)

# Proper names, written the same in both languages (lower-case here, capitalized when
# rendered); people, third person singular.
NAMES = ("ana", "carlos", "lucía", "pedro", "maría", "juan", "sofía", "diego")


@dataclasses.dataclass(frozen=True)
class Adverb:
    spanish: str
    english: str
    tenses: tuple  # the tenses it may accompany


# Time adverbs.
ADVERBS = (
    Adverb("ayer", "yesterday", (PRETERITE,)),
    Adverb("hoy", "today", (PRESENT, PRETERITE, FUTURE, IMPERATIVE)),
    Adverb("mañana", "tomorrow", (FUTURE, IMPERATIVE)),
)


@dataclasses.dataclass(frozen=True)
class Conjunction:
    spanish: str
    english: str
    comma: bool  # preceded by a comma in both languages


# Conjunctions joining two clauses.
CONJUNCTIONS = (
    Conjunction("y", "and", False),
    Conjunction("pero", "but", True),
    Conjunction("porque", "because", False),
)

# Prepositions: "en" + a place, "con" + a person or animal.
PLACE_PREPOSITION = ("en", "in")
COMPANY_PREPOSITION = ("con", "with")

# The remaining function words.
COORDINATOR = ("y", "and")  # joins two subjects
NEGATION = ("no", "not")
PERSONAL_A = "a"
CONTRACTED_ARTICLE = "al"  # "a" + "el"


@dataclasses.dataclass(frozen=True)
class Verb:
    infinitive: str
    present: tuple  # one form per person of PERSONS
    preterite: tuple
    future: tuple
    imperative: str | None  # tú command; None: no commands with this verb
    english: tuple  # base form, third person singular present, past
    particle: str | None  # second word of an English two-word verb ("look for")
    subjects: tuple  # noun classes allowed as subject
    objects: tuple  # noun classes allowed as object; () for intransitive verbs

    def form(self, tense, person):
        if tense == IMPERATIVE:
            assert person == SECOND_SINGULAR and self.imperative, (self, person)
            return self.imperative
        return getattr(self, tense)[PERSONS.index(person)]

    def cells(self):
        """Every (tense, person) this verb has a form for."""
        cells = [(tense, person) for tense in TENSES for person in PERSONS]
        if self.imperative:
            cells.append((IMPERATIVE, SECOND_SINGULAR))
        return tuple(cells)


def _verb(present, preterite, future, imperative, english, subjects, objects=()):
    """Builds a `Verb` from space-separated forms; `english` may end in a particle."""
    english = english.split()
    return Verb(
        infinitive=None,  # filled in below
        present=tuple(present.split()),
        preterite=tuple(preterite.split()),
        future=tuple(future.split()),
        imperative=imperative,
        english=tuple(english[:3]),
        particle=english[3] if len(english) > 3 else None,
        subjects=subjects,
        objects=objects,
    )


# Verbs: full conjugation tables (yo, tú, él/ella, nosotros, ellos/ellas), the tú
# imperative, English base / 3rd singular / past (+ particle), subjects, objects.
_VERB_TABLE = {
    # Transitive.
    "comer": _verb(
        "como comes come comemos comen",
        "comí comiste comió comimos comieron",
        "comeré comerás comerá comeremos comerán",
        "come", "eat eats ate", ANIMATE, (FOOD,),
    ),
    "beber": _verb(
        "bebo bebes bebe bebemos beben",
        "bebí bebiste bebió bebimos bebieron",
        "beberé beberás beberá beberemos beberán",
        "bebe", "drink drinks drank", ANIMATE, (DRINK,),
    ),
    "leer": _verb(
        "leo lees lee leemos leen",
        "leí leíste leyó leímos leyeron",
        "leeré leerás leerá leeremos leerán",
        "lee", "read reads read", (PERSON,), (READING,),
    ),
    "escribir": _verb(
        "escribo escribes escribe escribimos escriben",
        "escribí escribiste escribió escribimos escribieron",
        "escribiré escribirás escribirá escribiremos escribirán",
        "escribe", "write writes wrote", (PERSON,), (READING,),
    ),
    "ver": _verb(
        "veo ves ve vemos ven",
        "vi viste vio vimos vieron",
        "veré verás verá veremos verán",
        None, "see sees saw", ANIMATE, (PERSON, ANIMAL, THING),
    ),
    "buscar": _verb(
        "busco buscas busca buscamos buscan",
        "busqué buscaste buscó buscamos buscaron",
        "buscaré buscarás buscará buscaremos buscarán",
        "busca", "look looks looked for", ANIMATE, (PERSON, ANIMAL, THING),
    ),
    "comprar": _verb(
        "compro compras compra compramos compran",
        "compré compraste compró compramos compraron",
        "compraré comprarás comprará compraremos comprarán",
        "compra", "buy buys bought", (PERSON,), (FOOD, DRINK, READING, THING),
    ),
    "ayudar": _verb(
        "ayudo ayudas ayuda ayudamos ayudan",
        "ayudé ayudaste ayudó ayudamos ayudaron",
        "ayudaré ayudarás ayudará ayudaremos ayudarán",
        "ayuda", "help helps helped", (PERSON,), (PERSON, ANIMAL),
    ),
    "llamar": _verb(
        "llamo llamas llama llamamos llaman",
        "llamé llamaste llamó llamamos llamaron",
        "llamaré llamarás llamará llamaremos llamarán",
        "llama", "call calls called", (PERSON,), (PERSON, ANIMAL),
    ),
    "abrir": _verb(
        "abro abres abre abrimos abren",
        "abrí abriste abrió abrimos abrieron",
        "abriré abrirás abrirá abriremos abrirán",
        "abre", "open opens opened", (PERSON,), (OPENABLE,),
    ),
    "tener": _verb(
        "tengo tienes tiene tenemos tienen",
        "tuve tuviste tuvo tuvimos tuvieron",
        "tendré tendrás tendrá tendremos tendrán",
        None, "have has had", ANIMATE, (ANIMAL, THING),
    ),
    "escuchar": _verb(
        "escucho escuchas escucha escuchamos escuchan",
        "escuché escuchaste escuchó escuchamos escucharon",
        "escucharé escucharás escuchará escucharemos escucharán",
        "escucha", "listen listens listened to", ANIMATE, (PERSON, SOUND),
    ),
    "encontrar": _verb(
        "encuentro encuentras encuentra encontramos encuentran",
        "encontré encontraste encontró encontramos encontraron",
        "encontraré encontrarás encontrará encontraremos encontrarán",
        None, "find finds found", ANIMATE, (PERSON, ANIMAL, THING),
    ),
    "traer": _verb(
        "traigo traes trae traemos traen",
        "traje trajiste trajo trajimos trajeron",
        "traeré traerás traerá traeremos traerán",
        "trae", "bring brings brought", (PERSON,), (FOOD, DRINK, READING, THING),
    ),
    # Intransitive.
    "dormir": _verb(
        "duermo duermes duerme dormimos duermen",
        "dormí dormiste durmió dormimos durmieron",
        "dormiré dormirás dormirá dormiremos dormirán",
        "duerme", "sleep sleeps slept", ANIMATE,
    ),
    "correr": _verb(
        "corro corres corre corremos corren",
        "corrí corriste corrió corrimos corrieron",
        "correré correrás correrá correremos correrán",
        "corre", "run runs ran", ANIMATE,
    ),
    "llegar": _verb(
        "llego llegas llega llegamos llegan",
        "llegué llegaste llegó llegamos llegaron",
        "llegaré llegarás llegará llegaremos llegarán",
        None, "arrive arrives arrived", ANIMATE,
    ),
    "trabajar": _verb(
        "trabajo trabajas trabaja trabajamos trabajan",
        "trabajé trabajaste trabajó trabajamos trabajaron",
        "trabajaré trabajarás trabajará trabajaremos trabajarán",
        "trabaja", "work works worked", (PERSON,),
    ),
    "cantar": _verb(
        "canto cantas canta cantamos cantan",
        "canté cantaste cantó cantamos cantaron",
        "cantaré cantarás cantará cantaremos cantarán",
        "canta", "sing sings sang", ANIMATE,
    ),
    "volver": _verb(
        "vuelvo vuelves vuelve volvemos vuelven",
        "volví volviste volvió volvimos volvieron",
        "volveré volverás volverá volveremos volverán",
        "vuelve", "come comes came back", ANIMATE,
    ),
}
VERBS = tuple(dataclasses.replace(v, infinitive=k) for k, v in _VERB_TABLE.items())

# ----------------------------------------------------------------------------------
# Ambiguity checks over the lexicon
# ----------------------------------------------------------------------------------

# Spellings (accents stripped) that two lexicon entries may share, with the reason.
ALLOWED_HOMOGRAPHS = {
    "el": "article 'el' (always before a noun) and pronoun 'él' (never before a noun)",
}


@functools.lru_cache(maxsize=None)
def strip_accents(text):
    """Drops combining marks after NFKD decomposition: "comió" -> "comio", "ñ" -> "n"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@dataclasses.dataclass(frozen=True)
class Clash:
    """Two conjugation cells the Spanish cannot tell apart but the English can."""

    form: str  # the shared spelling, accents stripped
    first: tuple  # (infinitive, tense, person)
    second: tuple


def _cells_clash(verb_a, cell_a, verb_b, cell_b):
    """Whether two conjugation cells would make the English ambiguous.

    They clash if they are spelled alike once accents are stripped (what the model sees)
    and either belong to two different verbs, or have the same person (the subject does
    not tell them apart: "buscamos" present / preterite), or both persons may drop their
    pronoun (then the form alone must tell them apart). A third-person form may equal a
    first-person one ("hablo" / "habló"): the third-person subject is never dropped.
    """
    if strip_accents(verb_a.form(*cell_a)) != strip_accents(verb_b.form(*cell_b)):
        return False
    if verb_a.infinitive != verb_b.infinitive:
        return True
    (_, person_a), (_, person_b) = cell_a, cell_b
    if cell_a[0] == IMPERATIVE or cell_b[0] == IMPERATIVE:
        # Commands are the only sentences opening with "¡" and have no subject: an
        # imperative never competes with a statement or a question.
        return cell_a[0] == cell_b[0]
    same_person = person_a == person_b
    both_droppable = person_a in DROPPABLE_PERSONS and person_b in DROPPABLE_PERSONS
    return same_person or both_droppable


def conjugation_clashes(verbs, cells_of=Verb.cells):
    """Lists every `Clash` among the cells `cells_of(verb)` of `verbs` (empty: no clash)."""
    entries = [(verb, cell) for verb in verbs for cell in cells_of(verb)]
    clashes = []
    for i, (verb_a, cell_a) in enumerate(entries):
        for verb_b, cell_b in entries[i + 1 :]:
            if _cells_clash(verb_a, cell_a, verb_b, cell_b):
                clashes.append(
                    Clash(
                        strip_accents(verb_a.form(*cell_a)),
                        (verb_a.infinitive,) + cell_a,
                        (verb_b.infinitive,) + cell_b,
                    )
                )
    return clashes


def usable_cells(verb):
    """The cells of `verb` the generator uses: all, except that of two clashing cells only
    the one of the earlier tense in `TENSES` is kept ("buscamos" = "we look for")."""
    kept = []
    for cell in verb.cells():
        if not any(_cells_clash(verb, cell, verb, other) for other in kept):
            kept.append(cell)
    return tuple(kept)


def lexicon_entries():
    """Yields (spelling, entry) for every Spanish word form of the lexicon."""
    for kind, (forms, _) in DETERMINERS.items():
        for gender, pair in forms.items():
            for number, form in zip((SINGULAR, PLURAL), pair):
                yield form, ("determiner", kind, gender, number)
    yield CONTRACTED_ARTICLE, ("determiner", "a + el")
    for noun in NOUNS:
        yield noun.spanish, ("noun", noun.spanish)
        if noun.countable:
            yield noun.spanish_plural, ("noun", noun.spanish)
    for adjective in ADJECTIVES:
        for form in adjective.forms:
            yield form, ("adjective", adjective.forms[0])
    for verb in VERBS:
        for cell in verb.cells():
            yield verb.form(*cell), ("verb", verb.infinitive)
    for pronoun in PRONOUNS:
        yield pronoun.spanish, ("pronoun", pronoun.spanish)
    for name in NAMES:
        yield name, ("name", name)
    for quantity, (spanish, _) in NUMBER_WORDS.items():
        yield spanish, ("number", quantity)
    for quantity in DIGIT_QUANTITIES:
        yield str(quantity), ("number", quantity)
    for adverb in ADVERBS:
        yield adverb.spanish, ("adverb", adverb.spanish)
    for conjunction in CONJUNCTIONS:
        yield conjunction.spanish, ("conjunction", conjunction.spanish)
    for word in (PLACE_PREPOSITION[0], COMPANY_PREPOSITION[0], NEGATION[0], PERSONAL_A):
        yield word, ("function word", word)


def lexicon_homographs():
    """Spellings (accents stripped) shared by two lexicon entries, beyond
    `ALLOWED_HOMOGRAPHS`: {spelling: sorted entries}. Empty when the lexicon is sound.

    (The forms of one entry may coincide: invariable adjectives, "paraguas", verb forms,
    whose clashes `conjugation_clashes` judges.)
    """
    entries = {}
    for form, entry in lexicon_entries():
        entries.setdefault(strip_accents(form), set()).add(entry)
    return {
        form: sorted(found, key=repr)
        for form, found in entries.items()
        if len(found) > 1 and form not in ALLOWED_HOMOGRAPHS
    }


def check_lexicon():
    """Raises ValueError if the lexicon would let a Spanish sentence have two translations."""
    clashes = conjugation_clashes(VERBS, cells_of=usable_cells)
    if clashes:
        raise ValueError(f"ambiguous verb forms: {clashes}")
    homographs = lexicon_homographs()
    if homographs:
        raise ValueError(f"ambiguous Spanish spellings: {homographs}")


check_lexicon()
USABLE_CELLS = {verb.infinitive: usable_cells(verb) for verb in VERBS}

# ----------------------------------------------------------------------------------
# Building blocks: words linked across languages
# ----------------------------------------------------------------------------------


@dataclasses.dataclass(eq=False, slots=True)
class Word:
    """One token: lower-case, accents as written. English words carry their links."""

    text: str
    links: tuple = ()  # English only: the Spanish `Word`s it is aligned to
    proper: bool = False  # rendered capitalized (names, English "I")


@dataclasses.dataclass
class Phrase:
    """Spanish and English words of a phrase, with what the clause needs to know of it."""

    spanish: list
    english: list
    person: str = THIRD_SINGULAR  # when it is a subject
    human: bool = False  # takes the personal "a" as an object

    def __add__(self, other):
        return Phrase(self.spanish + other.spanish, self.english + other.english)


def word_pair(spanish, english, proper=False):
    """A Spanish word and its aligned English translation, as a `Phrase`."""
    source = Word(spanish, proper=proper)
    return Phrase([source], [Word(english, (source,), proper)])


def noun_phrase(noun, determiner, number=SINGULAR, adjective=None, quantity=None,
                gender=None):
    """Spanish [det|quantity] noun [adjective] ↔ English [det|quantity] [adjective] noun.

    `determiner` is DEFINITE, INDEFINITE, DEMONSTRATIVE, BARE, or NUMBER_WORD / DIGITS
    with `quantity`, which makes the phrase plural. `gender` is only needed for
    EITHER_GENDER nouns ("el artista" / "la artista").
    """
    gender = noun.gender if noun.gender != EITHER_GENDER else gender
    assert gender in (MASCULINE, FEMININE), (noun, gender)
    if quantity is not None:
        assert determiner == (NUMBER_WORD if quantity in NUMBER_WORDS else DIGITS)
        number = PLURAL
    plural = number == PLURAL
    assert noun.countable or (not plural and determiner in (DEFINITE, DEMONSTRATIVE, BARE)), (
        noun, determiner, number)
    head = word_pair(noun.spanish_plural if plural else noun.spanish,
                     noun.english_plural if plural else noun.english)
    if adjective is not None:
        described = word_pair(adjective.spanish(gender, number), adjective.english)
        # The crossing: the adjective follows the noun in Spanish and precedes it in English.
        head = Phrase(head.spanish + described.spanish, described.english + head.english)
    if determiner in DETERMINERS:
        forms, english = DETERMINERS[determiner]
        index = 1 if plural else 0
        head = word_pair(forms[gender][index], english[index]) + head
    elif quantity is not None:
        spanish, english = NUMBER_WORDS.get(quantity, (str(quantity), str(quantity)))
        head = word_pair(spanish, english) + head
    else:
        assert determiner == BARE and (plural or not noun.countable), (noun, determiner)
    english_words = head.english
    if english_words[0].text == "a" and english_words[1].text[0] in ENGLISH_VOWELS:
        english_words[0].text = "an"
    return Phrase(head.spanish, english_words, THIRD_PLURAL if plural else THIRD_SINGULAR,
                  human=PERSON in noun.classes)


def name_phrase(name):
    """A proper name: the same word in both languages, a person."""
    phrase = word_pair(name, name, proper=True)
    phrase.human = True
    return phrase


def pronoun_phrase(pronoun):
    """A subject pronoun; only English "I" is capitalized (Spanish "yo" is not)."""
    source = Word(pronoun.spanish)
    target = Word(pronoun.english, (source,), proper=pronoun.english == "i")
    return Phrase([source], [target], person=pronoun.person)


def coordinated(first, second):
    """Two subjects joined by "y" ↔ "and": a plural subject."""
    joined = first + word_pair(*COORDINATOR) + second
    return Phrase(joined.spanish, joined.english, THIRD_PLURAL, human=first.human)


def prepositional_phrase(preposition, phrase):
    """("en", "in") + "la casa" ↔ "in the house"."""
    return word_pair(*preposition) + phrase


def with_personal_a(phrase):
    """The Spanish words of an object: a human object gets "a" (unaligned) before it,
    and "a" + "el" contracts to "al", which keeps the article's link to "the".

    Returns a new `Phrase` (the English words are copied, relinked to "al" if needed).
    """
    if not phrase.human:
        return phrase
    first = phrase.spanish[0]
    if first.text != DETERMINERS[DEFINITE][0][MASCULINE][0]:
        return Phrase([Word(PERSONAL_A)] + phrase.spanish, phrase.english, phrase.person,
                      phrase.human)
    contracted = Word(CONTRACTED_ARTICLE)
    english = [Word(w.text, tuple(contracted if link is first else link for link in w.links),
                    w.proper) for w in phrase.english]
    return Phrase([contracted] + phrase.spanish[1:], english, phrase.person, phrase.human)


# ----------------------------------------------------------------------------------
# Clauses and sentences
# ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Clause:
    """Everything that decides one clause; `statement`, `question`, `command` realize it."""

    verb: Verb
    tense: str  # PRESENT, PRETERITE, FUTURE, or IMPERATIVE (then subject is None)
    person: str
    subject: Phrase | None = None
    drop_subject: bool = False  # Spanish omits the pronoun (yo, tú, nosotros only)
    negated: bool = False
    obj: Phrase | None = None
    extra: Phrase | None = None  # a prepositional phrase after the object
    adverb: Adverb | None = None
    adverb_first: bool = False  # Spanish puts the adverb first (English always last)


def verb_phrase(clause, question=False):
    """The verb words: (Spanish words, English before the subject, English after it).

    Every English word of the verb group (auxiliary, main verb, particle) is aligned to
    the one Spanish verb form; "not" is aligned to "no".
    """
    verb, tense, person = clause.verb, clause.tense, clause.person
    spanish = Word(verb.form(tense, person))
    negation = Word(NEGATION[0]) if clause.negated else None
    base, third, past = verb.english

    def english(text):
        return Word(text, (spanish,))

    tail = [english(verb.particle)] if verb.particle else []
    if tense == IMPERATIVE:
        return [spanish], [], [english(base)] + tail
    auxiliary = {PRESENT: "does" if person == THIRD_SINGULAR else "do",
                 PRETERITE: "did", FUTURE: "will"}[tense]
    if question:
        return [spanish], [english(auxiliary)], [english(base)] + tail
    if negation is not None:
        not_ = Word(NEGATION[1], (negation,))
        return [negation, spanish], [], [english(auxiliary), not_, english(base)] + tail
    if tense == FUTURE:
        return [spanish], [], [english(auxiliary), english(base)] + tail
    main = past if tense == PRETERITE else third if person == THIRD_SINGULAR else base
    return [spanish], [], [english(main)] + tail


def _clause_words(clause, question=False):
    """(Spanish words, English words) of a clause, without sentence punctuation."""
    assert not (question and (clause.negated or clause.adverb_first))
    verb_spanish, english_before, english_after = verb_phrase(clause, question)
    if clause.subject is None:
        subject_spanish, subject_english = [], []
    elif clause.drop_subject:
        # The English pronoun is aligned to the Spanish verb form that implies it.
        verb_form = verb_spanish[-1]
        subject_spanish = []
        subject_english = [Word(w.text, (verb_form,), w.proper)
                           for w in clause.subject.english]
    else:
        subject_spanish, subject_english = clause.subject.spanish, clause.subject.english
    rest_spanish, rest_english = [], []
    if clause.obj is not None:
        obj = with_personal_a(clause.obj)
        rest_spanish += obj.spanish
        rest_english += obj.english
    if clause.extra is not None:
        rest_spanish += clause.extra.spanish
        rest_english += clause.extra.english
    adverb = word_pair(clause.adverb.spanish, clause.adverb.english) if clause.adverb else None
    if adverb is not None:
        rest_english += adverb.english
        if not clause.adverb_first:
            rest_spanish += adverb.spanish
    if question:
        spanish = verb_spanish + subject_spanish + rest_spanish
    else:
        spanish = subject_spanish + verb_spanish + rest_spanish
        if adverb is not None and clause.adverb_first:
            spanish = adverb.spanish + spanish
    english = english_before + subject_english + english_after + rest_english
    return spanish, english


def _punctuated(spanish, english, closing, opening=None):
    mark = word_pair(closing, closing)
    spanish = ([Word(opening)] if opening else []) + spanish + mark.spanish
    return spanish, english + mark.english


def statement(clause):
    """A statement: "El gato come pescado." ↔ "The cat eats fish." """
    return _punctuated(*_clause_words(clause), ".")


def question(clause):
    """A yes/no question: "¿Come el gato pescado?" ↔ "Does the cat eat fish?" """
    return _punctuated(*_clause_words(clause, question=True), "?", "¿")


def command(clause):
    """A tú command: "¡Come el pan!" ↔ "Eat the bread!" """
    assert clause.tense == IMPERATIVE and clause.subject is None
    return _punctuated(*_clause_words(clause), "!", "¡")


def compound(first, conjunction, second):
    """Two clauses joined by a conjunction: "…, pero …." ↔ "…, but …." """
    spanish_a, english_a = _clause_words(first)
    spanish_b, english_b = _clause_words(second)
    joint = word_pair(",", ",") if conjunction.comma else Phrase([], [])
    joint = joint + word_pair(conjunction.spanish, conjunction.english)
    return _punctuated(spanish_a + joint.spanish + spanish_b,
                       english_a + joint.english + english_b, ".")


# ----------------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------------

_OPENING_MARKS = ("¿", "¡")
_CLOSING_MARKS = ("?", "!", ".", ",")


def render(words):
    """Natural text from words: marks attached, first letter and names capitalized."""
    texts = [w.text[:1].upper() + w.text[1:] if w.proper else w.text for w in words]
    first = 1 if texts[0] in _OPENING_MARKS else 0  # capitalize after "¿" / "¡"
    texts[first] = texts[first][:1].upper() + texts[first][1:]
    text = " ".join(texts)  # words contain neither spaces nor marks
    for mark in _OPENING_MARKS:
        text = text.replace(mark + " ", mark)
    for mark in _CLOSING_MARKS:
        text = text.replace(" " + mark, mark)
    return text


def alignment_of(spanish, english):
    """Sorted (spanish_index, english_index) pairs from the English words' links."""
    index = {id(word): i for i, word in enumerate(spanish)}
    assert len(index) == len(spanish), "a Spanish word object is used twice"
    return tuple(sorted({(index[id(source)], j)
                         for j, word in enumerate(english) for source in word.links}))


@dataclasses.dataclass(frozen=True)
class SyntheticPair:
    """One corpus line; `alignment` indexes the standardized tokens (see module docstring)."""

    spanish: str  # rendered Spanish sentence
    english: str  # rendered English sentence
    alignment: tuple  # ((spanish_index, english_index), ...) sorted


def make_pair(spanish_words, english_words):
    """A `SyntheticPair` from the words of a sentence."""
    return SyntheticPair(render(spanish_words), render(english_words),
                         alignment_of(spanish_words, english_words))


def format_alignment(alignment):
    """((0, 1), (1, 0)) -> "0-1 1-0" (Pharaoh format, Spanish index first)."""
    return " ".join(f"{source}-{target}" for source, target in alignment)


# ----------------------------------------------------------------------------------
# Sampling
# ----------------------------------------------------------------------------------

# Shares of the sentence shapes.
SENTENCE_WEIGHTS = {"statement": 36, "question": 13, "command": 6, "compound": 45}
# Shares of the kinds of subject.
SUBJECT_WEIGHTS = {"pronoun": 40, "name": 14, "noun": 36, "coordinated": 10}
# Determiners of noun phrases (BARE only for objects).
DETERMINER_WEIGHTS = {DEFINITE: 38, INDEFINITE: 18, DEMONSTRATIVE: 14, NUMBER_WORD: 9,
                      DIGITS: 9, BARE: 12}
DROP_PRONOUN_PROBABILITY = 0.5  # for yo, tú, nosotros
NEGATION_PROBABILITY = 0.25  # statements only
PLURAL_PROBABILITY = 0.35  # with DEFINITE, INDEFINITE, DEMONSTRATIVE
ADJECTIVE_PROBABILITY = 0.35
NAME_PROBABILITY = 0.3  # a person (in a noun subject, object, "con") is a name
EXTRA_PROBABILITY = 0.3  # a prepositional phrase after the verb (and object)
PLACE_PROBABILITY = 0.6  # that phrase is "en" + place (else "con" + person or animal)
ADVERB_PROBABILITY = 0.3
ADVERB_FIRST_PROBABILITY = 0.4  # in Spanish statements; English puts it last
ANIMAL_PROBABILITY = 0.4  # where a person or an animal fits, it is an animal

_NOUNS_BY_CLASS = {c: tuple(n for n in NOUNS if c in n.classes)
                   for c in (PERSON, ANIMAL, FOOD, DRINK, READING, THING, OPENABLE, SOUND,
                             PLACE)}
# The adjectives that may describe each noun.
_ADJECTIVES_FOR = {noun.spanish: tuple(a for a in ADJECTIVES
                                       if set(a.classes) & set(noun.classes))
                   for noun in NOUNS}
_COMMAND_VERBS = tuple(v for v in VERBS if v.imperative)


@functools.lru_cache(maxsize=None)
def _cumulative(items, leave_out):
    """(keys, cumulative weights) of (key, weight) items, without the keys `leave_out`."""
    items = [(k, w) for k, w in items if k not in leave_out]
    return tuple(k for k, _ in items), tuple(itertools.accumulate(w for _, w in items))


def _weighted(rng, weights, leave_out=()):
    """A random key of the dict `weights` (minus the keys `leave_out`), drawn by weight."""
    keys, cumulative = _cumulative(tuple(weights.items()), tuple(leave_out))
    return keys[bisect.bisect(cumulative, rng.random() * cumulative[-1])]


def sample_noun_phrase(rng, noun_class, role):
    """A noun phrase of a class. `role`: "subject", "object" or "place"."""
    noun = rng.choice(_NOUNS_BY_CLASS[noun_class])
    leave_out = []
    if role != "object":
        leave_out.append(BARE)  # Spanish subjects and places need a determiner
    if role == "place" or not noun.countable:
        leave_out += [NUMBER_WORD, DIGITS]
    if not noun.countable:
        leave_out.append(INDEFINITE)
    determiner = _weighted(rng, DETERMINER_WEIGHTS, leave_out)
    quantity = None
    if determiner == NUMBER_WORD:
        quantity = rng.choice(tuple(NUMBER_WORDS))
    elif determiner == DIGITS:
        quantity = rng.choice(DIGIT_QUANTITIES)
    if determiner == BARE:
        number = PLURAL if noun.countable else SINGULAR
    elif noun.countable and rng.random() < PLURAL_PROBABILITY:
        number = PLURAL
    else:
        number = SINGULAR
    adjective = None
    if rng.random() < ADJECTIVE_PROBABILITY:
        choices = _ADJECTIVES_FOR[noun.spanish]
        adjective = rng.choice(choices) if choices else None
    gender = rng.choice((MASCULINE, FEMININE)) if noun.gender == EITHER_GENDER else None
    return noun_phrase(noun, determiner, number, adjective, quantity, gender)


def sample_person_or_animal(rng, classes, role):
    """A name or a noun phrase of one of `classes` (PERSON and/or ANIMAL)."""
    if ANIMAL in classes and (PERSON not in classes
                              or rng.random() < ANIMAL_PROBABILITY):
        return sample_noun_phrase(rng, ANIMAL, role)
    if rng.random() < NAME_PROBABILITY:
        return name_phrase(rng.choice(NAMES))
    return sample_noun_phrase(rng, PERSON, role)


def sample_subject(rng, verb):
    """(subject phrase, whether Spanish may drop it) for `verb`."""
    kind = _weighted(rng, SUBJECT_WEIGHTS)
    if kind == "pronoun":
        pronoun = rng.choice(PRONOUNS)
        return pronoun_phrase(pronoun), pronoun.droppable
    if kind == "name":
        return name_phrase(rng.choice(NAMES)), False
    if kind == "noun":
        return sample_person_or_animal(rng, verb.subjects, "subject"), False
    first = sample_person_or_animal(rng, verb.subjects, "subject")
    while True:
        second = sample_person_or_animal(rng, verb.subjects, "subject")
        if render(second.spanish) != render(first.spanish):
            return coordinated(first, second), False


def sample_object(rng, verb):
    """An object of one of the classes `verb` takes."""
    noun_class = rng.choice(verb.objects)
    if noun_class in ANIMATE:
        return sample_person_or_animal(rng, (noun_class,), "object")
    return sample_noun_phrase(rng, noun_class, "object")


def sample_extra(rng):
    """A prepositional phrase: "en la casa" or "con el perro"."""
    if rng.random() < PLACE_PROBABILITY:
        return prepositional_phrase(PLACE_PREPOSITION, sample_noun_phrase(rng, PLACE, "place"))
    return prepositional_phrase(COMPANY_PREPOSITION,
                                sample_person_or_animal(rng, ANIMATE, "object"))


def sample_clause(rng, shape):
    """A `Clause` for a "statement", "question" or "command"."""
    if shape == "command":
        verb = rng.choice(_COMMAND_VERBS)
        tense, person, subject, droppable = IMPERATIVE, SECOND_SINGULAR, None, False
    else:
        verb = rng.choice(VERBS)
        subject, droppable = sample_subject(rng, verb)
        person = subject.person
        tense = rng.choice(TENSES)
        if (tense, person) not in USABLE_CELLS[verb.infinitive]:
            # The nosotros preterite of -ar/-ir verbs is left out ("buscamos" only
            # means "we look for"): "we" gets another tense.
            tense = rng.choice(tuple(t for t, p in USABLE_CELLS[verb.infinitive]
                                     if p == person and t != IMPERATIVE))
    clause = Clause(verb, tense, person, subject)
    clause.drop_subject = droppable and rng.random() < DROP_PRONOUN_PROBABILITY
    clause.negated = shape == "statement" and rng.random() < NEGATION_PROBABILITY
    if verb.objects:
        clause.obj = sample_object(rng, verb)
    if rng.random() < EXTRA_PROBABILITY:
        clause.extra = sample_extra(rng)
    if rng.random() < ADVERB_PROBABILITY:
        clause.adverb = rng.choice(tuple(a for a in ADVERBS if tense in a.tenses))
        clause.adverb_first = (shape == "statement"
                               and rng.random() < ADVERB_FIRST_PROBABILITY)
    return clause


def sample_sentence(rng):
    """(Spanish words, English words) of one random sentence."""
    shape = _weighted(rng, SENTENCE_WEIGHTS)
    if shape == "statement":
        return statement(sample_clause(rng, "statement"))
    if shape == "question":
        return question(sample_clause(rng, "question"))
    if shape == "command":
        return command(sample_clause(rng, "command"))
    first = sample_clause(rng, "statement")
    conjunction = rng.choice(CONJUNCTIONS)
    return compound(first, conjunction, sample_clause(rng, "statement"))


# ----------------------------------------------------------------------------------
# Corpus
# ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Corpus:
    """Generated pairs, their tokens, and what the generator rejected on the way."""

    pairs: list
    spanish_tokens: list  # per pair: tuple of lower-case tokens, accents as written
    english_tokens: list
    duplicates: int = 0  # rejected: Spanish already generated with the same English
    conflicts: int = 0  # rejected: Spanish already generated with another English
    out_of_range: int = 0  # rejected: English length outside the limits


def generate_corpus(num_pairs=DEFAULT_NUM_PAIRS, seed=DEFAULT_SEED):
    """Generates `num_pairs` distinct pairs; see `Corpus`."""
    rng = random.Random(seed)
    corpus = Corpus([], [], [])
    translations = {}  # Spanish tokens as the model sees them -> English tokens
    for _ in range(num_pairs * MAX_ATTEMPTS_PER_PAIR):
        if len(corpus.pairs) == num_pairs:
            return corpus
        spanish_words, english_words = sample_sentence(rng)
        if not MIN_ENGLISH_TOKENS <= len(english_words) <= MAX_ENGLISH_TOKENS:
            corpus.out_of_range += 1
            continue
        key = tuple(strip_accents(w.text) for w in spanish_words)
        english_tokens = tuple(w.text for w in english_words)
        if key in translations:
            if translations[key] == english_tokens:
                corpus.duplicates += 1
            else:
                corpus.conflicts += 1
            continue
        translations[key] = english_tokens
        corpus.pairs.append(make_pair(spanish_words, english_words))
        corpus.spanish_tokens.append(tuple(w.text for w in spanish_words))
        corpus.english_tokens.append(english_tokens)
    if len(corpus.pairs) < num_pairs:
        raise RuntimeError(f"only {len(corpus.pairs)} distinct pairs found, "
                           f"{num_pairs} requested")
    return corpus


def generate_pairs(num_pairs=DEFAULT_NUM_PAIRS, seed=DEFAULT_SEED):
    """`num_pairs` distinct `SyntheticPair`s, deterministic from `seed`."""
    return generate_corpus(num_pairs, seed).pairs


def format_tsv(pairs):
    """One line per pair: english TAB spanish TAB alignment, "\\n" line ends, no header."""
    return "".join(f"{p.english}\t{p.spanish}\t{format_alignment(p.alignment)}\n"
                   for p in pairs)


def write_tsv(pairs, path):
    """Writes `format_tsv(pairs)` to `path` in UTF-8."""
    Path(path).write_bytes(format_tsv(pairs).encode("utf-8"))


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python tools/synthetic_corpus.py",
        description="Writes the synthetic Spanish-English corpus as a TSV file "
                    "(english, spanish, alignment).")
    parser.add_argument("--output", type=Path, default=DEFAULT_PATH,
                        help=f"where to write (default: {DEFAULT_PATH})")
    parser.add_argument("--num-pairs", type=int, default=DEFAULT_NUM_PAIRS,
                        help=f"number of distinct pairs (default: {DEFAULT_NUM_PAIRS})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"random seed (default: {DEFAULT_SEED})")
    args = parser.parse_args(argv)
    if args.num_pairs < 1:
        parser.error("--num-pairs must be at least 1")
    start = time.perf_counter()
    pairs = generate_pairs(args.num_pairs, args.seed)
    seconds = time.perf_counter() - start
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_tsv(pairs, args.output)
    print(f"wrote {len(pairs)} pairs (seed {args.seed}, generated in {seconds:.1f} s) to "
          f"{args.output} ({args.output.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
