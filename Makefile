# Every target sets up its own environment: a .venv with requirements.txt installed and
# nmt_keras itself installed in editable mode (so notebooks' kernels can import it).
# PYTHON picks the interpreter used to create .venv (Python 3.11-3.13).
PYTHON ?= python3
VENV ?= .venv
VENV_PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed

.PHONY: demo test notebooks compat lab bench ablation clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(VENV_PYTHON) || $(PYTHON) -m venv $(VENV)
	$(VENV_PYTHON) -m pip install --quiet --upgrade pip
	$(VENV_PYTHON) -m pip install --quiet -r requirements.txt
	$(VENV_PYTHON) -m pip install --quiet --no-deps --editable .
	touch $(STAMP)

## demo: train on the embedded corpus, evaluate, write outputs/demo/
demo: $(STAMP)
	$(VENV_PYTHON) -m nmt_keras demo --output outputs/demo

## test: the whole test suite, notebooks included, on a worker per core, each test file on
## one worker (TEST_WORKERS=0: all in this process; TESTS=tests: without the notebooks)
TEST_WORKERS ?= auto
TESTS ?=
test: $(STAMP)
	$(VENV_PYTHON) -m pytest -n $(TEST_WORKERS) --dist loadfile $(TESTS)

## notebooks: execute every notebook in place, print each one's time and size, and fail over
## a limit (tools/execute_notebooks.py)
notebooks: $(STAMP)
	$(VENV_PYTHON) tools/execute_notebooks.py --all

## compat: build the wheel, install it into each supported environment as a user would
## (Colab's Python 3.13 + TensorFlow 2.20 in a Debian 13 chroot, the development pins,
## TensorFlow 2.19), run the CLI smoke test and every notebook there. Needs root and
## debootstrap for Colab's. ENVS="colab" checks only the listed ones (tools/compat.py --list).
compat:
	$(PYTHON) tools/compat.py $(foreach env,$(ENVS),--env $(env))

## lab: open the notebooks in JupyterLab, with this environment's kernel (nmt_keras importable)
lab: $(STAMP)
	$(VENV_PYTHON) -m jupyter lab notebooks

## bench: side-by-side speed benchmark (reference vs nmt_keras), writes bench/results.md
bench: $(STAMP)
	$(VENV_PYTHON) -m bench $(BENCH_ARGS)

## ablation: what each training-speed choice buys, writes bench/ablation.md
ablation: $(STAMP)
	$(VENV_PYTHON) -m bench.ablation $(BENCH_ARGS)

clean:
	rm -rf outputs .pytest_cache
