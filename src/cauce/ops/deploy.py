"""`cauce deploy-target`: what deploy.yml deploys, from a stage tag or from its inputs.

Prints `key=value` lines for $GITHUB_OUTPUT: the version, the stage, and the image name.
"""

from __future__ import annotations

import json

from cauce import CauceError
from cauce.config import Params
from cauce.ops import registry


class DeployTargetError(CauceError):
    """The tag or the inputs do not name a registered version and a stage."""


def run(
    params: Params,  # noqa: ARG001 - every cauce command receives the params
    ref: str | None = None,
    version: str | None = None,
    stage: str | None = None,
    repository: str | None = None,
) -> int:
    if ref:
        result = registry.run("gto", "check-ref", ref, "--json", check=False)
        info = json.loads(result.stdout or "{}") if result.returncode == 0 else {}
        if info.get("event") != "assignment" or info.get("artifact") != registry.MODEL:
            raise DeployTargetError(f"{ref} is not a stage assignment of {registry.MODEL}")
        version, stage = info["version"], info["stage"]
    elif not (version and stage):
        raise DeployTargetError("give --ref TAG, or both --version and --stage")
    known = [v.name for v in registry.versions()]
    if version not in known:
        raise DeployTargetError(f"{version} is not a registered version; known: {', '.join(known)}")
    print(f"version={version}")
    print(f"stage={stage}")
    if repository:
        print(f"image=ghcr.io/{repository.lower()}")
    return 0
