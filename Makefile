# The two commands of the README. Both set up whatever is missing first (idempotent).
.PHONY: report test setup lint

# Run the conformance suite against the reference recorder and write reports/html/index.html.
report:
	@bash scripts/setup.sh
	@.venv/bin/arec run -n auto

# Run the whole test suite (unit, integration, Gherkin bindings). Three workers on two cores: the
# real-time scenarios mostly wait (measured: 0.7 of the 2 cores busy with -n 2, 16 min 31 s).
test:
	@bash scripts/setup.sh
	@.venv/bin/python -m pytest -n 3 -q -p no:cacheprovider

# Static checks: style (ruff), types (mypy strict), layers (import-linter contracts in
# pyproject.toml, see docs/architecture.md §3). Sets up .venv first, so it runs on a fresh clone.
lint:
	@bash scripts/setup.sh
	@.venv/bin/ruff check .
	@.venv/bin/mypy harness reference_recorder
	@.venv/bin/lint-imports

setup:
	@bash scripts/setup.sh
