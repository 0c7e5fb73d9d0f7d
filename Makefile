# Two commands: `make demo` and `make test`. Each builds .venv by itself. `make lint` alone:
# ruff on the whole tree, mypy --strict on shared/ and services/*/domain.py (pyproject.toml).
PY ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test lint venv services tools clean

$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check "setuptools<81" wheel
	$(VENV)/bin/pip install -q --disable-pip-version-check -e ".[test]"
	@touch $(STAMP)

venv: $(STAMP)

services:
	@bash scripts/ensure-services.sh

# Debian's faketime, chromium and CJK fonts, promtool, the AsyncAPI parser (scripts/ensure-tools.sh)
tools: $(STAMP)
	@bash scripts/ensure-tools.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# Lint, then every tier; then the suites whose rules read the hour of the day (quiet hours, colours,
# deadlines) once more with the processes' clock at 23:30 Shanghai time, whatever the hour.
test: lint services tools
	$(VENV)/bin/python -m pytest
	bash scripts/at-shanghai-time.sh 23:30 $(VENV)/bin/python -m pytest -q \
		services/notify services/supervision shared/tests/test_workdays.py

demo: $(STAMP) services
	@bash scripts/ensure-fonts.sh
	$(VENV)/bin/python -m scripts.demo

clean:
	rm -rf $(VENV) var/ tests/standards/asyncapi/node_modules
