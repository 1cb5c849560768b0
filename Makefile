# Every target creates .venv and installs the project into it when pyproject.toml changed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA ?= data

.PHONY: run test test-fast lint bench tools screenshots docs docs-site clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) run.py --data $(DATA) init
	$(PY) run.py --data $(DATA) serve

# The tests start the command line hundreds of times: its bytecode is written first, since
# with PYTHONDONTWRITEBYTECODE set (as it may be on CI) every start would compile it again.
BYTECODE = $(PY) -m compileall -q run.py cli lifecycle documents jobs web

test: $(STAMP) lint
	$(BYTECODE)
	$(PY) -m pytest

# The tests a developer runs while working: everything but the process-level, browser,
# external-checker and year-long ones (marked slow). make test and CI run them all.
test-fast: $(STAMP)
	$(BYTECODE)
	$(PY) -m pytest -q -m "not slow"

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
	rm -rf $(VENV) build site *.egg-info

bench: $(STAMP)
	$(PY) bench/startup.py
	$(PY) bench/render.py
	$(PY) bench/word.py
	$(PY) bench/packs.py
	$(PY) bench/publish.py
	$(PY) bench/service.py
	$(PY) bench/oauth.py
	$(PY) bench/web.py
	$(PY) bench/concurrency.py

# The command reference (docs/reference.md), from the commands' own --help (tests check it is
# current); the guides in docs/ as a site in site/.
docs: $(STAMP)
	$(PY) -m cogapp -r docs/reference.md

docs-site: $(STAMP)
	$(VENV)/bin/mkdocs build --strict

screenshots: $(STAMP)
	$(PY) docs/screenshots.py
	POLICY_LIFECYCLE_SCREENSHOTS=$(CURDIR)/docs $(PY) -m pytest -q tests/web/test_browser.py
