# rnnviz: `make report` sets everything up and builds the default (quick) report;
# `make test` runs the test suite. PROFILE=smoke|quick|paper, DEVICE=auto|cpu|cuda.
PYTHON ?= python3
VENV ?= .venv
PROFILE ?= quick
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0

.PHONY: setup data report test test-fast lab grid ci clean

$(BIN)/rnnviz: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[test]"
	touch $@

setup: $(BIN)/rnnviz

# War and Peace (download or $$RNNVIZ_DATA_DIR) and the Linux corpus from the pinned kernel source
# (apt-get download linux-source-6.1=6.1.192-2, after apt-get update when apt does not know it).
data: setup
	$(BIN)/rnnviz data prepare --dataset wp
	-$(BIN)/rnnviz data prepare --dataset lk || echo "note: the LK corpus could not be built; the report will skip LK"

report: data
	$(BIN)/rnnviz report --profile $(PROFILE)

test: setup
	$(BIN)/python -m pytest -q

# The fast tier: tests marked `fast` (the tiny in-repo fixture; no War and Peace, browser or Ray).
test-fast: setup
	RNNVIZ_TEST_TIER=fast $(BIN)/python -m pytest -q

# JupyterLab on notebooks/: each percent .py opens as a notebook (jupytext.toml) and saves back to it.
# Run 00_data ... 08_error_analysis top to bottom; their parameters cell holds the defaults (profile smoke).
lab: setup
	$(BIN)/pip install -q -e ".[lab]"
	RNNVIZ_HOME=$(CURDIR) JUPYTERLAB_SETTINGS_DIR=$(CURDIR)/.jupyter/lab/user-settings \
	  $(BIN)/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

ci:
	bash .ci/run

clean:
	rm -rf report artifacts figures/*/
