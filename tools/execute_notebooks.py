"""Execute notebooks in place and commit-clean them.

    python tools/execute_notebooks.py notebooks/01_data_and_tokenization.ipynb [...]
    python tools/execute_notebooks.py --all

Each notebook runs top to bottom in its own directory with the current Python's kernel
(`nmt_keras` must be importable there: `make test` installs it into .venv in editable
mode). Afterwards code cells are numbered 1..n, notebook and cell metadata are reduced
to what Jupyter needs (outputs are kept, figures embedded), and the wall time is
printed; a notebook over its time limit is reported as a failure (exit status 1).
"""

import argparse
import pathlib
import sys
import time

import nbformat
from nbconvert.preprocessors import ExecutePreprocessor

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Cell metadata worth keeping: nbval and Jupyter read these.
KEPT_CELL_METADATA = ("tags",)
KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}
DEFAULT_TIME_LIMIT_S = 180


def clean(notebook):
    """Normalizes execution counts and removes volatile metadata, in place.

    Code cells are numbered 1, 2, 3 ... in order (nbval refuses cells that have
    outputs but no execution count), so re-executing a notebook changes only what
    its cells print, never the counts.
    """
    notebook.metadata = nbformat.from_dict(
        {"kernelspec": KERNEL, "language_info": {"name": "python"}}
    )
    count = 0
    for cell in notebook.cells:
        cell.metadata = nbformat.from_dict(
            {k: v for k, v in cell.metadata.items() if k in KEPT_CELL_METADATA}
        )
        if cell.cell_type == "code":
            count += 1
            cell.execution_count = count
            for output in cell.outputs:
                if "execution_count" in output:
                    output["execution_count"] = count
        cell.pop("id", None)
    return notebook


def execute(path, timeout_s):
    notebook = nbformat.read(path, as_version=4)
    processor = ExecutePreprocessor(timeout=timeout_s, kernel_name="python3")
    started = time.perf_counter()
    processor.preprocess(notebook, {"metadata": {"path": str(path.parent)}})
    seconds = time.perf_counter() - started
    notebook.nbformat_minor = 4  # no cell ids
    nbformat.write(clean(notebook), path)
    return seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="*", type=pathlib.Path)
    parser.add_argument("--all", action="store_true", help="every notebooks/*.ipynb")
    parser.add_argument("--time-limit", type=float, default=DEFAULT_TIME_LIMIT_S)
    args = parser.parse_args(argv)
    paths = sorted((ROOT / "notebooks").glob("*.ipynb")) if args.all else args.paths
    slow = []
    for path in paths:
        seconds = execute(path.resolve(), timeout_s=max(args.time_limit * 3, 600))
        print(f"{path}: executed in {seconds:.0f} s")
        if seconds > args.time_limit:
            slow.append(path)
    if slow:
        print(f"over the {args.time_limit:.0f} s limit: {', '.join(map(str, slow))}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
