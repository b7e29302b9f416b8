# The README's two commands: `make run` (the whole pipeline) and `make test` (every test).
# Both set up what they need from the lock file on a machine with only Python 3.11+ and git.

SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
# uv itself is bootstrapped into .tools/ with pip, so that no global install is needed.
UV := .tools/bin/uv
export PATH := $(CURDIR)/.venv/bin:$(PATH)
export UV_PYTHON_DOWNLOADS := never

.PHONY: help setup run test lint hooks outputs tags bench pr-check audit

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

setup: $(UV)  ## create .venv from uv.lock (exact versions, nothing resolved anew)
	$(UV) sync --frozen --all-extras --python $(PYTHON) --quiet

run: setup  ## the main job: dvc repro on the embedded data, then the metrics table
	dvc repro
	dvc metrics show

test: setup  ## every test (pytest exits 5 when it collects none: that is a failure too)
	pytest; status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; \
	exit $$status

bench: run  ## every benchmark, peers side by side: benchmarks/results/, docs/performance.md
	python -m benchmarks.api
	python -m benchmarks.load
	python -m benchmarks.batch
	python -m benchmarks.drift
	python -m benchmarks.pipeline

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

hooks: setup  ## install the git hooks: lint before each commit, dvc checkout/push with git
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
