# The README's two commands: `make run` (the whole pipeline) and `make test` (every test).
# Both set up what they need from the lock file on a machine with only Python 3.11+ and git.

SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
# uv itself is bootstrapped into .tools/ with pip, so that no global install is needed
# (UV=/path/to/uv uses one you have).
UV ?= .tools/bin/uv
export PATH := $(CURDIR)/.venv/bin:$(PATH)
export UV_PYTHON_DOWNLOADS := never

.PHONY: help setup run test test-required test-statistics test-rehearsals tiers lint hooks outputs tags bench pr-check audit

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Bytecode written at install time: every later process starts from it, 2-3x faster than
# when each compiles its imports (as where PYTHONDONTWRITEBYTECODE is set). 9 s once;
# UV_COMPILE_BYTECODE=0 skips it.
export UV_COMPILE_BYTECODE ?= 1

setup: $(UV)  ## create .venv from uv.lock (exact versions, nothing resolved anew)
	$(UV) sync --frozen --all-extras --python $(PYTHON) --quiet

run: setup  ## the main job: dvc repro on the embedded data, then the metrics table
	dvc repro
	dvc metrics show

# pytest runs on every core (pyproject.toml: -n auto) and ends with the slowest tests and
# the time of each tier; it exits 5 when it collects nothing: that is a failure too.
define pytest-tier
	pytest $(1); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make $@: pytest collected no tests" >&2; fi; \
	exit $$status
endef

test: setup  ## every test: what CI, main and the nightly run
	$(call pytest-tier,)

test-required: setup  ## what every pull request waits on: the quick and end-to-end tests
	$(call pytest-tier,-m "not rehearsal and not statistical")

test-statistics: setup  ## the gate's and the monitor's error rates, on the whole embedded data
	$(call pytest-tier,-m statistical)

test-rehearsals: setup  ## the workflows under act, the image, load and fault tests
	$(call pytest-tier,-m rehearsal)

tiers:  ## which tiers a change since BASE needs (docs/testing.md)
	@$(PYTHON) -m tests.tiers --base "$(BASE)"

bench: run  ## every benchmark, peers side by side: benchmarks/results/, docs/performance.md
	python -m benchmarks.api
	python -m benchmarks.load
	python -m benchmarks.batch
	python -m benchmarks.drift
	python -m benchmarks.pipeline
	python -m benchmarks.sweep
	python -m benchmarks.intervals
	python -m benchmarks.tasks
	python -m benchmarks.suite

BASE ?= main
PR_CHECK := "pre-commit run --all-files" "pytest -m 'not slow' -q" "cauce check-lock" \
	"cauce reproduce" "cauce report --base $(BASE)" "cauce gate --base $(BASE)"
pr-check: setup  ## what a PR runs, timed, stopping at the first failure (BASE=main)
	@total=$$SECONDS; for step in $(PR_CHECK); do \
		started=$$SECONDS; echo "== $$step"; \
		bash -c "$$step" || { echo "make pr-check: failed at: $$step" >&2; exit 1; }; \
		echo "⏱ $$step: $$((SECONDS - started)) s"; \
	done; echo "make pr-check: passed in $$((SECONDS - total)) s (slow tests: make test)"

lint: setup  ## every pre-commit hook on every file, as the PR's lint job runs them
	pre-commit run --all-files

audit: setup  ## known vulnerabilities in uv.lock's versions (fails when it cannot check)
	UV=$(UV) .github/audit.sh

hooks: setup  ## install the git hooks: lint before each commit, outputs after switch and merge, dvc push with git push
	pre-commit install

outputs: setup  ## the outputs dvc.lock records: pulled from the DVC remote, or rebuilt and checked
	@if remote=$$(dvc remote default 2>/dev/null); then \
		dvc pull || { echo "make outputs: dvc pull from the DVC remote '$$remote'" \
			"($$(dvc remote list | awk -v r="$$remote" '$$1 == r {print $$2}' | sed -E 's#//[^/@]*@#//#')) failed:" \
			"is it reachable, are its credentials set? Retry, or rebuild: cauce reproduce" >&2; \
			exit 1; }; \
	else echo "make outputs: no DVC remote: rebuilding them (cauce reproduce)"; cauce reproduce; fi

tags:  ## the model tags as GTO reads them: annotated (a CI checkout leaves them lightweight)
	git tag --list 'model[@#]*' | xargs --no-run-if-empty git tag --delete >/dev/null
	git fetch --quiet --force --tags origin
