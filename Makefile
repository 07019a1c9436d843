# softliq: the README's commands. The Makefile bootstraps its own tools: a venv holding uv, then
# the project's locked environment in .venv. Nothing needs to be installed beforehand but Python 3.11+.

PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install demo test test-evm test-evm-long test-evm-aave-long evm-artifacts lint ui clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

# The engine's hot modules compiled with mypyc (softliq_core/compiled.py): a sweep runs about twice
# as fast. Without a C compiler the build fails with a message and everything runs from source.
COMPILED := softliq_core/_compiled/manifest.json
$(COMPILED): $(VENV)/.installed softliq_core/compiled.py $(wildcard softliq_core/replay/*.py softliq_core/protocols/morpho/*.py softliq_core/mechanisms/*.py)
	SOFTLIQ_PURE_PYTHON=1 $(VENV)/bin/python -c "from softliq_core.compiled import build; build()" \
	  || echo "softliq: the compiled engine did not build; the engine runs from source (slower)"

install: $(VENV)/.installed $(COMPILED)

demo: install  ## synthetic chain -> lake -> replay of the default scenarios -> DuckDB -> summary
	$(VENV)/bin/softliq demo

test: install  ## lint, types, and the whole test suite
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -n 2

# Morpho Blue's real bytecode (npm, solc-js) and Aave V3's (npm @aave/core-v3, shipped bytecode)
# against softliq's engines in pyrevm: tests/differential. Needs node and npm; the artifacts are
# cached in .cache/evm/ (git-ignored). `make test` runs it too (skipped, with the reason, when node
# is missing; SOFTLIQ_REQUIRE_EVM=1 makes that a failure).
evm-artifacts: install  ## npm install + compile Morpho Blue, npm install Aave V3, into .cache/evm/
	$(VENV)/bin/python -m tests.differential.artifacts
	$(VENV)/bin/python -m tests.differential.aave.artifacts

test-evm: install  ## the EVM differential suite alone (CI profile: Morpho >= 200, Aave >= 100 sequences)
	SOFTLIQ_REQUIRE_EVM=1 $(VENV)/bin/pytest -n 2 tests/differential

test-evm-long: install  ## the long runs of both: Morpho >= 10,000 and Aave >= 5,000 sequences (about two hours on 2 cores)
	SOFTLIQ_REQUIRE_EVM=1 SOFTLIQ_EVM_PROFILE=evm-long SOFTLIQ_EVM_REPLAY_BATCH=50 SOFTLIQ_AAVE_REPLAY_BATCH=50 $(VENV)/bin/pytest -n 2 tests/differential

test-evm-aave-long: install  ## the Aave long run alone: >= 5,000 sequences (about an hour on 2 cores)
	SOFTLIQ_REQUIRE_EVM=1 SOFTLIQ_EVM_PROFILE=evm-long SOFTLIQ_AAVE_REPLAY_BATCH=50 $(VENV)/bin/pytest -n 2 tests/differential/aave

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

ui: install  ## the Dagster UI on the same definitions and run history as `make demo`
	DAGSTER_HOME=$(CURDIR)/data/dagster_home $(VENV)/bin/dagster dev -w workspace.yaml

clean:
	rm -rf data/lake data/softliq.duckdb data/softliq.duckdb.wal data/softliq.duckdb.lock data/softliq.duckdb.lake
	find data/dagster_home -mindepth 1 ! -name dagster.yaml -delete
