"""The drift check measured: cauce's against Evidently's data drift preset, on the same
200,000 rows of the embedded source, for time and for what each calls drift.

Two batches, each judged by both against the same reference rows:
- `unchanged`: a random split of the source, so nothing has drifted;
- `older`: the same rows with everyone five years older (AGEP + 5): one feature drifted.

cauce compares a batch with the reference profile the train stage stores (its building
is timed too, once: it happens when a model is trained); Evidently reads the reference
rows themselves, in its own environment. Rounds are interleaved; medians are reported.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmarks.common import ROOT, commit, markdown, medians, peer_python, peer_versions, save
from cauce.config import load_params
from cauce.monitoring import drift
from cauce.profile import reference_profile

ROUNDS = 3
CURRENT_ROWS = 200_000
EVIDENTLY = """
import json, sys, time
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

reference_file, current_file, numeric = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
reference, current = pd.read_parquet(reference_file), pd.read_parquet(current_file)
definition = DataDefinition(
    numerical_columns=numeric,
    categorical_columns=[c for c in reference.columns if c not in numeric],
)
def check():
    return Report([DataDriftPreset()]).run(
        current_data=Dataset.from_pandas(current, data_definition=definition),
        reference_data=Dataset.from_pandas(reference, data_definition=definition),
    )
check()  # warm, as cauce's check is in its process: first-call costs are not the check's
started = time.perf_counter()
report = check()
seconds = time.perf_counter() - started
columns = [m for m in report.dict()["metrics"] if m["config"]["type"].endswith("ValueDrift")]
# Above 1,000 rows the preset uses distances (Wasserstein, Jensen-Shannon): drift when the
# distance reaches the threshold.
assert all("distance" in m["config"]["method"] for m in columns), columns
drifted = [m["config"]["column"] for m in columns if m["value"] >= m["config"]["threshold"]]
print(json.dumps({"seconds": seconds, "drifted": drifted}))
"""


def main() -> int:
    params = load_params()
    features = params.features.columns
    numeric = [*params.features.numeric, *params.features.ordinal]
    shuffled = pd.read_parquet(ROOT / params.data.source)[features].sample(frac=1, random_state=0)
    reference = shuffled.iloc[:-CURRENT_ROWS].reset_index(drop=True)
    unchanged = shuffled.iloc[-CURRENT_ROWS:].reset_index(drop=True)
    batches = {
        "unchanged": unchanged,
        "older": unchanged.assign(AGEP=(unchanged["AGEP"] + 5).clip(upper=99)),
    }
    evidently = peer_python("evidently")
    started = time.perf_counter()
    profile = reference_profile(reference, params.features.categorical)
    profile_seconds = time.perf_counter() - started
    rounds: dict[str, list[dict[str, float]]] = {}
    drifted: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="cauce-bench-drift-") as scratch:
        reference_file = Path(scratch) / "reference.parquet"
        reference.to_parquet(reference_file)
        files = {}
        for name, batch in batches.items():
            files[name] = Path(scratch) / f"{name}.parquet"
            batch.to_parquet(files[name])
        for round_number in range(ROUNDS):
            for name, batch in batches.items():
                started = time.perf_counter()
                findings = drift.compare(profile, batch, params.monitor, params.data.seed)
                seconds = time.perf_counter() - started
                rounds.setdefault(f"cauce {name}", []).append({"seconds": seconds})
                drifted[f"cauce {name}"] = [f.name for f in findings if f.drifted]
                answer = json.loads(
                    subprocess.run(
                        [
                            evidently,
                            "-c",
                            EVIDENTLY,
                            reference_file,
                            files[name],
                            ",".join(numeric),
                        ],
                        capture_output=True,
                        text=True,
                        check=True,
                    ).stdout
                )
                rounds.setdefault(f"evidently {name}", []).append({"seconds": answer["seconds"]})
                drifted[f"evidently {name}"] = answer["drifted"]
            print(f"round {round_number + 1}/{ROUNDS} done", file=sys.stderr)
    seconds = {name: round(medians(r)["seconds"], 3) for name, r in rounds.items()}
    ratios = {
        f"evidently_over_cauce_{name}": round(
            seconds[f"evidently {name}"] / seconds[f"cauce {name}"], 1
        )
        for name in batches
    }
    results = {
        "benchmark": "drift check",
        "rounds": ROUNDS,
        "reference_rows": len(reference),
        "current_rows": CURRENT_ROWS,
        "features": len(features),
        "seconds": seconds,
        "drifted": drifted,
        "cauce_reference_profile_seconds": round(profile_seconds, 3),
        "ratios": ratios,
        "targets": {f"evidently_over_cauce_{name}": 10 for name in batches},
        "versions": {"cauce": commit(), **peer_versions("evidently")},
    }
    save("drift", results, table(results))
    return 0


def table(results: dict) -> str:
    rows = []
    for name in ("unchanged", "older"):
        for tool in ("cauce", "evidently"):
            key = f"{tool} {name}"
            rows.append(
                [
                    name,
                    "cauce" if tool == "cauce" else "Evidently `DataDriftPreset`",
                    f"{results['seconds'][key]:.2f}",
                    ", ".join(results["drifted"][key]) or "none",
                ]
            )
    header = ["batch (200,000 rows × 16 features)", "check", "seconds", "features it calls drifted"]
    checks = [
        [
            f"Evidently / cauce, `{name}`",
            f"{results['ratios'][f'evidently_over_cauce_{name}']}×",
            "≥ 10×",
        ]
        for name in ("unchanged", "older")
    ]
    note = (
        f"cauce's reference profile of the {results['reference_rows']:,} reference rows took "
        f"{results['cauce_reference_profile_seconds']:.2f} s, once, when the model was trained."
    )
    ratio_table = markdown(["figure", "measured", "target"], checks)
    return f"{markdown(header, rows)}\n\n{ratio_table}\n\n{note}"


if __name__ == "__main__":
    sys.exit(main())
