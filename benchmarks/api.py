"""The prediction API measured: `cauce serve` against `mlflow models serve` of the same
fitted pipeline (saved with `mlflow.sklearn.save_model`, skops format, `predict_proba`),
and against that pipeline's `predict_proba` in this process.

- one row: p50 and p99 of sequential requests on a kept-alive connection (in process:
  `predict_proba` of a one-row frame);
- 1,000-row requests: rows per second;
- start to ready: from starting the process to the first 200 of /ready (cauce, from a
  packaged model directory, as the image starts) or /ping (MLflow).

Both servers run one uvicorn worker on 127.0.0.1 and answer the same rows; their answers
are checked against `predict_proba` before anything is timed. Rounds are interleaved.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from benchmarks.common import (
    ROOT,
    commit,
    markdown,
    medians,
    peer_python,
    peer_versions,
    percentile,
    save,
)
from cauce.config import load_params
from cauce.fastpath import write_beside
from cauce.files import file_sha256, write_json
from cauce.layout import FAST_MODEL, MODEL_CARD, MODEL_FILE, SERVING_INFO
from cauce.model import load_model

ROUNDS = 3
ONE_ROW_REQUESTS = 300  # per round
BATCH_REQUESTS = 15  # of 1,000 rows, per round
STARTS = 3
READY_WITHIN = 120  # seconds: a server not ready by then has failed
CAUCE = Path(sys.executable).parent / "cauce"
QUIET = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}
SAVE_MLFLOW_MODEL = """
import sys, mlflow.sklearn, skops.io as sio
source, target = sys.argv[1:]
trusted = sio.get_untrusted_types(file=source)
mlflow.sklearn.save_model(
    sio.load(source, trusted=trusted), target, serialization_format="skops",
    skops_trusted_types=trusted, pyfunc_predict_fn="predict_proba",
)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def server(
    command: list[str], ready: str, env: dict[str, str], cwd: Path | None = None
) -> Iterator[tuple[str, float, subprocess.Popen]]:
    """A started server: its address, the seconds from start to the first 200 of `ready`,
    and its process (the leader of its own session). Stopped, with its children, at the end."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # Its output goes to a file, read only when it fails: a pipe could fill and block it.
    with tempfile.TemporaryFile() as log, httpx.Client(base_url=url, timeout=5) as client:
        started = time.perf_counter()
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            while not answers(client, ready):
                waited = time.perf_counter() - started
                if process.poll() is not None or waited > READY_WITHIN:
                    log.seek(0)
                    output = log.read().decode(errors="replace")[-3000:]
                    raise SystemExit(f"{command[0]} not ready after {waited:.0f} s:\n{output}")
                time.sleep(0.02)
            yield url, time.perf_counter() - started, process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def answers(client: httpx.Client, route: str) -> bool:
    try:
        return client.get(route).status_code == 200
    except httpx.TransportError:
        return False


def servers(cauce_model: Path, mlflow_model: Path, mlflow_python: Path) -> dict[str, tuple]:
    """How to start each server: the command, its readiness route and its environment."""
    mlflow = mlflow_python.parent / "mlflow"
    peer_path = {"PATH": f"{mlflow_python.parent}{os.pathsep}{os.environ['PATH']}"}
    return {
        "cauce": (
            [str(CAUCE), "serve", "--model-dir", str(cauce_model)],
            "/ready",
            dict(os.environ),
        ),
        "mlflow": (
            [
                str(mlflow),
                "models",
                "serve",
                "-m",
                str(mlflow_model),
                "--env-manager",
                "local",
                "-h",
                "127.0.0.1",
                "-w",
                "1",
            ],
            "/ping",
            {**os.environ, **QUIET, **peer_path},
        ),
    }


def payload(name: str, records: list[dict]) -> bytes:
    body = {"records": records} if name == "cauce" else {"dataframe_records": records}
    return json.dumps(body).encode()


def probabilities(name: str, answer: dict) -> np.ndarray:
    if name == "cauce":
        return np.array([p["probability"] for p in answer["predictions"]])
    return np.array([p[1] for p in answer["predictions"]])


def main() -> int:
    params = load_params()
    columns = params.features.columns
    source = pd.read_parquet(ROOT / params.data.source)
    rows = source[columns].sample(n=1_000, random_state=0).reset_index(drop=True)
    records = json.loads(rows.to_json(orient="records"))
    pipeline = load_model(ROOT / MODEL_FILE)
    expected = pipeline.predict_proba(rows)[:, 1]
    mlflow_python = peer_python("mlflow")
    with tempfile.TemporaryDirectory(prefix="cauce-bench-api-") as scratch:
        cauce_model = package(Path(scratch) / "cauce")
        mlflow_model = Path(scratch) / "mlflow"
        subprocess.run(
            [mlflow_python, "-c", SAVE_MLFLOW_MODEL, ROOT / MODEL_FILE, mlflow_model],
            env={**os.environ, **QUIET},
            check=True,
            capture_output=True,
        )
        how = servers(cauce_model, mlflow_model, mlflow_python)
        starts: dict[str, list[float]] = {name: [] for name in how}
        for attempt in range(STARTS):
            for name, (command, ready, env) in how.items():
                with server(command, ready, env) as (_, seconds, _):
                    starts[name].append(seconds)
            print(f"start {attempt + 1}/{STARTS} done", file=sys.stderr)
        with (
            server(*how["cauce"]) as (cauce_url, _, _),
            server(*how["mlflow"]) as (mlflow_url, _, _),
            httpx.Client(timeout=60) as client,
        ):
            urls = {"cauce": f"{cauce_url}/v1/predict", "mlflow": f"{mlflow_url}/invocations"}
            gaps = {}
            for name, url in urls.items():
                answer = client.post(url, content=payload(name, records), headers=JSON)
                answer.raise_for_status()
                gaps[name] = float(np.max(np.abs(probabilities(name, answer.json()) - expected)))
            single, batches = measure(client, urls, pipeline, rows, records)
    figures = summarise(single, batches, starts)
    ratios = {
        "one_row_p50_mlflow_over_cauce": figures["mlflow"]["one_row_p50_ms"]
        / figures["cauce"]["one_row_p50_ms"],
        "rows_per_second_cauce_over_in_process": figures["cauce"]["rows_per_second"]
        / figures["in_process"]["rows_per_second"],
        "rows_per_second_cauce_over_mlflow": figures["cauce"]["rows_per_second"]
        / figures["mlflow"]["rows_per_second"],
    }
    results = {
        "benchmark": "prediction API",
        "rounds": ROUNDS,
        "one_row_requests": ONE_ROW_REQUESTS * ROUNDS,
        "batch_requests": BATCH_REQUESTS * ROUNDS,
        "figures": figures,
        "ratios": {k: round(v, 2) for k, v in ratios.items()},
        "max_abs_difference_from_predict_proba": gaps,
        "targets": {
            "cauce_one_row_p50_ms": 3,
            "one_row_p50_mlflow_over_cauce": 10,
            "rows_per_second_cauce_over_in_process": 0.9,
            "rows_per_second_cauce_over_mlflow": 2,
            "cauce_start_to_ready_seconds": 3,
        },
        "versions": {"cauce": commit(), **peer_versions("mlflow")},
    }
    save("api", results, table(figures, results["ratios"], gaps))
    return 0


JSON = {"content-type": "application/json"}


def package(directory: Path) -> Path:
    """The model directory as `cauce package` writes it for the image: the model, its
    card, its fast form and the record of that form's hash."""
    directory.mkdir(parents=True)
    for name in (MODEL_FILE, MODEL_CARD):
        shutil.copy(ROOT / name, directory / name.name)
    if write_beside(directory) is None:
        raise SystemExit("this model has no fast form: the benchmark measures scikit-learn")
    info = {"version": commit(), "fast_model_sha256": file_sha256(directory / FAST_MODEL)}
    write_json(directory / SERVING_INFO, info)
    return directory


def measure(client, urls, pipeline, rows, records):
    """Interleaved rounds: one-row latencies (seconds) and 1,000-row throughputs (rows/s)."""
    single: dict[str, list[float]] = {name: [] for name in ("in_process", *urls)}
    batches: dict[str, list[dict[str, float]]] = {name: [] for name in single}
    bodies = {
        name: [payload(name, [records[i % len(records)]]) for i in range(ONE_ROW_REQUESTS)]
        for name in urls
    }
    full = {name: payload(name, records) for name in urls}
    for round_number in range(ROUNDS):
        for i in range(ONE_ROW_REQUESTS):
            one = rows.iloc[[i % len(rows)]]
            started = time.perf_counter()
            pipeline.predict_proba(one)
            single["in_process"].append(time.perf_counter() - started)
        started = time.perf_counter()
        for _ in range(BATCH_REQUESTS):
            pipeline.predict_proba(rows)
        batches["in_process"].append(rate(started))
        for name, url in urls.items():
            for body in bodies[name]:
                started = time.perf_counter()
                client.post(url, content=body, headers=JSON).raise_for_status()
                single[name].append(time.perf_counter() - started)
            started = time.perf_counter()
            for _ in range(BATCH_REQUESTS):
                client.post(url, content=full[name], headers=JSON).raise_for_status()
            batches[name].append(rate(started))
        print(f"round {round_number + 1}/{ROUNDS} done", file=sys.stderr)
    return single, batches


def rate(started: float) -> dict[str, float]:
    return {"rows_per_second": BATCH_REQUESTS * 1_000 / (time.perf_counter() - started)}


def summarise(single, batches, starts) -> dict[str, dict[str, float]]:
    figures = {}
    for name, latencies in single.items():
        figures[name] = {
            "one_row_p50_ms": round(percentile(latencies, 0.5) * 1e3, 3),
            "one_row_p99_ms": round(percentile(latencies, 0.99) * 1e3, 3),
            "rows_per_second": round(medians(batches[name])["rows_per_second"]),
        }
        if name in starts:
            figures[name]["start_to_ready_s"] = round(
                medians([{"s": s} for s in starts[name]])["s"], 2
            )
    return figures


def table(figures, ratios, gaps) -> str:
    names = {
        "in_process": "`predict_proba` in process",
        "cauce": "`cauce serve`",
        "mlflow": "`mlflow models serve`",
    }
    rows = [
        [
            names[name],
            f"{f['one_row_p50_ms']:.2f}",
            f"{f['one_row_p99_ms']:.2f}",
            f"{f['rows_per_second']:,}",
            f"{f['start_to_ready_s']:.1f}" if "start_to_ready_s" in f else "",
            f"{gaps[name]:.1e}" if name in gaps else "",
        ]
        for name, f in figures.items()
    ]
    header = [
        "",
        "one row p50 ms",
        "p99 ms",
        "1,000-row requests: rows/s",
        "start to ready s",
        "max abs diff from predict_proba",
    ]
    checks = [
        ["`cauce serve` one row, p50", f"{figures['cauce']['one_row_p50_ms']:.2f} ms", "≤ 3 ms"],
        ["MLflow p50 / cauce p50", f"{ratios['one_row_p50_mlflow_over_cauce']:.1f}×", "≥ 10×"],
        [
            "cauce rows/s / in process",
            f"{ratios['rows_per_second_cauce_over_in_process']:.2f}×",
            "≥ 0.9×",
        ],
        ["cauce rows/s / MLflow", f"{ratios['rows_per_second_cauce_over_mlflow']:.1f}×", "≥ 2×"],
        ["cauce start to ready", f"{figures['cauce']['start_to_ready_s']:.1f} s", "≤ 3 s"],
    ]
    return markdown(header, rows) + "\n\n" + markdown(["figure", "measured", "target"], checks)


if __name__ == "__main__":
    sys.exit(main())
