# The two commands a newcomer needs: `make demo` and `make test`. Both set everything up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Two installs: the runtime alone (what `make demo` needs), and the test extras on top of it
# (Playwright, schemathesis, matplotlib...: what `make test` and `make check` need).
RUNTIME_STAMP := $(VENV)/.runtime-stamp
STAMP := $(VENV)/.installed-stamp
PIP_QUIET ?= -q
# The demo's port (`make demo PORT=8001`); `pressrun api` defaults to 8080 beside it.
PORT ?= 8000

NODE_TOOLS ?= .node
NODE_STAMP := $(NODE_TOOLS)/.installed-stamp

.PHONY: demo test check lint typecheck install install-runtime system-packages node-tools services clean

$(RUNTIME_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_QUIET) --upgrade pip
	$(BIN)/python -m pip install $(PIP_QUIET) -e .
	touch $(RUNTIME_STAMP)

$(STAMP): $(RUNTIME_STAMP)
	$(BIN)/python -m pip install $(PIP_QUIET) -e '.[test]'
	touch $(STAMP)

install-runtime: $(RUNTIME_STAMP)

install: $(STAMP)

# Debian's Chromium for the browser tests (Playwright drives it; it downloads no browser),
# docker-compose to validate the compose file offline, npm and Java for the page audits.
system-packages:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium fonts-dejavu-core"; \
	command -v docker-compose >/dev/null 2>&1 || missing="$$missing docker-compose"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	command -v java >/dev/null 2>&1 || missing="$$missing default-jre-headless"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# npm's lighthouse and the Nu Html Checker (vnu-jar), in the project's .node/ folder, for
# benchmarks.lighthouse and the page audit tests (they drive Debian's Chromium, and Java).
$(NODE_STAMP):
	npm install --prefix $(NODE_TOOLS) --no-audit --no-fund --loglevel=error \
		lighthouse@12.8.2 vnu-jar@26.9.27
	touch $@

node-tools: system-packages $(NODE_STAMP)

# PostgreSQL, Redis and RabbitMQ for the integration tests (started if down, or a loud failure).
services:
	bash .ci/services

demo: install-runtime
	@echo "pressrun is $(BIN)/pressrun (or run \`source $(BIN)/activate\` to have it on the PATH)"
	$(BIN)/pressrun demo --serve --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

test: install system-packages node-tools services lint typecheck
	$(BIN)/pytest -W error

# The fast loop while you work (a few minutes at most): lint, types, the unit and CLI tests on
# SQLite. No services, no browser; `make test` runs everything.
check: install lint typecheck
	$(BIN)/pytest -W error -q tests/unit tests/cli -m "not integration and not browser" \
		-k "not postgresql" \
		--deselect tests/unit/deploy/test_compose.py::test_docker_compose_validates_the_file_offline

clean:
	rm -rf public pressrun.db pressrun.db-wal pressrun.db-shm .pytest_cache .mypy_cache $(NODE_TOOLS)
