"""The outputs of the commit checked out, after every `git switch`, `git checkout` and
`git merge` (the post-checkout and post-merge hooks: `make hooks`).

`dvc checkout`, which DVC's own hook runs, deletes an output whose new version is not in
the cache, fails, and so leaves the workspace worse than it found it (and git reports its
own operation as failed). This hook never does: it fetches what the DVC remote has, checks
out every output whose version is then in the cache, and keeps the others as they were,
naming them with the one command that brings them (`make outputs`: pulled, or rebuilt and
verified). It exits 0 whatever happens: git's checkout or merge did succeed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from cauce import tools

# What pre-commit passes a post-checkout hook: "1" for a branch checkout, "0" for files.
CHECKOUT_TYPE = "PRE_COMMIT_CHECKOUT_TYPE"


@dataclass
class Restored:
    """What the hook did to the outputs the checked-out dvc.lock records."""

    updated: list[str] = field(default_factory=list)  # checked out anew
    current: list[str] = field(default_factory=list)  # already what dvc.lock records
    missing: list[str] = field(default_factory=list)  # in neither cache nor remote: kept
    unsaved: list[str] = field(default_factory=list)  # changed here, not cached: kept
    fetched: bool = False  # the remote was asked for the missing ones
    problem: str | None = None  # why something could not be done

    def lines(self) -> list[str]:
        said = []
        if self.updated:
            said.append(f"outputs checked out from the DVC cache: {', '.join(self.updated)}")
        if self.missing:
            where = "the DVC cache or remote" if self.fetched else "the DVC cache (no remote)"
            said.append(
                f"not in {where}, so left as they were: {', '.join(self.missing)}; "
                "bring them with: make outputs"
            )
        if self.unsaved:
            said.append(
                f"changed here and not in the cache, so kept: {', '.join(self.unsaved)} "
                "(dvc commit keeps the change; dvc checkout --force drops it)"
            )
        if self.problem:
            said.append(self.problem)
        return said


def restore(root: Path = Path()) -> Restored:
    """Bring every output that `root`'s dvc.lock records, from the cache or the remote;
    keep what cannot be brought."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    found = Restored()
    with Repo(str(root)) as repo:
        outputs = [out for stage in repo.index.stages for out in stage.outs if out.use_cache]
        missing = [out for out in outputs if out.changed_cache()]
        if missing and repo.config["core"].get("remote"):
            found.fetched = True
            try:
                repo.fetch(targets=[out.def_path for out in missing])
            except DvcException as error:
                found.problem = f"dvc fetch from the remote failed: {error}"
            missing = [out for out in missing if out.changed_cache()]
        found.missing = [out.def_path for out in missing]
        for out in outputs:
            if out in missing:
                continue
            if not out.workspace_status():
                found.current.append(out.def_path)
                continue
            try:
                repo.checkout(targets=[out.def_path])
                found.updated.append(out.def_path)
            except DvcException as error:  # an unsaved change DVC will not delete
                if "unsaved" in str(error):
                    found.unsaved.append(out.def_path)
                else:
                    found.problem = f"dvc checkout {out.def_path} failed: {error}"
    return found


def git_hook(hook: str) -> Restored | None:
    """What `hook` (post-checkout or post-merge) does here; None when it has nothing to do:
    a checkout of files, not of a commit, or a step of a rebase (outputs follow at its end)."""
    if hook == "post-checkout" and os.environ.get(CHECKOUT_TYPE) == "0":
        return None
    for state in ("rebase-merge", "rebase-apply"):
        if Path(tools.run("git", "rev-parse", "--git-path", state).stdout.strip()).exists():
            return None
    return restore()


def hook(hook: str) -> list[str]:
    """`cauce git-hook --hook post-checkout|post-merge`: what happened to the outputs, as
    lines to show. It never raises (a hook that fails would report git's own, successful,
    work as failed)."""
    try:
        found = git_hook(hook)
    except Exception as error:
        found = Restored(problem=f"the outputs were left as they were: {error}")
    return [] if found is None else found.lines()
