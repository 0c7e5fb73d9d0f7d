# Two commands: `make demo` and `make test`. Each builds .venv by itself.
PY ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test venv services clean

$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check "setuptools<81" wheel
	$(VENV)/bin/pip install -q --disable-pip-version-check -e ".[test]"
	@touch $(STAMP)

venv: $(STAMP)

services:
	@bash scripts/ensure-services.sh

test: $(STAMP) services
	$(VENV)/bin/python -m pytest

demo: $(STAMP) services
	@bash scripts/ensure-fonts.sh
	$(VENV)/bin/python -m scripts.demo

clean:
	rm -rf $(VENV) var/
