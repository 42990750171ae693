# The two commands of the README's quick start are `make book` and `make test`.
# Both create (or reuse) a virtual environment and install what is needed first.
# An already active virtual environment ($VIRTUAL_ENV) is used instead of .venv.
PYTHON ?= python3
ifdef VIRTUAL_ENV
VENV := $(VIRTUAL_ENV)
else
VENV := .venv
endif
PY := $(VENV)/bin/python
STAMP := $(VENV)/.crossmodal-installed
BUILD_FLAGS := -W -n --keep-going

.PHONY: install book student test test-lib test-notebooks benchmark golden lab clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt pyproject.toml | $(PY)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

## Build the website into _build/html, executing every notebook (warnings are errors).
book: $(STAMP)
	$(VENV)/bin/jupyter-book build . $(BUILD_FLAGS)

## The student edition: every exercise, no solution: _build/student/html and _build/student/notebooks.
## It reuses what `make book` executed, so it only renders.
student: book
	$(PY) scripts/student_edition.py

## Run every test: library unit tests, and the website build, which executes every notebook once
## and compares the checked cells with tests/golden/.
test: $(STAMP)
	$(PY) -m pytest

## Library and structure tests only (minutes): no notebook is executed.
test-lib: $(STAMP)
	$(PY) -m pytest -m "not book"

## Every notebook under nbval, cell by cell: slower than the build test, but names the failing cell.
test-notebooks: $(STAMP)
	$(PY) -m pytest book/

benchmark: $(STAMP)
	$(PY) benchmarks/training.py
	$(PY) benchmarks/notebooks.py

lab: $(STAMP)
	$(PY) -m jupyter lab book/

clean:
	rm -rf _build .pytest_cache

## Re-record the reference outputs of the `# NBVAL_CHECK_OUTPUT` cells (review the diff!).
golden: $(STAMP)
	$(PY) scripts/update_golden.py
