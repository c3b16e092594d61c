# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench campaign campaign-adapters clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/gradcheck demo

# Types first (mypy, configured in pyproject.toml): a type error costs seconds to find, not a test run.
test: $(STAMP)
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest -n 2 -q

# Speed against the bare cost and other checkers (issue 7): prints Markdown tables.
bench: $(STAMP)
	$(BIN)/python benchmarks/speed.py

# Long campaigns (1000 examples per op, float32 and float64): run by hand, not in CI.
campaign: $(STAMP)
	$(BIN)/python -m pytest -m slow -q -n 2 -p no:cacheprovider --durations=5

# Every framework adapter x dtype x op, 2000 examples each: writes docs/campaign.md and .json.
# Install the frameworks first: $(BIN)/pip install -e ".[jax,torch,autograd]"
campaign-adapters: $(STAMP)
	$(BIN)/python benchmarks/campaign_adapters.py

clean:
	rm -rf $(VENV) .hypothesis .pytest_cache .mypy_cache reports/*.json reports/*.py reports/*.html reports/*.xml reports/*.md
