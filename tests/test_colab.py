"""Colab support: version matching, and notebooks that agree with GITHUB_REPOSITORY."""

import json
import pathlib
import shutil

import pytest

from nmt_keras import colab

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / colab.NOTEBOOK_DIR).glob("*.ipynb"))


@pytest.mark.parametrize(
    "version, requirement",
    [
        ("2.21.0", "tensorflow-text==2.21.*"),
        ("2.19.1", "tensorflow-text==2.19.*"),
        ("2.20.0rc1", "tensorflow-text==2.20.*"),
        ("2.15.0.post1", "tensorflow-text==2.15.*"),
        ("2.18.0-dev20250101", "tensorflow-text==2.18.*"),
        (" 2.17 ", "tensorflow-text==2.17.*"),
    ],
)
def test_tensorflow_text_matches_the_tensorflow_minor_version(version, requirement):
    assert colab.tensorflow_text_requirement(version) == requirement
    assert colab.colab_pip_commands(version)[0].startswith(f"pip install -q {requirement}")


@pytest.mark.parametrize("version", ["1.15.5", "3.0.0", "latest", ""])
def test_unusable_tensorflow_versions_are_refused(version):
    with pytest.raises(ValueError):
        colab.tensorflow_text_requirement(version)


def test_urls_come_from_the_one_repository_setting():
    url = colab.colab_url("notebooks/01_x.ipynb")
    assert url == (
        f"https://colab.research.google.com/github/{colab.GITHUB_REPOSITORY}/blob/"
        f"{colab.GITHUB_BRANCH}/notebooks/01_x.ipynb"
    )
    assert colab.GITHUB_REPOSITORY in colab.install_target()
    assert colab.install_target() in colab.SETUP_SOURCE


def test_setup_cell_is_guarded_and_valid_python():
    compile(colab.SETUP_SOURCE, "<setup cell>", "exec")
    assert 'if "google.colab" in sys.modules:' in colab.SETUP_SOURCE


def _cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_notebooks_use_the_repository_setting(path, tmp_path):
    """Each notebook has the badge and setup cell generated from GITHUB_REPOSITORY
    (re-syncing a copy changes nothing), and no other GitHub path."""
    copy_root = tmp_path / "repo"
    (copy_root / colab.NOTEBOOK_DIR).mkdir(parents=True)
    copy = copy_root / colab.NOTEBOOK_DIR / path.name
    shutil.copy(path, copy)
    assert not colab.sync_notebook(copy, copy_root), f"run `python -m nmt_keras.colab` for {path.name}"
    text = path.read_text(encoding="utf-8")
    assert "colab.research.google.com/github/" + colab.GITHUB_REPOSITORY in text
    assert text.count("github.com/") == text.count("github.com/" + colab.GITHUB_REPOSITORY)


def test_sync_rewrites_a_stale_badge(tmp_path):
    notebook = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": [colab.BADGE_MARKER + "\nold badge"]},
            {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
             "source": [colab.SETUP_MARKER + "\nprint('old')"]},
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }
    (tmp_path / "notebooks").mkdir()
    path = tmp_path / "notebooks" / "x.ipynb"
    path.write_text(json.dumps(notebook))
    assert colab.sync_notebook(path, tmp_path)
    cells = _cells(path)
    assert colab.colab_url("notebooks/x.ipynb") in "".join(cells[0]["source"])
    assert "".join(cells[1]["source"]) == colab.SETUP_SOURCE.rstrip("\n")
    assert not colab.sync_notebook(path, tmp_path)


def test_sync_refuses_a_notebook_without_the_cells(tmp_path):
    (tmp_path / "notebooks").mkdir()
    path = tmp_path / "notebooks" / "x.ipynb"
    path.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    with pytest.raises(ValueError, match="no badge or setup cell"):
        colab.sync_notebook(path, tmp_path)


def test_readme_lists_every_notebook_with_its_badge():
    """The README's learning path has one line per notebook, with the badge that
    opens it from GITHUB_REPOSITORY, and names no other GitHub path."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        relative = f"{colab.NOTEBOOK_DIR}/{path.name}"
        assert f"[![Open In Colab]({colab.BADGE_IMAGE})]({colab.colab_url(relative)})" in readme, path.name
    assert readme.count("github.com/") == readme.count("github.com/" + colab.GITHUB_REPOSITORY)
