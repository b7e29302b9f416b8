"""Deploying a version: what deploy.yml deploys, and the model directory it packages.

- `cauce deploy-target`: the version, the stage, the image name, and whether it is a
  deploy or a rollback, from a stage tag or from a dispatch's inputs (the CLI prints them
  as `key=value` lines for $GITHUB_OUTPUT).
- `cauce package --version v0.2.0` fetches the version's model directory (from the DVC
  cache or remote, or rebuilt from its commit when neither has it), and writes beside it
  its metrics, its model card and the text of its GitHub Release. Everything comes from
  the version itself (its model.json and committed metrics), never from its params.yaml,
  so an old version packages with today's code and schema. `staged` and `packaged` give
  the directory of a stage's or a version's model, packaged on first use (ops/operate.py
  serves, scores and monitors with it).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cauce import UsageError, tools
from cauce.artifact import ModelInfo
from cauce.config import Params
from cauce.files import file_sha256, write_json, write_text
from cauce.layout import (
    EVALUATE_METRICS,
    FAST_MODEL,
    GROUP_METRICS,
    MODEL_CARD,
    MODEL_CARD_PAGE,
    RELEASE_BODY,
    SCORE_PROFILE,
    SERVED_MODELS,
    SERVING_INFO,
    SERVING_MODEL,
)
from cauce.ops import registry, revisions

log = logging.getLogger("cauce")


class DeployTargetError(UsageError):
    """The tag or the inputs do not name a registered version and a stage."""


@dataclass(frozen=True)
class DeployTarget:
    """What a deploy puts where: a version, as a stage, in an image (when one is named)."""

    version: str
    stage: str
    rollback: bool  # an older version than the one that held production before
    repository: str | None = None  # owner/name: the image is ghcr.io/owner/name

    def outputs(self) -> dict[str, str]:
        """As deploy.yml reads it from $GITHUB_OUTPUT."""
        found = {
            "version": self.version,
            "stage": self.stage,
            "event": "rollback" if self.rollback else "deploy",
        }
        if self.repository:
            found |= {
                "image": f"ghcr.io/{self.repository.lower()}",
                "version_tag": image_tag(self.version),
                "stage_tag": image_tag(self.stage),
            }
        return found


@dataclass(frozen=True)
class Packaged:
    """A version's model directory, ready to serve."""

    ref: str  # model@v0.2.0
    directory: Path


def target(
    ref: str | None = None,
    version: str | None = None,
    stage: str | None = None,
    repository: str | None = None,
) -> DeployTarget:
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
        # A tag like model#prod (no number) assigns the commit it tags, which GTO names by sha.
        named = f"{ref} names {version}, which" if ref else version
        listed = ", ".join(known) or "none yet"
        raise DeployTargetError(f"{named} is not a registered version; known: {listed}")
    # A version older than the one that held production before is a rollback.
    before = next((v for v in registry.stage_history(stage) if v != version), None)
    rollback = (
        stage == registry.PRODUCTION
        and before in known
        and known.index(version) < known.index(before)
    )
    return DeployTarget(version, stage, rollback, repository)


def image_tag(name: str) -> str:
    """`name` as an image tag: GTO allows v1.0.0+build and eu/canary, Docker allows neither
    + nor /, so each character outside [A-Za-z0-9_.-] becomes '-'."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)[:128]


def package(
    params: Params, version: str, out: Path = SERVING_MODEL, stage: str | None = None
) -> Packaged:
    """`cauce package`: a version's model directory for serving, its card and release text."""
    # Imported here: `cauce serve --model-dir` (the image) needs none of the reporting.
    from cauce import fastpath
    from cauce.ops.gate import Evidence
    from cauce.ops.model_card import model_card

    name = registry.version_of(version)
    ref = f"{registry.MODEL}@{name}"
    directory = registry.fetch(name, out)
    # The version's own metrics, as committed with it.
    metrics = revisions.read_json(EVALUATE_METRICS, ref) or {}
    groups = revisions.read_json(GROUP_METRICS, ref) or {}
    fast = fastpath.write_beside(directory)
    serving: dict[str, Any] = {"version": name, "metrics": metrics}
    if fast is not None:
        serving["fast_model_sha256"] = file_sha256(directory / FAST_MODEL)
    write_json(directory / SERVING_INFO, serving)
    # The version's scores on its test split: what prediction drift compares with.
    scores = revisions.read_json(SCORE_PROFILE, ref)
    if scores is not None:
        write_json(directory / SCORE_PROFILE.name, scores)
    info = ModelInfo.read(directory / MODEL_CARD.name)
    page = model_card(info, name, stage or "registered", Evidence("", metrics, groups), params)
    write_text(directory.parent / MODEL_CARD_PAGE, page)
    message = tools.run("git", "tag", "--list", "--format=%(contents)", ref).stdout.strip()
    write_text(directory.parent / RELEASE_BODY, f"## {ref}\n\n{message}\n\n{page}")
    return Packaged(ref, directory)


def staged(params: Params, stage: str) -> tuple[str, Path]:
    """The version in `stage` and its packaged directory (packaged on first use)."""
    ref = registry.production_version(stage)
    if ref is None:
        raise UsageError(f"no version is in stage {stage!r}: run cauce release first")
    version = registry.version_of(ref)
    return version, packaged(params, version, stage)


def packaged(params: Params, version: str, stage: str | None = None) -> Path:
    """The version's packaged directory under .cauce/models (packaged on first use)."""
    directory = SERVED_MODELS / version
    if not (directory / SERVING_INFO).exists():
        packaged = package(params, version, directory, stage)
        log.info("%s → %s", packaged.ref, packaged.directory)  # on stderr: stdout is the result
    return directory
