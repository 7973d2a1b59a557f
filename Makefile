# The two commands of the README, on a fresh machine:
#   make compare   trains teacher -> student from scratch -> distilled student on MNIST
#   make test      runs the test suite (and executes the notebooks in FAST mode)
# and, not a test: make benchmark (speed and memory, writes results/benchmarks.csv)
# Both create .venv from requirements.txt (and requirements-ray.txt, for the Ray test) on first use.

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
export KD_DATA_DIR ?= $(abspath ../shared/data)
export TF_CPP_MIN_LOG_LEVEL ?= 2
PROFILE ?= full
ARGS ?=

.PHONY: compare test benchmark venv clean-venv

$(VENV)/.installed: requirements.txt requirements-ray.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -r requirements.txt
	# optional for users (the sweep's Ray backend); installed here so its test runs
	$(PY) -m pip install -r requirements-ray.txt
	$(PY) -m pip install --no-deps -e .
	touch $@

venv: $(VENV)/.installed

compare: venv
	$(PY) -m kd_utils compare --profile $(PROFILE) $(ARGS)

test: venv
	$(PY) -m pytest

benchmark: venv
	$(PY) benchmarks/distillation_speed.py $(ARGS)

clean-venv:
	rm -rf $(VENV)
