"""Deploying a version: what deploy.yml deploys, the model directory it packages, and
`cauce serve` of a stage.

- `cauce deploy-target` prints `key=value` lines for $GITHUB_OUTPUT: the version, the
  stage, and the image name, from a stage tag or from a dispatch's inputs.
- `cauce package --version v0.2.0` fetches the version's model directory (from the DVC
  cache or remote, or rebuilt from its commit when neither has it), and writes beside it
  its metrics, its model card and the text of its GitHub Release. Everything comes from
  the version itself (its model.json and committed metrics), never from its params.yaml,
  so an old version packages with today's code and schema.
- `cauce serve` serves a stage (resolved through the tags) or a model directory.
"""

from __future__ import annotations

import json
from pathlib import Path

from cauce import CauceError, tools
from cauce.config import Params
from cauce.files import write_json, write_text
from cauce.layout import (
    EVALUATE_METRICS,
    GROUP_METRICS,
    MODEL_CARD,
    MODEL_CARD_PAGE,
    RELEASE_BODY,
    SERVED_MODELS,
    SERVING_INFO,
    SERVING_MODEL,
)
from cauce.ops import registry, revisions


class DeployTargetError(CauceError):
    """The tag or the inputs do not name a registered version and a stage."""


def target(
    params: Params,  # noqa: ARG001 - every cauce command receives the params
    ref: str | None = None,
    version: str | None = None,
    stage: str | None = None,
    repository: str | None = None,
) -> int:
    """`cauce deploy-target`: the version and stage a deploy is for."""
    if ref:
        assigned = registry.check_ref(ref)
        if assigned is None:
            raise DeployTargetError(f"{ref} is not a stage assignment of {registry.MODEL}")
        version, stage = assigned
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


def package(
    params: Params, version: str, out: str = str(SERVING_MODEL), stage: str | None = None
) -> int:
    """`cauce package`: a version's model directory for serving, its card and release text."""
    # Imported here: `cauce serve --model-dir` (the image) needs none of the reporting.
    from cauce.ops.gate import Evidence
    from cauce.ops.model_card import model_card

    name = version.rpartition("@")[2]
    ref = f"{registry.MODEL}@{name}"
    directory = registry.fetch(name, Path(out))
    # The version's own metrics, as committed with it.
    metrics = revisions.read_json(EVALUATE_METRICS, ref) or {}
    groups = revisions.read_json(GROUP_METRICS, ref) or {}
    write_json(directory / SERVING_INFO, {"version": name, "metrics": metrics})
    card = json.loads((directory / MODEL_CARD.name).read_text(encoding="utf-8"))
    page = model_card(card, name, stage or "registered", Evidence("", metrics, groups), params)
    write_text(directory.parent / MODEL_CARD_PAGE, page)
    message = tools.run("git", "tag", "--list", "--format=%(contents)", ref).stdout.strip()
    write_text(directory.parent / RELEASE_BODY, f"## {ref}\n\n{message}\n\n{page}")
    print(f"{ref} → {directory}")
    return 0


def serve(
    params: Params,
    stage: str | None = None,
    model_dir: str | None = None,
    version: str | None = None,
    host: str = "127.0.0.1",
    port: str = "8000",
) -> int:
    """`cauce serve`: the version in `stage` (prod by default), or the model in `model_dir`."""
    from cauce.serving import app

    if model_dir is None:
        stage = stage or registry.PRODUCTION
        ref = registry.production_version(stage)
        if ref is None:
            raise CauceError(f"no version is in stage {stage!r}: run cauce release first")
        version = ref.rpartition("@")[2]
        directory = SERVED_MODELS / version
        if not (directory / SERVING_INFO).exists():
            package(params, version, str(directory), stage)
    else:
        directory = Path(model_dir)
    app.serve(directory, params.serve, host, int(port), version, stage)
    return 0
