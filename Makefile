# The two commands a newcomer needs: `make demo` and `make test`. Everything else is plumbing.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
UV_VERSION := 0.13.9

.PHONY: demo test install bytecode browser lock lint clean

install: $(VENV)/.installed

# uv resolves and installs an Airflow-sized set in seconds; it comes from PyPI like everything else,
# and the lock pins it too, so `uv pip sync` keeps it.
$(VENV)/.installed: requirements-dev.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(UV) || $(BIN)/pip install --quiet uv==$(UV_VERSION)
	$(UV) pip sync --quiet --python $(BIN)/python --require-hashes --compile-bytecode requirements-dev.lock
	$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $@

# Bytecode written once: every Airflow task is a new process, and where PYTHONDONTWRITEBYTECODE is set
# (CI sets it) each one would otherwise compile Airflow, boto3 and pandas from source again.
bytecode: install
	$(BIN)/python -m compileall -q -j 0 dags plugins include tests benchmarks

# The report page's browser test drives Chromium: the system's (Debian's `chromium`, which .ci/run
# installs) or else Playwright's own, downloaded once into Playwright's cache.
browser: install
	command -v chromium >/dev/null || $(BIN)/python -m playwright install chromium

# Two workers (CI has two cores); the end-to-end tests are three groups (E2E_GROUPS), one stack each at a time.
test: install bytecode lint browser
	$(BIN)/python -m pytest -n 2 --dist loadgroup

demo: install bytecode
	$(BIN)/python -m include.demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Re-resolve the pins into hashed locks (run after changing one): everything for development, and
# the run-time subset, at the same versions, for the Docker image.
lock:
	test -x $(UV) || (test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)) && $(BIN)/pip install --quiet uv==$(UV_VERSION)
	$(UV) pip compile requirements.txt requirements-dev.txt --python-version 3.11 --generate-hashes --quiet -o requirements-dev.lock
	$(UV) pip compile requirements.txt --constraint requirements-dev.lock --python-version 3.11 --generate-hashes --quiet -o requirements.lock

clean:
	rm -rf $(VENV) .airflow .demo .pytest_cache
