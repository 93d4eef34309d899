# pacgan-lite: `make demo` runs the notebooks on the embedded data set, `make test` runs the whole test suite.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.pacgan-lite-installed
DEMO_PROFILE ?= teaching
NBVAL := --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg
export PACGAN_LITE_HEADLESS := 1

.PHONY: setup demo test lint bench ablations notebooks-refresh clean

setup: $(STAMP)

# Reinstalls only when pyproject.toml changes, so a second `make setup` takes a moment.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
	  { echo "pacgan-lite needs Python 3.11; run: make PYTHON=/path/to/python3.11 ..."; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: setup
	$(BIN)/pacgan-lite notebooks --profile $(DEMO_PROFILE)

# ruff, then the import-linter contract of pyproject.toml (the layers may only import downwards).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest $(NBVAL) tests notebooks

# Speed: training images/s per stage, kit against the reference's computation (runs/bench/bench.{json,md}).
bench: setup
	$(BIN)/pacgan-lite bench

# The whole ablation grid in the teaching profile (11 variants x 2 seeds at 64 px, just under an hour on 2 CPU
# cores) into runs/sweeps/teaching/, then notebook 04 on its table. Started again, it skips finished runs.
ablations: setup
	$(BIN)/pacgan-lite sweep teaching
	$(BIN)/papermill notebooks/04_ablations.ipynb runs/sweeps/teaching/04_ablations.ipynb -k python3 \
	  --cwd notebooks --no-progress-bar -p PROFILE teaching -p GRID teaching

# Re-execute the notebooks in place in the smoke profile, then keep only the outputs that nbval checks.
notebooks-refresh: setup
	for nb in notebooks/[0-9][0-9]_*.ipynb; do \
	  $(BIN)/papermill $$nb $$nb -k python3 --cwd notebooks --no-progress-bar || exit 1; \
	  $(BIN)/python -m pacgan_lite.notebooks $$nb || exit 1; \
	done

clean:
	rm -rf $(VENV) runs build .pytest_cache .ruff_cache *.egg-info
	find data -mindepth 1 ! -name README.md -exec rm -rf {} +
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
