"""The course's exercises: each notebook's checking functions accept the reference
solutions in notebooks/solutions/, and reject a stub and a wrong answer.

The checking functions are read from the notebooks themselves (the code cells that start
with `CHECKS_MARKER`), so a notebook and its solutions cannot drift apart.
"""

import importlib.util
import inspect
import json
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SOLUTIONS = ROOT / "notebooks" / "solutions"
CHECKS_MARKER = "# Exercise checks"


def solutions_module(notebook):
    """notebooks/NN_name.ipynb -> the module notebooks/solutions/nbNN.py."""
    path = SOLUTIONS / f"nb{notebook.name[:2]}.py"
    spec = importlib.util.spec_from_file_location(f"solutions_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def notebook_checks(notebook):
    """{name: function} of the `check_*` functions defined in the notebook's checks cell."""
    namespace = {}
    for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and source.startswith(CHECKS_MARKER):
            exec(compile(source, str(notebook), "exec"), namespace)
    return {name: value for name, value in namespace.items() if name.startswith("check_") and callable(value)}


CASES = [
    (notebook, name)
    for notebook in NOTEBOOKS
    for name in sorted(notebook_checks(notebook))
]


def _solutions_for(check, module):
    return [getattr(module, parameter) for parameter in inspect.signature(check).parameters]


@pytest.mark.parametrize("notebook, check", CASES, ids=[f"{n.name[:2]}-{c}" for n, c in CASES])
def test_the_reference_solution_passes_the_notebooks_check(notebook, check):
    function = notebook_checks(notebook)[check]
    function(*_solutions_for(function, solutions_module(notebook)))


@pytest.mark.parametrize("notebook, check", CASES, ids=[f"{n.name[:2]}-{c}" for n, c in CASES])
def test_the_check_reports_a_stub_and_rejects_a_wrong_answer(notebook, check):
    function = notebook_checks(notebook)[check]
    count = len(inspect.signature(function).parameters)

    def stub(*args, **kwargs):
        raise NotImplementedError("your code here")

    with pytest.raises(NotImplementedError):  # the notebook then says "not attempted yet"
        function(*[stub] * count)
    with pytest.raises(Exception) as error:
        function(*[lambda *args, **kwargs: None] * count)
    assert not isinstance(error.value, NotImplementedError)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.name for n in NOTEBOOKS])
def test_every_notebook_ends_with_exercises_and_every_coding_exercise_is_checked(notebook):
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    headings = [
        line for cell in cells if cell["cell_type"] == "markdown"
        for line in "".join(cell["source"]).splitlines() if line.startswith("**Exercise ")
    ]
    assert 3 <= len(headings) <= 5, headings
    assert [int(h.split()[1]) for h in headings] == list(range(1, len(headings) + 1))
    coding = [h for h in headings if "(coding)" in h]
    written = [h for h in headings if "(written)" in h or "(practice)" in h]
    assert coding and written and len(coding) + len(written) == len(headings)
    checks = notebook_checks(notebook)
    attempts = [
        "".join(cell["source"]) for cell in cells
        if cell["cell_type"] == "code" and "attempt(check_" in "".join(cell["source"])
    ]
    assert len(attempts) == len(coding) == len(checks)
    module = solutions_module(notebook)
    for name, check in checks.items():
        calling = [source for source in attempts if f"attempt({name}," in source]
        assert len(calling) == 1, f"{name} is run by {len(calling)} exercise cells"
        for parameter in inspect.signature(check).parameters:
            assert f"def {parameter}(" in calling[0], f"the exercise cell of {name} has no stub {parameter}"
            assert callable(getattr(module, parameter, None)), f"solutions/nb{notebook.name[:2]}.py lacks {parameter}"
