"""The one model artifact: the whole scikit-learn Pipeline, saved with skops (never pickle).

Saving is canonical: the same fitted pipeline gives the same bytes on every run, on any
machine of the platform and at any thread count, so DVC sees the same model and any job
can rebuild exactly what a commit records. Loading trusts only the types a cauce
pipeline is made of; a file that asks for anything else is refused with the types named,
so a tampered or foreign model never executes.

`score` is the one way a model turns a frame into predictions: evaluate, the gate and
the monitor call it with the pipeline, batch scoring with the fast form derived from it
(fastpath.py, checked against the pipeline). The API scores arrays, not frames, with
that same fast form.
"""

from __future__ import annotations

import copy
import io
import json
import zipfile
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.pipeline import Pipeline

from cauce import DataError, ModelFileError
from cauce.files import canonical_zip, write_bytes

# Types skops does not trust by default but a cauce pipeline needs (checked on load).
TRUSTED_TYPES = frozenset(
    {
        "functools.partial",
        "numpy.dtype",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.utils.validation.check_array",
    }
)
SCHEMA = "schema.json"


class UntrustedModelError(ModelFileError):
    """A model file needs types outside the allowlist."""


class Scorer(Protocol):
    """A faster form of a pipeline that serving derives from it (fastpath.FastModel)."""

    columns: tuple[str, ...]

    def score(self, frame: pd.DataFrame) -> np.ndarray: ...  # shaped as model.score says


def canonical_bytes(pipeline: Pipeline) -> bytes:
    """The skops archive of `pipeline`, with nothing in it that depends on when or where.

    skops names array members after Python object ids and dates them now; here they are
    numbered in the order the schema first refers to them, every date is fixed, and the
    members are written in one order. Runtime settings that are not fitted state (the
    thread count the binner was fitted with) are cleared.
    """
    archive = zipfile.ZipFile(io.BytesIO(sio.dumps(_without_runtime_settings(pipeline))))
    schema = json.loads(archive.read(SCHEMA))
    names: dict[str, str] = {}
    ids: dict[int, int] = {}

    def renumber(node: Any) -> Any:
        if isinstance(node, list):
            return [renumber(item) for item in node]
        if not isinstance(node, dict):
            return node
        renamed = {}
        for key, value in node.items():
            if key == "__id__":
                value = ids.setdefault(value, len(ids))
            elif key == "file" and isinstance(value, str):
                suffix = Path(value).suffix
                value = names.setdefault(value, f"{len(names)}{suffix}")
            renamed[key] = renumber(value)
        return renamed

    schema = renumber(schema)
    members = {SCHEMA: json.dumps(schema, indent=2).encode()}
    members |= {new: archive.read(old) for old, new in names.items()}
    return canonical_zip(members)


def _without_runtime_settings(pipeline: Pipeline) -> Pipeline:
    estimator = pipeline[-1]
    binner = getattr(estimator, "_bin_mapper", None)
    if binner is None or binner.n_threads is None:
        return pipeline
    # HistGradientBoosting records the thread count it was fitted with; None means "as
    # many as there are" wherever the model runs, and the bins are the same either way.
    cleared = copy.deepcopy(pipeline)
    cleared[-1]._bin_mapper.n_threads = None
    return cleared


def save_model(pipeline: Pipeline, path: Path) -> Path:
    return write_bytes(path, canonical_bytes(pipeline))


def load_model(path: Path) -> Pipeline:
    """The fitted pipeline in the skops file `path`; anything else is a ModelFileError."""
    try:
        unexpected = sorted(set(sio.get_untrusted_types(file=path)) - TRUSTED_TYPES)
        if unexpected:
            raise UntrustedModelError(
                f"{path}: refusing to load a model that needs untrusted types: "
                + ", ".join(unexpected)
            )
        model = sio.load(path, trusted=sorted(TRUSTED_TYPES))
    except FileNotFoundError:
        raise ModelFileError(f"{path}: not found") from None
    except (zipfile.BadZipFile, KeyError, ValueError) as error:  # truncated, not skops, damaged
        raise ModelFileError(f"{path}: not a readable skops model file: {error}") from None
    if not isinstance(model, Pipeline):
        kind = type(model).__name__
        raise ModelFileError(f"{path}: holds a {kind}, not a scikit-learn Pipeline")
    return model


def score(model: Pipeline | Scorer, frame: pd.DataFrame) -> np.ndarray:
    """What the model predicts for each row of `frame`, shaped by its task (metrics.py):
    the positive label's probability (binary), a probability per class (multiclass, rows ×
    classes) or the value (regression).

    The model picks the columns it was trained on, so a champion trained on other
    features can be scored on the same frame; a column it needs and `frame` lacks is named.
    Batch scoring passes the fast form it derived from the pipeline (fastpath.py).
    """
    pipeline = model if isinstance(model, Pipeline) else None
    columns = list(model.columns if pipeline is None else pipeline.feature_names_in_)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"the data lacks columns the model needs: {', '.join(missing)}")
    if pipeline is not None:
        return predict(pipeline, frame[columns])
    return model.score(frame)


def predict(pipeline: Pipeline, frame: pd.DataFrame) -> np.ndarray:
    """The pipeline's answer for `frame` (in its own columns), shaped as `score` says."""
    if not hasattr(pipeline, "predict_proba"):  # a regressor
        return pipeline.predict(frame).astype(np.float64)
    probability = pipeline.predict_proba(frame)
    return probability[:, 1] if probability.shape[1] == 2 else probability
