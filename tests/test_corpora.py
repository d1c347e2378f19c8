"""Tests of nmt_keras.data.corpora: TSV/zip reading, bad input, downloads, splits, sources."""

import collections
import hashlib
import http.server
import io
import os
import pathlib
import subprocess
import sys
import threading
import zipfile

import pytest

from nmt_keras.constants import DIRECTIONS
from nmt_keras.data import corpora
from nmt_keras.data.corpora import CorpusError, SentencePair
from nmt_keras.data.tokenizers import tokenize_words

SPA_ENG_ARCHIVE = (
    pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "corpora" / "spa-eng.zip"
)
SPA_ENG_MEMBER = "spa-eng/spa.txt"
SPA_ENG_PAIRS = 118_964
CLOSED_PORT_URL = "http://127.0.0.1:9/x.zip"


def write(tmp_path, content, name="pairs.tsv"):
    """Writes bytes (or UTF-8 text) to tmp_path/name and returns the path."""
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def make_zip(path, members):
    """Writes a zip archive whose members are {name: text}; returns its path."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path


def sha256_of(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


# ---------------------------------------------------------------------------- reader


def test_two_columns_to_english(tmp_path):
    path = write(tmp_path, "The platypus dances.\tEl ornitorrinco baila.\nDance, platypus!\t¡Baila, ornitorrinco!\n")
    corpus = corpora.read_tsv(path)
    assert corpus.pairs == (
        SentencePair("El ornitorrinco baila.", "The platypus dances."),
        SentencePair("¡Baila, ornitorrinco!", "Dance, platypus!"),
    )
    assert corpus.pairs[0].alignment is None
    assert (corpus.source_language, corpus.target_language) == ("column 2", "English")
    assert corpus.name == "pairs.tsv"
    assert corpus.origin == str(path)
    assert corpus.blank_lines == 0


def test_two_columns_from_english(tmp_path):
    path = write(tmp_path, "Hello.\tHola.\n")
    corpus = corpora.read_tsv(path, direction="from-english", other_language="Spanish")
    assert corpus.pairs == (SentencePair("Hello.", "Hola."),)
    assert (corpus.source_language, corpus.target_language) == ("English", "Spanish")


def test_third_column_is_ignored_by_default(tmp_path):
    path = write(tmp_path, "Hi.\tHola.\tCC-BY 2.0 (France) Attribution: tatoeba.org #1\n")
    assert corpora.read_tsv(path).pairs == (SentencePair("Hola.", "Hi."),)


def test_crlf_line_ends_and_bom(tmp_path):
    path = write(tmp_path, b"\xef\xbb\xbfHi.\tHola.\r\nBye.\tAdi\xc3\xb3s.\r\n")
    corpus = corpora.read_tsv(path)
    assert corpus.pairs == (SentencePair("Hola.", "Hi."), SentencePair("Adiós.", "Bye."))
    assert corpus.blank_lines == 0


def test_blank_lines_are_counted_and_skipped(tmp_path):
    # Lines: "", "  ", pair, "\t", "\r" (CRLF blank), pair without a final newline.
    path = write(tmp_path, "\n  \nA.\tB.\n\t\n\r\nC.\tD.")
    corpus = corpora.read_tsv(path)
    assert corpus.pairs == (SentencePair("B.", "A."), SentencePair("D.", "C."))
    assert corpus.blank_lines == 4


def test_surrounding_whitespace_is_stripped(tmp_path):
    path = write(tmp_path, " Hi. \t Hola.  \n")
    assert corpora.read_tsv(path).pairs == (SentencePair("Hola.", "Hi."),)


def test_zip_member_auto_pick_skips_about_file(tmp_path):
    # Recognized by content: the suffix is not .zip.
    path = make_zip(
        tmp_path / "corpus.bin",
        {"spa-eng/_about.txt": "About this file.\n", "spa-eng/spa.txt": "Sleep.\tDuerme.\n"},
    )
    corpus = corpora.read_tsv(path)
    assert corpus.pairs == (SentencePair("Duerme.", "Sleep."),)
    assert corpus.name == "corpus.bin:spa-eng/spa.txt"
    assert corpus.origin == str(path)


def test_zip_explicit_member(tmp_path):
    path = make_zip(tmp_path / "two.zip", {"a.txt": "A.\tUno.\n", "b.txt": "B.\tDos.\n"})
    corpus = corpora.read_tsv(path, member="b.txt")
    assert corpus.pairs == (SentencePair("Dos.", "B."),)


def test_zip_ambiguous_members_error_lists_them(tmp_path):
    path = make_zip(tmp_path / "two.zip", {"a.txt": "A.\tUno.\n", "b.txt": "B.\tDos.\n"})
    with pytest.raises(CorpusError, match="2 files in the archive hold tab-separated lines") as info:
        corpora.read_tsv(path)
    assert "a.txt" in str(info.value) and "b.txt" in str(info.value)
    assert "two.zip" in str(info.value)


def test_zip_unknown_member(tmp_path):
    path = make_zip(tmp_path / "one.zip", {"a.txt": "A.\tUno.\n"})
    with pytest.raises(CorpusError, match="no member 'z.txt'.*a.txt"):
        corpora.read_tsv(path, member="z.txt")


def test_zip_without_candidate(tmp_path):
    path = make_zip(tmp_path / "none.zip", {"_about.txt": "x\n", "data.csv": "a,b\n"})
    with pytest.raises(CorpusError, match="no file in the archive starts with a tab-separated line.*_about.txt.*data.csv"):
        corpora.read_tsv(path)


def test_anki_archive_picks_the_pairs_file_by_its_tabs(tmp_path):
    """The archives of manythings.org/anki hold `xxx.txt` and `_about.txt`; macOS adds
    metadata entries. The one file whose first line holds a tab is read, whatever its
    name; an archive of one file reads that file."""
    about = "** Info **\n\nCheck for newest version here:\n  http://www.manythings.org/anki/\n"
    pairs = "\ufeffGo.\tGeh.\tCC-BY 2.0 (France) Attribution: tatoeba.org #2877272 (CM)\nHi.\tHallo!\t#538123\n"
    path = make_zip(tmp_path / "deu-eng.zip", {
        "_about.txt": about, "deu.txt": pairs, "__MACOSX/._deu.txt": "\x00\x05\x16\x07\tx",
        "notes.md": "# notes\n",
    })
    corpus = corpora.read_tsv(path)
    assert corpus.name == "deu-eng.zip:deu.txt"
    assert corpus.pairs == (SentencePair("Geh.", "Go."), SentencePair("Hallo!", "Hi."))
    single = make_zip(tmp_path / "one.zip", {"whatever": "A.\tUno.\n"})
    assert corpora.read_tsv(single).pairs == (SentencePair("Uno.", "A."),)


def test_member_for_plain_file(tmp_path):
    path = write(tmp_path, "A.\tB.\n")
    with pytest.raises(CorpusError, match="not a zip archive"):
        corpora.read_tsv(path, member="a.txt")


def test_bad_direction(tmp_path):
    path = write(tmp_path, "A.\tB.\n")
    with pytest.raises(ValueError, match="to-english.*from-english"):
        corpora.read_tsv(path, direction="sideways")
    with pytest.raises(ValueError, match="to-english.*from-english"):
        corpora.load_corpus(str(path), direction="sideways")


# ------------------------------------------------------------------------- bad input

BAD_LINES = [
    pytest.param(b"A.\tB.\nno tab here\n", 2, "no tab", id="no-tab"),
    pytest.param(b"A.\tB.\tc\td\n", 1, "4 tab-separated columns", id="four-columns"),
    pytest.param(b"A.\tB.\nC.\tD.\n  \tE.\n", 3, "empty English side", id="empty-english"),
    pytest.param(b"A.\t \n", 1, "empty column 2 side", id="empty-other"),
    pytest.param(b"A.\tB.\r\nok\tbien\nbad \xff byte\tmal\n", 3, "byte offset 4", id="utf8"),
]


@pytest.mark.parametrize("content, line, problem", BAD_LINES)
def test_bad_line_in_file(tmp_path, content, line, problem):
    path = write(tmp_path, content, name="bad.tsv")
    with pytest.raises(CorpusError) as info:
        corpora.read_tsv(path)
    message = str(info.value)
    assert "bad.tsv" in message
    assert f"line {line}:" in message
    assert problem in message


@pytest.mark.parametrize("content, line, problem", BAD_LINES)
def test_bad_line_in_archive_names_member(tmp_path, content, line, problem):
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("dir/pairs.txt", content)
    with pytest.raises(CorpusError) as info:
        corpora.read_tsv(path)
    message = str(info.value)
    assert f"bad.zip:dir/pairs.txt, line {line}:" in message
    assert problem in message


def test_bad_utf8_on_first_line_after_bom_counts_raw_bytes(tmp_path):
    path = write(tmp_path, b"\xef\xbb\xbfab\xc3\tx\n", name="bom.tsv")
    with pytest.raises(CorpusError, match=r"bom.tsv, line 1: invalid UTF-8 at byte offset 5"):
        corpora.read_tsv(path)


def test_error_excerpt_is_short(tmp_path):
    path = write(tmp_path, "x" * 10_000 + "\n", name="long.tsv")
    with pytest.raises(CorpusError, match="no tab") as info:
        corpora.read_tsv(path)
    assert len(str(info.value)) < 300
    assert "'xxx" in str(info.value)


@pytest.mark.parametrize(
    "alignment", ["0-0 x", "0-0,1-1", "0:1", "-1-0", "0-", "1-2-3"], ids=repr
)
def test_malformed_alignment(tmp_path, alignment):
    path = write(tmp_path, f"A b.\tC d.\t0-0\nA.\tC.\t{alignment}\n", name="aligned.tsv")
    with pytest.raises(CorpusError) as info:
        corpora.read_tsv(path, alignment_column=True)
    message = str(info.value)
    assert "aligned.tsv, line 2:" in message and "malformed alignment" in message


def test_missing_alignment_column(tmp_path):
    path = write(tmp_path, "A.\tC.\n", name="aligned.tsv")
    with pytest.raises(CorpusError, match="aligned.tsv, line 1: missing alignment column"):
        corpora.read_tsv(path, alignment_column=True)


def test_missing_file(tmp_path):
    with pytest.raises(CorpusError, match="nowhere.tsv: file not found"):
        corpora.read_tsv(tmp_path / "nowhere.tsv")


def test_directory(tmp_path):
    (tmp_path / "folder.tsv").mkdir()
    with pytest.raises(CorpusError, match="folder.tsv: is a directory"):
        corpora.read_tsv(tmp_path / "folder.tsv")


@pytest.mark.parametrize("content", [b"", b"\n \n\t\r\n"], ids=["empty", "blank-only"])
def test_file_without_pairs(tmp_path, content):
    path = write(tmp_path, content, name="void.tsv")
    with pytest.raises(CorpusError, match="void.tsv: no sentence pairs"):
        corpora.read_tsv(path)


def test_megabyte_line_round_trips(tmp_path):
    english = ("Señor, ¿qué tal? " * 70_000)[:1_000_000] + "end"
    spanish = "ñ" * 500_000 + "á"
    path = write(tmp_path, f"Short.\tCorta.\n{english}\t{spanish}\n")
    corpus = corpora.read_tsv(path)
    assert corpus.pairs[1] == SentencePair(spanish, english)
    assert len(corpus.pairs[1].target) == 1_000_003


# ------------------------------------------------------------------------- alignment


def test_alignment_column_parsed_and_oriented(tmp_path):
    # i indexes column 2 (Spanish) tokens, j column 1 (English) tokens.
    path = write(tmp_path, "The black cat.\tEl gato negro.\t0-0 2-1 1-2 3-3\nHi.\tHola.\t\n")
    to_english = corpora.read_tsv(path, alignment_column=True)
    assert to_english.pairs[0] == SentencePair(
        "El gato negro.", "The black cat.", ((0, 0), (1, 2), (2, 1), (3, 3))
    )
    assert to_english.pairs[1].alignment == ()
    from_english = corpora.read_tsv(path, "from-english", alignment_column=True)
    assert from_english.pairs[0] == SentencePair(
        "The black cat.", "El gato negro.", ((0, 0), (1, 2), (2, 1), (3, 3))
    )
    # Not symmetric: flipping must swap the indices, not keep them.
    path = write(tmp_path, "A b.\tC.\t0-0 0-1\n", name="many.tsv")
    assert corpora.read_tsv(path, alignment_column=True).pairs[0].alignment == ((0, 0), (0, 1))
    flipped = corpora.read_tsv(path, "from-english", alignment_column=True)
    assert flipped.pairs[0].alignment == ((0, 0), (1, 0))


def test_parse_alignment_keeps_the_order_of_the_links():
    assert corpora.parse_alignment("2-1 0-0 10-3") == ((2, 1), (0, 0), (10, 3))
    assert corpora.parse_alignment("  0-1\t1-0 ") == ((0, 1), (1, 0))
    assert corpora.parse_alignment("") == ()


@pytest.mark.parametrize("bad, item", [
    ("0-1 x-2", "x-2"),
    ("0-1 3", "3"),
    ("0-1-2", "0-1-2"),
    ("0-1 -1-0", "-1-0"),
    ("0-1 2-b", "2-b"),
    ("0-1 1:0", "1:0"),
    ("0-\u0661", "0-\u0661"),  # an Arabic-Indic digit: decimal, not ASCII
])
def test_parse_alignment_names_the_bad_item(bad, item):
    with pytest.raises(ValueError, match=repr(item)):
        corpora.parse_alignment(bad)


# -------------------------------------------------------------------------- download


@pytest.fixture
def small_zip(tmp_path):
    origin_dir = tmp_path / "origin"
    origin_dir.mkdir()
    return make_zip(origin_dir / "small.zip", {"small/pairs.txt": "Sleep.\tDuerme.\nDance, platypus!\t¡Baila, ornitorrinco!\n"})


def test_download_file_url_caches_and_verifies(tmp_path, small_zip):
    cache = tmp_path / "cache"  # does not exist yet
    sha = sha256_of(small_zip)
    expected_bytes = small_zip.read_bytes()
    url = small_zip.as_uri()
    path = corpora.download(url, sha256=sha, cache_dir=cache)
    assert path == cache / "datasets" / "small.zip"
    assert path.read_bytes() == expected_bytes
    assert sorted(p.name for p in (cache / "datasets").iterdir()) == ["small.zip"]

    by_url = corpora.download(url, sha256=None, cache_dir=cache)  # keyed by the URL
    assert by_url.name == "small.zip" and by_url.parent.parent == cache / "datasets" / "by-url"
    small_zip.unlink()  # a second call must be a cache hit
    assert corpora.download(url, sha256=sha, cache_dir=cache) == path
    assert corpora.download(url, sha256=None, cache_dir=cache) == by_url
    corpus = corpora.load_corpus(url, cache_dir=cache)
    assert corpus.pairs[1] == SentencePair("¡Baila, ornitorrinco!", "Dance, platypus!")
    assert corpus.origin == url
    assert corpus.name == "small.zip:small/pairs.txt"


def test_download_wrong_sha256_leaves_nothing(tmp_path, small_zip):
    cache = tmp_path / "cache"
    wrong = "0" * 64
    with pytest.raises(CorpusError) as info:
        corpora.download(small_zip.as_uri(), sha256=wrong, cache_dir=cache)
    message = str(info.value)
    assert wrong in message and sha256_of(small_zip) in message
    assert small_zip.as_uri() in message
    assert not (cache / "datasets" / "small.zip").exists()
    assert list((cache / "datasets").iterdir()) == []  # no staging leftovers either


def test_download_replaces_corrupt_cached_file(tmp_path, small_zip):
    cache = tmp_path / "cache"
    cached = cache / "datasets" / "small.zip"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"truncated")
    path = corpora.download(small_zip.as_uri(), sha256=sha256_of(small_zip), cache_dir=cache)
    assert path == cached
    assert path.read_bytes() == small_zip.read_bytes()


def test_download_local_path_is_checked_not_copied(tmp_path, small_zip):
    cache = tmp_path / "cache"
    sha = sha256_of(small_zip)
    assert corpora.download(str(small_zip), sha256=sha, cache_dir=cache) == small_zip
    assert not cache.exists()
    with pytest.raises(CorpusError, match="expected 0{64}, got " + sha):
        corpora.download(small_zip, sha256="0" * 64)
    with pytest.raises(CorpusError, match="missing.zip: file not found"):
        corpora.download(tmp_path / "missing.zip", sha256=None)


def test_download_missing_file_url(tmp_path):
    url = (tmp_path / "missing.zip").as_uri()
    with pytest.raises(CorpusError, match="download failed"):
        corpora.download(url, sha256=None, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache" / "datasets" / "missing.zip").exists()


def test_download_unreachable_url(tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(CorpusError) as info:
        corpora.download(CLOSED_PORT_URL, sha256=None, cache_dir=cache)
    assert CLOSED_PORT_URL in str(info.value)
    assert [p for p in (cache / "datasets").rglob("*") if p.is_file()] == []


def test_download_unsupported_scheme(tmp_path):
    with pytest.raises(CorpusError, match="unsupported URL scheme 'ftp'"):
        corpora.download("ftp://example.org/x.zip", cache_dir=tmp_path)


def test_download_rejects_malformed_sha256(tmp_path, small_zip):
    with pytest.raises(ValueError, match="64 hexadecimal"):
        corpora.download(small_zip, sha256="abc")


def test_load_corpus_local_path_with_sha256(tmp_path, small_zip):
    corpus = corpora.load_corpus(small_zip, "from-english", sha256=sha256_of(small_zip))
    assert corpus.pairs[0] == SentencePair("Sleep.", "Duerme.")
    with pytest.raises(CorpusError, match="mismatch"):
        corpora.load_corpus(small_zip, sha256="f" * 64)


def test_load_corpus_rejects_options_that_do_not_apply(tmp_path, small_zip):
    with pytest.raises(ValueError, match="origin"):
        corpora.load_corpus(small_zip, origin="file:///elsewhere.zip")
    with pytest.raises(ValueError, match="sha256"):
        corpora.load_corpus("synthetic", sha256="0" * 64)


# ------------------------------------------------------------------ bounded input


def test_files_past_the_size_limit_are_refused_before_they_are_read(tmp_path):
    path = write(tmp_path, "Hi.\tHola.\n" * 100)  # 1,000 bytes
    assert len(corpora.read_tsv(path, max_bytes=1_000).pairs) == 100
    assert len(corpora.read_tsv(path, max_bytes=None).pairs) == 100
    with pytest.raises(CorpusError, match=r"pairs.tsv: 0.0 MB, larger than the limit of 0 MB \(raise it with --max-corpus-mb\)"):
        corpora.read_tsv(path, max_bytes=999)


def test_an_archive_member_is_measured_uncompressed(tmp_path):
    """A zip bomb: 4 MB of pairs in a few kB of archive."""
    path = make_zip(tmp_path / "bomb.zip", {"pairs.txt": "a b\tc d\n" * 500_000})
    assert path.stat().st_size < 100_000
    with pytest.raises(CorpusError, match=r"bomb.zip:pairs.txt: 3.8 MB, larger than the limit of 1 MB"):
        corpora.read_tsv(path, max_bytes=1 << 20)
    with pytest.raises(CorpusError, match="larger than the limit"):
        corpora.check_data(str(path), max_bytes=1 << 20)  # what the command line checks first
    corpora.check_data("synthetic", max_bytes=1)  # names are checked when they are loaded


def test_a_stream_stops_at_the_limit(tmp_path):
    """The limit also holds for a stream whose size was not checked up front."""
    stream = io.BytesIO(b"Hi.\tHola.\n" * 1000)
    lines = corpora._lines(stream, "stdin-like", max_bytes=2_000)
    with pytest.raises(CorpusError, match="stdin-like: more than 0.0 MB"):
        for _ in lines:
            pass
    assert stream.tell() <= 2_000 + len(b"Hi.\tHola.\n")


def test_only_regular_files_are_read(tmp_path):
    fifo = tmp_path / "pairs.fifo"
    os.mkfifo(fifo)  # opening it would block until a writer came
    with pytest.raises(CorpusError, match="pairs.fifo: not a regular file"):
        corpora.read_tsv(fifo)
    with pytest.raises(CorpusError, match="not a regular file"):
        corpora.check_data(str(fifo))


def test_cached_downloads_are_keyed_by_the_whole_url(tmp_path):
    """Two URLs that end in the same file name never share a cache entry."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = write(tmp_path / "a", "One.\tUno.\n", name="data.tsv")
    second = write(tmp_path / "b", "Two.\tDos.\n", name="data.tsv")
    cache = tmp_path / "cache"
    assert corpora.load_corpus(first.as_uri(), cache_dir=cache).pairs == (SentencePair("Uno.", "One."),)
    assert corpora.load_corpus(second.as_uri(), cache_dir=cache).pairs == (SentencePair("Dos.", "Two."),)
    first.unlink()  # the first URL is now served from its own cache entry
    assert corpora.load_corpus(first.as_uri(), cache_dir=cache).pairs == (SentencePair("Uno.", "One."),)


@pytest.fixture
def server():
    """A local HTTP server: `/silent` never answers, `/endless` sends bytes without a
    Content-Length; yields its base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.startswith("/silent"):
                release.wait(30)
                return
            self.send_response(200)
            self.end_headers()
            for _ in range(64):
                self.wfile.write(b"Hi.\tHola.\n" * 1000)

        def log_message(self, *args):
            pass

    release = threading.Event()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    release.set()
    httpd.shutdown()
    httpd.server_close()


def test_a_download_times_out(server, tmp_path, monkeypatch):
    monkeypatch.setattr(corpora, "DOWNLOAD_TIMEOUT_SECONDS", 0.5)
    cache = tmp_path / "cache"
    with pytest.raises(CorpusError, match="silent.tsv: download failed: (no answer for 0.5 s|timed out)"):
        corpora.download(f"{server}/silent.tsv", sha256=None, cache_dir=cache)
    assert [p for p in cache.rglob("*") if p.is_file()] == []


def test_a_download_stops_at_the_size_limit(server, tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(CorpusError, match="endless.tsv: more than 0.1 MB, larger than the limit"):
        corpora.download(f"{server}/endless.tsv", sha256=None, cache_dir=cache, max_bytes=100_000)
    assert [p for p in cache.rglob("*") if p.is_file()] == []
    path = corpora.download(f"{server}/endless.tsv", sha256=None, cache_dir=cache, max_bytes=None)
    assert path.stat().st_size == 64 * 10_000


@pytest.mark.parametrize("location, problem", [
    ("file:///tmp/", "the URL names no file"),
    ("https://example.org", "the URL names no file"),
    ("ftp://example.org/x.zip", "unsupported URL scheme 'ftp'"),
    ("https://example.org/a/spa-eng.zip?download=1", None),
    ("data/pairs.tsv", None),
])
def test_a_location_is_checked_by_its_form(location, problem):
    found = corpora.location_problem(location)
    assert found is None if problem is None else problem in found


# ---------------------------------------------------------------------- real archive


def test_real_spa_eng_archive(tmp_path):
    if not SPA_ENG_ARCHIVE.is_file():
        pytest.skip(
            "../shared/corpora/spa-eng.zip not found: the offline copy of the spa-eng "
            "archive is needed for this test"
        )
    origin = "file://" + str(SPA_ENG_ARCHIVE)
    corpus = corpora.load_corpus("spa-eng", origin=origin, cache_dir=tmp_path)
    cached = tmp_path / "datasets" / "spa-eng.zip"
    assert sha256_of(cached) == corpora.SPA_ENG_SHA256
    assert len(corpus.pairs) == SPA_ENG_PAIRS
    assert corpus.blank_lines == 0
    assert (corpus.name, corpus.origin) == ("spa-eng", origin)
    assert (corpus.source_language, corpus.target_language) == ("Spanish", "English")

    with zipfile.ZipFile(SPA_ENG_ARCHIVE) as archive:
        first_line = archive.read(SPA_ENG_MEMBER).split(b"\n", 1)[0].decode("utf-8")
    english, spanish = first_line.split("\t")[:2]
    assert corpus.pairs[0] == SentencePair(spanish.strip(), english.strip())

    reverse = corpora.load_corpus("spa-eng", "from-english", origin=origin, cache_dir=tmp_path)
    assert reverse.pairs[0] == SentencePair(english.strip(), spanish.strip())
    assert (reverse.source_language, reverse.target_language) == ("English", "Spanish")


# ------------------------------------------------------------------------- splitting


def make_pairs(num_sources=300, repeat_every=3):
    """Pairs with distinct sources, every `repeat_every`-th one with 2 translations."""
    pairs = []
    for i in range(num_sources):
        pairs.append(SentencePair(f"fuente {i}", f"source {i}"))
        if i % repeat_every == 0:
            pairs.append(SentencePair(f"fuente {i}", f"another source {i}"))
    return tuple(pairs)


def test_split_is_deterministic_and_seeded():
    pairs = make_pairs()
    first = corpora.split_pairs(pairs, seed=7, validation_size=30, test_size=40)
    assert corpora.split_pairs(pairs, seed=7, validation_size=30, test_size=40) == first
    other = corpora.split_pairs(pairs, seed=8, validation_size=30, test_size=40)
    assert other.test != first.test
    assert set(other.test) != set(first.test)


def test_split_sizes_disjoint_sources_whole_groups():
    pairs = make_pairs()
    splits = corpora.split_pairs(pairs, seed=1, validation_size=30, test_size=40)
    largest_group = 2
    assert 40 <= len(splits.test) < 40 + largest_group
    assert 30 <= len(splits.validation) < 30 + largest_group
    assert collections.Counter(splits.train + splits.validation + splits.test) == (
        collections.Counter(pairs)
    )
    all_splits = (splits.train, splits.validation, splits.test)
    sources = [{p.source for p in split} for split in all_splits]
    assert not sources[0] & sources[1]
    assert not sources[0] & sources[2]
    assert not sources[1] & sources[2]
    # Whole groups: every source's pairs all land in the same split.
    for split in all_splits:
        counts = collections.Counter(p.source for p in split)
        for source, count in counts.items():
            assert count == sum(p.source == source for p in pairs)
    assert all(isinstance(split, tuple) for split in all_splits)


def test_split_keeps_group_pairs_in_input_order():
    pairs = make_pairs(num_sources=30)
    splits = corpora.split_pairs(pairs, seed=3, validation_size=5, test_size=5)
    for split in (splits.train, splits.validation, splits.test):
        for first, second in zip(split, split[1:]):
            if first.source == second.source:
                assert pairs.index(first) < pairs.index(second)


def test_split_with_zero_sizes_keeps_everything_in_train():
    pairs = make_pairs(num_sources=10)
    splits = corpora.split_pairs(pairs, seed=0, validation_size=0, test_size=0)
    assert splits.test == () and splits.validation == ()
    assert sorted(splits.train, key=pairs.index) == list(pairs)


def test_split_too_small():
    pairs = tuple(SentencePair(f"fuente {i}", f"source {i}") for i in range(10))
    with pytest.raises(CorpusError, match=r"10 pairs .*test_size=6 and validation_size=4"):
        corpora.split_pairs(pairs, seed=0, validation_size=4, test_size=6)
    # One pair fewer for evaluation leaves exactly one training pair.
    splits = corpora.split_pairs(pairs, seed=0, validation_size=3, test_size=6)
    assert len(splits.train) == 1


@pytest.mark.parametrize(
    "kwargs", [{"test_size": -1}, {"validation_size": 2.5}, {"seed": None}], ids=str
)
def test_split_bad_arguments(kwargs):
    arguments = {"seed": 0, "validation_size": 1, "test_size": 1, **kwargs}
    with pytest.raises(ValueError):
        corpora.split_pairs(make_pairs(num_sources=10), **arguments)


# ------------------------------------------------------------------------- synthetic

EMBEDDED_PAIRS = 50_000
PACKAGE_DIR = pathlib.Path(corpora.__file__).resolve().parent


@pytest.fixture(scope="module")
def embedded():
    """`load_corpus("synthetic")` in both directions: {direction: Corpus}."""
    return {direction: corpora.load_corpus("synthetic", direction) for direction in DIRECTIONS}


def test_synthetic_is_the_package_file(embedded):
    corpus = embedded["to-english"]
    assert corpus.name == "synthetic"
    assert corpus.origin == "nmt_keras/data/spa_eng_synthetic.tsv"
    assert (corpus.source_language, corpus.target_language) == ("Spanish", "English")
    assert len(corpus.pairs) == EMBEDDED_PAIRS and corpus.blank_lines == 0
    first_line = (PACKAGE_DIR / corpora.SYNTHETIC_FILE).read_text(encoding="utf-8").split("\n")[0]
    english, spanish, alignment = first_line.split("\t")
    assert corpus.pairs[0] == SentencePair(
        spanish, english, tuple(sorted(corpora.parse_alignment(alignment)))
    )
    assert all(pair.alignment for pair in corpus.pairs)


def test_synthetic_from_english_swaps_sides_and_flips_alignment(embedded):
    to_english, from_english = embedded["to-english"], embedded["from-english"]
    assert (from_english.source_language, from_english.target_language) == ("English", "Spanish")
    assert from_english.origin == to_english.origin and from_english.name == "synthetic"
    assert len(from_english.pairs) == len(to_english.pairs)
    for forward, backward in zip(to_english.pairs, from_english.pairs):
        assert (backward.source, backward.target) == (forward.target, forward.source)
        assert backward.alignment == tuple(sorted((j, i) for i, j in forward.alignment))
    # Not symmetric: a missing flip would be caught.
    assert any(f.alignment != b.alignment for f, b in zip(to_english.pairs, from_english.pairs))


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_synthetic_alignments_index_source_and_target_tokens(embedded, direction):
    pairs = embedded[direction].pairs[:300]
    source_tokens = list(tokenize_words([p.source for p in pairs]))
    target_tokens = list(tokenize_words([p.target for p in pairs]))
    for pair, source, target in zip(pairs, source_tokens, target_tokens):
        assert pair.alignment == tuple(sorted(pair.alignment))
        assert all(i < len(source) and j < len(target) for i, j in pair.alignment)
        # Every target token is aligned (the generator aligns every English token).
        if direction == "to-english":
            assert {j for _, j in pair.alignment} == set(range(len(target)))
    # The sides differ in length often enough that a missing flip would be caught.
    assert any(len(s) != len(t) for s, t in zip(source_tokens, target_tokens))


def test_synthetic_ignores_the_size_limit():
    """The limit guards against user data; the embedded corpus is part of the package."""
    corpus = corpora.load_corpus("synthetic", max_bytes=1)
    assert len(corpus.pairs) == EMBEDDED_PAIRS


def test_loading_synthetic_imports_neither_config_nor_a_generator():
    """Reading the embedded corpus runs no generator, and `nmt_keras.config` imports
    corpora (to check URLs), never the other way round."""
    script = (
        "import sys\n"
        "from nmt_keras.data.corpora import load_corpus\n"
        "load_corpus('synthetic')\n"
        "print(sorted(m for m in sys.modules if m == 'nmt_keras.config' or 'synthetic' in m))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_sources_differing_only_in_case_accents_or_punctuation_share_a_split():
    from nmt_keras.data.corpora import source_key

    assert source_key("¿Qué  HACES?") == source_key("que haces") == "que haces"
    pairs = [SentencePair(f"Frase número {i}.", f"t{i}") for i in range(40)]
    pairs += [SentencePair("FRASE NUMERO 7", "other"), SentencePair("frase número 7!", "again")]
    splits = corpora.split_pairs(pairs, seed=1, validation_size=5, test_size=5)
    homes = [
        name for name in ("train", "validation", "test")
        for pair in getattr(splits, name) if source_key(pair.source) == "frase numero 7"
    ]
    assert len(homes) == 3 and len(set(homes)) == 1
