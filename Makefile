# llmops: `make run` sets everything up and runs the main job; `make test` runs the default test tiers.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LLMOPS := $(BIN)/llmops
PYTEST_ARGS ?=

.PHONY: help install run up down status browser-deps compose-deps redis-deps lint format test test-unit test-integration test-e2e test-all bench clean lock

help:
	@echo "make run     set up, start the local stack, run the main job, print the UI links"
	@echo "make test    set up, check the layering and lint, run every test tier that needs no GPU (what CI runs)"
	@echo "make lint    import-linter contracts, ruff check, ruff format --check"
	@echo "make bench   run the benchmarks in benchmarks/"
	@echo "make up | down | status   manage the local stack"

# torch first and alone: this exact version is the CPU build on local disk; any other torch
# requirement makes pip download a multi-GB CUDA build. The rest is pinned by the constraints file.
# pip compiles the installed modules to bytecode on one core; compileall afterwards uses every core
# (measured on two cores: 175 s for the install with pip compiling, 67 s + 63 s this way). A file
# that does not compile (some packages ship Python 2 test files) is skipped by pip too: `|| true`.
$(STAMP): pyproject.toml requirements/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile torch==2.13.0
	$(BIN)/python -m pip install --quiet --no-compile -c requirements/constraints.txt -e ".[dev]"
	$(BIN)/python -m compileall -j 0 -qq "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" || true
	touch $(STAMP)

install: $(STAMP)

up: $(STAMP)
	$(LLMOPS) up

down: $(STAMP)
	$(LLMOPS) down

status: $(STAMP)
	$(LLMOPS) status

run: $(STAMP)
	$(LLMOPS) up
	$(LLMOPS) deploy
	$(LLMOPS) run lifecycle
	$(LLMOPS) replay --n 40
	$(LLMOPS) run drift-check
	$(LLMOPS) status

# The browser test drives Debian's Chromium and ChromeDriver; install them when missing (as root),
# otherwise that one test skips with a message (and fails under CI=true).
browser-deps:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	else echo "note: chromium/chromedriver missing and not root: the browser test will skip"; fi

# The compose-file check runs `docker-compose config` (no container engine needed); install Debian's
# docker-compose when missing (as root), otherwise that one test skips (and fails under CI=true).
compose-deps:
	@if command -v docker-compose >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose; \
	else echo "note: docker-compose missing and not root: the compose-file check will skip"; fi

# redis-server for the serving cache's Redis test (the embedded default needs none)
redis-deps:
	@if command -v redis-server >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server; \
	else echo "note: redis-server missing and not root: the Redis cache test will skip"; fi

# The layering contracts of pyproject.toml (import-linter), then ruff's lint and format checks.
lint: $(STAMP)
	$(BIN)/lint-imports --no-cache
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Rewrite the code the way `ruff format --check` wants it.
format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: $(STAMP) browser-deps compose-deps redis-deps lint
	$(BIN)/python -m pytest tests $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

test-integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

test-e2e: $(STAMP)
	$(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS)

# Every tier including slow tests (gpu tests skip themselves without CUDA).
test-all: $(STAMP)
	$(BIN)/python -m pytest tests -m "" $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# Re-pin every package after changing pyproject.toml's ranges.
lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | sed 's/^torch==2.13.0+cpu$$/torch==2.13.0/' > requirements/constraints.txt

clean:
	-$(LLMOPS) down
	rm -rf $(VENV) .pytest_cache
