"""The notebooks' environment on every machine: the version check, the install on
Colab, and a quiet TensorFlow import.

Every notebook starts with a setup cell (written by `tools/sync_notebooks.py`), which
runs everywhere. On Google Colab it installs `nmt_keras` with pip (`--no-deps`: from
`NMT_KERAS_SOURCE` if that environment variable is set, a git URL, a wheel path or
URL, or a checkout; else the release's tag on GitHub), then `install_on_colab`
installs the dependencies without changing a package the runtime already has, so
Colab's own TensorFlow, Keras and tensorflow-text stay. Then, on any
machine, `check_environment` checks the versions against the range the package
supports (`supported_range`, read from the package's metadata: `pyproject.toml` states
it once), prints the TensorFlow, Keras, tensorflow-text and nmt_keras versions and the
devices, and keeps TensorFlow's C++ start-up lines (CUDA probing, absl, oneDNN
notices) out of the outputs. When pip fails, the learner sees pip's last lines and one
sentence on what to do, never a traceback.

Importing this module loads no TensorFlow: the setup cell imports it right after
installing `nmt_keras` and before installing its dependencies.
"""

import importlib.metadata
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
