"""`cauce release-page` and `cauce alert-issue`: what deploy.yml and monitor.yml ask of
GitHub, each branch run against the recording stand-in `gh` (tests/workflows/bin/gh), which
keeps the releases and issues it made so that a second run finds them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

CAUCE = Path(sys.executable).parent / "cauce"
STAND_INS = ROOT / "tests/workflows/bin"
REPOSITORY = "https://github.com/cauce-org/cauce"


@pytest.fixture
def github(tmp_path) -> Path:
    """A working directory with what `cauce package` and `cauce monitor` leave behind."""
    (tmp_path / "serving/model").mkdir(parents=True)
    (tmp_path / "serving/release.md").write_text("## model@v0.2.0\n", encoding="utf-8")
    (tmp_path / "reports/monitor").mkdir(parents=True)
    (tmp_path / "reports/monitor/drift.md").write_text("## Drift in AGEP\n", encoding="utf-8")
    (tmp_path / "record").mkdir()
    return tmp_path


def cauce(github: Path, *arguments: str) -> subprocess.CompletedProcess:
    env = os.environ | {
        "PATH": f"{STAND_INS}{os.pathsep}{os.environ['PATH']}",
        "CAUCE_RECORD": str(github / "record"),
        "GH_REPO": "cauce-org/cauce",
    }
    return subprocess.run(
        [CAUCE, *arguments], cwd=github, env=env, capture_output=True, text=True, check=False
    )


def calls(github: Path) -> list[list[str]]:
    """The recorded gh calls, in order (lookups are not recorded)."""
    folders = sorted((github / "record").glob("gh-*"), key=lambda f: int(f.name[3:]))
    return [(f / "argv").read_text(encoding="utf-8").splitlines() for f in folders]


def test_a_first_deploy_creates_the_release_with_its_card_and_a_redeploy_retitles_it(github):
    first = cauce(github, "release-page", "--version", "v0.2.0", "--stage", "canary")
    assert first.returncode == 0, first.stderr
    assert first.stdout == "GitHub Release model@v0.2.0: created\n"
    again = cauce(github, "release-page", "--version", "v0.2.0", "--stage", "prod")
    assert again.stdout == "GitHub Release model@v0.2.0: updated\n"
    created, edited = calls(github)
    assert created == [
        "release", "create", "model@v0.2.0", "--verify-tag", "--title", "model v0.2.0 (canary)",
        "--notes-file", "serving/release.md", "serving/model-card.md", "serving/model/model.json",
    ]  # fmt: skip
    assert edited == [
        "release", "edit", "model@v0.2.0", "--title", "model v0.2.0 (prod)",
        "--notes-file", "serving/release.md",
    ]  # fmt: skip


def test_a_verdict_opens_one_issue_then_comments_on_it_and_says_where(github):
    outcome = github / "outcome"
    arguments = ("alert-issue", "--verdict", "drift", "--repository-url", REPOSITORY)
    first = cauce(github, *arguments, "--outcome", str(outcome))
    assert first.returncode == 0, first.stderr
    assert first.stdout == f"opened issue #1: {REPOSITORY}/issues/1\n"
    again = cauce(github, *arguments, "--outcome", str(outcome))
    assert again.stdout == f"updated issue #1: {REPOSITORY}/issues/1\n"
    assert outcome.read_text(encoding="utf-8").splitlines() == [
        f"url={REPOSITORY}/issues/1",
        f"url={REPOSITORY}/issues/1",
    ]
    label, create, _, comment = calls(github)
    assert label[:3] == ["label", "create", "drift"]
    assert create == [
        "issue", "create", "--title", "Production data: drift", "--label", "drift",
        "--body-file", "reports/monitor/drift.md",
    ]  # fmt: skip
    assert comment == ["issue", "comment", "1", "--body-file", "reports/monitor/drift.md"]
    # another verdict is another issue
    breach = cauce(
        github, "alert-issue", "--verdict", "contract-breach", "--repository-url", REPOSITORY
    )
    assert breach.stdout == f"opened issue #2: {REPOSITORY}/issues/2\n"


def test_a_verdict_that_is_not_an_alert_is_refused(github):
    refused = cauce(github, "alert-issue", "--verdict", "none", "--repository-url", REPOSITORY)
    assert refused.returncode == 2
    assert "invalid choice: 'none'" in refused.stderr
    assert calls(github) == []


def test_a_gh_that_fails_is_named_with_what_it_said(github, tmp_path_factory):
    broken = tmp_path_factory.mktemp("bin") / "gh"
    broken.write_text("#!/bin/sh\necho 'HTTP 401: Bad credentials' >&2\nexit 1\n")
    broken.chmod(0o755)
    env = os.environ | {"PATH": f"{broken.parent}{os.pathsep}{os.environ['PATH']}"}
    failed = subprocess.run(
        [CAUCE, "alert-issue", "--verdict", "drift", "--repository-url", REPOSITORY],
        cwd=github, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert failed.returncode == 7, failed.stderr
    assert "cauce alert-issue: gh label create drift" in failed.stderr
    assert "HTTP 401: Bad credentials" in failed.stderr
    assert "Traceback" not in failed.stderr
