"""release.yml and deploy.yml rehearsed with act: a push to main versions, promotes and
deploys; a stage tag and a dispatch deploy the version they name. Docker, the GitHub CLI
and the Docker actions are recording stand-ins; the stand-in `docker run` serves the
packaged model with the image's own entry point, so the smoke test is real."""

from __future__ import annotations

import pytest

from tests.conftest import Workspace, baseline_clone
from tests.workflows.act import REPOSITORY, rehearse

pytestmark = pytest.mark.slow
IMAGE = f"ghcr.io/{REPOSITORY}"
OWNER = {"full_name": REPOSITORY, "name": "cauce", "owner": {"login": "cauce-org"}}


@pytest.fixture(scope="module")
def main(tmp_path_factory) -> Workspace:
    return baseline_clone(tmp_path_factory.mktemp("release-workflows"))


@pytest.fixture(scope="module")
def pushed_to_main(main, tmp_path_factory):
    head = main.run("git", "rev-parse", "HEAD").stdout.strip()
    return rehearse(
        main,
        tmp_path_factory.mktemp("push"),
        "release.yml",
        "push",
        {"ref": "refs/heads/main", "after": head, "repository": OWNER},
    )


def dispatch_deploy(main: Workspace, scratch, version: str, stage: str):
    """deploy.yml run by hand (workflow_dispatch) with a version and a stage."""
    event = {"inputs": {"version": version, "stage": stage}, "repository": OWNER}
    return rehearse(main, scratch, "deploy.yml", "workflow_dispatch", event)


def origin_tags(main: Workspace) -> set[str]:
    lines = main.run("git", "ls-remote", "--tags", "origin").stdout.splitlines()
    return {line.split("refs/tags/")[1].removesuffix("^{}") for line in lines}


def test_a_push_to_main_registers_promotes_and_pushes_the_tags(main, pushed_to_main):
    assert pushed_to_main.result.returncode == 0, pushed_to_main.output[-4000:]
    assert "v0.1.0 is the first version: promoted to prod" in pushed_to_main.output
    assert {"model@v0.1.0", "model#prod#1"} <= origin_tags(main)


def test_the_promoted_version_is_built_pushed_smoke_tested_and_released(pushed_to_main):
    record = pushed_to_main.record
    assert (record / "build-push/tags").read_text().split() == [f"{IMAGE}:v0.1.0", f"{IMAGE}:prod"]
    assert (record / "build-push/push").read_text().strip() == "true"
    assert "MODEL_STAGE=prod" in (record / "build-push/build-args").read_text()
    assert (record / "docker-login").read_text().startswith("ghcr.io ")
    assert "ready, serving v0.1.0, one prediction" in pushed_to_main.output
    docker = (record / "docker").read_text().splitlines()
    assert docker[0].startswith("run --detach --rm --name cauce-smoke --publish 8000:8000")
    assert docker[-1] == "stop cauce-smoke"
    argv = (record / "gh-0/argv").read_text().splitlines()
    assert argv[:3] == ["release", "create", "model@v0.1.0"]
    assert argv[argv.index("--title") + 1] == "model v0.1.0 (prod)"
    notes = (record / "gh-0/notes.md").read_text()
    assert notes.startswith("## model@v0.1.0\n\nfirst version")
    assert "# Model card: model v0.1.0" in notes
    assert "*Stage: **prod**." in notes
    assert "| ROC AUC ↑ | **0." in notes
    assert "| SEX | rows | v0.1.0 |" in notes
    assert argv[-2:] == ["serving/model-card.md", "serving/model/model.json"]


def test_a_stage_tag_deploys_the_version_it_names(main, pushed_to_main, tmp_path):
    assert pushed_to_main.result.returncode == 0
    main.run("git", "fetch", "-q", "--tags", "origin")
    main.run("gto", "assign", "model", "--version", "v0.1.0", "--stage", "staging")
    main.run("git", "push", "-q", "origin", "refs/tags/model#staging#2")  # what starts it
    run = rehearse(
        main,
        tmp_path,
        "deploy.yml",
        "push",
        {"ref": "refs/tags/model#staging#2", "repository": OWNER},
    )
    assert run.result.returncode == 0, run.output[-4000:]
    assert (run.record / "build-push/tags").read_text().split() == [
        f"{IMAGE}:v0.1.0",
        f"{IMAGE}:staging",
    ]
    assert "ready, serving v0.1.0" in run.output


def test_a_dispatch_deploys_the_version_and_stage_asked_for(main, pushed_to_main, tmp_path):
    assert pushed_to_main.result.returncode == 0
    run = dispatch_deploy(main, tmp_path, "v0.1.0", "canary")
    assert run.result.returncode == 0, run.output[-4000:]
    assert (run.record / "build-push/tags").read_text().split() == [
        f"{IMAGE}:v0.1.0",
        f"{IMAGE}:canary",
    ]


def test_a_dispatch_of_an_unknown_version_fails_before_building(main, pushed_to_main, tmp_path):
    assert pushed_to_main.result.returncode == 0
    run = dispatch_deploy(main, tmp_path, "v7.0.0", "prod")
    assert run.result.returncode != 0
    assert "v7.0.0 is not a registered version; known: v0.1.0" in run.output
    assert not (run.record / "build-push").exists()
