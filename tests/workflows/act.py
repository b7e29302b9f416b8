"""Running the repository's workflows with `act` on this host, with stand-ins.

Third-party actions map to small stand-ins under `tests/workflows/actions/`; `cml` and
`npm` are recording stand-ins first on PATH. What they were asked to do lands in
`record/`; what upload-artifact stored lands in `artifacts/`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT, Workspace

HERE = Path(__file__).parent
REPOSITORY = "cauce-org/cauce"  # what the rehearsals' github.repository is
STAND_INS = {
    "actions/setup-python": HERE / "actions/setup-python",
    "actions/setup-node": HERE / "actions/setup-node",
    "actions/cache": HERE / "actions/cache",
    "actions/upload-artifact": HERE / "actions/upload-artifact",
    "actions/download-artifact": HERE / "actions/download-artifact",
    "actions/create-github-app-token": HERE / "actions/create-github-app-token",
    "docker/setup-buildx-action": HERE / "actions/setup-buildx",
    "docker/login-action": HERE / "actions/docker-login",
    "docker/build-push-action": HERE / "actions/build-push",
    "actions/attest-build-provenance": HERE / "actions/attest-build-provenance",
    "hashicorp/setup-terraform": HERE / "actions/setup-terraform",
}
HANDLED_BY_ACT = {"actions/checkout"}  # act copies the working tree in instead
ANSI = re.compile(r"\x1b\[[0-9;]*m")
USES = re.compile(r"uses:\s*([\w.-]+/[\w.-]+)@([0-9a-f]{40})")


def pinned_actions() -> set[tuple[str, str]]:
    """Every `owner/name@sha` the workflows and the setup action use."""
    files = [*ROOT.glob(".github/workflows/*.yml"), *ROOT.glob(".github/actions/*/action.yml")]
    return {m.groups() for f in files for m in USES.finditer(f.read_text(encoding="utf-8"))}


@dataclass
class Rehearsal:
    result: subprocess.CompletedProcess
    record: Path
    artifacts: Path

    @property
    def output(self) -> str:
        """What act printed, without colour codes."""
        return ANSI.sub("", self.result.stdout + self.result.stderr)

    def cml_calls(self) -> list[dict[str, object]]:
        calls = []
        for folder in sorted(self.record.glob("cml-*")):
            body = folder / "body.md"
            calls.append(
                {
                    "argv": (folder / "argv").read_text(encoding="utf-8").splitlines(),
                    "cwd": (folder / "cwd").read_text(encoding="utf-8").strip(),
                    "body": body.read_text(encoding="utf-8") if body.exists() else None,
                }
            )
        return calls


def rehearse(
    space: Workspace,
    scratch: Path,
    workflow: str,
    event_name: str,
    event: dict,
    job: str | None = None,
    extra_env: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
    variables: dict[str, str] | None = None,
    dvc_cache: Path | None = None,
) -> Rehearsal:
    """Run one workflow (or one job of it) with act in `space`, as GitHub would. With
    `dvc_cache`, the jobs use that DVC cache (a user-level DVC config in their HOME), as a
    runner with a cache restored would; without, each starts with an empty one."""
    record, artifacts, home = scratch / "record", scratch / "artifacts", scratch / "home"
    for folder in (record, artifacts, home):
        folder.mkdir(parents=True, exist_ok=True)
    if dvc_cache is not None:
        (home / ".config/dvc").mkdir(parents=True, exist_ok=True)
        (home / ".config/dvc/config").write_text(f"[cache]\n    dir = {dvc_cache}\n", "utf-8")
    event_file = scratch / "event.json"
    event_file.write_text(json.dumps(event), encoding="utf-8")
    used = {(name, sha) for name, sha in pinned_actions() if name not in HANDLED_BY_ACT}
    unmapped = {name for name, _ in used} - set(STAND_INS)
    assert not unmapped, f"no stand-in for {unmapped}: act would try to reach GitHub"
    mappings = [
        arg
        for name, sha in sorted(used)
        for arg in ("--local-repository", f"{name}@{sha}={STAND_INS[name]}")
    ]
    # act names the repository (github.repository) after a git remote's URL.
    if "github" not in space.run("git", "remote").stdout.split():
        space.run("git", "remote", "add", "github", f"https://github.com/{REPOSITORY}.git")
    command = [
        str(Path(sys.executable).parent / "act"),
        "--remote-name",
        "github",
        event_name,
        "--eventpath",
        str(event_file),
        "--workflows",
        f".github/workflows/{workflow}",
        "--platform",
        "ubuntu-latest=-self-hosted",
        # A job for a launched machine (runs-on: [self-hosted, <its label>]) runs here too.
        "--platform",
        "self-hosted=-self-hosted",
        *(["--job", job] if job else []),
        *mappings,
        *(a for name, value in (secrets or {}).items() for a in ("--secret", f"{name}={value}")),
        *(a for name, value in (variables or {}).items() for a in ("--var", f"{name}={value}")),
    ]
    # The host's caches, so the rehearsal installs from them instead of the network.
    real_home = Path(os.environ.get("HOME", str(Path.home())))
    env = {
        # The job's own .venv, not this one's; and no make of the suite's own (a runner
        # starts a job with no MAKEFLAGS, MAKELEVEL).
        **{
            k: v
            for k, v in space.env.items()
            if k != "PYTHONPATH" and not k.startswith(("MAKE", "MFLAGS"))
        },
        # Stand-ins first, then the interpreter setup-python would provide (the one the
        # tests run on, outside any venv), then the system: not this checkout's .venv.
        "PATH": os.pathsep.join(
            [
                str(HERE / "bin"),
                str(Path(sys.base_prefix) / "bin"),
                "/usr/local/bin",
                "/usr/bin",
                "/bin",
            ]
        ),
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "UV_CACHE_DIR": os.environ.get("UV_CACHE_DIR", str(real_home / ".cache/uv")),
        "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR", str(real_home / ".cache/pip")),
        # Each job's `make setup` makes its own .venv, as on GitHub, with this checkout's uv
        # (not bootstrapped again) and no bytecode compiled ahead: the few modules a job
        # imports compile as they load (space.env lets them write it), where compiling
        # all of them would take 9 s a job.
        "UV": str(ROOT / ".tools/bin/uv"),
        "UV_COMPILE_BYTECODE": "0",
        "CAUCE_RECORD": str(record),
        "CAUCE_ARTIFACTS": str(artifacts),
        **(extra_env or {}),
    }
    result = subprocess.run(
        command,
        cwd=space.path,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
        timeout=1200,
    )
    (scratch / "act.log").write_text(result.stdout + result.stderr, encoding="utf-8")
    return Rehearsal(result, record, artifacts)
