"""Execute notebooks in place and commit-clean them.

    python tools/execute_notebooks.py notebooks/01_data_and_tokenization.ipynb [...]
    python tools/execute_notebooks.py --all

Each notebook runs top to bottom in its own directory with the current Python's kernel
(`nmt_keras` must be importable there: `make test` installs it into .venv in editable
mode). Afterwards code cells are numbered 1..n, notebook and cell metadata are reduced
to what Jupyter needs (outputs are kept, figures embedded), and the wall time is
printed, with the CPU time of the kernel (and its subprocesses) and the file's size: on
a machine shared with other work, wall time much above CPU time means the notebook
waited for the CPU.

A notebook fails (exit status 1) when it runs over its time limit, grows over
`MAX_NOTEBOOK_BYTES`, or when its outputs hold TensorFlow's C++ start-up noise
(`DRIVER_NOISE`), which the notebooks' setup cell keeps out. `tests/test_notebooks.py`
checks the committed notebooks for the same size limit and noise, and for style sheets
and machine paths in outputs. The time limits are for the CI machine, two CPU cores
(`TIME_LIMITS_S`, else `DEFAULT_TIME_LIMIT_S`); on a machine where this process may use
one core only (e.g. under `taskset -c 1`) they are multiplied by `ONE_CORE_FACTOR`.
"""

import argparse
import os
import pathlib
import resource
import sys
import time

import nbformat
from nbconvert.preprocessors import ExecutePreprocessor

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Cell metadata worth keeping: nbval and Jupyter read these.
KEPT_CELL_METADATA = ("tags",)
KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}
# Seconds per notebook on the CI machine (2 cores).
DEFAULT_TIME_LIMIT_S = 180
TIME_LIMITS_S = {name: 300 for name in ("01_data_and_tokenization.ipynb", "03_training.ipynb", "05_beyond_teacher_forcing.ipynb")}
# Largest notebook file, outputs and figures included.
MAX_NOTEBOOK_BYTES = 300 * 1024
# A notebook that takes T seconds on one core takes about T / 1.5 on two.
ONE_CORE_FACTOR = 1.5
# A single cell may take at most this share of its notebook's limit times this factor
# before the kernel is stopped (a hung cell must not hang the tool).
CELL_TIMEOUT_FACTOR = 2
DRIVER_NOISE = ("cuInit", "cudart_stub", "absl::InitializeLog")


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


def noise_in(notebook):
    """The output lines that hold `DRIVER_NOISE`, as `(cell number, line)`."""
    found = []
    for number, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            text = output.get("text", "")
            for line in (text if isinstance(text, str) else "".join(text)).splitlines():
                if any(pattern in line for pattern in DRIVER_NOISE):
                    found.append((number, line))
    return found


def cpu_factor():
    """`ONE_CORE_FACTOR` when this process may use a single CPU core, else 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return ONE_CORE_FACTOR if cores < 2 else 1.0


def time_limit(path, override=None):
    """Seconds `path` may take on this machine."""
    limit = override if override is not None else TIME_LIMITS_S.get(path.name, DEFAULT_TIME_LIMIT_S)
    return limit * cpu_factor()


def children_cpu_seconds():
    """User and system CPU time of this process's finished children (the kernels)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def execute(path, cell_timeout_s):
    """Runs the notebook in place; returns (wall seconds, kernel CPU seconds, noise)."""
    notebook = nbformat.read(path, as_version=4)
    processor = ExecutePreprocessor(timeout=cell_timeout_s, kernel_name="python3")
    started, cpu_started = time.perf_counter(), children_cpu_seconds()
    processor.preprocess(notebook, {"metadata": {"path": str(path.parent)}})
    seconds = time.perf_counter() - started
    notebook.nbformat_minor = 4  # no cell ids
    nbformat.write(clean(notebook), path)
    return seconds, children_cpu_seconds() - cpu_started, noise_in(notebook)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="*", type=pathlib.Path)
    parser.add_argument("--all", action="store_true", help="every notebooks/*.ipynb")
    parser.add_argument(
        "--time-limit", type=float, default=None,
        help="seconds per notebook on two cores, for every notebook given "
        f"(default: {DEFAULT_TIME_LIMIT_S}, or its entry in TIME_LIMITS_S)",
    )
    args = parser.parse_args(argv)
    paths = sorted((ROOT / "notebooks").glob("*.ipynb")) if args.all else args.paths
    failures = []
    for path in paths:
        path = path.resolve()
        limit = time_limit(path, args.time_limit)
        seconds, cpu_seconds, noise = execute(path, cell_timeout_s=CELL_TIMEOUT_FACTOR * limit)
        size = path.stat().st_size
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
              f"executed in {seconds:.0f} s (limit {limit:.0f} s; {cpu_seconds:.0f} s of CPU), "
              f"{size / 1024:.0f} KB (limit {MAX_NOTEBOOK_BYTES / 1024:.0f} KB)", flush=True)
        if seconds > limit:
            failures.append(f"{path.name} took {seconds:.0f} s, over its {limit:.0f} s limit")
        if size > MAX_NOTEBOOK_BYTES:
            failures.append(f"{path.name} is {size / 1024:.0f} KB, over the {MAX_NOTEBOOK_BYTES / 1024:.0f} KB limit")
        for number, line in noise:
            failures.append(f"{path.name}, cell {number}: driver noise in the output: {line.strip()[:100]}")
    for failure in failures:
        print(failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
