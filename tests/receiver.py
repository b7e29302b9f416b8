"""An HTTP receiver on 127.0.0.1 for webhook tests: it answers POSTs from a script of
(status, headers) and records each request (when, headers, body)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "T0KEN-in-the-path"  # noqa: S105 - stands for the secret part of a Slack URL


class Receiver:
    """An HTTP receiver on a free port: answers POSTs from a script, records each one."""

    def __init__(self, *script: tuple[int, dict[str, str]]) -> None:
        self.script = list(script) or [(200, {})]
        self.requests: list[tuple[float, dict[str, str], bytes]] = []  # when, headers, body
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                headers = {name.lower(): value for name, value in self.headers.items()}
                receiver.requests.append((time.monotonic(), headers, body))
                status, extra = receiver.script.pop(0) if receiver.script else (200, {})
                self.send_response(status)
                for name, value in {**extra, "content-length": "0"}.items():
                    self.send_header(name, value)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/{TOKEN}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def payloads(self) -> list[dict]:
        return [json.loads(body) for _, _, body in self.requests]
