"""release.yml and deploy.yml rehearsed with act on a fork's day one: no DVC remote, no
outputs. A push to main rebuilds the pipeline, proves it is what dvc.lock records,
versions, promotes and deploys; a deploy rebuilds the version it deploys from its commit
when no DVC cache has it (a rollback, on a runner with nothing), or fetches it. Docker,
the GitHub CLI and the Docker actions are recording stand-ins; the stand-in `docker run`
serves the packaged model with the image's own entry point, so the smoke test is real.

The second version is released outside act, by the same `cauce release` the job runs
(tests/gitops/test_release.py follows a champion and its challengers through it): the
first push proves the workflow's wiring, and its rebuilds are the slow part."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from tests.conftest import Workspace
from tests.receiver import Receiver
from tests.workflows.act import REPOSITORY, rehearse

pytestmark = pytest.mark.rehearsal
IMAGE = f"ghcr.io/{REPOSITORY}"
OWNER = {"full_name": REPOSITORY, "name": "cauce", "owner": {"login": "cauce-org"}}
SECRET = "whsec_" + base64.b64encode(b"a signing key").decode()


def push_to_main(main: Workspace, scratch):
    """release.yml on a push of main's HEAD. Its runners keep main's DVC cache, which the
    release job's rebuild ignores (dvc repro --force) and from which the deploy job then
    fetches what it built; the rollback's deploy rebuilds from nothing."""
    # act copies this working tree in place of actions/checkout, which fetches every tag
    main.run("git", "fetch", "-q", "--tags", "--force", "origin")
    head = main.run("git", "rev-parse", "HEAD").stdout.strip()
    event = {"ref": "refs/heads/main", "after": head, "repository": OWNER}
    cache = main.path / ".dvc/cache"
    return rehearse(main, scratch, "release.yml", "push", event, dvc_cache=cache)


def origin_tags(main: Workspace) -> set[str]:
    lines = main.run("git", "ls-remote", "--tags", "origin").stdout.splitlines()
    return {line.split("refs/tags/")[1].removesuffix("^{}") for line in lines}


def attested(run) -> list[list[str]]:
    """The subjects of each provenance attestation asked for, in order: `image@digest`, or
    `sha256  path` lines for files."""
    calls = sorted(run.record.glob("attest-*"))
    return [(call / "subjects").read_text(encoding="utf-8").splitlines() for call in calls]


def pushed(run) -> list[tuple[str, str]]:
    """Each tag pushed to the (stand-in) registry in the run, in order, with its digest."""
    path = run.record / "registry"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [tuple(line.split()) for line in lines]


def judged(run) -> dict:
    """What the release job recorded about the version it judged (its uploaded notes)."""
    return json.loads((run.artifacts / "release-notes/release.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def main(tmp_path_factory, baseline_clone) -> Workspace:
    clone = baseline_clone(tmp_path_factory.mktemp("release-workflows"), remote=False)
    assert clone.run("dvc", "remote", "list").stdout.strip() == ""
    assert not (clone.path / "models").exists()
    clone.merge("a weak first model", **{"train.hist_gradient_boosting.max_iter": 3})
    return clone


@pytest.fixture(scope="module")
def first_release(main, tmp_path_factory):
    return push_to_main(main, tmp_path_factory.mktemp("push-1"))


@pytest.fixture(scope="module")
def second_release(main, first_release):
    """v0.2.0, a better model, released by `cauce release` on main as the job would."""
    assert first_release.result.returncode == 0, first_release.output[-4000:]
    main.run("git", "fetch", "-q", "--tags", "--force", "origin")  # what the first pushed
    main.merge("more boosting iterations", **{"train.hist_gradient_boosting.max_iter": 40})
    released = main.run("cauce", "release")
    assert "v0.2.0 promoted to prod: roc_auc " in released.stdout
    assert "model#prod#2" in origin_tags(main)
    return released


def test_without_a_remote_the_release_rebuilds_proves_and_promotes(main, first_release):
    run = first_release
    assert run.result.returncode == 0, run.output[-4000:]
    assert "make outputs: no DVC remote: rebuilding them (cauce reproduce)" in run.output
    assert "Reproduced: rebuilt ingest, validate, prepare, train, evaluate; all " in run.output
    assert "v0.1.0 is the first version: promoted to prod" in run.output
    assert {"model@v0.1.0", "model#prod#1"} <= origin_tags(main)


def test_the_deploy_serves_the_model_the_release_judged(first_release):
    run = first_release
    sha256 = judged(run)["model"]["sha256"]
    assert f"ready, serving v0.1.0 (model sha256 {sha256[:12]}…), one prediction" in run.output
    record = run.record
    assert (record / "build-push/tags").read_text().split() == [f"{IMAGE}:v0.1.0"]
    assert (record / "build-push/push").read_text().strip() == "true"
    assert "MODEL_STAGE=prod" in (record / "build-push/build-args").read_text()
    assert (record / "docker-login").read_text().startswith("ghcr.io ")
    built = "sha256:" + hashlib.sha256((record / "build-push/manifest").read_bytes()).hexdigest()
    # The image smoke-tested is the one built (by digest), and only then is it prod's.
    docker = (record / "docker").read_text().splitlines()
    assert docker[0].startswith("run --detach --rm --name cauce-smoke --publish 8000:8000")
    assert docker[0].endswith(f" {IMAGE}@{built}")
    assert docker[1:] == [
        "stop cauce-smoke",
        f"buildx imagetools create --tag {IMAGE}:prod {IMAGE}@{built}",
    ]
    assert pushed(run) == [(f"{IMAGE}:v0.1.0", built), (f"{IMAGE}:prod", built)]
    # Provenance for the image the build pushed (its digest) and for the files it serves,
    # signed by the attest job once the smoke test passed.
    smoke = run.output.index("Success - Main Smoke test the image")
    assert smoke < run.output.index("Main Attest the image's provenance")
    assert "Success - Main Attest the model files' provenance" in run.output[smoke:]
    image, files = attested(run)
    assert image == [f"{IMAGE}@{built}"]
    assert (record / "attest-0/push-to-registry").read_text().strip() == "true"
    digests = {path: digest for digest, path in map(str.split, files)}
    assert {"serving/model/model.skops", "serving/model/model.fast.npz"} <= digests.keys()
    assert digests["serving/model/model.skops"] == sha256
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


@pytest.mark.usefixtures("second_release")
def test_a_rollback_deploys_the_older_version_rebuilt_from_its_commit(
    main, first_release, tmp_path
):
    main.run("git", "fetch", "-q", "--tags", "--force", "origin")
    rolled = main.run("cauce", "rollback")
    assert "prod: v0.2.0 → v0.1.0 (model#prod#3)" in rolled.stdout
    assert "model#prod#3" in origin_tags(main)  # pushed: what starts deploy.yml on GitHub
    event = {"ref": "refs/tags/model#prod#3", "repository": OWNER}
    with Receiver() as receiver:
        secrets = {"CAUCE_WEBHOOK_URL": receiver.url, "CAUCE_WEBHOOK_SECRET": SECRET}
        run = rehearse(main, tmp_path, "deploy.yml", "push", event, secrets=secrets)
    assert run.result.returncode == 0, run.output[-4000:]
    (notification,) = receiver.payloads()
    assert notification["type"] == "cauce.rollback"
    assert notification["data"]["title"] == "model v0.1.0 deployed as prod (rollback)"
    assert "model@v0.1.0 is in no DVC cache or remote here: rebuilding it" in run.output
    assert "rebuilt ingest, validate, prepare, train at " in run.output
    sha256 = judged(first_release)["model"]["sha256"]
    assert f"ready, serving v0.1.0 (model sha256 {sha256[:12]}…)" in run.output
    assert [tag for tag, _ in pushed(run)] == [f"{IMAGE}:v0.1.0", f"{IMAGE}:prod"]
    image, files = attested(run)  # CAUCE_ATTEST unset: attested
    assert image[0].startswith(f"{IMAGE}@sha256:")
    assert any(line.endswith("serving/model/model.skops") for line in files)


def dispatch_canary(main: Workspace, scratch, extra_env: dict[str, str] | None = None):
    """deploy.yml dispatched by hand for v0.2.0 as canary, in a repository where attestations
    are not available (which turns them off, supply-chain.md), on a runner whose DVC cache
    has the version (main's): fetched, not rebuilt."""
    event = {"inputs": {"version": "v0.2.0", "stage": "canary"}, "repository": OWNER}
    return rehearse(
        main,
        scratch,
        "deploy.yml",
        "workflow_dispatch",
        event,
        variables={"CAUCE_ATTEST": "false"},
        dvc_cache=main.path / ".dvc/cache",
        extra_env=extra_env,
    )


@pytest.mark.usefixtures("second_release")
def test_a_dispatch_deploys_the_version_and_stage_asked_for(main, tmp_path):
    run = dispatch_canary(main, tmp_path)
    assert run.result.returncode == 0, run.output[-4000:]
    assert "is in no DVC cache or remote here" not in run.output
    assert [tag for tag, _ in pushed(run)] == [f"{IMAGE}:v0.2.0", f"{IMAGE}:canary"]
    assert "ready, serving v0.2.0" in run.output
    assert "Success - Main Publish the GitHub Release" in run.output
    assert attested(run) == [], "CAUCE_ATTEST=false: nothing attested"
    assert "Attest the image's provenance" not in run.output


@pytest.mark.usefixtures("second_release")
def test_a_deploy_whose_smoke_test_fails_leaves_the_stage_tag_where_it_was(main, tmp_path):
    # The image built serves another version than it was built for: the smoke test says so.
    run = dispatch_canary(main, tmp_path, extra_env={"CAUCE_STANDIN_IMAGE_VERSION": "v0.0.9"})
    assert run.result.returncode != 0
    assert "Failure - Main Smoke test the image" in run.output
    assert "http://127.0.0.1:8000 serves version 'v0.0.9', not 'v0.2.0'" in run.output
    assert [tag for tag, _ in pushed(run)] == [f"{IMAGE}:v0.2.0"]  # canary's never moved
    assert (
        "Point the stage's tag at the image that passed"
        not in run.output.split("Failure - Main Smoke test the image")[1]
    )
    assert not (run.record / "gh-0").exists(), "no GitHub Release for a failed deploy"


@pytest.mark.usefixtures("second_release")
def test_a_dispatch_of_an_unknown_version_fails_before_building(main, tmp_path):
    event = {"inputs": {"version": "v7.0.0", "stage": "prod"}, "repository": OWNER}
    run = rehearse(main, tmp_path, "deploy.yml", "workflow_dispatch", event)
    assert run.result.returncode != 0
    assert "v7.0.0 is not a registered version; known: v0.1.0, v0.2.0" in run.output
    assert not (run.record / "build-push").exists()
