# Two entry points, both on a fresh Debian machine with Python 3.11:
#   make demo   install into .venv and run the built-in demonstration study
#   make test   install with the dev extra and run the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test install install-dev system-tools clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

install-dev: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'

# GDAL's command-line programs are used by tests as an independent peer
# (gdal_viewshed, ogrinfo). Installed when missing and we may (root).
system-tools:
	@if ! command -v ogrinfo >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing gdal-bin (GDAL command-line tools for the tests)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gdal-bin >/dev/null) \
	      || echo "could not install gdal-bin: tests that need it will skip"; \
	  else echo "gdal-bin missing and not root: tests that need it will skip"; fi; \
	fi

demo: install
	$(BIN)/phusong demo --out demo-output --overwrite
	@echo "Demo outputs are in $(CURDIR)/demo-output (synthetic demonstration data)"

test: install-dev system-tools
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) demo-output .pytest_cache
