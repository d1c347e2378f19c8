"""What the benchmarks share: where the repository and the data are, and which commit runs.

The lowest module of `bench`: it imports no other module of the package.
"""

import pathlib
import subprocess

REPO = pathlib.Path(__file__).resolve().parent.parent
# spa-eng's archive, in the folder beside the repository (`../shared/corpora`).
DEFAULT_DATA = REPO.parent / "shared" / "corpora" / "spa-eng.zip"


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
