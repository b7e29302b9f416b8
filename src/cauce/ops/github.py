"""What the workflows ask of GitHub, through its CLI `gh` (which reads GH_TOKEN and GH_REPO
from the environment): the Release of a deployed version, and the one open issue per
monitor verdict. In Python rather than in the workflows' shell, so that each branch (a
first release or a redeploy, a new issue or a comment on the open one) is tested.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cauce import tools
from cauce.layout import DRIFT_SUMMARY, MODEL_CARD, MODEL_CARD_PAGE, RELEASE_BODY, SERVING_MODEL
from cauce.ops import registry


@dataclass(frozen=True)
class Published:
    """The GitHub Release of a version: created, or (a redeploy) its title and text updated."""

    tag: str  # model@v0.2.0
    created: bool

    def line(self) -> str:
        return f"GitHub Release {self.tag}: {'created' if self.created else 'updated'}"


def publish_release(version: str, stage: str, directory: Path = SERVING_MODEL) -> Published:
    """The Release of `version`, deployed as `stage`, from what `cauce package` wrote into
    `directory` and beside it: its text, and the model card and model.json as assets.
    A version deployed again (another stage, a rollback) keeps its one Release, retitled."""
    tag = f"{registry.MODEL}@{registry.version_of(version)}"
    title = f"model {registry.version_of(version)} ({stage})"
    notes = str(directory.parent / RELEASE_BODY)
    if tools.run("gh", "release", "view", tag, check=False).returncode == 0:
        tools.run("gh", "release", "edit", tag, "--title", title, "--notes-file", notes)
        return Published(tag, created=False)
    assets = [str(directory.parent / MODEL_CARD_PAGE), str(directory / MODEL_CARD.name)]
    tools.run(
        "gh", "release", "create", tag, "--verify-tag", "--title", title, "--notes-file", notes,
        *assets,
    )  # fmt: skip
    return Published(tag, created=True)


@dataclass(frozen=True)
class Alerted:
    """The issue that tells the team about a verdict: opened, or the open one commented on."""

    number: int
    url: str
    opened: bool

    def line(self) -> str:
        return f"{'opened' if self.opened else 'updated'} issue #{self.number}: {self.url}"


def alert_issue(verdict: str, repository_url: str, report: Path = DRIFT_SUMMARY) -> Alerted:
    """One open issue per verdict (drift, contract-breach), labelled with it: the first
    such run opens it with `report` as its text, later ones comment on it, so a drift that
    lasts a week is one issue with seven comments, not seven issues."""
    tools.run(
        "gh", "label", "create", verdict, "--color", "d73a4a", "--description", "cauce monitor",
        "--force",
    )  # fmt: skip
    listed = tools.run(
        "gh", "issue", "list", "--label", verdict, "--state", "open", "--json", "number",
        "--jq", ".[0].number",
    ).stdout.strip()  # fmt: skip
    if listed:
        tools.run("gh", "issue", "comment", listed, "--body-file", str(report))
        return Alerted(int(listed), f"{repository_url}/issues/{listed}", opened=False)
    title = f"Production data: {verdict}"
    url = tools.run(
        "gh", "issue", "create", "--title", title, "--label", verdict, "--body-file", str(report)
    ).stdout.strip()  # fmt: skip
    number = url.rsplit("/", 1)[-1]
    if not number.isdigit():
        raise tools.ToolError(f"gh issue create printed {url!r}, not the address of an issue")
    return Alerted(int(number), url, opened=True)
