"""Parallel corpora: loading sentence pairs and splitting them into train/validation/test.

Sources
-------
* ``"synthetic"``: the project's own generated Spanish-English corpus
  (`nmt_keras.data.synthetic.generate_pairs`), with word alignments.
* ``"spa-eng"``: the Anki/Tatoeba English-Spanish archive used by the TensorFlow NMT
  tutorial (`SPA_ENG_URL`), downloaded once into the Keras cache and checked against
  `SPA_ENG_SHA256`.
* Any other tab-separated file, local or at an ``http(s)://`` or ``file://`` URL, either
  plain or inside a zip archive.

File format
-----------
UTF-8 text, one sentence pair per line, in the Anki/Tatoeba column order::

    English<TAB>other language[<TAB>third column]

The optional third column is Anki's attribution text (ignored) or, when
``alignment_column=True``, a Pharaoh word alignment ``"i-j i-j ..."`` in which ``i``
indexes the tokens of column 2 and ``j`` those of column 1 (0-based, over the
standardized tokens of `nmt_keras.data.text`). A leading UTF-8 byte order mark and Windows
``"\\r\\n"`` line ends are accepted; surrounding whitespace of each column is removed.
There is no line-length limit.

A *direction* says which column is the source: ``"to-english"`` (the default, as in the
TensorFlow tutorial) translates column 2 into English, ``"from-english"`` the reverse.
Alignments are always stored as sorted ``(source_index, target_index)`` links, so they
are flipped for ``"from-english"``.

Bad input policy
----------------
Fail fast. Any data problem raises `CorpusError` (a `ValueError`) whose message names the
file (``archive.zip:member`` inside an archive), the 1-based line number, the problem and
a short excerpt of the offending value. Nothing is silently dropped: the only lines
skipped are blank (whitespace-only) lines, and their number is reported in
`Corpus.blank_lines`. Errors include: a missing file or a directory; a file without any
sentence pair; a line without a tab or with more than 3 columns; an empty side; bytes that
are not valid UTF-8 (reported with their byte offset in the line, counted in the raw
bytes); a malformed alignment; an unreachable URL or a checksum mismatch when
downloading (a failed download never leaves a file under its cached name).
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import numbers
import os
import pathlib
import random
import re
import shutil
import tempfile
import unicodedata
import urllib.parse
import zipfile

from nmt_keras.data import synthetic

SPA_ENG_URL = "http://storage.googleapis.com/download.tensorflow.org/data/spa-eng.zip"
SPA_ENG_SHA256 = "0c4fd7825d3d872488d38c157f784e035edab4f2ff0df25a2a208790ecb5b58f"

DIRECTIONS = ("to-english", "from-english")
DEFAULT_DIRECTION = "to-english"

SYNTHETIC = "synthetic"
SPA_ENG = "spa-eng"
ENGLISH = "English"
SPANISH = "Spanish"
# What the non-English column of an arbitrary file is called in reports and errors.
DEFAULT_OTHER_LANGUAGE = "column 2"

URL_SCHEMES = ("http", "https", "file")
# Zip members picked automatically: text files whose name does not start with one of
# these (spa-eng.zip also holds "spa-eng/_about.txt"; macOS adds "__MACOSX/._*" entries).
MEMBER_SUFFIXES = (".txt", ".tsv")
IGNORED_MEMBER_PREFIXES = ("_", ".")
KERAS_CACHE_SUBDIR = "datasets"

MIN_COLUMNS = 2
MAX_COLUMNS = 3
UTF8_BOM = b"\xef\xbb\xbf"
EXCERPT_CHARS = 60
BAD_BYTES_CONTEXT = 20  # bytes shown on each side of an undecodable byte
HASH_CHUNK_BYTES = 1 << 20
# Runs of characters that are neither word characters nor apostrophes (see `source_key`).
_NON_WORD = re.compile(r"[^\w']+")


class CorpusError(ValueError):
    """A corpus cannot be read: bad data, missing file, failed download or split."""


@dataclasses.dataclass(frozen=True)
class SentencePair:
    """One translation example.

    Attributes:
        source: str. The sentence to translate.
        target: str. Its reference translation.
        alignment: tuple of ``(source_index, target_index)`` int pairs, sorted, over the
            standardized tokens of both sides, when known (synthetic corpus or an
            alignment column); else None.
    """

    source: str
    target: str
    alignment: tuple | None = None


@dataclasses.dataclass(frozen=True)
class Corpus:
    """Sentence pairs and where they came from.

    Attributes:
        name: str. ``"synthetic"``, ``"spa-eng"``, or the file name (``"archive.zip:member"``
            for a file inside an archive).
        pairs: tuple of `SentencePair`, in file order.
        source_language: str. E.g. ``"Spanish"``; ``"column 2"`` or ``"English"`` for an
            arbitrary file.
        target_language: str.
        origin: str. The path or URL it was read from, for reports.
        blank_lines: int. Blank lines skipped (the only thing ever skipped).
    """

    name: str
    pairs: tuple
    source_language: str
    target_language: str
    origin: str
    blank_lines: int = 0


@dataclasses.dataclass(frozen=True)
class Splits:
    """Disjoint train/validation/test sets: each a tuple of `SentencePair`."""

    train: tuple
    validation: tuple
    test: tuple


# --------------------------------------------------------------------------- helpers


def _check_direction(direction):
    """Raises ValueError unless `direction` is one of `DIRECTIONS`."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}.")


def _excerpt(value):
    """Returns ``repr(value)`` shortened to about `EXCERPT_CHARS` characters."""
    text = repr(value)
    if len(text) > EXCERPT_CHARS:
        text = text[: EXCERPT_CHARS - 3] + "..."
    return text


def _languages(direction, other_language):
    """Returns ``(source_language, target_language)`` for a direction."""
    if direction == "to-english":
        return other_language, ENGLISH
    return ENGLISH, other_language


def _flip(alignment):
    """Swaps the two indices of every link and sorts the result."""
    return tuple(sorted((j, i) for i, j in alignment))


def _is_url(text):
    """True for a string with a ``scheme://`` prefix (supported or not)."""
    return "://" in text and bool(urllib.parse.urlsplit(text).scheme)


def _sha256_of(path):
    """Returns the hex sha256 digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------- reading


def _read_bytes(path, member):
    """Reads a plain file, or one member of a zip archive, as bytes.

    Args:
        path: pathlib.Path. An existing file.
        member: str or None. The archive member to read; None picks it automatically.

    Returns:
        ``(member, data)``: the member read (None for a plain file) and its bytes.
    """
    if not zipfile.is_zipfile(path):
        if member is not None:
            raise CorpusError(
                f"{path}: member={member!r} given, but this is not a zip archive."
            )
        try:
            return None, path.read_bytes()
        except OSError as error:
            raise CorpusError(f"{path}: cannot read the file: {error}") from error
    try:
        with zipfile.ZipFile(path) as archive:
            member = _pick_member(path, archive.namelist(), member)
            return member, archive.read(member)
    # RuntimeError: encrypted member; NotImplementedError: unsupported compression.
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as error:
        raise CorpusError(f"{path}: cannot read the zip archive: {error}") from error


def _pick_member(path, names, member):
    """Returns the archive member to read (see `read_tsv`)."""
    files = [name for name in names if not name.endswith("/")]
    if member is not None:
        if member not in files:
            raise CorpusError(
                f"{path}: no member {member!r} in the archive; its files are {files}."
            )
        return member
    candidates = [
        name
        for name in files
        if name.lower().endswith(MEMBER_SUFFIXES)
        and not name.rsplit("/", 1)[-1].startswith(IGNORED_MEMBER_PREFIXES)
    ]
    if len(candidates) != 1:
        problem = "no" if not candidates else "several"
        raise CorpusError(
            f"{path}: {problem} candidate sentence files in the archive "
            f"(names ending in {' or '.join(MEMBER_SUFFIXES)}): {candidates or files}; "
            "pass member= to choose one."
        )
    return candidates[0]


def _decode_line(raw, label, number):
    """Decodes one line (without its ``"\\n"``) as strict UTF-8.

    A trailing ``"\\r"`` is removed; on line 1 a leading byte order mark too.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        start = max(0, error.start - BAD_BYTES_CONTEXT)
        context = raw[start : error.end + BAD_BYTES_CONTEXT]
        raise CorpusError(
            f"{label}, line {number}: invalid UTF-8 at byte offset {error.start} of the "
            f"line ({error.reason}): {_excerpt(context)}"
        ) from None
    if number == 1 and text.startswith(UTF8_BOM.decode("utf-8")):
        text = text[1:]
    if text.endswith("\r"):
        text = text[:-1]
    return text


def _parse_line(text, label, number, direction, other_language, alignment_column):
    """Turns one non-blank decoded line into a `SentencePair` (see `read_tsv`)."""
    columns = text.split("\t")
    if len(columns) < MIN_COLUMNS:
        raise CorpusError(
            f"{label}, line {number}: no tab: expected 'English<TAB>{other_language}': "
            f"{_excerpt(text)}"
        )
    if len(columns) > MAX_COLUMNS:
        raise CorpusError(
            f"{label}, line {number}: {len(columns)} tab-separated columns, expected "
            f"{MIN_COLUMNS} or {MAX_COLUMNS}: {_excerpt(text)}"
        )
    english, other = columns[0].strip(), columns[1].strip()
    for side, language in ((english, ENGLISH), (other, other_language)):
        if not side:
            raise CorpusError(
                f"{label}, line {number}: empty {language} side: {_excerpt(text)}"
            )
    alignment = None
    if alignment_column:
        if len(columns) < MAX_COLUMNS:
            raise CorpusError(
                f"{label}, line {number}: missing alignment column: {_excerpt(text)}"
            )
        try:
            alignment = tuple(sorted(synthetic.parse_alignment(columns[2])))
        except ValueError:
            raise CorpusError(
                f"{label}, line {number}: malformed alignment column, expected "
                f"space-separated 'i-j' links of non-negative integers: "
                f"{_excerpt(columns[2])}"
            ) from None
    if direction == "to-english":
        return SentencePair(source=other, target=english, alignment=alignment)
    if alignment is not None:
        alignment = _flip(alignment)
    return SentencePair(source=english, target=other, alignment=alignment)


def read_tsv(
    path,
    direction=DEFAULT_DIRECTION,
    member=None,
    alignment_column=False,
    *,
    other_language=DEFAULT_OTHER_LANGUAGE,
):
    """Reads an Anki/Tatoeba-style tab-separated file of sentence pairs.

    Args:
        path: str or os.PathLike. A text file, or a zip archive (recognized by its
            content, not its suffix).
        direction: one of `DIRECTIONS`. ``"to-english"`` makes column 2 the source.
        member: str or None. The archive member to read. By default, the only member
            whose name ends in ``.txt`` or ``.tsv`` and does not start with ``_`` or ``.``
            (so ``spa-eng/spa.txt`` rather than ``spa-eng/_about.txt``).
        alignment_column: bool. Whether column 3 is a Pharaoh alignment (column 2's token
            index first) to parse; otherwise column 3 is ignored.
        other_language: str. The name of column 2's language, used for
            `Corpus.source_language`/`target_language` and in error messages.

    Returns:
        A `Corpus` named after the file, with its pairs in file order.

    Raises:
        ValueError: `direction` is not one of `DIRECTIONS`.
        CorpusError: any data problem (see the module docstring).
    """
    _check_direction(direction)
    path = pathlib.Path(path)
    if not path.exists():
        raise CorpusError(f"{path}: file not found.")
    if path.is_dir():
        raise CorpusError(f"{path}: is a directory, not a sentence-pair file.")
    member, data = _read_bytes(path, member)
    label = str(path) if member is None else f"{path}:{member}"

    lines = data.split(b"\n")
    if lines[-1] == b"":  # the newline that ends the last line starts no line
        lines.pop()
    pairs = []
    blank_lines = 0
    for number, raw in enumerate(lines, start=1):
        text = _decode_line(raw, label, number)
        if not text.strip():
            blank_lines += 1
            continue
        pairs.append(
            _parse_line(text, label, number, direction, other_language, alignment_column)
        )
    if not pairs:
        raise CorpusError(
            f"{label}: no sentence pairs in the file "
            f"({len(lines)} lines, {blank_lines} of them blank)."
        )
    source_language, target_language = _languages(direction, other_language)
    return Corpus(
        name=path.name if member is None else f"{path.name}:{member}",
        pairs=tuple(pairs),
        source_language=source_language,
        target_language=target_language,
        origin=str(path),
        blank_lines=blank_lines,
    )


# ------------------------------------------------------------------------ downloading


def _check_sha256_argument(sha256):
    """Returns `sha256` lower-cased, or None; ValueError unless it is 64 hex digits."""
    if sha256 is None:
        return None
    if not isinstance(sha256, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise ValueError(f"sha256 must be 64 hexadecimal digits or None, got {sha256!r}.")
    return sha256.lower()


def _checksum_error(origin, expected, actual):
    """The `CorpusError` for a file whose sha256 is not the expected one."""
    return CorpusError(
        f"{origin}: sha256 checksum mismatch: expected {expected}, got {actual}."
    )


def _check_local_file(path, sha256):
    """Returns `path` after checking that it is a file with the given sha256 (if any)."""
    if not path.exists():
        raise CorpusError(f"{path}: file not found.")
    if not path.is_file():
        raise CorpusError(f"{path}: not a regular file.")
    if sha256 is not None:
        actual = _sha256_of(path)
        if actual != sha256:
            raise _checksum_error(path, sha256, actual)
    return path


def _cache_root(cache_dir):
    """The cache directory: `cache_dir`, else ``$KERAS_HOME``, else ``~/.keras`` (as Keras)."""
    if cache_dir is None:
        cache_dir = os.environ.get("KERAS_HOME") or os.path.join("~", ".keras")
    return pathlib.Path(os.path.expanduser(os.fspath(cache_dir)))


def _fetch(origin, sha256, fname, staging):
    """Downloads `origin` with Keras into the empty directory `staging`; returns the file.

    Keras verifies the sha256 after the download; on a mismatch it leaves the bad file in
    `staging`, whose hash is then reported.
    """
    # Imported here: reading and splitting corpora needs no TensorFlow.
    import keras

    try:
        return pathlib.Path(
            keras.utils.get_file(
                fname,
                origin,
                file_hash=sha256,
                hash_algorithm="sha256",
                cache_dir=os.fspath(staging),
            )
        )
    # Keras re-raises network failures as a bare Exception, checksum failures as ValueError.
    except Exception as error:
        staged = staging / KERAS_CACHE_SUBDIR / fname
        if sha256 is not None and staged.is_file():
            actual = _sha256_of(staged)
            if actual != sha256:
                raise _checksum_error(origin, sha256, actual) from None
        raise CorpusError(f"{origin}: download failed: {error}") from error


def download(origin=SPA_ENG_URL, sha256=SPA_ENG_SHA256, cache_dir=None, fname=None):
    """Downloads a file once into the Keras cache, checking its sha256.

    The file is fetched with `keras.utils.get_file` into a temporary directory next to
    the cache entry and moved to its final name only once complete and verified, so an
    interrupted or corrupt download never sits in the cache under that name. A cached
    file is reused when its sha256 matches (or when no sha256 is given), otherwise it is
    downloaded again.

    Args:
        origin: str or os.PathLike. An ``http://``, ``https://`` or ``file://`` URL, or a
            local path: a local path is not copied, only checked and returned as is.
        sha256: str or None. Expected hex sha256 of the file; None skips verification.
        cache_dir: str, os.PathLike or None. The cache root: files go to
            ``cache_dir/datasets/fname``. Defaults to ``$KERAS_HOME`` or ``~/.keras``.
        fname: str or None. File name in the cache; defaults to the URL's last component.

    Returns:
        pathlib.Path of the cached (or local) file.

    Raises:
        CorpusError: unsupported URL scheme, unreachable URL, missing local file,
            checksum mismatch, or an unwritable cache directory.
        ValueError: malformed `sha256` or `fname`.
    """
    origin = os.fspath(origin)
    sha256 = _check_sha256_argument(sha256)
    if not _is_url(origin):
        return _check_local_file(pathlib.Path(origin), sha256)
    url = urllib.parse.urlsplit(origin)
    if url.scheme.lower() not in URL_SCHEMES:
        raise CorpusError(
            f"{origin}: unsupported URL scheme {url.scheme!r}; use one of {URL_SCHEMES}."
        )
    fname = fname or os.path.basename(url.path)
    if not fname or "/" in fname or os.sep in fname or fname in (".", ".."):
        raise ValueError(
            f"cannot use {fname!r} as the cached file name of {origin}; pass fname=."
        )

    datasets_dir = _cache_root(cache_dir) / KERAS_CACHE_SUBDIR
    try:
        datasets_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CorpusError(
            f"{datasets_dir}: cannot create the cache directory: {error}"
        ) from error
    target = datasets_dir / fname
    if target.is_file() and (sha256 is None or _sha256_of(target) == sha256):
        return target

    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{fname}.partial-", dir=datasets_dir))
    try:
        os.replace(_fetch(origin, sha256, fname, staging), target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


# ---------------------------------------------------------------------------- loading


def synthetic_sentence_pairs(synthetic_pairs, direction=DEFAULT_DIRECTION):
    """Converts `nmt_keras.data.synthetic.SyntheticPair`s into `SentencePair`s.

    Args:
        synthetic_pairs: iterable of objects with ``spanish``, ``english`` and
            ``alignment`` (``(spanish_index, english_index)`` links) attributes.
        direction: one of `DIRECTIONS`. ``"to-english"`` makes Spanish the source;
            ``"from-english"`` swaps the sides and flips every alignment link.

    Returns:
        tuple of `SentencePair`, alignments sorted by (source, target) index.
    """
    _check_direction(direction)
    if direction == "to-english":
        return tuple(
            SentencePair(p.spanish, p.english, tuple(sorted(p.alignment)))
            for p in synthetic_pairs
        )
    return tuple(
        SentencePair(p.english, p.spanish, _flip(p.alignment)) for p in synthetic_pairs
    )


def _load_synthetic(direction):
    """The synthetic corpus, with its default size and seed."""
    source_language, target_language = _languages(direction, SPANISH)
    return Corpus(
        name=SYNTHETIC,
        pairs=synthetic_sentence_pairs(synthetic.generate_pairs(), direction),
        source_language=source_language,
        target_language=target_language,
        origin="nmt_keras.data.synthetic.generate_pairs()",
    )


def load_corpus(
    data=SYNTHETIC, direction=DEFAULT_DIRECTION, *, origin=None, sha256=None, cache_dir=None
):
    """Loads a corpus by name, path or URL.

    Args:
        data: str or os.PathLike. ``"synthetic"`` (generated, Spanish/English, with
            alignments), ``"spa-eng"`` (the Anki/Tatoeba archive, downloaded and
            verified), or the path or ``http(s)://``/``file://`` URL of a tab-separated
            file or zip archive (see `read_tsv`).
        direction: one of `DIRECTIONS`.
        origin: str or None. Only for ``"spa-eng"``: where to get the archive instead of
            `SPA_ENG_URL` (a mirror, ``file://`` URL or local path).
        sha256: str or None. Expected sha256: for ``"spa-eng"`` defaults to
            `SPA_ENG_SHA256`; for a path or URL, optional.
        cache_dir: str, os.PathLike or None. Download cache root (see `download`).

    Returns:
        A `Corpus`.

    Raises:
        ValueError: bad `direction`, or `origin`/`sha256` given where they do not apply.
        CorpusError: any data or download problem.
    """
    _check_direction(direction)
    data = os.fspath(data)
    if origin is not None and data != SPA_ENG:
        raise ValueError(f"origin= only applies to data={SPA_ENG!r}, not {data!r}.")
    if data == SYNTHETIC:
        if sha256 is not None:
            raise ValueError(f"sha256= does not apply to data={SYNTHETIC!r}.")
        return _load_synthetic(direction)
    if data == SPA_ENG:
        origin = os.fspath(origin) if origin is not None else SPA_ENG_URL
        path = download(origin, sha256 or SPA_ENG_SHA256, cache_dir)
        corpus = read_tsv(path, direction, other_language=SPANISH)
        return dataclasses.replace(corpus, name=SPA_ENG, origin=origin)
    if _is_url(data):
        corpus = read_tsv(download(data, sha256, cache_dir), direction)
        return dataclasses.replace(corpus, origin=data)
    if sha256 is not None:
        download(data, sha256)  # verifies the local file
    return read_tsv(data, direction)


# -------------------------------------------------------------------------- splitting


def _check_size(name, size):
    """ValueError unless `size` is a non-negative int."""
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 0:
        raise ValueError(f"{name} must be a non-negative int, got {size!r}.")


def source_key(text):
    """A sentence as the model will see it, approximately: lower-cased, accents and
    punctuation removed, words separated by single spaces ("¿Qué?" and "Que" match).
    Pure Python, so splitting needs no TensorFlow."""
    decomposed = unicodedata.normalize("NFKD", text)
    letters = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join(_NON_WORD.sub(" ", letters).split())


def split_pairs(pairs, seed, validation_size, test_size):
    """Splits pairs into train/validation/test, keeping equal sources together.

    Pairs whose sources are the same sentence for the model (`source_key`: equal up to
    case, accents, punctuation and spacing, which standardization removes) form a
    group, and each group goes wholly to one split, so no test or validation source
    sentence is seen in training (real corpora repeat a source with several
    translations, or with different capitals). The groups, in order of first
    appearance, are shuffled with ``random.Random(seed)``; then test takes groups until
    it holds at least `test_size` pairs, validation likewise, and train the rest. Within
    a split, pairs are in shuffled group order, and in input order inside a group.

    Args:
        pairs: iterable of `SentencePair`.
        seed: int or str. The shuffling seed; the same seed and input give the same split.
        validation_size: int >= 0. Minimum number of validation pairs.
        test_size: int >= 0. Minimum number of test pairs.

    Returns:
        `Splits` of tuples of `SentencePair`.

    Raises:
        ValueError: a negative or non-int size, or ``seed=None``.
        CorpusError: nothing would be left for training.
    """
    if seed is None:
        raise ValueError("seed must be given (not None), so that the split is reproducible.")
    _check_size("validation_size", validation_size)
    _check_size("test_size", test_size)
    pairs = tuple(pairs)
    groups = collections.defaultdict(list)  # insertion-ordered: first appearance
    for pair in pairs:
        groups[source_key(pair.source)].append(pair)
    order = list(groups.values())
    random.Random(seed).shuffle(order)

    test, validation, train = [], [], []
    for group in order:
        if len(test) < test_size:
            test.extend(group)
        elif len(validation) < validation_size:
            validation.extend(group)
        else:
            train.extend(group)
    if not train:
        raise CorpusError(
            f"corpus too small to split: {len(pairs)} pairs ({len(order)} distinct sources) "
            f"with test_size={test_size} and validation_size={validation_size} leave no "
            f"training pairs (test got {len(test)}, validation {len(validation)})."
        )
    return Splits(train=tuple(train), validation=tuple(validation), test=tuple(test))
