"""The notebooks' environment: Colab badges and setup cell, the version check, and a
quiet TensorFlow import.

Where the project lives is written once, here (`GITHUB_REPOSITORY`); the notebooks
open and install the release they were generated with, the tag `v` + `__version__`
(`github_ref`). Every notebook's "Open in Colab" badge and its setup cell are generated
from these by `python -m nmt_keras.colab` (which rewrites them in `notebooks/*.ipynb`),
and a test checks that the committed notebooks match. A fork changes
`GITHUB_REPOSITORY` and runs that command.

The setup cell runs everywhere. On Google Colab it installs `nmt_keras` with pip
(`--no-deps`: from `NMT_KERAS_SOURCE` if that environment variable is set, a git URL,
a wheel path or URL, or a checkout; else the release's tag on GitHub), then
`install_on_colab` installs the dependencies without changing a package the runtime
already has, so Colab's own TensorFlow, Keras and tensorflow-text stay. Then, on any
machine, `check_environment` checks the versions against the range the package
supports (`supported_range`, read from the package's metadata: `pyproject.toml` states
it once), prints the TensorFlow, Keras, tensorflow-text and nmt_keras versions and the
devices, and keeps TensorFlow's C++ start-up lines (CUDA probing, absl, oneDNN
notices) out of the outputs. When pip fails, the learner sees pip's last lines and one
sentence on what to do, never a traceback.

Importing this module loads no TensorFlow: the setup cell imports it right after
installing `nmt_keras` and before installing its dependencies.
"""

import argparse
import importlib.metadata
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from nmt_keras import __version__

# The one place the repository's location is written.
GITHUB_REPOSITORY = "nmt-keras/nmt_keras"
NOTEBOOK_DIR = "notebooks"
# The environment variable that overrides where the setup cell installs nmt_keras from.
SOURCE_VARIABLE = "NMT_KERAS_SOURCE"

BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
# Marks the cells this module writes, so they can be found and rewritten.
BADGE_MARKER = "<!-- colab-badge -->"
SETUP_MARKER = "# colab-setup"

# The distributions that can provide each component; the first one installed counts.
DISTRIBUTIONS = {
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-intel", "tensorflow-macos", "tf-nightly"),
    "keras": ("keras", "keras-nightly"),
    "tensorflow-text": ("tensorflow-text", "tensorflow-text-nightly"),
}
# How many of pip's last output lines a failed install shows.
PIP_TAIL_LINES = 12
# What Colab's menu calls the places that fix a runtime.
CHANGE_RUNTIME = "Runtime > Change runtime type > Runtime version"
RESTART = "Runtime > Restart session"
# pip output that means the package index could not be reached.
NO_NETWORK = re.compile(
    r"Failed to establish a new connection|Temporary failure in name resolution|"
    r"Network is unreachable|Name or service not known|ProxyError|Read timed out|"
    r"Could not fetch URL|NewConnectionError"
)

# The comparisons `satisfies` accepts: PEP 440's on release numbers.
_OPERATORS = (">=", "<=", "==", "!=", "<", ">")


class EnvironmentMismatch(RuntimeError):
    """The installed TensorFlow, Keras and tensorflow-text cannot work together, or an
    install failed; the message says what to do.

    In a notebook the message is all that is shown (IPython renders an exception with
    `_render_traceback_` by calling it): what the learner needs is the sentence, not
    this module's call stack.
    """

    def _render_traceback_(self):
        return [f"{type(self).__name__}: {self}"]


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


def _release(version, component):
    """The release of a version string, its suffixes dropped: "2.20.0rc1" -> 2.20.0.

    Raises:
        ValueError: `version` is not a PEP 440 version.
    """
    try:
        return Version(Version(str(version)).base_version)
    except ValueError:
        raise ValueError(f"not a {component} version: {version!r}") from None


def _major_minor(version, component):
    release = _release(version, component)
    return release.major, release.minor


def satisfies(version, specifier, component="package"):
    """True if `version` is inside `specifier`, e.g. ("2.20.0", ">=2.19,<2.22").

    The comparisons of PEP 440 on release numbers (>=, <=, ==, !=, <, >); pre-release,
    post-release and local suffixes are ignored ("2.21.0rc1" counts as 2.21.0), and an
    empty specifier accepts every version.

    Raises:
        ValueError: `version` is not a version, or `specifier` is not made of those
            comparisons (e.g. "~=2.20").
    """
    release = _release(version, component)
    try:
        clauses = SpecifierSet(specifier)
    except ValueError:
        clauses = None
    if clauses is None or any(clause.operator not in _OPERATORS for clause in clauses):
        raise ValueError(f"unsupported version specifier {specifier!r}")
    return release in clauses


def _declared_requirements():
    """(Requires-Python, [Requires-Dist]) of nmt_keras: from the installed package's
    metadata, or from pyproject.toml next to a checkout that was never installed."""
    try:
        metadata = importlib.metadata.metadata("nmt_keras")
        return metadata["Requires-Python"] or "", list(metadata.get_all("Requires-Dist") or [])
    except importlib.metadata.PackageNotFoundError:
        import tomllib

        path = pathlib.Path(__file__).resolve().parents[1] / "pyproject.toml"
        project = tomllib.loads(path.read_text(encoding="utf-8"))["project"]
        return project["requires-python"], list(project["dependencies"])


def supported_range():
    """The versions nmt_keras supports, as `pyproject.toml` states them.

    Returns:
        dict: "python", "tensorflow", "keras" and "tensorflow-text" -> a specifier
        such as ">=2.19,<2.22"; "requirements" -> every dependency as declared.
    """
    python, requirements = _declared_requirements()
    found = {"python": _tidy(python), "requirements": requirements}
    for requirement in map(Requirement, requirements):
        if canonicalize_name(requirement.name) in DISTRIBUTIONS:
            found[canonicalize_name(requirement.name)] = _tidy(requirement.specifier)
    return found


def _tidy(specifier):
    """A specifier with its lower bounds first: "<2.22,>=2.19" -> ">=2.19,<2.22"."""
    clauses = map(str, SpecifierSet(str(specifier)))
    return ",".join(sorted(clauses, key=lambda clause: (not clause.startswith(">"), clause)))


def describe_range(supported=None):
    """One phrase naming the supported range, for messages."""
    supported = supported or supported_range()
    return (
        f"nmt_keras {__version__} runs on Python {supported['python']} with TensorFlow "
        f"{supported['tensorflow']}, Keras {supported['keras']} and the tensorflow-text "
        f"of TensorFlow's minor release"
    )


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
    major, minor = _major_minor(tensorflow_version, "TensorFlow")
    if major != 2:
        raise ValueError(
            f"nmt_keras needs TensorFlow 2.x with Keras 3, got TensorFlow {tensorflow_version}"
        )
    return f"tensorflow-text=={major}.{minor}.*"


def installed_versions(version=importlib.metadata.version):
    """The installed version of each component of `DISTRIBUTIONS`, or None if absent.

    Read from the package metadata, without importing anything.

    Args:
        version: function(distribution name) -> str, raising
            `importlib.metadata.PackageNotFoundError` for an absent one.
    """
    found = dict.fromkeys(DISTRIBUTIONS)
    for component, names in DISTRIBUTIONS.items():
        for name in names:
            try:
                found[component] = version(name)
                break
            except importlib.metadata.PackageNotFoundError:
                pass
    return found


def check_runtime(versions, supported=None, python=None):
    """Checks that Python, TensorFlow and Keras are inside the range nmt_keras supports.

    Args:
        versions: dict with the keys of `DISTRIBUTIONS`, each a version str or None.
        supported: dict as `supported_range` returns; None: this package's.
        python: str, the Python version; None: this interpreter's.

    Raises:
        EnvironmentMismatch: one is missing or outside the range; the message names the
            range, or says what to install.
    """
    supported = supported or supported_range()
    python = python or ".".join(map(str, sys.version_info[:3]))
    tensorflow, keras = versions["tensorflow"], versions["keras"]
    outside = f"{describe_range(supported)}; on Colab choose another runtime version ({CHANGE_RUNTIME})"
    if not satisfies(python, supported["python"], "Python"):
        raise EnvironmentMismatch(f"this is Python {python}: {outside}")
    if tensorflow is None:
        raise EnvironmentMismatch(
            f"TensorFlow is not installed: pip install 'tensorflow{supported['tensorflow']}' "
            f"(or pip install -r requirements.txt in a checkout)"
        )
    try:
        tensorflow_text_requirement(tensorflow)  # TensorFlow 2.x
        inside = satisfies(tensorflow, supported["tensorflow"], "TensorFlow")
    except ValueError as error:
        raise EnvironmentMismatch(f"{error}: {outside}") from None
    if not inside:
        raise EnvironmentMismatch(f"this runtime has TensorFlow {tensorflow}: {outside}")
    if keras is None or _major_minor(keras, "Keras")[0] != 3:
        raise EnvironmentMismatch(
            f"nmt_keras needs Keras 3, found Keras {keras}: pip install "
            f"'keras{supported['keras']}', then restart the kernel"
        )
    if not satisfies(keras, supported["keras"], "Keras"):
        raise EnvironmentMismatch(f"this runtime has Keras {keras}: {outside}")


def check_versions(versions, supported=None, python=None):
    """Checks that TensorFlow, Keras and tensorflow-text can work together, inside the
    range nmt_keras supports (`check_runtime`).

    Args:
        versions: dict with the keys of `DISTRIBUTIONS`, each a version str or None,
            and optionally "nmt_keras".
        supported, python: as for `check_runtime`.

    Returns:
        str, one line naming every version.

    Raises:
        EnvironmentMismatch: see `check_runtime`; or tensorflow-text is missing or built
            for another TensorFlow minor release (the message says what to install).
    """
    check_runtime(versions, supported, python)
    tensorflow, keras, text = versions["tensorflow"], versions["keras"], versions["tensorflow-text"]
    requirement = tensorflow_text_requirement(tensorflow)
    if text is None:
        raise EnvironmentMismatch(
            f"tensorflow-text is not installed: pip install '{requirement}' (the release "
            f"built for TensorFlow {tensorflow}), then restart the kernel"
        )
    if _major_minor(text, "tensorflow-text") != _major_minor(tensorflow, "TensorFlow"):
        raise EnvironmentMismatch(
            f"tensorflow-text {text} does not match TensorFlow {tensorflow}: each "
            f"tensorflow-text release is built for one TensorFlow minor release, and its "
            f"ops fail to load with another. Install '{requirement}', then restart the kernel"
        )
    return (
        f"TensorFlow {tensorflow}, Keras {keras}, tensorflow-text {text}, "
        f"nmt_keras {versions.get('nmt_keras')}"
    )


def runtime_constraints():
    """pip constraints that pin every installed distribution to its installed version:
    with them pip may add packages but never replaces one the runtime has."""
    pins = set()
    for distribution in importlib.metadata.distributions():
        name, version = distribution.metadata["Name"], distribution.version
        if name and version and canonicalize_name(name) != "nmt-keras":
            pins.add(f"{name}=={version}")
    return sorted(pins, key=str.lower)


def dependency_requirements(tensorflow_version, supported=None):
    """What `install_on_colab` asks pip for: nmt_keras's declared dependencies, with
    tensorflow-text narrowed to the runtime's TensorFlow minor release."""
    supported = supported or supported_range()
    requirements = []
    for requirement in supported["requirements"]:
        parsed = Requirement(requirement)
        if parsed.marker:  # an environment marker: only extras use them here
            continue
        if canonicalize_name(parsed.name) == "tensorflow-text":
            requirement = tensorflow_text_requirement(tensorflow_version)
        requirements.append(requirement)
    return requirements


def pip_failure_advice(output, tensorflow_version):
    """One sentence on what to do after pip failed with `output`."""
    if NO_NETWORK.search(output):
        return ("pip could not reach the package index: check the runtime's internet "
                "connection, then run this cell again")
    if re.search(r"tensorflow[-_]text", output, re.IGNORECASE) and re.search(
        r"No matching distribution|ResolutionImpossible|conflict", output
    ):
        return (f"pip found no tensorflow-text release for this runtime's TensorFlow "
                f"{tensorflow_version} (tensorflow-text is published some weeks after each "
                f"TensorFlow release): choose another runtime version ({CHANGE_RUNTIME})")
    return (f"pip could not install nmt_keras's dependencies beside this runtime's packages "
            f"(its last lines are above): {RESTART} and run this cell again, and if it fails "
            f"again choose another runtime version ({CHANGE_RUNTIME})")


def pip_install(arguments, tensorflow_version):
    """Runs this Python's pip; on failure prints pip's last lines and raises
    `EnvironmentMismatch` with `pip_failure_advice`."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", *arguments], capture_output=True, text=True
    )
    if result.returncode != 0:
        output = result.stdout + result.stderr
        print("\n".join(output.rstrip().splitlines()[-PIP_TAIL_LINES:]))
        raise EnvironmentMismatch(pip_failure_advice(output, tensorflow_version))
    return result


def install_on_colab():
    """Installs the dependencies of the `nmt_keras` that the setup cell just installed,
    changing no package the runtime already has (`runtime_constraints`).

    Raises:
        EnvironmentMismatch: the runtime is outside the supported range (the message
            names it), pip failed (after printing pip's last lines), or this session
            still runs another nmt_keras than the one installed (restart it).
    """
    supported = supported_range()
    versions = installed_versions()
    tensorflow = versions["tensorflow"]
    if tensorflow is None:
        raise EnvironmentMismatch(
            f"this runtime has no TensorFlow: choose a standard runtime ({CHANGE_RUNTIME})"
        )
    # A runtime outside the range would need another TensorFlow, which the install must
    # not bring: say so before pip runs.
    check_runtime(versions, supported)
    with tempfile.TemporaryDirectory() as directory:
        constraints = pathlib.Path(directory) / "runtime.txt"
        constraints.write_text("\n".join(runtime_constraints()) + "\n", encoding="utf-8")
        pip_install(["--quiet", "--constraint", str(constraints),
                     *dependency_requirements(tensorflow, supported)], tensorflow)
    installed = importlib.metadata.version("nmt_keras")
    if installed != __version__:
        raise EnvironmentMismatch(
            f"nmt_keras {installed} is installed, but this session still runs nmt_keras "
            f"{__version__}: {RESTART}, then run the notebook from the top"
        )


def import_tensorflow():
    """Imports TensorFlow, Keras and tensorflow-text and lists the physical devices
    (which does not start TensorFlow's runtime: logical devices can still be set up).

    Returns:
        dict: the imported modules' `__version__`s (keys as in `DISTRIBUTIONS`) and
        `devices`, the physical device types (e.g. ["CPU", "GPU"]).
    """
    import keras
    import tensorflow as tf
    import tensorflow_text

    return {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "tensorflow-text": tensorflow_text.__version__,
        "devices": [device.device_type for device in tf.config.list_physical_devices()],
    }


def check_environment():
    """What the setup cell runs on every machine: checks the installed versions, filters
    TensorFlow's start-up noise (`filter_tensorflow_noise`), imports TensorFlow, and
    prints one line with the versions and the devices.

    Returns:
        dict of the versions (keys as in `DISTRIBUTIONS`, and "nmt_keras") and
        `devices`.

    Raises:
        EnvironmentMismatch: see `check_versions`.
    """
    from nmt_keras.cli import filter_tensorflow_noise

    versions = {**installed_versions(), "nmt_keras": __version__}
    check_versions(versions)  # before importing: a mismatched tensorflow-text fails to load
    filter_tensorflow_noise()
    try:
        imported = import_tensorflow()
    except Exception as error:
        raise EnvironmentMismatch(
            f"importing TensorFlow or tensorflow-text failed ({type(error).__name__}: "
            f"{error}); check_versions found {versions}"
        ) from error
    found = {**versions, **imported}
    print(f"{check_versions(found)}; devices: {', '.join(sorted(set(imported['devices'])))}")
    return found


def setup_source():
    """The setup cell's code (see the module docstring)."""
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
    """Rewrites the badge cell and the setup cell of one notebook from this module.

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
