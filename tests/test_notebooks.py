"""The committed notebooks are clean and complete, and tools/execute_notebooks.py, which
re-executes them, keeps them so (nbval runs the notebooks themselves: `pytest notebooks`)."""

import json
import pathlib

import nbformat
import pytest

from tool_modules import load_tool

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
IDS = [path.name for path in NOTEBOOKS]
TOOL = load_tool("execute_notebooks")
SETUP_MARKER = load_tool("sync_notebooks").SETUP_MARKER


def _code_cells(path):
    return [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]


def test_the_course_has_five_notebooks():
    assert [path.name[:2] for path in NOTEBOOKS] == ["01", "02", "03", "04", "05"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_the_notebook_is_small_on_disk(path):
    size = path.stat().st_size
    assert size <= TOOL.MAX_NOTEBOOK_BYTES, f"{path.name} is {size / 1024:.0f} KB"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_outputs_hold_no_style_sheet_and_no_machine_path(path):
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        for output in cell.get("outputs", []):
            text = json.dumps(output.get("data", {}).get("text/html", "")) + "".join(output.get("text", ""))
            text += "".join(output.get("data", {}).get("text/plain", ""))
            assert "<style" not in text, "".join(cell["source"])[:80]
            assert "/tmp/" not in text and "/work/" not in text and "nmt_keras_0" not in text, text[:200]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_notebooks_are_executed_numbered_and_free_of_driver_noise(path):
    cells = _code_cells(path)
    assert "".join(cells[0]["source"]).startswith(SETUP_MARKER), "the setup cell comes first"
    assert [cell["execution_count"] for cell in cells] == list(range(1, len(cells) + 1))
    assert all(cell["outputs"] for cell in cells[:1]), "the setup cell printed the versions"
    notebook = nbformat.read(path, as_version=4)
    assert TOOL.noise_in(notebook) == []
    errors = [o for cell in cells for o in cell["outputs"] if o["output_type"] == "error"]
    assert not errors, errors


# Words that make an output depend on the machine, the clock or a temporary directory.
MACHINE_DEPENDENT = ("perf_counter", "list_physical_devices", "list_logical_devices", "describe_strategy",
                     "choose_strategy", "tokens_per_second", "environment")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_compared_outputs_do_not_depend_on_the_machine(path):
    """Cells whose outputs nbval compares (`# NBVAL_CHECK_OUTPUT`) print nothing that
    depends on devices, timing or temporary paths."""
    for cell in _code_cells(path):
        source = "".join(cell["source"])
        if source.startswith("# NBVAL_CHECK_OUTPUT"):
            assert not [word for word in MACHINE_DEPENDENT if word in source], source[:200]


def test_time_limits_are_for_two_cores_and_grow_on_one(monkeypatch):
    fifth = ROOT / "notebooks" / "05_beyond_teacher_forcing.ipynb"
    fourth = ROOT / "notebooks" / "04_attention_heatmaps.ipynb"
    monkeypatch.setattr(TOOL.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert TOOL.time_limit(fifth) == 300 and TOOL.time_limit(fourth) == TOOL.DEFAULT_TIME_LIMIT_S == 180
    assert TOOL.time_limit(fourth, override=100) == 100
    assert max(TOOL.TIME_LIMITS_S.values()) <= 300, "the course's five minutes per notebook"
    monkeypatch.setattr(TOOL.os, "sched_getaffinity", lambda pid: {1}, raising=False)
    assert TOOL.time_limit(fifth) == 300 * TOOL.ONE_CORE_FACTOR
    assert set(TOOL.TIME_LIMITS_S) <= {path.name for path in NOTEBOOKS}


def test_clean_numbers_cells_and_drops_volatile_metadata():
    notebook = nbformat.v4.new_notebook(metadata={"widgets": {}, "kernelspec": {"name": "other", "display_name": "Other"}})
    notebook.cells = [
        nbformat.v4.new_markdown_cell("text"),
        nbformat.v4.new_code_cell("1", execution_count=7, metadata={"tags": ["a"], "execution": {}},
                                  outputs=[nbformat.v4.new_output("execute_result", {"text/plain": "1"}, execution_count=7)]),
        nbformat.v4.new_code_cell("2", execution_count=None),
    ]
    TOOL.clean(notebook)
    assert notebook.metadata == {"kernelspec": TOOL.KERNEL, "language_info": {"name": "python"}}
    assert [cell.get("execution_count") for cell in notebook.cells[1:]] == [1, 2]
    assert notebook.cells[1].outputs[0]["execution_count"] == 1
    assert notebook.cells[1].metadata == {"tags": ["a"]}
    assert all("id" not in cell for cell in notebook.cells)


def test_driver_noise_in_outputs_is_found():
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("import tensorflow", outputs=[nbformat.v4.new_output(
            "stream", name="stderr", text="E0000 00:00:1.5  1 cuda_platform.cc:52] failed call to cuInit\nfine\n")]),
    ]
    assert TOOL.noise_in(notebook) == [(0, "E0000 00:00:1.5  1 cuda_platform.cc:52] failed call to cuInit")]


def test_the_readme_says_how_to_open_the_notebooks_locally():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "make lab" in readme
    assert "jupyter lab notebooks" in makefile.split("\nlab:")[1].split("\n\n")[0]
