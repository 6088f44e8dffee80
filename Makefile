# Two entry points (see README): `make demo` and `make test`.
# Both create/update .venv in the repository and are quick when nothing changed:
# an install runs again only when pyproject.toml is newer than its stamp file.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q
DEMO_OUT ?= demo-output

.PHONY: demo test tables clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.stamp-demo: pyproject.toml | $(BIN)/python
	$(PIP) install -e ".[ml]"
	touch $@

$(VENV)/.stamp-dev: pyproject.toml | $(BIN)/python
	$(PIP) install -e ".[dev,ml]"
	touch $@

demo: $(VENV)/.stamp-demo
	$(BIN)/cardiolens demo --out $(DEMO_OUT)

test: $(VENV)/.stamp-dev
	$(BIN)/python -m pytest -q

# Real-data validation tables shown in the README (ACDC measurements, PTB-XL LVH rules).
tables: $(VENV)/.stamp-dev
	$(BIN)/python benchmarks/acdc_measurements.py
	$(BIN)/python benchmarks/ptbxl_lvh_rules.py

clean:
	rm -rf $(VENV) $(DEMO_OUT)
