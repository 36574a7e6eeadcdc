# Two commands set everything up on a fresh machine:
#   make demo   # the main job end to end on a bundled real dataset
#   make test   # lint + the whole test suite
# Each creates the virtual environment it needs (.venv) when it is missing or stale.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-seeds lint bench venv clean browser

venv: $(STAMP)

# torch and torchvision are pinned first: pip takes these two builds from this machine's disk
# (see ../shared/ENV.md); an unpinned torch would download gigabytes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/rung demo

lint: $(STAMP)
	$(BIN)/ruff check rung tests benchmarks examples
	$(BIN)/ruff format --check rung tests benchmarks examples

# Headless Chromium for the tests that look at pages as a person would (Debian package;
# best effort: those tests skip where it can't be installed).
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "chromium not installed: page screenshot tests will skip"

test: $(STAMP) browser
	$(BIN)/ruff check rung tests benchmarks examples
	$(BIN)/ruff format --check rung tests benchmarks examples
	$(BIN)/python -m pytest -q --timeout 900 --durations 15 --doctest-modules rung tests

# The suite under two more seeds (RUNG_TEST_SEED seeds every test's generators; `make test`
# uses 0): a test that passes by luck fails here.
test-seeds: $(STAMP) browser
	RUNG_TEST_SEED=1 $(BIN)/python -m pytest -q --timeout 900 --doctest-modules rung tests
	RUNG_TEST_SEED=2 $(BIN)/python -m pytest -q --timeout 900 --doctest-modules rung tests

bench: $(STAMP)
	$(BIN)/python benchmarks/learner_overhead.py
	$(BIN)/python benchmarks/startup.py
	$(BIN)/python benchmarks/tabular_training.py
	$(BIN)/python benchmarks/vision_pipeline.py
	$(BIN)/python benchmarks/tabular_leaderboard.py
	$(BIN)/python benchmarks/text_training.py
	$(BIN)/python benchmarks/serve_load.py
	$(BIN)/python benchmarks/jpeg_decode.py
	$(BIN)/python benchmarks/time_to_accuracy.py

clean:
	rm -rf $(VENV) runs .pytest_cache
