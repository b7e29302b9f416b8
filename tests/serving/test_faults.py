"""Faults the API survives, in a real `cauce serve` process on 127.0.0.1: requests that
arrive while the model is still loading, and a SIGTERM while requests are in flight.

Nothing here is mocked: uvicorn serves, real HTTP requests go to it, and a real signal
stops it. The server writes nothing, so the model directory must be the same bytes after.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from cauce.layout import FAST_MODEL
from tests.conftest import ROOT, tool_environment, tree_digest
from tests.serving.conftest import free_port

pytestmark = pytest.mark.rehearsal


def records(directory: Path, source_2015, count: int) -> list[dict]:
    """`count` valid records in the model's own input schema."""
    card = json.loads((directory / "model.json").read_text(encoding="utf-8"))
    columns = [column["name"] for column in card["input_schema"]]
    return json.loads(source_2015[columns].head(count).to_json(orient="records"))


def start(directory: Path, home: Path) -> tuple[subprocess.Popen, str, Path]:
    """`cauce serve --model-dir` started, not waited for; the process, its URL, its log."""
    port = free_port()
    log = home / "serve.log"
    with log.open("w") as stream:
        server = subprocess.Popen(
            ["cauce", "serve", "--model-dir", str(directory), "--port", str(port)],
            cwd=ROOT,
            env=tool_environment(home),
            stdout=stream,
            stderr=subprocess.STDOUT,
        )
    return server, f"http://127.0.0.1:{port}", log


def first_answer(server: subprocess.Popen, url: str, log: Path) -> httpx.Response:
    """/ready's first answer, polled from before the port opens."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            return httpx.get(f"{url}/ready", timeout=10)
        except httpx.TransportError:
            pass
        if server.poll() is not None:
            break
        time.sleep(0.01)
    server.kill()
    pytest.fail(f"cauce serve never answered:\n{log.read_text()}")


def stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_while_the_model_loads_ready_and_predict_answer_503_then_200(
    packaged_model, source_2015, tmp_path
):
    """Without the packaged fast form the server imports scikit-learn, loads the skops
    pipeline and derives the fast form after the port opens: seconds of loading."""
    directory = tmp_path / "model"
    shutil.copytree(packaged_model, directory, ignore=shutil.ignore_patterns(FAST_MODEL))
    before = tree_digest(directory)
    body = {"records": records(directory, source_2015, 3)}
    server, url, log = start(directory, tmp_path)
    try:
        ready = first_answer(server, url, log)
        # Asked at once, while /ready still says loading: the model cannot be in yet.
        predict = httpx.post(f"{url}/v1/predict", json=body, timeout=30)
        health = httpx.get(f"{url}/health", timeout=10)
        still_loading = httpx.get(f"{url}/ready", timeout=10)
        assert ready.status_code == 503, log.read_text()
        assert ready.json() == {"status": "loading"}
        assert still_loading.status_code == 503, "loaded between two requests: too fast to see"
        assert predict.status_code == 503, predict.text
        assert predict.json() == {"detail": "the model is still loading"}
        assert health.status_code == 200  # alive while not ready: no restart loop

        deadline = time.monotonic() + 120
        while (answer := httpx.get(f"{url}/ready", timeout=10)).status_code == 503:
            assert answer.json() == {"status": "loading"}
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        assert answer.status_code == 200
        assert answer.json() == {"status": "ready", "version": "v0.1.0"}
        scored = httpx.post(f"{url}/v1/predict", json=body, timeout=30)
        assert scored.status_code == 200, scored.text
        assert len(scored.json()["predictions"]) == 3
    finally:
        stop(server)
    assert "scoring with the fast model derived from the pipeline" in log.read_text()
    assert tree_digest(directory) == before


ROWS = 1000
IN_FLIGHT = 12
LATE_MAX = 50


def test_sigterm_finishes_the_requests_in_flight_and_exits(packaged_model, source_2015, tmp_path):
    """A SIGTERM while 1,000-row requests are in flight: each one that was taken gets its
    whole answer, one sent after the listener closed is refused without a byte, none is
    cut short; the process drains and exits, and the model directory is unchanged."""
    before = tree_digest(packaged_model)
    body = json.dumps({"records": records(packaged_model, source_2015, ROWS)}).encode()
    server, url, log = start(packaged_model, tmp_path)
    try:
        deadline = time.monotonic() + 60
        while first_answer(server, url, log).status_code != 200:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)

        outcomes: dict[int, tuple[str, object, float]] = {}
        recording = threading.Lock()  # threads add outcomes while the main thread reads them
        first_done = threading.Event()

        def refused() -> bool:
            with recording:
                return any(kind == "ConnectError" for kind, _, _ in outcomes.values())

        def post(index: int) -> None:
            try:
                # A new connection each: no keep-alive connection outlives the request.
                with httpx.Client(timeout=60) as client:
                    response = client.post(
                        f"{url}/v1/predict",
                        content=body,
                        headers={"content-type": "application/json"},
                    )
                outcome = ("answer", response, time.monotonic())
            except httpx.HTTPError as error:
                outcome = (type(error).__name__, str(error), time.monotonic())
            with recording:
                outcomes[index] = outcome
            first_done.set()

        early = [threading.Thread(target=post, args=(i,)) for i in range(IN_FLIGHT)]
        for thread in early:
            thread.start()
        assert first_done.wait(60), log.read_text()
        signalled = time.monotonic()
        server.send_signal(signal.SIGTERM)
        # Late requests, one every 0.1 s, until one is refused: the listener closed.
        late: list[threading.Thread] = []
        while len(late) < LATE_MAX and not refused():
            late.append(threading.Thread(target=post, args=(IN_FLIGHT + len(late),)))
            late[-1].start()
            time.sleep(0.1)
        for thread in early + late:
            thread.join(90)
        server.wait(timeout=30)
        exited = time.monotonic()
    finally:
        stop(server)
    output = log.read_text()

    assert len(outcomes) == IN_FLIGHT + len(late)
    answered_after_signal = 0
    for index, (kind, what, when) in sorted(outcomes.items()):
        if kind == "answer":
            assert what.status_code == 200, (index, what.status_code, what.text[:300], output)
            predictions = what.json()["predictions"]  # a cut body would not parse
            assert len(predictions) == ROWS
            assert all(0.0 <= p["probability"] <= 1.0 for p in predictions)
            answered_after_signal += when > signalled
        else:
            # Refused, or closed before a single byte of an answer: never a partial body.
            # Scoring holds the event loop, so a request sent before the signal can still be
            # waiting in the listener's backlog, never accepted: closing the listener resets it.
            assert (
                kind == "ConnectError"
                or (kind == "RemoteProtocolError" and "without sending a response" in str(what))
                or (kind == "ReadError" and "Connection reset by peer" in str(what))
            ), (index, kind, what)
    assert answered_after_signal >= 1, "no request was in flight when the signal came"
    assert "ConnectError" in {kind for kind, _, _ in outcomes.values()}, "never refused"
    # Drained, then gone: uvicorn re-raises SIGTERM after its graceful shutdown.
    assert server.returncode in (0, -signal.SIGTERM), output
    assert "Finished server process" in output
    assert "Traceback" not in output
    assert exited - signalled < 15, f"took {exited - signalled:.1f} s to stop"
    assert tree_digest(packaged_model) == before
