# The two commands of the README, on a fresh machine:
#   make compare   trains teacher -> student from scratch -> distilled student on MNIST
#   make test      the everyday test suite (under 3 minutes on 2 cores; no test marked slow)
# and: make test-all (everything: every notebook headless, tf.distribute, Ray; what CI runs),
# make benchmark (speed and memory, writes results/benchmarks.csv), make lab (JupyterLab),
# make notebooks (re-execute the notebooks and commit them executed), make readings (the
# README's generated numbers, from results/), make dark-knowledge (the strong teachers, the
# controls of notebook 19 and the lab's tables on those teachers, in the background: hours).
# Both create .venv from requirements.txt (and requirements-ray.txt, for the Ray test) on first use.

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
export KD_DATA_DIR ?= $(abspath ../shared/data)
export TF_CPP_MIN_LOG_LEVEL ?= 2
PROFILE ?= paper
ARGS ?=

.PHONY: compare test test-all benchmark lab notebooks readings dark-knowledge venv clean-venv

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
	$(PY) -m kd_lab compare --profile $(PROFILE) $(ARGS)

# Two test processes: the suite's runs are small, so one process leaves a core idle (measured:
# 0.68x the wall time of one process, both under the same load). TEST_WORKERS=auto on more cores.
TEST_WORKERS ?= 2
test: venv
	$(PY) -m pytest -m "not slow" -n $(TEST_WORKERS) --dist loadscope

test-all: venv
	$(PY) -m pytest

# JupyterLab rooted at the repository (so results/ is served too), landing in notebooks/
lab: venv
	$(PY) -m jupyter lab --ServerApp.root_dir="$(CURDIR)" --ContentsManager.preferred_dir=notebooks $(ARGS)

# re-execute the notebooks with their defaults against the committed records (read-only but
# for their `live` cells) and write them back executed; ARGS=03 for one
notebooks: venv
	$(PY) -m kd_lab.notebooks $(ARGS)

# the dark-knowledge plan (kd_experiments/dark_knowledge.py) in the background: hours, resumable.
# It runs from a worktree at COMMIT so that a stage's runs share one code version whatever is
# edited here meanwhile: make dark-knowledge COMMIT=745d60d (the teachers' commit).
# DK_LANES=2 starts two processes (one per core) that share the stages, each claiming the runs it
# trains (kd_lab/run_claims.py); the second logs to results/dark_knowledge-2.log. On 2 cores two
# lanes trained at about 0.8 of one lane's throughput (a teacher epoch 0.54 of its speed alone,
# a student's 0.27): keep one there.
# DK_EPOCHS=600 trains the plan on 600-epoch teachers (its schedule stage first).
# DK_ONLY='"more teachers"' trains those stages only (a second process takes the others).
# DK_RESULTS=<a copy of results/ outside the repository> keeps this tree clean while it trains;
# commit its finished runs by copying the run folders that hold a row.json into results/runs/.
COMMIT ?= HEAD
RUN_TREE = $(abspath ..)/kd-run-$(shell git rev-parse --short $(COMMIT))
DK_RESULTS ?= $(CURDIR)/results
DK_ONLY ?=
DK_LANES ?= 1
DK_EPOCHS ?= 300
dark-knowledge: venv
	test -d $(RUN_TREE) || git worktree add --detach $(RUN_TREE) $(COMMIT)
	cd $(RUN_TREE) && for lane in $$(seq $(DK_LANES)); do \
	  log=$(DK_RESULTS)/dark_knowledge.log; [ $$lane = 1 ] || log=$(DK_RESULTS)/dark_knowledge-$$lane.log; \
	  nohup $(abspath $(PY)) -m kd_experiments.dark_knowledge --results-dir $(DK_RESULTS) --teacher-epochs $(DK_EPOCHS) $(if $(DK_ONLY),--only $(DK_ONLY)) >> $$log 2>&1 & \
	  sleep 5; done
	@echo "training in the background from $(RUN_TREE): tail -f $(DK_RESULTS)/dark_knowledge*.log"

# rewrite every generated block of the README from results/
readings: venv
	$(PY) -m kd_experiments.readings

benchmark: venv
	$(PY) benchmarks/distillation_speed.py $(ARGS)
	$(PY) benchmarks/stacking_speed.py $(ARGS)
	$(PY) -m kd_experiments.readings

clean-venv:
	rm -rf $(VENV)
