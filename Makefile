# Local development entry points. `make dev` works on a fresh clone (needs Python >= 3.11).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.orderflow-installed
BENCH_ARGS ?=
LOAD_ARGS ?=

.PHONY: dev test bench bench-load migrate seed install clean chromium docker-compose replay-live

dev: $(STAMP)
	$(BIN)/orderflow dev

test: $(STAMP) chromium docker-compose
	tests/run_suite.sh $(BIN)/python

bench: $(STAMP)
	$(BIN)/python bench/checkout.py $(BENCH_ARGS)

# A storefront mix at a set rate against `make dev` (e.g. LOAD_ARGS="--rate 4 --duration 60").
bench-load: $(STAMP)
	$(BIN)/python bench/load.py $(LOAD_ARGS)

migrate: $(STAMP)
	$(BIN)/orderflow migrate

seed: $(STAMP)
	$(BIN)/orderflow seed

install: $(STAMP)

# Before promoting a build: replay the running workflows of the Temporal namespace in TEMPORAL_* (as the
# worker would see it) on this checkout's code; fails listing the runs it could not replay.
replay-live: $(STAMP)
	$(BIN)/python -m deploy.replay_live

# Re-installs only when pyproject.toml changes (the stamp is older than it).
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -q -e ".[dev,test]"
	touch $@

# The browser tests drive Debian's Chromium (Playwright cannot download browsers here): install it if it
# is missing and we may (root, apt-get); otherwise those tests skip and say why.
chromium:
	@test -x /usr/bin/chromium || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "chromium not installed: the browser tests will be skipped"

# tests/unit/test_compose.py validates docker-compose.yml with Debian's docker-compose (the CLI only:
# no daemon is needed for `config`); installed like Chromium, else that one test skips and says why.
docker-compose:
	@command -v docker-compose >/dev/null || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; } || \
		echo "docker-compose not installed: the compose validation test will be skipped"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "orderflow needs Python >= 3.11 (set PYTHON=python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

clean:
	rm -rf .orderflow
