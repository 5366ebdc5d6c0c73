# medjax: two commands.  `make demo` and `make test` each build .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

# Real PneumoniaMNIST, when the course's shared data folder sits beside the repo.
ifeq ($(origin MEDJAX_DATA_DIR), undefined)
  ifneq ($(wildcard ../shared/data/pneumoniamnist.npz),)
    export MEDJAX_DATA_DIR := $(abspath ../shared/data)
  endif
endif
# Quiet, reproducible JAX on machines without an accelerator.
export JAX_PLATFORMS ?= cpu
export TF_CPP_MIN_LOG_LEVEL ?= 3
export PYTHONWARNINGS ?= ignore::DeprecationWarning:tensorflow_datasets

JOBS ?= 2
PYTEST_ARGS ?=

.PHONY: venv test demo bench sandbox-tools native clean help

help:
	@echo "make demo   - the main job on embedded data (creates .venv on first use)"
	@echo "make test   - the whole test suite, doctests included"
	@echo "make bench  - benchmarks (see benchmarks/README.md)"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP) sandbox-tools native

# medjax's native CPU kernels (medjax/native.py): built once per machine and cached; without a
# C++ compiler training falls back to its pure-XLA gradient, which is slower (benchmarks/README.md).
native: $(STAMP)
	@command -v c++ >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1 || { \
	  echo "medjax: installing a C++ compiler (native training kernels)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else SUDO=none; fi; \
	  if [ "$$SUDO" != none ] && command -v apt-get >/dev/null 2>&1; then \
	    $$SUDO apt-get install -y -qq g++ >/dev/null 2>&1 || \
	    { $$SUDO apt-get update -qq >/dev/null 2>&1 && $$SUDO apt-get install -y -qq g++ >/dev/null 2>&1; } || true; \
	  fi; \
	}
	@$(BIN)/python -m medjax.native | grep -q ": loaded" || echo "medjax: NOTE: native kernels not built ($$($(BIN)/python -m medjax.native)); training uses the slower pure-XLA gradient."

# bubblewrap gives the grader its mount/network namespace sandbox.
sandbox-tools:
	@command -v bwrap >/dev/null 2>&1 || { \
	  echo "medjax: installing bubblewrap (grader sandbox)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else SUDO=none; fi; \
	  if [ "$$SUDO" != none ] && command -v apt-get >/dev/null 2>&1; then \
	    $$SUDO apt-get install -y -qq bubblewrap >/dev/null 2>&1 || \
	    { $$SUDO apt-get update -qq >/dev/null 2>&1 && $$SUDO apt-get install -y -qq bubblewrap >/dev/null 2>&1; } || true; \
	  fi; \
	  command -v bwrap >/dev/null 2>&1 || echo "medjax: WARNING: bubblewrap could not be installed (no root/apt). The grader will run in its weaker mode: see README, 'Security model'."; \
	}

test: venv
	$(BIN)/python -m pytest -n $(JOBS) $(PYTEST_ARGS)

demo: venv
	$(BIN)/medjax demo --out demo-out

bench: venv
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) demo-out .pytest_cache
