"""Colab support and the setup cell: the supported range, version checks, the Colab
install (with real pip), TensorFlow's start-up noise, and notebooks that agree with
GITHUB_REPOSITORY (tools/sync_notebooks.py).

The whole Colab path, on Colab's own Python and TensorFlow, runs in `make compat`
(tools/compat.py): there notebook 01's setup cell installs the built wheel with a
stand-in `google.colab` module and the notebook runs on.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tomllib

import pytest

from nmt_keras import cli, colab
from tool_modules import load_tool

ROOT = pathlib.Path(__file__).resolve().parents[1]
sync = load_tool("sync_notebooks")
NOTEBOOKS = sorted((ROOT / sync.NOTEBOOK_DIR).glob("*.ipynb"))
STANDIN = ROOT / "tools" / "compat_checks" / "standin"
SUPPORTED = {
    "python": ">=3.11,<3.14", "tensorflow": ">=2.19,<2.22", "keras": ">=3.10,<3.16",
    "tensorflow-text": ">=2.19,<2.22", "requirements": ["tensorflow>=2.19,<2.22", "sacrebleu>=2"],
}


# ------------------------------------------------------------------ the supported range


def _normalized(requirement):
    """"tensorflow<2.22, >=2.19" -> ("tensorflow", {"<2.22", ">=2.19"})."""
    requirement = requirement.replace(" ", "")
    cut = next((i for i, c in enumerate(requirement) if c in "<>=!~"), len(requirement))
    return requirement[:cut].lower(), frozenset(filter(None, requirement[cut:].split(",")))


def test_the_supported_range_is_the_one_pyproject_states():
    """The setup cell and the checks read the range from the installed package's
    metadata, which must be pyproject.toml's (make reinstalls when pyproject changes)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    supported = colab.supported_range()
    assert _normalized("python" + supported["python"]) == _normalized("python" + project["requires-python"])
    assert {_normalized(r) for r in supported["requirements"]} == {_normalized(r) for r in project["dependencies"]}
    declared = dict(_normalized(r) for r in project["dependencies"])
    for name in ("tensorflow", "keras", "tensorflow-text"):
        assert _normalized(name + supported[name])[1] == declared[name], name
        assert supported[name].startswith(">="), supported[name]  # lower bound first, for messages


@pytest.mark.parametrize(
    "version, specifier, inside",
    [
        ("2.20.0", ">=2.19,<2.22", True),
        ("2.19.0", ">=2.19,<2.22", True),
        ("2.22.0", ">=2.19,<2.22", False),
        ("2.18.1", ">=2.19,<2.22", False),
        ("2.21.0rc1", ">=2.19,<2.22", True),
        ("3.13.5", ">=3.11,<3.14", True),
        ("3.14.0", ">=3.11,<3.14", False),
        ("3.10", ">=3.11,<3.14", False),
        ("1.0", "", True),
        ("2.20.0", "==2.20.0", True),
        ("2.20.1", "!=2.20.1", False),
    ],
)
def test_satisfies_compares_release_numbers(version, specifier, inside):
    assert colab.satisfies(version, specifier) is inside


def test_unsupported_specifiers_are_refused():
    with pytest.raises(ValueError, match="unsupported version specifier"):
        colab.satisfies("2.20.0", "~=2.20")


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


@pytest.mark.parametrize("version", ["1.15.5", "3.0.0", "latest", ""])
def test_unusable_tensorflow_versions_are_refused(version):
    with pytest.raises(ValueError):
        colab.tensorflow_text_requirement(version)


# ------------------------------------------------------------------- version checks

MATCHING = {"tensorflow": "2.21.0", "keras": "3.15.1", "tensorflow-text": "2.21.1", "nmt_keras": "0.3.0"}


def test_matching_versions_are_named_in_one_line():
    assert colab.check_versions(MATCHING, SUPPORTED, python="3.11.7") == (
        "TensorFlow 2.21.0, Keras 3.15.1, tensorflow-text 2.21.1, nmt_keras 0.3.0"
    )


@pytest.mark.parametrize(
    "changes, python, message",
    [
        ({"tensorflow-text": "2.19.0"}, "3.13.5", r"tensorflow-text 2\.19\.0 does not match TensorFlow 2\.21\.0.*'tensorflow-text==2\.21\.\*'"),
        ({"tensorflow-text": None}, "3.13.5", r"tensorflow-text is not installed: pip install 'tensorflow-text==2\.21\.\*'"),
        ({"keras": "2.15.0"}, "3.13.5", r"needs Keras 3, found Keras 2\.15\.0"),
        ({"keras": None}, "3.13.5", r"needs Keras 3, found Keras None"),
        ({"tensorflow": "1.15.5"}, "3.13.5", r"needs TensorFlow 2\.x"),
        ({"tensorflow": None}, "3.13.5", r"TensorFlow is not installed: pip install 'tensorflow>=2\.19,<2\.22'"),
        # Outside the supported range: the message names the range.
        ({"tensorflow": "2.22.0"}, "3.13.5", r"this runtime has TensorFlow 2\.22\.0: nmt_keras .* runs on Python >=3\.11,<3\.14 with TensorFlow >=2\.19,<2\.22, Keras >=3\.10,<3\.16"),
        ({"tensorflow": "2.18.0"}, "3.13.5", r"TensorFlow 2\.18\.0: .*TensorFlow >=2\.19,<2\.22"),
        ({"keras": "3.16.0"}, "3.13.5", r"this runtime has Keras 3\.16\.0: .*Keras >=3\.10,<3\.16"),
        ({}, "3.14.0", r"this is Python 3\.14\.0: .*Python >=3\.11,<3\.14.*Change runtime type"),
    ],
)
def test_mismatched_missing_or_unsupported_versions_stop_with_what_to_do(changes, python, message):
    with pytest.raises(colab.EnvironmentMismatch, match=message):
        colab.check_versions({**MATCHING, **changes}, SUPPORTED, python=python)


def test_installed_versions_read_the_first_distribution_present():
    present = {"tensorflow-cpu": "2.20.0", "keras": "3.10.0"}

    def version(name):
        if name not in present:
            raise colab.importlib.metadata.PackageNotFoundError(name)
        return present[name]

    assert colab.installed_versions(version) == {
        "tensorflow": "2.20.0", "keras": "3.10.0", "tensorflow-text": None,
    }


def test_in_a_notebook_an_environment_mismatch_shows_its_message_only():
    error = colab.EnvironmentMismatch("choose another runtime version")
    assert error._render_traceback_() == ["EnvironmentMismatch: choose another runtime version"]


# ----------------------------------------------------------------------- the install


def test_dependencies_narrow_tensorflow_text_to_the_runtimes_minor_release():
    requirements = colab.dependency_requirements(
        "2.20.0", {**SUPPORTED, "requirements": ["tensorflow>=2.19,<2.22", "tensorflow-text>=2.19,<2.22", "sacrebleu>=2"]}
    )
    assert requirements == ["tensorflow>=2.19,<2.22", "tensorflow-text==2.20.*", "sacrebleu>=2"]


def test_runtime_constraints_pin_every_installed_package_but_nmt_keras():
    pins = colab.runtime_constraints()
    versions = colab.installed_versions()
    assert f"tensorflow=={versions['tensorflow']}" in pins
    assert f"keras=={versions['keras']}" in pins
    assert not [pin for pin in pins if pin.lower().replace("_", "-").startswith("nmt-keras==")]


@pytest.mark.parametrize(
    "output, advice",
    [
        ("WARNING: Retrying ... NewConnectionError: Failed to establish a new connection: [Errno 101] Network is unreachable",
         "could not reach the package index"),
        ("ERROR: Could not find a version that satisfies the requirement tensorflow-text==2.22.* (from versions: 2.20.1, 2.21.0)\n"
         "ERROR: No matching distribution found for tensorflow-text==2.22.*",
         "no tensorflow-text release for this runtime's TensorFlow 2.22.0"),
        ("ERROR: Cannot install sacrebleu because these package versions have conflicting dependencies.\nResolutionImpossible",
         "Restart session"),
    ],
)
def test_a_failed_pip_gets_one_sentence_on_what_to_do(output, advice):
    assert advice in colab.pip_failure_advice(output, "2.22.0")


def test_install_on_colab_refuses_a_runtime_outside_the_range_before_pip_runs(monkeypatch):
    monkeypatch.setattr(colab, "installed_versions", lambda: {"tensorflow": "2.22.0", "keras": "3.13.2", "tensorflow-text": None})
    monkeypatch.setattr(colab, "pip_install", lambda *args: pytest.fail("pip ran"))
    with pytest.raises(colab.EnvironmentMismatch, match=r"TensorFlow 2\.22\.0: nmt_keras .* runs on .*TensorFlow >=2\.19,<2\.22"):
        colab.install_on_colab()


def test_install_on_colab_with_real_pip_keeps_every_installed_version():
    """In this environment every dependency is there already: real pip, with the
    runtime's constraints, must change nothing."""
    before = colab.runtime_constraints()
    colab.install_on_colab()
    assert colab.runtime_constraints() == before


def test_a_failed_pip_prints_its_last_lines_then_the_advice(capsys):
    with pytest.raises(colab.EnvironmentMismatch, match="could not install nmt_keras's dependencies"):
        colab.pip_install(["--no-index", "--quiet", "nmt-keras-no-such-package==0"], "2.21.0")
    printed = capsys.readouterr().out
    assert "nmt-keras-no-such-package" in printed
    assert len(printed.splitlines()) <= colab.PIP_TAIL_LINES


# -------------------------------------------------------------------- the setup cell


def test_the_setup_cell_installs_the_release_tag_or_the_source_variable():
    source = sync.setup_source()
    compile(source, "<setup cell>", "exec")
    assert 'if "google.colab" in sys.modules:' in source
    assert f'os.environ.get("{sync.SOURCE_VARIABLE}", "{sync.install_target()}")' in source
    assert sync.install_target().endswith(f".git@v{colab.__version__}")
    assert '"--no-deps"' in source  # the dependencies come from install_on_colab, pinned
    assert source.rstrip().endswith("environment = check_environment()")


def _colab_process(code, source):
    """Runs `code` in a fresh Python that has a stand-in google.colab, with
    NMT_KERAS_SOURCE set to `source`."""
    environ = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    environ.update(PYTHONPATH=str(STANDIN), **{sync.SOURCE_VARIABLE: str(source)})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=environ)


def test_on_colab_a_failed_install_shows_pips_lines_and_one_sentence_not_a_traceback(tmp_path):
    """The setup cell with a wheel that does not exist, run by IPython as a notebook
    kernel runs it: real pip fails; what the learner sees is pip's own last lines and
    the cell's message, which names the supported range."""
    missing = tmp_path / "nmt_keras-0.3.0-py3-none-any.whl"
    program = (
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        f"result = shell.run_cell({sync.setup_source()!r})\n"
        "print('FAILED' if result.error_in_exec else 'PASSED')\n"
    )
    process = _colab_process(program, missing)
    shown = process.stdout + process.stderr
    assert process.stdout.rstrip().endswith("FAILED"), shown
    assert "does not exist" in shown  # pip's own words
    assert f"SetupError: pip could not install nmt_keras from {missing}" in shown
    assert colab.describe_range() in shown
    assert "Traceback" not in shown and "raise SetupError" not in shown


def test_the_setup_cell_elsewhere_installs_nothing_and_prints_the_versions_without_noise():
    """The setup cell in a fresh Python, as a local kernel runs it: one line with the
    versions and devices on stdout, and none of TensorFlow's start-up lines on stderr."""
    process = subprocess.run(
        [sys.executable, "-c", sync.setup_source() + "\nimport time; time.sleep(0.5)\n"],
        capture_output=True, text=True, timeout=300,
        env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"},
    )
    assert process.returncode == 0, process.stderr
    versions = colab.installed_versions()
    assert process.stdout.startswith(f"TensorFlow {versions['tensorflow']}, Keras ")
    assert f"nmt_keras {colab.__version__}; devices: CPU" in process.stdout
    noise = [line for line in process.stderr.splitlines() if cli.is_tensorflow_noise(line)]
    assert not noise, noise
    for pattern in ("cuInit", "cudart_stub", "absl::InitializeLog"):
        assert pattern not in process.stderr


# --------------------------------------------------------- badges and notebooks in sync


def test_urls_come_from_the_one_repository_setting_and_the_release_tag():
    url = sync.colab_url("notebooks/01_x.ipynb")
    assert url == (
        f"https://colab.research.google.com/github/{sync.GITHUB_REPOSITORY}/blob/"
        f"v{colab.__version__}/notebooks/01_x.ipynb"
    )
    assert sync.install_target() == f"git+https://github.com/{sync.GITHUB_REPOSITORY}.git@v{colab.__version__}"


def _cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_notebooks_use_the_repository_setting(path, tmp_path):
    """Each notebook has the badge and setup cell generated from GITHUB_REPOSITORY
    (re-syncing a copy changes nothing), and no other GitHub path."""
    copy_root = tmp_path / "repo"
    (copy_root / sync.NOTEBOOK_DIR).mkdir(parents=True)
    copy = copy_root / sync.NOTEBOOK_DIR / path.name
    shutil.copy(path, copy)
    assert not sync.sync_notebook(copy, copy_root), f"run `python tools/sync_notebooks.py` for {path.name}"
    text = path.read_text(encoding="utf-8")
    assert "colab.research.google.com/github/" + sync.GITHUB_REPOSITORY in text
    assert text.count("github.com/") == text.count("github.com/" + sync.GITHUB_REPOSITORY)


def test_sync_rewrites_a_stale_badge(tmp_path):
    notebook = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": [sync.BADGE_MARKER + "\nold badge"]},
            {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
             "source": [sync.SETUP_MARKER + "\nprint('old')"]},
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }
    (tmp_path / "notebooks").mkdir()
    path = tmp_path / "notebooks" / "x.ipynb"
    path.write_text(json.dumps(notebook))
    assert sync.sync_notebook(path, tmp_path)
    cells = _cells(path)
    assert sync.colab_url("notebooks/x.ipynb") in "".join(cells[0]["source"])
    assert "".join(cells[1]["source"]) == sync.setup_source().rstrip("\n")
    assert not sync.sync_notebook(path, tmp_path)


def test_sync_refuses_a_notebook_without_the_cells(tmp_path):
    (tmp_path / "notebooks").mkdir()
    path = tmp_path / "notebooks" / "x.ipynb"
    path.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    with pytest.raises(ValueError, match="no badge or setup cell"):
        sync.sync_notebook(path, tmp_path)


def test_readme_lists_every_notebook_with_its_badge():
    """The README's learning path has one line per notebook, with the badge that
    opens it from GITHUB_REPOSITORY, and names no other GitHub path."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        relative = f"{sync.NOTEBOOK_DIR}/{path.name}"
        assert f"[![Open In Colab]({sync.BADGE_IMAGE})]({sync.colab_url(relative)})" in readme, path.name
    assert readme.count("github.com/") == readme.count("github.com/" + sync.GITHUB_REPOSITORY)
