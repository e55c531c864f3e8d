# crimemap — set-up and run targets. Everything a fresh machine needs is installed here.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test setup setup-test web lint typecheck bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP) web

## Browser assets: MapLibre GL JS from the npm registry (pinned in package-lock.json).
web:
	@if [ -f scripts/build_web.sh ]; then bash scripts/build_web.sh; fi

## System packages the browser tests need (Debian's chromium), installed when missing.
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian chromium for the browser tests"; \
	  (apt-get update -qq || sudo apt-get update -qq) && \
	  (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || \
	   sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null); }

demo: setup
	$(BIN)/crimemap demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

typecheck: $(STAMP)
	$(BIN)/mypy

## The whole suite, with a throw-away PostgreSQL + PostGIS cluster for the
## PostgreSQL store tests (installed with apt-get when missing, stopped afterwards).
test: setup system-deps lint typecheck
	bash scripts/pg_cluster.sh start
	CRIMEMAP_TEST_PG_URL="$$(cat .pg_test_url)" $(BIN)/python -m pytest $(PYTEST_ARGS); \
	  rc=$$?; bash scripts/pg_cluster.sh stop; exit $$rc

bench: setup
	@for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) out test-output .pytest_cache .mypy_cache .ruff_cache
