"""The one model artifact: the whole scikit-learn Pipeline, saved with skops (never pickle).

Loading trusts only the types a cauce pipeline is made of; a file that asks for anything
else is refused with the types named, so a tampered or foreign model never executes.
"""

from __future__ import annotations

from pathlib import Path

import skops.io as sio
from sklearn.pipeline import Pipeline

from cauce import CauceError
from cauce.files import write_with

# Types skops does not trust by default but a cauce pipeline needs (checked on load).
TRUSTED_TYPES = frozenset(
    {
        "functools.partial",
        "numpy.dtype",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.utils.validation.check_array",
    }
)


class UntrustedModelError(CauceError):
    """A model file needs types outside the allowlist."""


def save_model(pipeline: Pipeline, path: Path) -> Path:
    return write_with(path, lambda temporary: sio.dump(pipeline, temporary))


def load_model(path: Path) -> Pipeline:
    unexpected = sorted(set(sio.get_untrusted_types(file=path)) - TRUSTED_TYPES)
    if unexpected:
        raise UntrustedModelError(
            f"{path}: refusing to load a model that needs untrusted types: {', '.join(unexpected)}"
        )
    return sio.load(path, trusted=sorted(TRUSTED_TYPES))
