# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test campaign clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/gradcheck demo

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

# Long campaigns (1000 examples per op, float32 and float64): run by hand, not in CI.
campaign: $(STAMP)
	$(BIN)/python -m pytest -m slow -q -n 2 -p no:cacheprovider --durations=5

clean:
	rm -rf $(VENV) .hypothesis .pytest_cache reports/*.json reports/*.py reports/*.html reports/*.xml reports/*.md
