"""Faults the merge-to-release loop survives, with real processes: a webhook receiver that
is down, a DVC remote that cannot be reached, and two `cauce release` runs racing on the
same commit against one origin (a bare git repository).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from cauce import ExitCode
from tests.conftest import ROOT, Workspace, tool_environment
from tests.receiver import TOKEN
from tests.serving.conftest import free_port

CAUCE = Path(sys.executable).parent / "cauce"
DRIFT = ("--event", "drift", "--title", "Drift in 2 of 9 checks")


# --- a webhook receiver that is down ---------------------------------------------------


class ReceiverOn:
    """An HTTP receiver bound to a given port (one that refused connections until now):
    answers every POST 200 and records its body."""

    def __init__(self, port: int) -> None:
        self.bodies: list[bytes] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.bodies.append(self.rfile.read(int(self.headers["content-length"])))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def workdir(tmp_path) -> Path:
    """params.yaml whose first retry waits 1 s: time to bring the receiver up."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["notify"] |= {"timeout_seconds": 5, "backoff_seconds": 1, "max_wait_seconds": 1}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    return tmp_path


def notify_process(workdir: Path, url: str) -> subprocess.Popen:
    env = {
        k: v
        for k, v in tool_environment(workdir).items()
        if not k.startswith(("CAUCE_", "GITHUB_")) and not k.lower().endswith("_proxy")
    }
    return subprocess.Popen(
        [CAUCE, "--params", "params.yaml", "notify", *DRIFT],
        cwd=workdir,
        env=env | {"CAUCE_SLACK_WEBHOOK_URL": url},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def events(workdir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((workdir / "reports/notify").glob("*.json"))}


def test_a_receiver_that_comes_back_between_retries_gets_the_event(workdir):
    port = free_port()
    process = notify_process(workdir, f"http://127.0.0.1:{port}/services/{TOKEN}")
    lines, receiver = [], None
    try:
        for line in process.stdout:
            lines.append(line)
            if receiver is None and "retrying in" in line:
                receiver = ReceiverOn(port)  # up during the 1 s wait before attempt 2
        assert process.wait(timeout=60) == ExitCode.OK, "".join(lines)
    finally:
        if receiver is not None:
            receiver.close()
        if process.poll() is None:  # it failed before the command ended: stop it too
            process.kill()
            process.wait()
    assert receiver is not None, "".join(lines)
    assert "slack: ConnectError, retrying in 1 s (attempt 2 of 4)" in "".join(lines)
    [record] = events(workdir).values()
    event = json.loads(record)
    assert event["deliveries"] == [
        {"receiver": "slack", "status": 200, "attempts": 2, "delivered": True}
    ]
    [body] = receiver.bodies
    assert json.loads(body)["text"] == "Drift in 2 of 9 checks"


def test_a_receiver_down_to_the_last_retry_keeps_the_event_and_a_rerun_delivers(workdir):
    port = free_port()
    url = f"http://127.0.0.1:{port}/services/{TOKEN}"
    failed = notify_process(workdir, url)
    output = failed.communicate(timeout=60)[0]
    assert failed.returncode == ExitCode.EXTERNAL, output
    assert "slack: ConnectError after 4 of 4 attempts" in output
    [(name, kept)] = events(workdir).items()
    assert f"the event is kept in reports/notify/{name}" in output
    assert json.loads(kept)["deliveries"][0]["delivered"] is False
    assert TOKEN not in output + kept.decode()

    receiver = ReceiverOn(port)
    try:
        rerun = notify_process(workdir, url)
        output = rerun.communicate(timeout=60)[0]
    finally:
        receiver.close()
    assert rerun.returncode == ExitCode.OK, output
    assert len(receiver.bodies) == 1
    after = events(workdir)
    assert after[name] == kept  # the undelivered record is left as it was
    [(_, delivered)] = [(n, b) for n, b in after.items() if n != name]
    assert json.loads(delivered)["deliveries"] == [
        {"receiver": "slack", "status": 200, "attempts": 1, "delivered": True}
    ]


# --- cauce release: an unreachable DVC remote, two runs at once -------------------------


@pytest.fixture(scope="module")
def main(tmp_path_factory, baseline_clone) -> Workspace:
    return baseline_clone(tmp_path_factory.mktemp("release-faults"))


def tags_in(space: Workspace, where: str = "here") -> dict[str, str]:
    """Each model tag and the object it names, in the workspace or in origin."""
    if where == "origin":
        lines = space.run("git", "ls-remote", "--tags", "origin", "refs/tags/model*").stdout
        pairs = [line.split("\t") for line in lines.splitlines()]
        return {ref.removeprefix("refs/tags/"): sha for sha, ref in pairs if "^{}" not in ref}
    lines = space.run("git", "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/tags")
    pairs = [line.split() for line in lines.stdout.splitlines()]
    return {name: sha for name, sha in pairs if name.startswith("model")}


@pytest.mark.rehearsal
def test_a_release_with_an_unreachable_dvc_remote_fails_naming_it_and_registers_nothing(main):
    port = free_port()
    main.run("dvc", "remote", "modify", "--local", "storage", "url", f"http://127.0.0.1:{port}/dvc")
    head = main.run("git", "rev-parse", "HEAD").stdout
    result = main.run("cauce", "release", check=False)
    assert result.returncode == ExitCode.EXTERNAL, result.stdout + result.stderr
    message = result.stderr
    assert f"dvc push to the DVC remote 'storage' (http://127.0.0.1:{port}/dvc) failed" in message
    assert f"Cannot connect to host 127.0.0.1:{port}" in message
    assert "Nothing was registered" in message
    assert "Traceback" not in message
    assert tags_in(main) == {}
    assert tags_in(main, "origin") == {}
    assert main.run("git", "rev-parse", "HEAD").stdout == head
    assert main.run("git", "status", "--porcelain").stdout == ""
    assert not (main.path / "reports/release").exists()

    main.run("dvc", "remote", "remove", "--local", "storage")  # the remote is back
    result = main.run("cauce", "release", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "v0.1.0 is the first version: promoted to prod" in result.stdout
    assert set(tags_in(main, "origin")) == {"model@v0.1.0", "model#prod#1"}


@pytest.mark.rehearsal
def test_two_releases_of_one_commit_at_once_register_one_version(main):
    """Two clones of one origin release the same new commit at the same moment: one
    version and one stage tag reach origin; the other run either pushed the very same
    tags or stops cleanly with its own tags undone, and its rerun sees the version."""
    main.merge("a weaker model", **{"train.hist_gradient_boosting.max_iter": 3})
    other = Workspace(main.path.parent / "other", main.env)
    main.run(
        "git",
        "clone",
        "-q",
        main.run("git", "remote", "get-url", "origin").stdout.strip(),
        str(other.path),
    )
    other.run("dvc", "cache", "dir", "--local", str(main.path.parent / "seed/.dvc/cache"))
    other.run("dvc", "checkout", "--quiet")
    before = tags_in(main, "origin")
    assert tags_in(other) == before

    runs = [
        subprocess.Popen(
            ["cauce", "release"],
            cwd=space.path,
            env=space.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for space in (main, other)
    ]
    try:
        outputs = [run.communicate(timeout=600) for run in runs]
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
                run.wait()
    codes = [run.returncode for run in runs]

    after = tags_in(main, "origin")
    added = sorted(set(after) - set(before))
    assert [t.partition("#")[0] for t in added if "#" in t] == ["model"], added
    assert [t for t in added if "@" in t] == ["model@v0.2.0"], added
    assert len(added) == 2, added
    for space, code, (stdout, stderr) in zip((main, other), codes, outputs, strict=True):
        if code != 0:  # the one that lost the race stops cleanly, and says why
            assert code == ExitCode.FAILED, stdout + stderr
            assert "another release pushed it first" in stderr
            assert "Traceback" not in stderr
        # Nothing half-done: each clone's tags are exactly origin's.
        assert tags_in(space) == after, (code, stdout, stderr)
    assert 0 in codes, outputs

    for space in (main, other):
        rerun = space.run("cauce", "release", check=False)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert "model@v0.2.0 is already released from this commit" in rerun.stdout
    assert tags_in(main, "origin") == after
