# Two commands from a fresh clone: `make demo` and `make test`.
# Each bootstraps what it needs: a pinned uv in .tools/, then the locked venv in .venv/.

PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
STAMP := $(VENV)/.synced

# Prefect: never phone home (there is no network to phone).
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export UV_PYTHON_PREFERENCE := only-system
export UV_PYTHON_DOWNLOADS := never
export HF_HUB_OFFLINE := 1

.PHONY: help install browser demo test lint format train bench clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

install: $(STAMP)  ## Create .venv from uv.lock (hash-pinned)

demo: $(STAMP)  ## Crawl the bundled fixture site offline and show the event log
	$(VENV)/bin/adoptwatch demo

lint: $(STAMP)  ## ruff check, format check, and the import layers (docs/architecture.md)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: $(STAMP)  ## Apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The explorer's tests drive a real headless Chromium: Debian's chromium and chromium-driver,
# installed here when missing (as root, with apt-get); elsewhere those tests are skipped.
browser:  ## Install Debian's chromium and chromium-driver where missing (the explorer's tests)
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian's chromium and chromium-driver (the explorer's browser tests)"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends chromium chromium-driver >/dev/null; } || \
		echo "chromium could not be installed: the explorer's browser tests will be skipped" >&2; \
	else \
		echo "chromium and chromium-driver are missing and this user cannot install them" \
			"(not root, or no apt-get): the explorer's browser tests will be skipped" >&2; \
	fi

test: lint browser  ## Every check: lint, then the whole test suite
	$(VENV)/bin/python -m pytest

TRAIN_VENV := .venv-train

train: | $(UV)  ## Rebuild the claims model from ../shared/claims/real (torch: about 3 GB, once)
	UV_PROJECT_ENVIRONMENT=$(TRAIN_VENV) $(UV) sync --frozen --group train --python $(PYTHON)
	$(TRAIN_VENV)/bin/python -m training.train_claims --out extractors/data/claims_model

bench: $(STAMP)  ## Run the benchmarks (prints figures against baselines)
	$(VENV)/bin/python -m benchmarks

clean:  ## Remove the venv, tools and caches (not data/)
	rm -rf $(VENV) $(TRAIN_VENV) $(TOOLS) .pytest_cache .ruff_cache .hypothesis .prefect .import_linter_cache
