"""Parallel corpora: loading sentence pairs and splitting them into train/validation/test.

Sources
-------
* ``"synthetic"``: the project's own generated Spanish-English corpus, with word
  alignments, shipped in the package as `SYNTHETIC_FILE` (``nmt_keras/data/``) and read
  like any file with an alignment column. ``tools/synthetic_corpus.py`` writes it.
* ``"spa-eng"``: the Anki/Tatoeba English-Spanish archive used by the TensorFlow NMT
  tutorial (`SPA_ENG_URL`), downloaded once into the Keras cache and checked against
  `SPA_ENG_SHA256`.
* Any other tab-separated file, local or at an ``http(s)://`` or ``file://`` URL, either
  plain or inside a zip archive. In an archive with several files, the one whose first
  line holds a tab is read (an Anki archive from manythings.org/anki holds the pairs
  file and ``_about.txt``); when no file or several files hold tabs, the error names
  the archive's files.

File format
-----------
UTF-8 text, one sentence pair per line, in the Anki/Tatoeba column order::

    English<TAB>other language[<TAB>third column]

The optional third column is Anki's attribution text (ignored) or, when
``alignment_column=True``, a Pharaoh word alignment ``"i-j i-j ..."`` in which ``i``
indexes the tokens of column 2 and ``j`` those of column 1 (0-based, over the
standardized tokens of `nmt_keras.data.tokenizers`). A leading UTF-8 byte order mark and Windows
``"\\r\\n"`` line ends are accepted; surrounding whitespace of each column is removed.
There is no line-length limit, but there is a size limit: a file, an archive member
(uncompressed) or a download larger than `max_bytes` (``--max-corpus-mb``) is refused
before it is read, and files are read as streams that stop at the limit. Only regular
files are read (not devices, pipes or sockets).

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
bytes); a malformed alignment; a file past the size limit; an unreachable URL, a
download that times out (`DOWNLOAD_TIMEOUT_SECONDS` without a byte) or a checksum
mismatch (a failed download never leaves a file under its cached name).

Downloads are cached under ``CACHE_DIR/datasets/``: with a sha256, as the URL's file
name, reused only while its checksum matches; without one, under a directory named
after a digest of the whole URL (``datasets/by-url/<digest>/<name>``), so two URLs
that end in the same file name never share a cached file.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import hashlib
import http.client
import importlib.resources
import numbers
import os
import pathlib
import random
import re
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib

from nmt_keras.atomic import replaced_file
from nmt_keras.constants import BYTES_PER_MB, DIRECTIONS, MAX_CORPUS_MB, SHA256_PATTERN

SPA_ENG_URL = "http://storage.googleapis.com/download.tensorflow.org/data/spa-eng.zip"
SPA_ENG_SHA256 = "0c4fd7825d3d872488d38c157f784e035edab4f2ff0df25a2a208790ecb5b58f"

DEFAULT_DIRECTION = "to-english"

SYNTHETIC = "synthetic"
# The embedded corpus: a file of this package, and how reports name it (`Corpus.origin`).
SYNTHETIC_FILE = "spa_eng_synthetic.tsv"
SYNTHETIC_ORIGIN = f"{__package__.replace('.', '/')}/{SYNTHETIC_FILE}"
SPA_ENG = "spa-eng"
ENGLISH = "English"
SPANISH = "Spanish"
# What the non-English column of an arbitrary file is called in reports and errors.
DEFAULT_OTHER_LANGUAGE = "column 2"

URL_SCHEMES = ("http", "https", "file")
# Archive entries that are never sentence files: what macOS adds to the zips it makes.
METADATA_DIRECTORY = "__MACOSX"
METADATA_PREFIX = "._"
METADATA_NAMES = (".DS_Store",)
# Bytes of each archive member read to tell whether its first line holds a tab.
SNIFF_BYTES = 1 << 16
# Archive members named in an error message, at most.
MEMBERS_SHOWN = 10
KERAS_CACHE_SUBDIR = "datasets"
# Cached downloads without a sha256: datasets/by-url/<first hex digits of the URL's sha256>/.
BY_URL_SUBDIR = "by-url"
URL_DIGEST_CHARS = 16
# Seconds a download may wait for the server (to connect, or for the next bytes).
DOWNLOAD_TIMEOUT_SECONDS = 60
# The default size limit of a corpus file, archive member or download.
DEFAULT_MAX_BYTES = MAX_CORPUS_MB * BYTES_PER_MB

MIN_COLUMNS = 2
MAX_COLUMNS = 3
UTF8_BOM = b"\xef\xbb\xbf"
EXCERPT_CHARS = 60
BAD_BYTES_CONTEXT = 20  # bytes shown on each side of an undecodable byte
HASH_CHUNK_BYTES = 1 << 20
# What reading a damaged zip archive raises besides BadZipFile and OSError: RuntimeError
# for an encrypted member, NotImplementedError for an unsupported compression, zlib.error
# and EOFError for damaged compressed data.
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError)
# One link "i-j" of a Pharaoh word alignment: two non-negative integers in ASCII digits.
_ALIGNMENT_LINK = re.compile(r"([0-9]+)-([0-9]+)")
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
        origin: str. The path or URL it was read from, for reports; for the embedded
            corpus, its path inside the package (`SYNTHETIC_ORIGIN`).
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


def _line_error(label, number, problem, value):
    """The `CorpusError` for line `number` of the file `label`, with an excerpt of `value`."""
    return CorpusError(f"{label}, line {number}: {problem}: {_excerpt(value)}")


def _is_url(text):
    """True for a string with a ``scheme://`` prefix (supported or not)."""
    return "://" in text and bool(urllib.parse.urlsplit(text).scheme)


def _sha256_of(path):
    """Returns the hex sha256 digest of a file."""
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


# ---------------------------------------------------------------------------- reading


def _check_limit(label, size, max_bytes, known=True):
    """A `CorpusError` if `size` bytes pass `max_bytes` (None: no limit); `known=False`
    for a stream stopped after `size` bytes, whose whole size is unknown."""
    if max_bytes is not None and size > max_bytes:
        amount = f"{'' if known else 'more than '}{(size if known else max_bytes) / BYTES_PER_MB:,.1f} MB"
        raise CorpusError(
            f"{label}: {amount}, larger than the limit of {max_bytes / BYTES_PER_MB:,.0f} MB "
            f"(raise it with --max-corpus-mb)"
        )


def _is_metadata(name):
    """True for archive entries that macOS adds (``__MACOSX/``, ``._name``, ``.DS_Store``)."""
    base = name.rsplit("/", 1)[-1]
    return (name.split("/", 1)[0] == METADATA_DIRECTORY or base.startswith(METADATA_PREFIX)
            or base in METADATA_NAMES)


def _first_line_has_tab(archive, name):
    """True if the first non-blank line of an archive member holds a tab."""
    try:
        with archive.open(name) as stream:
            head = stream.read(SNIFF_BYTES)
    except _ZIP_ERRORS:
        return False
    for line in head.removeprefix(UTF8_BOM).split(b"\n"):
        if line.strip():
            return b"\t" in line
    return False


def _name_members(names):
    shown = ", ".join(_excerpt(name) for name in names[:MEMBERS_SHOWN])
    more = f" and {len(names) - MEMBERS_SHOWN} more" if len(names) > MEMBERS_SHOWN else ""
    return shown + more


def _check_regular_file(path):
    """A `CorpusError` unless `path` is a regular file."""
    if not path.exists():
        raise CorpusError(f"{path}: file not found.")
    if path.is_dir():
        raise CorpusError(f"{path}: is a directory, not a sentence-pair file.")
    if not path.is_file():
        raise CorpusError(f"{path}: not a regular file (a device, pipe or socket).")


def check_data(data, max_bytes=DEFAULT_MAX_BYTES):
    """Checks, without reading its lines, that a local data file can be read: a regular
    file, or a zip archive with one sentence file to pick, within `max_bytes`. Names
    (``"synthetic"``, ``"spa-eng"``) and URLs are checked when they are loaded.

    Raises:
        CorpusError: naming the file and the problem.
    """
    data = os.fspath(data)
    if data in (SYNTHETIC, SPA_ENG) or _is_url(data):
        return
    with _open_pairs(pathlib.Path(data), None, max_bytes):
        pass


def _pick_member(path, archive, member):
    """Returns the archive member to read (see `read_tsv`)."""
    files = [info.filename for info in archive.infolist() if not info.is_dir()]
    if member is not None:
        if member not in files:
            raise CorpusError(
                f"{path}: no member {_excerpt(member)} in the archive; its files are "
                f"{_name_members(files)}."
            )
        return member
    files = [name for name in files if not _is_metadata(name)]
    if len(files) == 1:
        return files[0]
    tabbed = [name for name in files if _first_line_has_tab(archive, name)]
    if len(tabbed) == 1:
        return tabbed[0]
    if not files:
        raise CorpusError(f"{path}: the zip archive holds no files.")
    if not tabbed:
        raise CorpusError(
            f"{path}: no file in the archive starts with a tab-separated line "
            f"('English<TAB>other language'); its files are {_name_members(files)}."
        )
    raise CorpusError(
        f"{path}: {len(tabbed)} files in the archive hold tab-separated lines: "
        f"{_name_members(tabbed)}; extract the one to use and pass it as the data file."
    )


@contextlib.contextmanager
def _open_pairs(path, member, max_bytes):
    """Opens a regular file, or one member of a zip archive, as a binary stream.

    Yields ``(member, stream)``: the member opened (None for a plain file) and the
    stream, after checking the size (the uncompressed size of a member) against
    `max_bytes`. A read error, then or while the stream is read, is a `CorpusError`.
    """
    _check_regular_file(path)
    if not zipfile.is_zipfile(path):
        if member is not None:
            raise CorpusError(
                f"{path}: member={member!r} given, but this is not a zip archive."
            )
        try:
            with open(path, "rb") as stream:
                _check_limit(path, os.fstat(stream.fileno()).st_size, max_bytes)
                yield None, stream
        except OSError as error:
            raise CorpusError(f"{path}: cannot read the file: {error.strerror}") from None
        return
    try:
        with zipfile.ZipFile(path) as archive:
            member = _pick_member(path, archive, member)
            _check_limit(f"{path}:{member}", archive.getinfo(member).file_size, max_bytes)
            with archive.open(member) as stream:
                yield member, stream
    except _ZIP_ERRORS as error:
        raise CorpusError(f"{path}: cannot read the zip archive: {error}") from None


def _lines(stream, label, max_bytes):
    """The lines of a binary stream without their ``"\\n"``, stopping with a
    `CorpusError` once more than `max_bytes` were read."""
    total = 0
    while True:
        raw = stream.readline(-1 if max_bytes is None else max_bytes - total + 1)
        if not raw:
            return
        total += len(raw)
        _check_limit(label, total, max_bytes, known=False)
        yield raw[:-1] if raw.endswith(b"\n") else raw


def _decode_line(raw, label, number):
    """Decodes one line (without its ``"\\n"``) as strict UTF-8.

    A trailing ``"\\r"`` is removed; on line 1 a leading byte order mark too.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        start = max(0, error.start - BAD_BYTES_CONTEXT)
        context = raw[start : error.end + BAD_BYTES_CONTEXT]
        problem = f"invalid UTF-8 at byte offset {error.start} of the line ({error.reason})"
        raise _line_error(label, number, problem, context) from None
    if number == 1:
        text = text.removeprefix(UTF8_BOM.decode("utf-8"))
    return text.removesuffix("\r")


def parse_alignment(text):
    """Reads a Pharaoh word alignment: ``"0-1 1-0"`` -> ``((0, 1), (1, 0))``.

    Args:
        text: str. Whitespace-separated ``"i-j"`` links of non-negative integers
            (ASCII digits), in any order; ``""`` is the empty alignment.

    Returns:
        tuple of ``(i, j)`` int pairs, in the order of `text`.

    Raises:
        ValueError: an item is not ``"i-j"``; the message names it.
    """
    links = []
    for item in text.split():
        link = _ALIGNMENT_LINK.fullmatch(item)
        if link is None:
            raise ValueError(f"bad alignment item {item!r} in {text!r}: expected 'i-j' "
                             "with non-negative integers")
        links.append((int(link[1]), int(link[2])))
    return tuple(links)


def _parse_line(text, label, number, direction, other_language, alignment_column):
    """Turns one non-blank decoded line into a `SentencePair` (see `read_tsv`)."""
    columns = text.split("\t")
    if len(columns) < MIN_COLUMNS:
        raise _line_error(label, number, f"no tab: expected 'English<TAB>{other_language}'", text)
    if len(columns) > MAX_COLUMNS:
        problem = f"{len(columns)} tab-separated columns, expected {MIN_COLUMNS} or {MAX_COLUMNS}"
        raise _line_error(label, number, problem, text)
    english, other = columns[0].strip(), columns[1].strip()
    for side, language in ((english, ENGLISH), (other, other_language)):
        if not side:
            raise _line_error(label, number, f"empty {language} side", text)
    to_english = direction == "to-english"
    alignment = None
    if alignment_column:
        if len(columns) < MAX_COLUMNS:
            raise _line_error(label, number, "missing alignment column", text)
        try:
            links = parse_alignment(columns[2])
        except ValueError:
            problem = ("malformed alignment column, expected space-separated 'i-j' links of "
                       "non-negative integers")
            raise _line_error(label, number, problem, columns[2]) from None
        # Stored as (source_index, target_index): column 2 first when it is the source.
        alignment = tuple(sorted(links if to_english else ((j, i) for i, j in links)))
    if to_english:
        return SentencePair(source=other, target=english, alignment=alignment)
    return SentencePair(source=english, target=other, alignment=alignment)


def read_tsv(
    path,
    direction=DEFAULT_DIRECTION,
    member=None,
    alignment_column=False,
    *,
    other_language=DEFAULT_OTHER_LANGUAGE,
    max_bytes=DEFAULT_MAX_BYTES,
):
    """Reads an Anki/Tatoeba-style tab-separated file of sentence pairs.

    Args:
        path: str or os.PathLike. A text file, or a zip archive (recognized by its
            content, not its suffix).
        direction: one of `DIRECTIONS`. ``"to-english"`` makes column 2 the source.
        member: str or None. The archive member to read. By default, the archive's
            only file, or else the only one whose first non-blank line holds a tab (so
            ``spa-eng/spa.txt`` rather than ``spa-eng/_about.txt``); macOS metadata
            entries (``__MACOSX/``, ``._*``) are never read.
        alignment_column: bool. Whether column 3 is a Pharaoh alignment (column 2's token
            index first) to parse; otherwise column 3 is ignored.
        other_language: str. The name of column 2's language, used for
            `Corpus.source_language`/`target_language` and in error messages.
        max_bytes: int or None. Refuse a file (or member, uncompressed) larger than
            this; None: no limit.

    Returns:
        A `Corpus` named after the file, with its pairs in file order.

    Raises:
        ValueError: `direction` is not one of `DIRECTIONS`.
        CorpusError: any data problem (see the module docstring).
    """
    _check_direction(direction)
    path = pathlib.Path(path)
    pairs = []
    blank_lines = 0
    number = 0
    with _open_pairs(path, member, max_bytes) as (member, stream):
        label = str(path) if member is None else f"{path}:{member}"
        for number, raw in enumerate(_lines(stream, label, max_bytes), start=1):
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
            f"({number} lines, {blank_lines} of them blank)."
        )
    to_english = direction == "to-english"
    return Corpus(
        name=path.name if member is None else f"{path.name}:{member}",
        pairs=tuple(pairs),
        source_language=other_language if to_english else ENGLISH,
        target_language=ENGLISH if to_english else other_language,
        origin=str(path),
        blank_lines=blank_lines,
    )


# ------------------------------------------------------------------------ downloading


def _check_sha256_argument(sha256):
    """Returns `sha256` lower-cased, or None; ValueError unless it is 64 hex digits."""
    if sha256 is None:
        return None
    if not isinstance(sha256, str) or not SHA256_PATTERN.fullmatch(sha256):
        raise ValueError(f"sha256 must be 64 hexadecimal digits or None, got {sha256!r}.")
    return sha256.lower()


def _check_checksum(label, expected, actual):
    """A `CorpusError` unless the sha256 `actual` is the `expected` one (None: any)."""
    if expected is not None and actual != expected:
        raise CorpusError(f"{label}: sha256 checksum mismatch: expected {expected}, got {actual}.")


def _cache_root(cache_dir):
    """The cache directory: `cache_dir`, else ``$KERAS_HOME``, else ``~/.keras`` (as Keras)."""
    if cache_dir is None:
        cache_dir = os.environ.get("KERAS_HOME") or os.path.join("~", ".keras")
    return pathlib.Path(os.path.expanduser(os.fspath(cache_dir)))


def _url_file_name(url):
    """The last component of a URL's path (percent-decoded), or "" if there is none."""
    name = urllib.parse.unquote(urllib.parse.urlsplit(url).path).rsplit("/", 1)[-1]
    return "" if name in (".", "..") or os.sep in name or "\0" in name else name


def location_problem(location):
    """Why a data location (a path, a name or a URL) cannot be read, judging by its
    form alone, or None: an unsupported URL scheme, or a URL that names no file."""
    if not _is_url(location):
        return None
    scheme = urllib.parse.urlsplit(location).scheme.lower()
    if scheme not in URL_SCHEMES:
        return f"unsupported URL scheme {scheme!r}; use one of {', '.join(URL_SCHEMES)}"
    if not _url_file_name(location):
        return "the URL names no file (its path must end in a file name)"
    return None


def _fetch(origin, staging, max_bytes):
    """Downloads `origin` into the file `staging`; returns its hex sha256.

    Waits at most `DOWNLOAD_TIMEOUT_SECONDS` for the server each time, and stops once
    more than `max_bytes` arrived.
    """
    digest = hashlib.sha256()
    received = 0
    try:
        with urllib.request.urlopen(origin, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response, \
                open(staging, "wb") as output:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit():
                _check_limit(origin, int(declared), max_bytes)
            while chunk := response.read(HASH_CHUNK_BYTES):
                received += len(chunk)
                _check_limit(origin, received, max_bytes, known=False)
                digest.update(chunk)
                output.write(chunk)
    except CorpusError:  # past the size limit (a ValueError)
        raise
    except TimeoutError:
        reason = f"no answer for {DOWNLOAD_TIMEOUT_SECONDS} s (after {received:,} bytes)"
    except urllib.error.URLError as error:
        reason = error.reason
    except (OSError, ValueError, http.client.HTTPException) as error:
        reason = error
    else:
        return digest.hexdigest()
    raise CorpusError(f"{origin}: download failed: {reason}")


def download(origin=SPA_ENG_URL, sha256=SPA_ENG_SHA256, cache_dir=None, max_bytes=DEFAULT_MAX_BYTES):
    """Downloads a file once into the cache, checking its sha256.

    The file is fetched into a temporary file next to its cache entry and moved to its
    final name only once complete, fsynced and verified (`nmt_keras.atomic.replaced_file`),
    so an interrupted or corrupt download never sits in the cache under that name. NAME
    is the URL's last component: with `sha256`, the cache entry is
    ``cache_dir/datasets/NAME``, reused while its sha256 matches (downloaded again
    otherwise); without, it is ``cache_dir/datasets/by-url/<digest of the URL>/NAME``,
    reused as it is.

    Args:
        origin: str or os.PathLike. An ``http://``, ``https://`` or ``file://`` URL, or a
            local path: a local path is not copied, only checked and returned as is.
        sha256: str or None. Expected hex sha256 of the file; None skips verification.
        cache_dir: str, os.PathLike or None. The cache root. Defaults to
            ``$KERAS_HOME`` or ``~/.keras``.
        max_bytes: int or None. Refuse a download larger than this; None: no limit.

    Returns:
        pathlib.Path of the cached (or local) file.

    Raises:
        CorpusError: unsupported URL scheme, a URL that names no file, unreachable URL,
            a download that times out or passes `max_bytes`, a local path that is not a
            regular file, checksum mismatch, or an unwritable cache directory.
        ValueError: malformed `sha256`.
    """
    origin = os.fspath(origin)
    sha256 = _check_sha256_argument(sha256)
    if not _is_url(origin):
        path = pathlib.Path(origin)
        _check_regular_file(path)
        if sha256 is not None:
            _check_checksum(path, sha256, _sha256_of(path))
        return path
    problem = location_problem(origin)
    if problem:
        raise CorpusError(f"{origin}: {problem}.")

    datasets_dir = _cache_root(cache_dir) / KERAS_CACHE_SUBDIR
    if sha256 is None:
        url_digest = hashlib.sha256(origin.encode("utf-8")).hexdigest()[:URL_DIGEST_CHARS]
        entry_dir = datasets_dir / BY_URL_SUBDIR / url_digest
    else:
        entry_dir = datasets_dir
    target = entry_dir / _url_file_name(origin)
    if target.is_file() and (sha256 is None or _sha256_of(target) == sha256):
        return target
    try:
        entry_dir.mkdir(parents=True, exist_ok=True)
        with replaced_file(target) as staging:
            _check_checksum(origin, sha256, _fetch(origin, staging, max_bytes))
    except OSError as error:  # `_fetch` turns the download's own errors into CorpusErrors
        raise CorpusError(
            f"{entry_dir}: cannot write into the cache directory: {error.strerror}"
        ) from None
    return target


# ---------------------------------------------------------------------------- loading


def _load_synthetic(direction):
    """The embedded corpus: the package file `SYNTHETIC_FILE`, with its alignment column.

    The size limit does not apply: the file is part of the package, not user input.
    """
    resource = importlib.resources.files(__package__).joinpath(SYNTHETIC_FILE)
    with importlib.resources.as_file(resource) as path:
        corpus = read_tsv(path, direction, alignment_column=True, other_language=SPANISH,
                          max_bytes=None)
    return dataclasses.replace(corpus, name=SYNTHETIC, origin=SYNTHETIC_ORIGIN)


def load_corpus(
    data=SYNTHETIC, direction=DEFAULT_DIRECTION, *, origin=None, sha256=None, cache_dir=None,
    max_bytes=DEFAULT_MAX_BYTES,
):
    """Loads a corpus by name, path or URL.

    Args:
        data: str or os.PathLike. ``"synthetic"`` (the embedded corpus, Spanish/English,
            with alignments), ``"spa-eng"`` (the Anki/Tatoeba archive, downloaded and
            verified), or the path or ``http(s)://``/``file://`` URL of a tab-separated
            file or zip archive (see `read_tsv`).
        direction: one of `DIRECTIONS`.
        origin: str or None. Only for ``"spa-eng"``: where to get the archive instead of
            `SPA_ENG_URL` (a mirror, ``file://`` URL or local path).
        sha256: str or None. Expected sha256: for ``"spa-eng"`` defaults to
            `SPA_ENG_SHA256`; for a path or URL, optional.
        cache_dir: str, os.PathLike or None. Download cache root (see `download`).
        max_bytes: int or None. The size limit of a file, archive member (uncompressed)
            or download; None: no limit. The embedded corpus is exempt.

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
        path = download(origin, sha256 or SPA_ENG_SHA256, cache_dir, max_bytes=max_bytes)
        corpus = read_tsv(path, direction, other_language=SPANISH, max_bytes=max_bytes)
        return dataclasses.replace(corpus, name=SPA_ENG, origin=origin)
    path = download(data, sha256, cache_dir, max_bytes=max_bytes)  # a local path: checked, not copied
    corpus = read_tsv(path, direction, max_bytes=max_bytes)
    return dataclasses.replace(corpus, origin=data) if _is_url(data) else corpus


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
