"""`cauce smoke-test` against an API that is up but answers outside its contract: a clear
failure (exit 1) naming what was wrong, never a traceback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cauce import ExitCode
from cauce.cli import main


@pytest.fixture
def wrong_api() -> Iterator[str]:
    """An API that is ready and answers /v1/model with a JSON list."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"status": "ready"}' if self.path == "/ready" else b'["model"]'
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_a_model_answer_that_is_not_an_object_fails_the_smoke_test(wrong_api, capsys):
    assert main(["smoke-test", "--url", wrong_api, "--wait", "5"]) == ExitCode.FAILED
    error = capsys.readouterr().err
    assert f"{wrong_api}/v1/model answered a JSON list, not an object" in error
    assert "Traceback" not in error
