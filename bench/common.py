"""What the benchmarks share: where the repository and the data are, which commit runs,
and how a report names a path of this machine.

The lowest module of `bench`: it imports no other module of the package.
"""

import os
import pathlib
import subprocess

REPO = pathlib.Path(__file__).resolve().parent.parent
# spa-eng's archive, in the folder beside the repository (`../shared/corpora`).
DEFAULT_DATA = REPO.parent / "shared" / "corpora" / "spa-eng.zip"
# How the URL of a local file starts.
FILE_URL = "file://"


def commit():
    """The repository's short commit hash, "(with uncommitted changes)" when tracked files
    differ from it, or "unknown" without git."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=REPO, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, cwd=REPO).stdout.strip()
        return sha + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def portable_path(path):
    """How a committed report names `path` (a local path or a `file://` URL), the same on
    every machine: relative to the repository when the path is inside it or in a folder
    beside it (`../shared/corpora/spa-eng.zip`), `~/...` under the home directory, and
    otherwise (a temporary or another folder of this machine) by its file name alone.
    Relative paths and URLs of other schemes are kept as they are."""
    text = str(path)
    if text.startswith(FILE_URL):
        return FILE_URL + portable_path(text[len(FILE_URL):])
    if not os.path.isabs(text):
        return text
    beside = REPO.parent if REPO.parent != pathlib.Path(REPO.anchor) else None
    home = pathlib.Path(os.path.realpath(pathlib.Path.home()))
    # As written first (a folder beside the repository may be a symbolic link), then resolved.
    for absolute in dict.fromkeys((pathlib.Path(os.path.abspath(text)), pathlib.Path(os.path.realpath(text)))):
        if absolute.is_relative_to(REPO):
            return absolute.relative_to(REPO).as_posix()
        if beside is not None and absolute.is_relative_to(beside):
            return "../" + absolute.relative_to(beside).as_posix()
        if absolute.is_relative_to(home) and home != pathlib.Path(home.anchor):
            return "~/" + absolute.relative_to(home).as_posix()
    return absolute.name or text


def portable_command(command):
    """`command` (words joined by spaces) with every absolute path or `file://` URL in it,
    alone or as `--flag=PATH`, named by `portable_path`."""
    words = []
    for word in command.split(" "):
        flag, equals, value = word.partition("=") if word.startswith("-") else ("", "", word)
        if os.path.isabs(value) or value.startswith(FILE_URL):
            value = portable_path(value)
        words.append(flag + equals + value)
    return " ".join(words)
