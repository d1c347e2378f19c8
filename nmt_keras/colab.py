"""The notebooks' environment: Colab badges and setup cell, the version check, and a
quiet TensorFlow import.

The repository's GitHub path is set here, once (`GITHUB_REPOSITORY`). Every notebook's
"Open in Colab" badge and its setup cell are generated from it by
`python -m nmt_keras.colab` (which rewrites them in `notebooks/*.ipynb`), and a test
checks that the committed notebooks match.

The setup cell runs everywhere. On Google Colab it first installs `nmt_keras` and the
tensorflow-text release that matches the runtime's TensorFlow (`install_on_colab`);
then, on any machine, `check_environment` prints the TensorFlow, Keras,
tensorflow-text and nmt_keras versions it finds, stops with a message that says what to
install when tensorflow-text does not match TensorFlow, and keeps TensorFlow's C++
start-up lines (CUDA probing, absl, oneDNN notices) out of the outputs.

Importing this module loads no TensorFlow: the setup cell imports it right after
installing `nmt_keras` and before installing tensorflow-text.
"""

import argparse
import importlib.metadata
import json
import os
import pathlib
import re
import subprocess
import sys
import threading

# The one place the repository's location is written.
GITHUB_REPOSITORY = "nmt-keras/nmt_keras"
GITHUB_BRANCH = "main"
NOTEBOOK_DIR = "notebooks"

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

_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


class EnvironmentMismatch(RuntimeError):
    """The installed TensorFlow, Keras and tensorflow-text cannot work together; the
    message says what to install."""


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


def _major_minor(version, component):
    match = _VERSION.match(str(version).strip())
    if not match:
        raise ValueError(f"not a {component} version: {version!r}")
    return int(match.group(1)), int(match.group(2))


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


def colab_pip_commands(tensorflow_version):
    """pip commands that make a Colab runtime ready, keeping its own TensorFlow.

    `nmt_keras` is installed without dependencies (its requirements pin TensorFlow
    2.21, which would replace Colab's); then the matching tensorflow-text and the
    remaining pure-Python dependency.
    """
    return [
        f"pip install -q {tensorflow_text_requirement(tensorflow_version)} sacrebleu",
    ]


def installed_versions(version=importlib.metadata.version):
    """The installed version of each component of `DISTRIBUTIONS`, or None if absent.

    Read from the package metadata, without importing anything.

    Args:
        version: function(distribution name) -> str, raising
            `importlib.metadata.PackageNotFoundError` for an absent one.
    """
    found = {}
    for component, names in DISTRIBUTIONS.items():
        found[component] = None
        for name in names:
            try:
                found[component] = version(name)
                break
            except importlib.metadata.PackageNotFoundError:
                continue
    return found


def check_versions(versions):
    """Checks that TensorFlow, Keras and tensorflow-text can work together.

    Args:
        versions: dict with the keys of `DISTRIBUTIONS`, each a version str or None,
            and optionally "nmt_keras".

    Returns:
        str, one line naming every version.

    Raises:
        EnvironmentMismatch: TensorFlow is not 2.x, Keras is not 3.x, or tensorflow-text
            is missing or built for another TensorFlow minor release; the message says
            what to install.
    """
    tensorflow, keras, text = versions["tensorflow"], versions["keras"], versions["tensorflow-text"]
    if tensorflow is None:
        raise EnvironmentMismatch("TensorFlow is not installed: pip install -r requirements.txt")
    try:
        requirement = tensorflow_text_requirement(tensorflow)
    except ValueError as error:
        raise EnvironmentMismatch(str(error)) from None
    if keras is None or _major_minor(keras, "Keras")[0] != 3:
        raise EnvironmentMismatch(
            f"nmt_keras needs Keras 3, found Keras {keras}: pip install 'keras>=3', then "
            f"restart the kernel"
        )
    if text is None:
        raise EnvironmentMismatch(
            f"tensorflow-text is not installed: pip install '{requirement}' (the release "
            f"built for TensorFlow {tensorflow}), then restart the kernel"
        )
    if _major_minor(text, "tensorflow-text") != _major_minor(tensorflow, "TensorFlow"):
        raise EnvironmentMismatch(
            f"tensorflow-text {text} does not match TensorFlow {tensorflow}: each "
            f"tensorflow-text release is built for one TensorFlow minor release, and its "
            f"ops fail to load with another. Install '{requirement}' (or the TensorFlow "
            f"release that tensorflow-text {text} was built for), then restart the kernel"
        )
    return (
        f"TensorFlow {tensorflow}, Keras {keras}, tensorflow-text {text}, "
        f"nmt_keras {versions.get('nmt_keras')}"
    )


def install_on_colab():
    """Installs the tensorflow-text release that matches the runtime's TensorFlow, and
    sacrebleu (`colab_pip_commands`), with this Python's pip.

    Raises:
        EnvironmentMismatch: no TensorFlow on the runtime, or pip failed (typically: no
            tensorflow-text release exists yet for the runtime's TensorFlow).
    """
    tensorflow = installed_versions()["tensorflow"]
    if tensorflow is None:
        raise EnvironmentMismatch("this runtime has no TensorFlow: choose a standard Colab runtime")
    try:
        commands = colab_pip_commands(tensorflow)
    except ValueError as error:
        raise EnvironmentMismatch(str(error)) from None
    for command in commands:
        result = subprocess.run([sys.executable, "-m", *command.split()])
        if result.returncode != 0:
            raise EnvironmentMismatch(
                f"`{command}` failed (exit status {result.returncode}): pip found no "
                f"tensorflow-text release for this runtime's TensorFlow {tensorflow}. "
                f"Install a TensorFlow that has one (e.g. pip install 'tensorflow==2.21.*' "
                f"'tensorflow-text==2.21.*'), then restart the runtime"
            )


# What TensorFlow's C++ runtime prints on start-up that says nothing to a reader: absl's
# notice, CUDA probing on machines without a GPU (cudart_stub, cuInit), CPU-feature and
# oneDNN notices. Matched line by line against stderr.
TENSORFLOW_NOISE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IWE]\d{4} [\d:.]+ +\d+ (?:cudart_stub|cuda_\w+|port|cpu_feature_guard)\.cc:\d+\] "
    r"|[IWE]\d{4} .*\boneDNN\b"
    r"|To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags"
)

_noise_filter = None  # the thread of `filter_tensorflow_noise`, once started


def is_tensorflow_noise(line):
    """True for a stderr line of `TENSORFLOW_NOISE`."""
    return TENSORFLOW_NOISE.match(line) is not None


def filter_tensorflow_noise():
    """From now on, drops the `TENSORFLOW_NOISE` lines that C++ code writes to this
    process's stderr (file descriptor 2); every other line passes through unchanged.

    File descriptor 2 becomes a pipe read by a daemon thread, which forwards the lines
    it keeps to the original stderr (in a Jupyter kernel: the notebook). Calling it
    again does nothing.
    """
    global _noise_filter
    if _noise_filter is not None:
        return
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    original = os.dup(2)
    os.dup2(write_end, 2)
    os.close(write_end)

    def forward():
        with os.fdopen(read_end, "rb") as lines:
            for line in lines:
                if not is_tensorflow_noise(line.decode("utf-8", "replace")):
                    os.write(original, line)

    _noise_filter = threading.Thread(target=forward, name="tensorflow-noise-filter", daemon=True)
    _noise_filter.start()


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
    from nmt_keras import __version__

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


SETUP_SOURCE = f"""{SETUP_MARKER}: on Google Colab, installs nmt_keras and the matching tensorflow-text;
# everywhere, checks the versions, keeps TensorFlow's start-up noise out, prints what it found.
import sys

if "google.colab" in sys.modules:
    import subprocess

    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "{install_target()}"],
        check=True,
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
