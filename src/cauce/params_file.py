"""params.yaml in the form `dvc exp run -S` writes it, written by DVC's own code.

`dvc exp run -S key=value` rewrites the whole file through DVC's YAML round trip (lists
one item a line, null as an empty value, long text re-wrapped). A file already in that
form comes back unchanged but for the value set, so an experiment's params diff in the
PR is one line. Every edit cauce makes (`cauce init`, `cauce train-window`) goes through
the same code, so the file stays in that form: tests/unit/test_params_file.py proves it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from cauce import ConfigError


def in_dvc_form(text: str, overrides: Sequence[str] = ()) -> str:
    """params.yaml's `text` with `overrides` (`-S`'s `key=value`, e.g. `data.seed=7`)
    applied, as `dvc exp run -S` writes it: comments kept."""
    from dvc.exceptions import InvalidArgumentError
    from dvc.utils.hydra import apply_overrides

    with tempfile.TemporaryDirectory(prefix="cauce-params-") as directory:
        path = Path(directory) / "params.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            apply_overrides(path, list(overrides))
        except InvalidArgumentError as error:
            cause = error.__cause__ or error
            raise ConfigError(f"params.yaml: cannot set {', '.join(overrides)}: {cause}") from None
        return path.read_text(encoding="utf-8")
