# rnnviz: `make report` sets everything up and builds the default (quick) report;
# `make test` runs the test suite. PROFILE=smoke|quick|paper, DEVICE=auto|cpu|cuda.
PYTHON ?= python3
VENV ?= .venv
PROFILE ?= quick
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0

.PHONY: setup data report test grid ci clean

$(BIN)/rnnviz: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[test]"
	touch $@

setup: $(BIN)/rnnviz

# War and Peace (download or $$RNNVIZ_DATA_DIR) and, where apt-get works, the kernel source for LK.
data: setup
	$(BIN)/rnnviz data prepare --dataset wp
	@if ls data/linux-source-*.deb data/linux-*.tar.xz >/dev/null 2>&1 || [ -f data/lk/lk.txt ]; then :; \
	elif command -v apt-get >/dev/null; then (cd data && apt-get download linux-source-6.1) || \
	  echo "note: could not fetch linux-source-6.1; the report will skip LK"; fi
	-$(BIN)/rnnviz data prepare --dataset lk

report: data
	$(BIN)/rnnviz report --profile $(PROFILE)

test: setup
	$(BIN)/python -m pytest -q

ci:
	bash .ci/run

clean:
	rm -rf report artifacts figures/*/
