"""The fast path on every kind of model a fork trains: one row's latency with the fast
form (`FastModel`, from a record as the API gets it) against scikit-learn's pipeline
(`predict_proba` or `predict` of a one-row frame), and the largest difference between the
two over the whole dataset.

The models: the census default, the census with 63-leaf trees (the experiment the docs
propose), and the five datasets the tests bring (tests/datasets.py): binary with text
labels and numbers only, binary 1/2, multiclass, regression, and multiclass with text
categories and missing values. Each is drafted as `cauce init` drafts it and fitted as
the train stage fits it. Rounds are interleaved; medians of the rounds' medians.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from tests.conftest import SOURCE
from tests.datasets import ALL

from benchmarks.common import ROOT, commit, markdown, medians, save
from cauce.artifact import describe_target
from cauce.config import Params, load_params
from cauce.fastpath import FastModel
from cauce.model import predict
from cauce.pipeline.draft import draft
from cauce.pipeline.train import build_pipeline

ROUNDS = 5
CALLS = 200  # one-row calls per round and form
BOUND = 1e-9


def census(leaves: int) -> tuple[str, pd.DataFrame, Params]:
    params = load_params(ROOT / "params.yaml")
    train = params.train.model_copy(
        update={
            "hist_gradient_boosting": params.train.hist_gradient_boosting.model_copy(
                update={"max_leaf_nodes": leaves}
            )
        }
    )
    frame = pd.read_parquet(SOURCE)
    frame = frame[frame["year"] == 2015].dropna(subset=["employed"]).reset_index(drop=True)
    return f"census, {leaves} leaves (binary)", frame, params.model_copy(update={"train": train})


def drafted(make) -> tuple[str, pd.DataFrame, Params]:
    """A dataset's params as `cauce init` would write them."""
    dataset = make()
    params = load_params(ROOT / "params.yaml")
    positive = None if dataset.positive_label is None else str(dataset.positive_label)
    plan = draft(dataset.frame, dataset.name, dataset.target, dataset.task, positive, "id")
    features = params.features.model_copy(update=plan.features)
    return (
        f"{dataset.name} ({dataset.task})",
        dataset.frame,
        params.model_copy(update={"data": plan.data, "features": features}),
    )


def one_row_ms(call, rows: list) -> float:
    started = time.perf_counter()
    for row in rows:
        call(row)
    return (time.perf_counter() - started) / len(rows) * 1000


def measure(name: str, frame: pd.DataFrame, params: Params) -> dict:
    columns = params.features.columns
    target = describe_target(frame[params.data.target], params.data, name, 0.5)
    pipeline = build_pipeline(params).fit(
        frame[columns], target.encode(frame[params.data.target], name)
    )
    fast = FastModel.derive(pipeline, "0" * 64)
    if fast is None:
        raise SystemExit(f"{name}: no fast form")
    gap = float(np.max(np.abs(fast.score(frame) - predict(pipeline, frame[columns]))))
    if gap > BOUND:
        raise SystemExit(f"{name}: the fast form differs from scikit-learn by {gap:.3g}")
    sample = frame[columns].sample(n=CALLS, random_state=0, replace=len(frame) < CALLS)
    records = [
        {c: (None if pd.isna(v) else v) for c, v in record.items()}
        for record in sample.to_dict("records")
    ]
    frames = [sample.iloc[[i]] for i in range(CALLS)]
    rounds = []
    for _ in range(ROUNDS):
        rounds.append(
            {
                "fast_ms": one_row_ms(lambda r: fast.predict(fast.matrix_of_records([r])), records),
                "sklearn_ms": one_row_ms(lambda f: predict(pipeline, f), frames),
            }
        )
    figures = medians(rounds)
    return {"model": name, "rows": len(frame), "max_difference": gap, **figures}


def main() -> int:
    models = [census(31), census(63), *(drafted(make) for make in ALL)]
    results = [measure(*model) for model in models]
    rows = [
        [
            r["model"],
            f"{r['rows']:,}",
            f"{r['fast_ms']:.3f} ms",
            f"{r['sklearn_ms']:.1f} ms",
            f"{r['sklearn_ms'] / r['fast_ms']:.0f}×",
            f"{r['max_difference']:.1e}",
        ]
        for r in results
    ]
    table = markdown(
        ["model", "rows", "one row, fast form", "one row, scikit-learn", "ratio", "largest gap"],
        rows,
    )
    save("tasks", {"versions": {"cauce": commit()}, "models": results}, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
