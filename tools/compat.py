"""Install the package into each supported environment the way a user would, and run
the CLI smoke test and every notebook there.

    python tools/compat.py                  # every environment (`make compat`)
    python tools/compat.py --env colab      # one of them (CI runs this one)
    python tools/compat.py --list           # the environments and what they pin

The wheel is built once. Then, for each environment of `ENVIRONMENTS`, in a fresh
virtual environment:

1. the runtime is installed first (TensorFlow, Keras, tensorflow-text at the
   environment's versions, with the notebook tools), as a learner's machine or Colab
   already has it;
2. the wheel is installed on top without constraints, as `pip install nmt_keras`
   would be, and the runtime's own TensorFlow, Keras and tensorflow-text must still be
   there afterwards (`tools/compat_checks/test_installed.py`). In the Colab
   environment it is installed by notebook 01's own setup cell instead, unmodified,
   with a stand-in `google.colab` module on the path and `NMT_KERAS_SOURCE` pointing at
   the wheel: real pip, no mocks;
3. the CLI smoke test (`tools/compat_checks/test_cli.py`: train, translate,
   evaluate, export, each reloaded in a fresh process) and every notebook under nbval
   run from a scratch directory outside the checkout, so that only the installed
   package can be imported; they run in one pytest with pytest-xdist, a worker per
   core, each file on one worker. In the Colab environment they all see the stand-in
   `google.colab` and `NMT_KERAS_SOURCE`, so each notebook's setup cell finds the
   package installed from the wheel and leaves it as it is.

Colab runs Python 3.13, which this Debian 12 machine does not have: the Colab
environment lives in a Debian 13 root file system made with `debootstrap` from
Debian's package archive and entered with `chroot` (root only; `apt-get install
debootstrap`). The root file system, pip's download cache and the venvs live in the
cache directory (`--cache`, default `$XDG_CACHE_HOME/nmt_keras-compat`, i.e.
`~/.cache/nmt_keras-compat`), so a second run downloads nothing; every run makes its
venvs anew.
"""

import argparse
import contextlib
import dataclasses
import os
import pathlib
import shutil
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHECKS = ROOT / "tools" / "compat_checks"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
# The packages the Debian root needs besides its minimal base: Python and venv, and
# certificates for pip.
DEBIAN_PACKAGES = ("python3", "python3-venv", "ca-certificates")
# Installed with every runtime: what runs the notebooks and the checks (requirements.txt
# pins the same tools for development).
TEST_TOOLS = ("pytest", "pytest-xdist", "nbval", "ipykernel")
# The notebook that installs the package through its setup cell in the Colab environment.
SETUP_NOTEBOOK = "01_data_and_tokenization.ipynb"


@dataclasses.dataclass(frozen=True)
class Environment:
    """One supported environment.

    Attributes:
        describe: str. What it stands for.
        runtime: tuple of pip requirements installed before the package (for "dev":
            requirements.txt, the development pins).
        debian: str or None. The Debian release whose root file system provides Python
            (the Colab environment); None: this machine's Python (`sys.executable`).
        colab: bool. Install the package through the setup cell, with a stand-in
            `google.colab` module (the runtime keeps numpy and matplotlib too, as
            Colab's does).
    """

    describe: str
    runtime: tuple
    debian: str | None = None
    colab: bool = False


ENVIRONMENTS = {
    "colab": Environment(
        "Google Colab today: Python 3.13, TensorFlow 2.20.0, Keras 3.13.2, tensorflow-text 2.20.1",
        ("tensorflow==2.20.0", "keras==3.13.2", "tensorflow-text==2.20.1", "numpy", "matplotlib"),
        debian="trixie",
        colab=True,
    ),
    "dev": Environment(
        "the development pins of requirements.txt: Python 3.11, TensorFlow 2.21, Keras 3.15",
        ("-r", str(ROOT / "requirements.txt")),
    ),
    "colab-2026-04": Environment(
        "the older Colab runtime: Python 3.11, TensorFlow 2.19.0, Keras 3.10.0, tensorflow-text 2.19.0",
        ("tensorflow==2.19.0", "keras==3.10.0", "tensorflow-text==2.19.0"),
    ),
}


class CompatError(RuntimeError):
    """A step failed; the message says which and in which environment."""


def log(message):
    print(f"[compat {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(command, **kwargs):
    """Runs a command, echoing it; a `CompatError` if it fails."""
    log("$ " + " ".join(str(part) for part in command))
    result = subprocess.run([str(part) for part in command], **kwargs)
    if result.returncode != 0:
        raise CompatError(f"exit status {result.returncode}: {' '.join(map(str, command))}")
    return result


def default_cache():
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "nmt_keras-compat"


def build_wheel(out_dir):
    """The package's wheel, built from this checkout into `out_dir`."""
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", out_dir, ROOT])
    wheels = sorted(out_dir.glob("nmt_keras-*.whl"))
    if len(wheels) != 1:
        raise CompatError(f"expected one nmt_keras wheel in {out_dir}, found {wheels}")
    return wheels[0]


class Host:
    """Runs commands on this machine."""

    def __init__(self, scratch):
        self.scratch = scratch  # where venvs and runs live, on this machine

    def path(self, inside):
        """The host path of a path as commands see it (the same here)."""
        return pathlib.Path(inside)

    def inside(self, path):
        return pathlib.Path(path)

    def python(self):
        return sys.executable

    def environ(self, extra=None):
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        return {**keep, **(extra or {})}

    def run(self, command, env=None, cwd=None):
        return run(command, env=self.environ(env), cwd=cwd)

    @contextlib.contextmanager
    def entered(self):
        yield self


class DebianRoot(Host):
    """Runs commands inside a Debian root file system with `chroot`.

    The root is made once by `debootstrap` (kept in the cache) and given this machine's
    DNS settings and certificate bundle (pip must trust what this machine trusts);
    /proc, /sys and /dev are mounted while it is in use. Paths inside it are reached from
    here through `root`.
    """

    def __init__(self, cache, release):
        self.root = cache / f"debian-{release}"
        self.release = release
        super().__init__(pathlib.Path("/compat"))

    def path(self, inside):
        return self.root / pathlib.Path(inside).relative_to("/")

    def inside(self, path):
        return "/" / pathlib.Path(path).relative_to(self.root)

    def python(self):
        return "/usr/bin/python3"

    def create(self):
        marker = self.root / ".nmt_keras-complete"
        if marker.exists():
            log(f"Debian {self.release} root: {self.root} (cached)")
            return
        if os.geteuid() != 0:
            raise CompatError("the Colab environment needs root (debootstrap and chroot): run as root")
        if not shutil.which("debootstrap"):
            raise CompatError("debootstrap is not installed: apt-get install debootstrap")
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.parent.mkdir(parents=True, exist_ok=True)
        run(["debootstrap", "--variant=minbase", f"--include={','.join(DEBIAN_PACKAGES)}",
             self.release, self.root, DEBIAN_MIRROR], stdout=subprocess.DEVNULL)
        marker.touch()

    def environ(self, extra=None):
        # A clean environment: the host's PATH, venv and pip settings mean nothing inside.
        base = {
            "HOME": "/root", "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_DEFAULT_TIMEOUT": "180",
        }
        return {**base, **(extra or {})}

    def run(self, command, env=None, cwd=None):
        environ = self.environ(env)
        inner = ["env", "-i", *(f"{k}={v}" for k, v in environ.items())]
        if cwd is not None:
            inner = ["sh", "-c", 'cd "$0" && exec "$@"', str(cwd), *inner]
        return run(["chroot", self.root, *inner, *command])

    @contextlib.contextmanager
    def entered(self):
        self.create()
        for name in ("etc/resolv.conf", "etc/ssl/certs/ca-certificates.crt"):
            source = pathlib.Path("/") / name
            if source.exists():
                shutil.copyfile(source, self.root / name)
        mounts = []
        try:
            for kind, target in (("proc", "proc"), ("sysfs", "sys")):
                mounts.append(self._mount(["-t", kind, kind], target))
            mounts.append(self._mount(["--rbind", "/dev"], "dev"))
            yield self
        finally:
            for target in reversed([m for m in mounts if m]):
                subprocess.run(["umount", "--recursive", "--lazy", target], check=False)

    def _mount(self, how, target):
        target = self.root / target
        if subprocess.run(["mountpoint", "-q", target]).returncode == 0:
            return None  # mounted by a run that is still going, or was killed: leave it
        run(["mount", *how, target])
        return target


def runtime_versions(system, python):
    """The installed versions of the runtime packages, as the venv's Python reads them."""
    program = (
        "import importlib.metadata as m\n"
        "for name in ('tensorflow', 'keras', 'tensorflow-text'):\n"
        "    print(f'{name}=={m.version(name)}')\n"
    )
    output = subprocess.run(
        ["chroot", system.root, python, "-c", program] if isinstance(system, DebianRoot)
        else [python, "-c", program],
        capture_output=True, text=True, check=True,
    ).stdout
    return tuple(output.split())


def check_environment(name, environment, wheel, cache):
    """Runs every check of one environment; raises `CompatError` on the first failure."""
    system = DebianRoot(cache, environment.debian) if environment.debian else Host(cache / "run")
    with system.entered():
        scratch = system.path(system.scratch) / name
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        # What the commands read, copied in: the wheel, the checks and the notebooks
        # (their outputs included, which nbval compares), nothing else of the checkout.
        shutil.copy(wheel, scratch / wheel.name)
        shutil.copytree(CHECKS, scratch / "checks", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(ROOT / "notebooks", scratch / "notebooks",
                        ignore=shutil.ignore_patterns("solutions", ".ipynb_checkpoints"))
        inside = system.inside(scratch)
        venv = inside / "venv"
        python = venv / "bin" / "python"
        log(f"{name}: {environment.describe}")
        system.run([system.python(), "-m", "venv", venv])
        runtime = environment.runtime
        if runtime[0] == "-r":  # requirements.txt: copied in, like everything it reads
            shutil.copy(runtime[1], scratch / "requirements.txt")
            runtime = ("-r", inside / "requirements.txt")
        system.run([python, "-m", "pip", "install", "--quiet", *runtime, *TEST_TOOLS])
        pins = runtime_versions(system, python)
        log(f"{name}: runtime {' '.join(pins)}")
        expected = {"EXPECTED_RUNTIME": " ".join(pins), "EXPECTED_WHEEL": wheel.name}
        pytest = [python, "-m", "pytest", "-c", inside / "checks" / "pytest.ini",
                  "--rootdir", inside, "-p", "no:cacheprovider"]
        if environment.colab:
            # The setup cell installs the package from the wheel, then notebook 01 runs on.
            colab = {"PYTHONPATH": str(inside / "checks" / "standin"),
                     "NMT_KERAS_SOURCE": str(inside / wheel.name)}
            system.run([*pytest, "--nbval-lax", inside / "notebooks" / SETUP_NOTEBOOK],
                       env=colab, cwd=inside)
        else:
            system.run([python, "-m", "pip", "install", "--quiet", inside / wheel.name])
        system.run([*pytest, inside / "checks" / "test_installed.py"], env=expected, cwd=inside)
        notebooks = sorted((scratch / "notebooks").glob("*.ipynb"))
        if environment.colab:  # notebook 01 ran above, through the setup cell
            notebooks = [path for path in notebooks if path.name != SETUP_NOTEBOOK]
        # The CLI smoke test and the notebooks: a worker per core, each file on one worker.
        env = {**expected, **colab} if environment.colab else expected
        system.run([*pytest, "-n", "auto", "--dist", "loadfile", "--nbval-lax", inside / "checks" / "test_cli.py",
                    *(system.inside(p) for p in notebooks)], env=env, cwd=inside)
        system.run([*pytest, inside / "checks" / "test_installed.py"], env=expected, cwd=inside)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python tools/compat.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", action="append", choices=sorted(ENVIRONMENTS),
                        help="an environment to check (repeatable; default: all)")
    parser.add_argument("--cache", type=pathlib.Path, default=default_cache(),
                        help="cache directory (default: %(default)s)")
    parser.add_argument("--list", action="store_true", help="list the environments and stop")
    args = parser.parse_args(argv)
    if args.list:
        for name, environment in ENVIRONMENTS.items():
            print(f"{name:15} {environment.describe}")
        return 0
    names = args.env or list(ENVIRONMENTS)
    started = time.perf_counter()
    try:
        wheel = build_wheel(args.cache / "wheel")
        log(f"built {wheel.name}")
        for name in names:
            began = time.perf_counter()
            check_environment(name, ENVIRONMENTS[name], wheel, args.cache)
            log(f"{name}: passed in {time.perf_counter() - began:.0f} s")
    except CompatError as error:
        print(f"compat: {error}", file=sys.stderr)
        return 1
    log(f"all passed ({', '.join(names)}) in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
