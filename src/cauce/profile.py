"""The reference profile: how the training data and the model's scores on it are spread.

The train stage writes it into the model directory (`models/reference.json`), so every
version carries the reference its drift checks compare production data against.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

PROFILE_BINS = 10


def reference_profile(
    features: pd.DataFrame, probability: np.ndarray, categorical: list[str]
) -> dict[str, Any]:
    """Per-feature distribution of `features`, and of the model's scores on them."""
    profile: dict[str, Any] = {}
    for column in features.columns:
        values = features[column]
        entry: dict[str, Any] = {"null_share": float(values.isna().mean())}
        present = values.dropna()
        if column in categorical:
            shares = present.value_counts(normalize=True).sort_index()
            entry |= {
                "kind": "categorical",
                "shares": {str(k): float(v) for k, v in shares.items()},
            }
        else:
            entry |= {"kind": "numeric", **_histogram(present.to_numpy(dtype=float))}
        profile[column] = entry
    return {
        "rows": len(features),
        "features": profile,
        "prediction": _histogram(probability, edges=np.linspace(0, 1, PROFILE_BINS + 1)),
    }


def _histogram(values: np.ndarray, edges: np.ndarray | None = None) -> dict[str, Any]:
    if edges is None:
        edges = np.unique(np.quantile(values, np.linspace(0, 1, PROFILE_BINS + 1)))
    # Open-ended outer bins, so that production values outside the training range count.
    inner = edges[1:-1]
    counts = np.bincount(np.searchsorted(inner, values, side="right"), minlength=len(inner) + 1)
    return {
        "bin_edges": [float(e) for e in edges],
        "bin_shares": [float(c) for c in counts / max(len(values), 1)],
        "mean": float(np.mean(values)) if len(values) else None,
        "std": float(np.std(values)) if len(values) else None,
    }
