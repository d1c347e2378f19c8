"""Colab support and the setup cell: version matching and checking, the Colab install,
TensorFlow's start-up noise, and notebooks that agree with GITHUB_REPOSITORY."""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import types

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
    assert colab.SETUP_SOURCE.rstrip().endswith("environment = check_environment()")


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


# The setup cell's logic: versions, the Colab install, TensorFlow's start-up noise.

MATCHING = {"tensorflow": "2.21.0", "keras": "3.15.1", "tensorflow-text": "2.21.1", "nmt_keras": "0.2.0"}


def test_matching_versions_are_named_in_one_line():
    assert colab.check_versions(MATCHING) == (
        "TensorFlow 2.21.0, Keras 3.15.1, tensorflow-text 2.21.1, nmt_keras 0.2.0"
    )


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"tensorflow-text": "2.19.0"}, r"tensorflow-text 2\.19\.0 does not match TensorFlow 2\.21\.0.*'tensorflow-text==2\.21\.\*'"),
        ({"tensorflow-text": None}, r"tensorflow-text is not installed: pip install 'tensorflow-text==2\.21\.\*'"),
        ({"keras": "2.15.0"}, r"needs Keras 3, found Keras 2\.15\.0"),
        ({"keras": None}, r"needs Keras 3, found Keras None"),
        ({"tensorflow": "1.15.5"}, r"needs TensorFlow 2\.x"),
        ({"tensorflow": None}, r"TensorFlow is not installed"),
    ],
)
def test_mismatched_or_missing_versions_stop_with_what_to_install(changes, message):
    with pytest.raises(colab.EnvironmentMismatch, match=message):
        colab.check_versions({**MATCHING, **changes})


def test_installed_versions_read_the_first_distribution_present():
    present = {"tensorflow-cpu": "2.20.0", "keras": "3.10.0"}

    def version(name):
        if name not in present:
            raise colab.importlib.metadata.PackageNotFoundError(name)
        return present[name]

    assert colab.installed_versions(version) == {
        "tensorflow": "2.20.0", "keras": "3.10.0", "tensorflow-text": None,
    }


def _fake_run(calls, returncode=0):
    def run(command, *args, **kwargs):
        calls.append(list(command))
        return subprocess.CompletedProcess(command, returncode)

    return run


def test_install_on_colab_installs_the_tensorflow_text_of_the_runtime(monkeypatch):
    calls = []
    monkeypatch.setattr(colab, "installed_versions", lambda: {"tensorflow": "2.19.0"})
    monkeypatch.setattr(subprocess, "run", _fake_run(calls))
    colab.install_on_colab()
    assert calls == [[sys.executable, "-m", "pip", "install", "-q", "tensorflow-text==2.19.*", "sacrebleu"]]


def test_install_on_colab_explains_a_failed_install(monkeypatch):
    monkeypatch.setattr(colab, "installed_versions", lambda: {"tensorflow": "2.99.0"})
    monkeypatch.setattr(subprocess, "run", _fake_run([], returncode=1))
    with pytest.raises(colab.EnvironmentMismatch, match=r"no tensorflow-text release for this runtime's TensorFlow 2\.99\.0"):
        colab.install_on_colab()


def test_the_setup_cell_on_colab_installs_nmt_keras_then_tensorflow_text(monkeypatch, capsys):
    """The setup cell as Colab runs it, with pip replaced by a recorder."""
    calls = []
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(subprocess, "run", _fake_run(calls))
    monkeypatch.setattr(colab, "installed_versions", lambda: {"tensorflow": "2.18.0"})
    monkeypatch.setattr(colab, "check_environment", lambda: print("checked") or {})
    exec(compile(colab.SETUP_SOURCE, "<setup cell>", "exec"), {})
    assert calls == [
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", colab.install_target()],
        [sys.executable, "-m", "pip", "install", "-q", "tensorflow-text==2.18.*", "sacrebleu"],
    ]
    assert capsys.readouterr().out == "checked\n"


def test_the_setup_cell_elsewhere_installs_nothing_and_prints_the_versions_without_noise():
    """The setup cell in a fresh Python, as a local kernel runs it: one line with the
    versions and devices on stdout, and none of TensorFlow's start-up lines on stderr."""
    process = subprocess.run(
        [sys.executable, "-c", colab.SETUP_SOURCE + "\nimport time; time.sleep(0.5)\n"],
        capture_output=True, text=True, timeout=300, env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"},
    )
    assert process.returncode == 0, process.stderr
    import nmt_keras

    versions = colab.installed_versions()
    assert process.stdout.startswith(f"TensorFlow {versions['tensorflow']}, Keras ")
    assert f"nmt_keras {nmt_keras.__version__}; devices: CPU" in process.stdout
    noise = [line for line in process.stderr.splitlines() if colab.is_tensorflow_noise(line)]
    assert not noise, noise
    for pattern in ("cuInit", "cudart_stub", "absl::InitializeLog"):
        assert pattern not in process.stderr


@pytest.mark.parametrize(
    "line, noise",
    [
        ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR", True),
        ("I0000 00:00:1795756347.235266   12509 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.", True),
        ("E0000 00:00:1795756351.152604   12509 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error", True),
        ("I0000 00:00:1796037035.569653   22413 port.cc:153] oneDNN custom operations are on.", True),
        ("E0000 00:00:1796037802.467758   27613 util.cc:131] oneDNN supports DT_INT64 only on platforms with AVX-512.", True),
        ("To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags.", True),
        ("E0000 00:00:1796037802.467758   27613 op_kernel.cc:1840] OP_REQUIRES failed: Out of memory", False),
        ("Traceback (most recent call last):", False),
        ("WARNING: a warning of your own", False),
    ],
)
def test_only_tensorflows_start_up_lines_count_as_noise(line, noise):
    assert colab.is_tensorflow_noise(line) is noise


def test_the_noise_filter_drops_start_up_lines_and_keeps_the_rest():
    program = (
        "import os, time\n"
        "from nmt_keras import colab\n"
        "colab.filter_tensorflow_noise()\n"
        "colab.filter_tensorflow_noise()  # a second call changes nothing\n"
        "os.write(2, b'I0000 00:00:1.2   7 cudart_stub.cc:31] Could not find cuda drivers\\n')\n"
        "os.write(2, b'a real error\\n')\n"
        "time.sleep(0.5)\n"
    )
    process = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert process.returncode == 0
    assert process.stderr == "a real error\n"
