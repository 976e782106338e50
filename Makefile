# The README's two commands: `make demo` and `make test`. Both find a Python >= 3.12
# by themselves (tools/find-python.sh), create .venv and install bayesfold into it.
VENV := .venv
BIN := $(VENV)/bin
OUT ?= demo-output
# One BLAS/OpenMP thread per process: on the small matrices of these networks,
# threads cost more than they gain; the second core runs independent work.
export OMP_NUM_THREADS ?= 1
export OPENBLAS_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

.PHONY: demo test lint venv clean

$(BIN)/python:
	python=$$(tools/find-python.sh) && "$$python" -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(BIN)/bayesfold demo --out $(OUT) --overwrite

test: venv
	$(BIN)/python -m pytest -n 2

lint: venv
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .mypy_cache .ruff_cache
