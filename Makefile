# Every target creates .venv and installs the project into it when pyproject.toml changed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA ?= data

.PHONY: run test lint bench tools screenshots docs clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) run.py --data $(DATA) init
	$(PY) run.py --data $(DATA) serve

test: $(STAMP) lint
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# The real checkers the render tests use when present: Nu Html Checker (Java), axe-core in
# Debian's Chromium, LibreOffice and poppler for the DOCX, pandoc for the benchmark.
DEBIAN_TOOLS := chromium libreoffice-writer-nogui poppler-utils pandoc fonts-dejavu-core wrk
tools:
	if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(DEBIAN_TOOLS) \
	  $$(command -v java >/dev/null || echo default-jre-headless) >/dev/null
	npm ci --no-audit --no-fund --loglevel=error

clean:
	rm -rf $(VENV) build *.egg-info

bench: $(STAMP)
	$(PY) bench/startup.py
	$(PY) bench/render.py
	$(PY) bench/word.py
	$(PY) bench/packs.py
	$(PY) bench/publish.py
	$(PY) bench/service.py
	$(PY) bench/web.py
	$(PY) bench/concurrency.py

# The README's command reference, from the commands' own --help (tests check it is current).
docs: $(STAMP)
	$(VENV)/bin/cog -r README.md

screenshots: $(STAMP)
	$(PY) docs/screenshots.py
	POLICY_LIFECYCLE_SCREENSHOTS=$(CURDIR)/docs $(PY) -m pytest -q tests/test_browser.py
