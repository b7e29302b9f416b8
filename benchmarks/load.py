"""`cauce serve` under load: concurrent clients on 127.0.0.1 for a bounded time, sending
the mix a public endpoint gets, with every answer checked.

The server runs from a packaged model directory (as the image runs it). The clients
(asyncio and httpx, one kept-alive connection each, in this process) pick a kind of
request at random by the weights in MIX:

- valid: 1 record or 100 records, built from the model's input schema (GET /v1/model),
  every record different, so every answer is different;
- invalid: a wrong type (422) and a body that is not JSON (400);
- oversized: serve.max_rows + 1 records (413) and a body over serve.max_body_bytes (413);
- a scanner: a path never seen before (404), each time a new one.

Every payload is sent once, sequentially, before the load: that answer (status and body)
is the one expected of it under load, byte for byte, so a lost, truncated or mixed-up
answer is caught, and a valid one carries one prediction per record. The server's RSS
(summed over its processes) is read from /proc every second.

Checks, any failing of which makes the exit status 1: no 5xx and no transport error; each
answer has the status its kind expects and the body the sequential pass got; the RSS grows
by at most MEMORY_SLACK_MIB over the second half of the run; /metrics holds a bounded set
of path labels however many unknown paths were tried.

With `--workers 1` the server is `cauce serve`; with more, uvicorn itself with that many
workers, each building the same app from `app_from_environment`, to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

# Not benchmarks.api at import: this module is also the factory each worker imports, and
# that one imports pandas and scikit-learn.
from benchmarks.common import ROOT, commit, machine, markdown, percentile, save
from cauce.files import write_json

# kind: (weight, the status it must get)
MIX = {
    "one_record": (50, 200),
    "hundred_records": (20, 200),
    "wrong_type": (8, 422),
    "not_json": (7, 400),
    "too_many_rows": (5, 413),
    "body_too_large": (5, 413),
    "unknown_path": (5, 404),
}
VALID = ("one_record", "hundred_records")
POOL = {"one_record": 100, "hundred_records": 20, "wrong_type": 20, "not_json": 20}
MEMORY_SLACK_MIB = 8.0  # RSS growth allowed over the second half of the run
MODEL_DIR = "CAUCE_LOAD_MODEL_DIR"  # where app_from_environment finds the model
JSON = {"content-type": "application/json"}


def app_from_environment():
    """The app `cauce serve` serves, for uvicorn's --factory: what each of several workers
    builds for itself."""
    from cauce.config import load_params
    from cauce.serving.app import create_app
    from cauce.serving.served import ServedModel

    served = ServedModel.from_directory(Path(os.environ[MODEL_DIR]))
    return create_app(served, load_params().serve)


@dataclass
class Request:
    kind: str
    path: str
    body: bytes
    status: int = 0  # what the sequential pass got
    answer: bytes = b""
    records: int = 0


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    unexpected_status: int = 0
    wrong_answer: int = 0
    transport_errors: Counter = field(default_factory=Counter)


def records(schema: list[dict[str, Any]], rng: random.Random, count: int) -> list[dict]:
    """`count` records every rule of the schema accepts, drawn at random: allowed codes,
    whole numbers within the bounds of an integer column, reals within a number's."""
    drawn = []
    for _ in range(count):
        record: dict[str, Any] = {}
        for column in schema:
            low, high = column.get("min", 0), column.get("max", 100)
            if column.get("allowed"):
                record[column["name"]] = rng.choice(column["allowed"])
            elif column["type"] == "integer":
                record[column["name"]] = rng.randint(int(low), int(high))
            else:
                record[column["name"]] = rng.uniform(low, high)
        drawn.append(record)
    return drawn


def requests(model: dict[str, Any]) -> dict[str, list[Request]]:
    """The payloads of each kind (an unknown path is made anew at each request)."""
    schema, limits = model["input_schema"], model["limits"]
    rng = random.Random(0)  # noqa: S311 - a reproducible mix, not a secret
    integer = next(c["name"] for c in schema if c["type"] == "integer")

    def predict(kind: str, body: bytes, count: int = 0) -> Request:
        return Request(kind, "/v1/predict", body, records=count)

    def batch(count: int) -> bytes:
        return orjson.dumps({"records": records(schema, rng, count)})

    return {
        "one_record": [predict("one_record", batch(1), 1) for _ in range(POOL["one_record"])],
        "hundred_records": [
            predict("hundred_records", batch(100), 100) for _ in range(POOL["hundred_records"])
        ],
        "wrong_type": [
            predict(
                "wrong_type",
                orjson.dumps({"records": [r | {integer: str(r[integer])}]}),
            )
            for r in records(schema, rng, POOL["wrong_type"])
        ],
        "not_json": [
            predict("not_json", f"not json, number {i}".encode()) for i in range(POOL["not_json"])
        ],
        "too_many_rows": [predict("too_many_rows", batch(limits["max_rows"] + 1))],
        "body_too_large": [predict("body_too_large", b" " * (limits["max_body_bytes"] + 1))],
        "unknown_path": [Request("unknown_path", "/scan/0", b"")],
    }


async def send(client: httpx.AsyncClient, request: Request, path: str) -> httpx.Response:
    if request.kind == "unknown_path":
        return await client.get(path)
    return await client.post(path, content=request.body, headers=JSON)


async def expect(client: httpx.AsyncClient, run: Run) -> list[str]:
    """The sequential pass: each payload's answer, and what is wrong with them, if anything
    (a status not the kind's, a prediction count not the record count, two valid payloads
    with the same answer)."""
    problems = []
    for kind, payloads in run.pool.items():
        for request in payloads:
            answer = await send(client, request, run.url + request.path)
            request.status, request.answer = answer.status_code, answer.content
            if request.status != MIX[kind][1]:
                problems.append(f"{kind}: {request.status}, not {MIX[kind][1]}: {answer.text}")
            elif kind in VALID and len(answer.json()["predictions"]) != request.records:
                problems.append(f"{kind}: {len(answer.json()['predictions'])} predictions")
        if kind in VALID and len({r.answer for r in payloads}) != len(payloads):
            problems.append(f"{kind}: two payloads got the same answer: a mix-up would hide")
    return problems


def group(leader: int) -> list[int]:
    """The processes of the server's session (it was started as its own session)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rpartition(")")[2].split()
            if int(fields[3]) == leader:  # field 6 of stat: the session id
                members.append(int(entry.name))
    return members


def rss_mib(leader: int) -> float:
    total = 0
    for pid in group(leader):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        total += int(match.group(1)) if match else 0
    return total / 1024


def cpu_seconds(leader: int) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in group(leader):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


@contextmanager
def server(model_dir: Path, workers: int) -> Iterator[tuple[str, subprocess.Popen]]:
    """`cauce serve` (one worker) or uvicorn with `workers`, ready; its address and process.
    Stopped, with its children, at the end."""
    from benchmarks import api

    if workers == 1:
        command = [str(api.CAUCE), "serve", "--model-dir", str(model_dir)]
    else:
        factory = "benchmarks.load:app_from_environment"
        command = [sys.executable, "-m", "uvicorn", "--factory", factory]
        command += ["--workers", str(workers), "--host", "127.0.0.1"]
    env = {**os.environ, MODEL_DIR: str(model_dir)}
    with api.server(command, "/ready", env, cwd=ROOT) as (url, _, process):
        yield url, process


@dataclass
class Run:
    """One server under load, slice after slice: what its clients saw, and its RSS."""

    url: str
    leader: int  # the server's process (group) id
    pool: dict[str, list[Request]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    tallies: dict[str, Tally] = field(default_factory=lambda: {kind: Tally() for kind in MIX})
    samples: list[tuple[float, float]] = field(default_factory=list)  # (seconds under load, MiB)
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=lambda: {"server": 0.0, "clients": 0.0})
    sent: int = 0
    metrics: str = ""


async def prepare(client: httpx.AsyncClient, run: Run) -> None:
    """The payloads, from the served model's schema and limits, and the sequential pass."""
    model = (await client.get(f"{run.url}/v1/model")).json()
    run.pool = requests(model)
    run.problems = await expect(client, run)


async def load(client: httpx.AsyncClient, run: Run, clients: int, duration: float) -> None:
    """`clients` clients on `run`'s server for `duration` seconds."""
    kinds, weights = list(MIX), [weight for weight, _ in MIX.values()]
    started = time.perf_counter()
    deadline = started + duration
    offset = run.seconds

    async def one_client(number: int) -> None:
        rng = random.Random(run.sent + number)  # noqa: S311
        sent = 0
        while time.perf_counter() < deadline:
            kind = rng.choices(kinds, weights)[0]
            request = rng.choice(run.pool[kind])
            expected = request.answer
            path = request.path
            if kind == "unknown_path":  # a new one each time, as a scanner's
                path = f"/scan/{run.sent + number}-{sent}/wp-login.php"
            sent += 1
            tally = run.tallies[kind]
            began = time.perf_counter()
            try:
                answer = await send(client, request, run.url + path)
            except httpx.TransportError as error:
                tally.transport_errors[type(error).__name__] += 1
                continue
            tally.latencies.append(time.perf_counter() - began)
            tally.statuses[answer.status_code] += 1
            if answer.status_code != MIX[kind][1]:
                tally.unexpected_status += 1
            elif answer.content != expected:
                tally.wrong_answer += 1

    async def sample() -> None:
        while True:
            run.samples.append((offset + time.perf_counter() - started, rss_mib(run.leader)))
            await asyncio.sleep(1)

    cpu_before, client_cpu_before = cpu_seconds(run.leader), time.process_time()
    sampler = asyncio.create_task(sample())
    await asyncio.gather(*(one_client(n) for n in range(clients)))
    sampler.cancel()
    elapsed = time.perf_counter() - started
    run.samples.append((offset + elapsed, rss_mib(run.leader)))
    run.seconds += elapsed
    run.sent += clients * 1_000_000  # the next slice's clients draw other numbers
    run.cpu["server"] += cpu_seconds(run.leader) - cpu_before
    run.cpu["clients"] += time.process_time() - client_cpu_before


async def measure(
    servers: dict[str, Run], clients: int, duration: float, rounds: int
) -> dict[str, dict[str, Any]]:
    """The sequential pass on each server, then `rounds` rounds in which each server in
    turn gets the clients for duration / rounds seconds (the machine is shared: its noise
    falls on every server alike). The figures of each server, and its checks."""
    limits = httpx.Limits(max_connections=clients + 1, max_keepalive_connections=clients + 1)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        for run in servers.values():
            await prepare(client, run)
        for round_number in range(rounds):
            for run in servers.values():
                await load(client, run, clients, duration / rounds)
            print(f"round {round_number + 1}/{rounds} done", file=sys.stderr)
        for run in servers.values():
            run.metrics = (await client.get(f"{run.url}/metrics")).text
    return {name: summarise(run) for name, run in servers.items()}


def summarise(run: Run) -> dict[str, Any]:
    tallies, pool, samples, elapsed = run.tallies, run.pool, run.samples, run.seconds
    kinds = {}
    for kind, tally in tallies.items():
        latencies = tally.latencies or [float("nan")]
        kinds[kind] = {
            "requests": len(tally.latencies) + sum(tally.transport_errors.values()),
            "p50_ms": round(percentile(latencies, 0.5) * 1e3, 2),
            "p95_ms": round(percentile(latencies, 0.95) * 1e3, 2),
            "p99_ms": round(percentile(latencies, 0.99) * 1e3, 2),
            "statuses": {str(s): n for s, n in sorted(tally.statuses.items())},
            "unexpected_status": tally.unexpected_status,
            "wrong_answer": tally.wrong_answer,
            "transport_errors": dict(tally.transport_errors),
        }
    answered = sum(len(t.latencies) for t in tallies.values())
    scored = sum(len(tallies[k].latencies) * pool[k][0].records for k in VALID)
    half = next(rss for at, rss in samples if at >= elapsed / 2)
    rss = {
        "start": round(samples[0][1], 1),
        "peak": round(max(r for _, r in samples), 1),
        "end": round(samples[-1][1], 1),
        "second_half_growth": round(samples[-1][1] - half, 1),
    }
    paths = sorted(set(re.findall(r'^cauce_requests_total\{path="([^"]*)"', run.metrics, re.M)))
    fivexx = sum(n for t in tallies.values() for s, n in t.statuses.items() if s >= 500)
    checks = {
        "sequential_pass": not run.problems,
        "no_5xx": fivexx == 0,
        "no_transport_error": all(not t.transport_errors for t in tallies.values()),
        "expected_statuses": all(t.unexpected_status == 0 for t in tallies.values()),
        "answers_match_sequential_pass": all(t.wrong_answer == 0 for t in tallies.values()),
        "memory_stable": rss["second_half_growth"] <= MEMORY_SLACK_MIB,
        "metrics_paths_bounded": len(paths) <= 10 and not any("/scan/" in p for p in paths),
    }
    return {
        "seconds": round(elapsed, 1),
        "requests": answered,
        "requests_per_second": round(answered / elapsed, 1),
        "records_scored_per_second": round(scored / elapsed),
        "server_5xx": fivexx,
        "kinds": kinds,
        "rss_mib": rss,
        "rss_samples_mib": [round(r, 1) for _, r in samples],
        "cpu_seconds": {k: round(v, 1) for k, v in run.cpu.items()},
        "server_cpu_ms_per_request": round(run.cpu["server"] / max(answered, 1) * 1e3, 2),
        "metrics_path_labels": paths,
        "problems_in_sequential_pass": run.problems,
        "checks": checks,
    }


def table(runs: dict[str, dict[str, Any]]) -> str:
    header = ["server", "kind", "requests", "p50 ms", "p95 ms", "p99 ms", "statuses"]
    rows = []
    for name, run in runs.items():
        for kind, figures in run["kinds"].items():
            statuses = ", ".join(f"{s}: {n:,}" for s, n in figures["statuses"].items())
            rows.append(
                [
                    name,
                    kind.replace("_", " "),
                    f"{figures['requests']:,}",
                    f"{figures['p50_ms']:.1f}",
                    f"{figures['p95_ms']:.1f}",
                    f"{figures['p99_ms']:.1f}",
                    statuses,
                ]
            )
    totals = [
        [
            name,
            f"{run['requests_per_second']:,.0f}",
            f"{run['records_scored_per_second']:,}",
            f"{run['server_5xx']}",
            f"{run['rss_mib']['start']:.0f} / {run['rss_mib']['peak']:.0f} / "
            f"{run['rss_mib']['end']:.0f}",
            f"{run['rss_mib']['second_half_growth']:+.1f}",
            f"{run['cpu_seconds']['server']:.0f} / {run['cpu_seconds']['clients']:.0f}",
            f"{run['server_cpu_ms_per_request']:.1f}",
            "all pass" if all(run["checks"].values()) else "FAILED: " + failed(run),
        ]
        for name, run in runs.items()
    ]
    totals_header = [
        "server",
        "requests/s",
        "records scored/s",
        "5xx",
        "RSS MiB start / peak / end",
        "second half",
        "CPU s server / clients",
        "server CPU ms per request",
        "checks",
    ]
    return markdown(totals_header, totals) + "\n\n" + markdown(header, rows)


def failed(run: dict[str, Any]) -> str:
    return ", ".join(name for name, ok in run["checks"].items() if not ok)


def main(arguments: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__)
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (20)")
    parser.add_argument(
        "--duration", type=float, default=30, help="seconds of load on each server (30)"
    )
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1, 2], help="the servers' worker counts (1 2)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument(
        "--model-dir",
        type=Path,
        help="a model directory as `cauce package` writes it (default: models/, packaged)",
    )
    parser.add_argument(
        "--out", type=Path, help="write the results here only (not benchmarks/results/, docs)"
    )
    options = parser.parse_args(arguments)
    with (
        tempfile.TemporaryDirectory(prefix="cauce-bench-load-") as scratch,
        ExitStack() as stack,
    ):
        model_dir = options.model_dir
        if model_dir is None:
            from benchmarks.api import package  # pandas and scikit-learn: seconds to import

            model_dir = package(Path(scratch) / "model")
        servers = {}
        for workers in options.workers:
            name = "cauce serve" if workers == 1 else f"uvicorn, {workers} workers"
            url, process = stack.enter_context(server(model_dir, workers))
            servers[name] = Run(url, process.pid)
        runs = asyncio.run(measure(servers, options.clients, options.duration, options.rounds))
    for name, run in runs.items():
        verdict = "all checks pass" if all(run["checks"].values()) else failed(run)
        print(f"{name}: {run['requests_per_second']:,} requests/s, {verdict}")
    passed = all(all(run["checks"].values()) for run in runs.values())
    results = {
        "benchmark": "load",
        "clients": options.clients,
        "duration_s": options.duration,
        "rounds": options.rounds,
        "mix": {kind: {"weight": w, "status": s} for kind, (w, s) in MIX.items()},
        "memory_slack_mib": MEMORY_SLACK_MIB,
        "runs": runs,
        "passed": passed,
        "versions": {"cauce": commit()},
    }
    if options.out is None:
        save("load", results, table(runs))
    else:
        write_json(options.out, results | {"machine": machine()})
        print(f"written to {options.out}")
    if not passed:
        print("load: a check failed:", file=sys.stderr)
        for name, run in runs.items():
            if not all(run["checks"].values()):
                print(f"  {name}: {failed(run)}", file=sys.stderr)
                for problem in run["problems_in_sequential_pass"]:
                    print(f"    {problem}", file=sys.stderr)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
