"""How many of the package's modules a run passes through: the modules of `nmt_keras`
whose functions run (module bodies not counted) while the command line trains the
default Bahdanau model, and while it translates with that model. Each stays within
its budget and never touches Luong code (docs/architecture.md)."""

import json
import subprocess
import sys

# The budgets: modules whose code runs in `train` and in `translate`.
TRAIN_MODULES = 20
TRANSLATE_MODULES = 12

# Runs `python -m nmt_keras ARGS` in this process with a profile hook on every thread
# and prints the package's modules whose functions were called, as JSON.
PROFILED_CLI = """
import json, sys, threading
seen = set()
def hook(frame, event, arg):
    code = frame.f_code
    if event == "call" and code.co_name != "<module>" and "/nmt_keras/" in code.co_filename:
        seen.add(code.co_filename.replace("\\\\", "/").split("/nmt_keras/", 1)[1])
sys.setprofile(hook)
threading.setprofile(hook)
from nmt_keras.cli import main
status = main(sys.argv[1:])
sys.setprofile(None)
print("MODULES " + json.dumps(sorted(seen)))
sys.exit(status)
"""


def modules_run(*args):
    done = subprocess.run([sys.executable, "-c", PROFILED_CLI, *args],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("MODULES "))
    return json.loads(line.removeprefix("MODULES "))


def test_train_and_translate_pass_through_few_modules_and_no_luong_code(tmp_path):
    model = tmp_path / "model"
    trained = modules_run(
        "train", "--data", "synthetic", "--output", str(model), "--epochs", "1",
        "--steps-per-epoch", "2", "--max-train-pairs", "200", "--validation-size", "50",
        "--test-size", "20", "--units", "8", "--embedding-dim", "8")
    translated = modules_run("translate", str(model), "el perro come .")
    for run, found, budget in (("train", trained, TRAIN_MODULES),
                               ("translate", translated, TRANSLATE_MODULES)):
        assert "layers/decoder.py" in found and "cli.py" in found, found  # the hook saw the run
        assert len(found) <= budget, f"{run} ran code in {len(found)} modules: {found}"
        assert not [name for name in found if "luong" in name], found
