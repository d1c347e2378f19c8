"""Google Colab support: where the repository lives, badges, and the setup commands.

The repository's GitHub path is set here, once (`GITHUB_REPOSITORY`). Every notebook's
"Open in Colab" badge and its guarded setup cell are generated from it by
`python -m nmt_keras.colab` (which rewrites them in `notebooks/*.ipynb`), and a test
checks that the committed notebooks match.

This module is pure Python (no TensorFlow import), because the Colab setup cell imports
it right after installing `nmt_keras` and before installing `tensorflow-text`.
"""

import argparse
import json
import pathlib
import re

# The one place the repository's location is written.
GITHUB_REPOSITORY = "nmt-keras/nmt_keras"
GITHUB_BRANCH = "main"
NOTEBOOK_DIR = "notebooks"

BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
# Marks the cells this module writes, so they can be found and rewritten.
BADGE_MARKER = "<!-- colab-badge -->"
SETUP_MARKER = "# colab-setup"

_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


def colab_url(notebook_path):
    """The Colab address that opens `notebook_path` (relative to the repository root)."""
    return (
        f"https://colab.research.google.com/github/{GITHUB_REPOSITORY}/blob/"
        f"{GITHUB_BRANCH}/{pathlib.PurePosixPath(notebook_path)}"
    )


def badge_markdown(notebook_path):
    """Markdown of the "Open in Colab" badge for one notebook."""
    return f"{BADGE_MARKER}\n[![Open In Colab]({BADGE_IMAGE})]({colab_url(notebook_path)})"


def install_target():
    """What pip installs `nmt_keras` from on Colab."""
    return f"git+https://github.com/{GITHUB_REPOSITORY}.git@{GITHUB_BRANCH}"


def tensorflow_text_requirement(tensorflow_version):
    """The tensorflow-text requirement matching a TensorFlow version.

    tensorflow-text is built against one TensorFlow minor release: its version must
    share TensorFlow's major.minor, or its ops fail to load.

    Args:
        tensorflow_version: str, e.g. `tf.__version__` ("2.19.0", "2.20.0rc1",
            "2.15.0.post1", "2.18.0-dev20250101").

    Returns:
        str, e.g. "tensorflow-text==2.19.*".

    Raises:
        ValueError: for a version that is not TensorFlow 2.x, or is not a version.
    """
    match = _VERSION.match(str(tensorflow_version).strip())
    if not match:
        raise ValueError(f"not a TensorFlow version: {tensorflow_version!r}")
    major, minor = int(match.group(1)), int(match.group(2))
    if major != 2:
        raise ValueError(
            f"nmt_keras needs TensorFlow 2.x with Keras 3, got TensorFlow {tensorflow_version}"
        )
    return f"tensorflow-text=={major}.{minor}.*"


def colab_pip_commands(tensorflow_version):
    """pip commands that make a Colab runtime ready, keeping its own TensorFlow.

    `nmt_keras` is installed without dependencies (its requirements pin TensorFlow
    2.21, which would replace Colab's); then the matching tensorflow-text and the
    remaining pure-Python dependency.
    """
    return [
        f"pip install -q {tensorflow_text_requirement(tensorflow_version)} sacrebleu",
    ]


SETUP_SOURCE = f"""{SETUP_MARKER}: runs only on Google Colab; elsewhere it does nothing.
import sys

if "google.colab" in sys.modules:
    import subprocess

    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "{install_target()}"],
        check=True,
    )
    import tensorflow as tf

    from nmt_keras.colab import colab_pip_commands

    for command in colab_pip_commands(tf.__version__):
        subprocess.run([sys.executable, "-m", *command.split()], check=True)
"""


def _source_text(cell):
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _as_source_lines(text):
    lines = text.split("\n")
    return [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])


def sync_notebook(path, repository_root):
    """Rewrites the badge cell and the setup cell of one notebook from this module.

    The badge cell is the markdown cell containing `BADGE_MARKER`, the setup cell the
    code cell starting with `SETUP_MARKER`; both must exist.

    Returns:
        True if the file changed.
    """
    path = pathlib.Path(path)
    notebook = json.loads(path.read_text(encoding="utf-8"))
    relative = path.resolve().relative_to(pathlib.Path(repository_root).resolve())
    found = {"badge": False, "setup": False}
    for cell in notebook["cells"]:
        text = _source_text(cell)
        if cell["cell_type"] == "markdown" and BADGE_MARKER in text:
            cell["source"] = _as_source_lines(badge_markdown(relative))
            found["badge"] = True
        elif cell["cell_type"] == "code" and text.startswith(SETUP_MARKER):
            cell["source"] = _as_source_lines(SETUP_SOURCE.rstrip("\n"))
            found["setup"] = True
    missing = [name for name, present in found.items() if not present]
    if missing:
        raise ValueError(f"{path}: no {' or '.join(missing)} cell to rewrite")
    text = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
    changed = text != path.read_text(encoding="utf-8")
    if changed:
        path.write_text(text, encoding="utf-8")
    return changed


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m nmt_keras.colab",
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
