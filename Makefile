# Two entry points, both on a fresh Debian machine with Python 3.11:
#   make demo   install into .venv and run the built-in demonstration study
#   make test   install with the dev extra and run the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint install install-dev system-tools web-assets clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

install-dev: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'

# Debian tools the tests use as independent peers or drivers: GDAL's programs
# (gdal_viewshed, ogrinfo) and Chromium (the map tests). Installed when missing and we may (root).
system-tools:
	@missing=""; \
	command -v ogrinfo >/dev/null 2>&1 || missing="$$missing gdal-bin"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing$$missing for the tests"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "could not install$$missing: tests that need them will skip"; \
	  else echo "missing$$missing and not root: tests that need them will skip"; fi; \
	fi

# The JavaScript/CSS the HTML maps inline (Leaflet and its full-screen control), from npm, so that a map
# works with no network; phusong finds them here (see phusong/outputs/_webassets.py). Never committed.
WEB_ASSETS := build/web-assets
web-assets:
	@if [ -f $(WEB_ASSETS)/node_modules/leaflet.fullscreen/Control.FullScreen.js ] && \
	    [ -f $(WEB_ASSETS)/node_modules/leaflet/dist/leaflet.js ]; then :; \
	else \
	  if ! command -v npm >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing npm for the maps' offline libraries"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null) || true; \
	  fi; \
	  if command -v npm >/dev/null 2>&1; then \
	    mkdir -p $(WEB_ASSETS) && npm install --prefix $(WEB_ASSETS) --no-audit --no-fund --silent \
	      leaflet@1.9.3 leaflet.fullscreen@3.0.0 \
	      || echo "npm install failed: maps will load Leaflet from the internet (and the browser tests skip)"; \
	  else echo "npm missing: maps will load Leaflet from the internet (and the browser tests skip)"; fi; \
	fi

demo: install web-assets
	$(BIN)/phusong demo --out demo-output --overwrite
	@echo "Demo outputs are in $(CURDIR)/demo-output (synthetic demonstration data)"

# Static checks of the package: ruff (lint) and mypy (types); configured in pyproject.toml.
lint: install-dev
	$(BIN)/ruff check phusong tests benchmarks
	$(BIN)/mypy

test: install-dev system-tools web-assets lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) demo-output .pytest_cache build
