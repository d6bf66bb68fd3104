VENV := .venv/bin

.PHONY: install test lint typecheck validate security run ci bench bench-clock asl

install:
	./scripts/bootstrap

# One worker per core: the twin's clock is virtual, so tests do not care what else the machine runs.
test: install
	$(VENV)/python -m pytest -n auto

lint: install
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .
	$(VENV)/python -m ferry_cli.asl --check

# statemachine/*.asl.json are generated from cli/ferry_cli/asl/ (the one definition): regenerate after editing it.
asl: install
	$(VENV)/python -m ferry_cli.asl

typecheck: install
	$(VENV)/mypy

validate: install
	AWS_DEFAULT_REGION=us-east-1 $(VENV)/sam validate --lint --template template.yaml
	$(VENV)/cfn-lint member-accounts/*.yaml operators/*.yaml

# checkov lives in its own venv: its pinned dependencies must not move the project's boto3/moto.
.venv-checkov/bin/checkov:
	"$$(./scripts/bootstrap --print-python)" -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet checkov

security: .venv-checkov/bin/checkov
	.venv-checkov/bin/checkov --quiet --compact --skip-download --framework cloudformation -f template.yaml \
		--config-file template.checkov.yaml
	.venv-checkov/bin/checkov --quiet --compact --skip-download --framework cloudformation -d member-accounts

run: install
	./ferry local run

# Not a test: event-driven waits versus 30 s polling in the twin, and handler cold imports (README "Benchmark").
bench: install
	$(VENV)/python -m bench.waits

# Not a test: `ferry local run` quiet and under load, its real time and whether every run's timeline is the same.
bench-clock: install
	$(VENV)/python -m bench.clock

ci: lint typecheck validate security test
