# Two entry points a new user needs: `make quickstart` and `make test`. Each installs what it needs
# into .venv first (CPU torch by default; pass TORCH=torch for your platform's CUDA/ROCm build).
VENV   ?= .venv
PY     := $(VENV)/bin/python
TORCH  ?= torch==2.13.0
EXTRAS ?= dev,gguf,studio

.PHONY: install quickstart test test-fast lint bench clean

$(VENV)/.installed-$(EXTRAS): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

install: $(VENV)/.installed-$(EXTRAS)

quickstart: install
	$(VENV)/bin/jaft quickstart

# Everything, slow end-to-end tests included (this is what CI runs).
test: install
	$(VENV)/bin/ruff check src tests bench configs
	$(PY) -m pytest -m "slow or not slow" -q

# The quick loop while developing: skips tests marked slow.
test-fast: install
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check src tests bench configs
	$(VENV)/bin/ruff format --check src tests bench configs

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
