"""Writes every notebook's "Open in Colab" badge and its setup cell.

    .venv/bin/python tools/sync_notebooks.py [--root .]    # nmt_keras must be importable

Where the project lives is written once, here (`GITHUB_REPOSITORY`); the notebooks open
and install the release they were generated with, the tag `v` + `nmt_keras.__version__`
(`github_ref`). This tool rewrites the badge cell (the markdown cell holding
`BADGE_MARKER`) and the setup cell (the code cell starting with `SETUP_MARKER`) of
`notebooks/*.ipynb`. It does not touch the README, whose badge links are edited by
hand; `tests/test_colab.py` checks that the notebooks and the README's badges match.
A fork changes `GITHUB_REPOSITORY`, runs this tool and edits the README's badges.

The setup cell runs everywhere. On Google Colab it installs `nmt_keras` with pip
(`--no-deps`: from `NMT_KERAS_SOURCE` if that environment variable is set, a git URL,
a wheel path or URL, or a checkout; else the release's tag on GitHub), then
`nmt_keras.colab.install_on_colab` installs the dependencies without changing a package
the runtime already has; on any machine, `nmt_keras.colab.check_environment` checks
the versions and prints them with the devices.
"""

import argparse
import json
import pathlib

from nmt_keras import __version__
from nmt_keras.colab import PIP_TAIL_LINES, describe_range

# The one place the repository's location is written.
GITHUB_REPOSITORY = "nmt-keras/nmt_keras"
NOTEBOOK_DIR = "notebooks"
# The environment variable that overrides where the setup cell installs nmt_keras from.
SOURCE_VARIABLE = "NMT_KERAS_SOURCE"

BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
# Marks the cells this tool writes, so they can be found and rewritten.
BADGE_MARKER = "<!-- colab-badge -->"
SETUP_MARKER = "# colab-setup"


def github_ref():
    """The git tag the notebooks open and install: this release's, `v` + version."""
    return f"v{__version__}"


def colab_url(notebook_path):
    """The Colab address that opens `notebook_path` (relative to the repository root)."""
    return (
        f"https://colab.research.google.com/github/{GITHUB_REPOSITORY}/blob/"
        f"{github_ref()}/{pathlib.PurePosixPath(notebook_path)}"
    )


def badge_markdown(notebook_path):
    """Markdown of the "Open in Colab" badge for one notebook."""
    return f"{BADGE_MARKER}\n[![Open In Colab]({BADGE_IMAGE})]({colab_url(notebook_path)})"


def install_target():
    """What the setup cell installs `nmt_keras` from on Colab, unless `SOURCE_VARIABLE`
    says otherwise: this release's tag on GitHub."""
    return f"git+https://github.com/{GITHUB_REPOSITORY}.git@{github_ref()}"


def setup_source():
    """The setup cell's code (see the module docstring and `nmt_keras.colab`)."""
    return f"""{SETUP_MARKER}: on Google Colab, installs nmt_keras and what it needs, keeping Colab's
# TensorFlow; everywhere, checks the versions, keeps TensorFlow's start-up noise out and
# prints what it found. {SOURCE_VARIABLE} (a git URL, a wheel, a checkout) overrides the source.
import sys

if "google.colab" in sys.modules:
    import os
    import subprocess

    source = os.environ.get("{SOURCE_VARIABLE}", "{install_target()}")
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", source], capture_output=True, text=True)
    if pip.returncode != 0:
        print(*(pip.stdout + pip.stderr).rstrip().splitlines()[-{PIP_TAIL_LINES}:], sep="\\n")

        class SetupError(Exception):
            _render_traceback_ = lambda self: [f"SetupError: {{self}}"]

        raise SetupError(
            f"pip could not install nmt_keras from {{source}} (its last lines are above). "
            f"{describe_range()}: on such a runtime, check that address and the network, then run this cell again"
        )
    from nmt_keras.colab import install_on_colab

    install_on_colab()

from nmt_keras.colab import check_environment

environment = check_environment()
"""


def _source_text(cell):
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _as_source_lines(text):
    lines = text.split("\n")
    return [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])


def sync_notebook(path, repository_root):
    """Rewrites the badge cell and the setup cell of one notebook from this tool.

    The badge cell is the markdown cell containing `BADGE_MARKER`, the setup cell the
    code cell starting with `SETUP_MARKER`; both must exist.

    Returns:
        True if the file changed.
    """
    path = pathlib.Path(path)
    notebook = json.loads(path.read_text(encoding="utf-8"))
    relative = path.resolve().relative_to(pathlib.Path(repository_root).resolve())
    missing = {"badge", "setup"}
    for cell in notebook["cells"]:
        text = _source_text(cell)
        if cell["cell_type"] == "markdown" and BADGE_MARKER in text:
            cell["source"] = _as_source_lines(badge_markdown(relative))
            missing.discard("badge")
        elif cell["cell_type"] == "code" and text.startswith(SETUP_MARKER):
            cell["source"] = _as_source_lines(setup_source().rstrip("\n"))
            missing.discard("setup")
    if missing:
        raise ValueError(f"{path}: no {' or '.join(sorted(missing))} cell to rewrite")
    text = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
    changed = text != path.read_text(encoding="utf-8")
    if changed:
        path.write_text(text, encoding="utf-8")
    return changed


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python tools/sync_notebooks.py",
        description="Rewrite the Colab badge and setup cell of every notebook from "
        "GITHUB_REPOSITORY.",
    )
    parser.add_argument("--root", default=".", help="repository root (default: .)")
    args = parser.parse_args(argv)
    root = pathlib.Path(args.root)
    for path in sorted((root / NOTEBOOK_DIR).glob("*.ipynb")):
        print(f"{path}: {'updated' if sync_notebook(path, root) else 'up to date'}")


if __name__ == "__main__":
    main()
