# Two commands do all the set-up on a fresh machine:
#   make tour   - set up, then run the main job (the aekit tour)
#   make test   - set up, then lint (ruff check, ruff format --check) and run the whole test suite
# Set-up: a virtual environment in .venv with the CPU build of torch 2.13.0 (never a CUDA
# build), aekit and its test tools; Debian packages (Fashion-MNIST, Chromium) when apt-get
# is there and we are root. Real data: AEKIT_DATA defaults to ../shared/data when present.

VENV ?= .venv
PY := $(VENV)/bin/python
SHARED_DATA := $(wildcard ../shared/data)
export AEKIT_DATA ?= $(if $(SHARED_DATA),$(abspath $(SHARED_DATA)))
TOUR_ARGS ?= --quick

.PHONY: setup tour test

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	bash scripts/setup.sh $(VENV)
	touch $@

tour: setup
	$(VENV)/bin/aekit tour --out runs/tour $(TOUR_ARGS)

test: setup
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/ruff format --check src tests benchmarks scripts
	$(PY) -m pytest -n 2 tests
