"""`cauce notify` as the workflows run it: a real process, real HTTP receivers on 127.0.0.1.

A receiver answers from a script of (status, headers) and records every request, so the
tests see what was sent, how often, and when; the URLs carry a token and the webhook a
secret, which must never reach the output or the event file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from cauce import ExitCode
from tests.conftest import ROOT, tool_environment
from tests.receiver import TOKEN, Receiver
from tests.serving.conftest import free_port

KEY = b"a signing key of the receiver"
SECRET = "whsec_" + base64.b64encode(KEY).decode()


@pytest.fixture
def workdir(tmp_path) -> Path:
    """params.yaml with quick retries, and a Markdown body to send."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["notify"] |= {"timeout_seconds": 5, "backoff_seconds": 0.05, "max_wait_seconds": 5}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    (tmp_path / "drift.md").write_text(
        "## Drift in AGEP\n\n**2 of 9** checks drift, p < 0.01: [docs](https://x.test/d)\n",
        encoding="utf-8",
    )
    (tmp_path / "latin1.md").write_bytes("## Dérive\n".encode("latin-1"))
    return tmp_path


def notify(workdir: Path, *arguments: str, **environment: str):
    """Run `cauce notify`; the result, its stdout+stderr, and the event files it wrote."""
    inherited = tool_environment(workdir).items()  # CAUCE_WARM: a warm process
    mine = {k: v for k, v in inherited if k == "CAUCE_WARM"}
    env = {k: v for k, v in inherited if not k.startswith(("CAUCE_", "GITHUB_"))} | mine
    env = {k: v for k, v in env.items() if not k.lower().endswith("_proxy")}
    command = ["cauce", "--params", "params.yaml", "notify", *arguments]
    run = subprocess.run(
        command, cwd=workdir, env=env | environment, capture_output=True, text=True, timeout=60
    )
    files = sorted((workdir / "reports/notify").glob("*.json"))
    events = [json.loads(path.read_text(encoding="utf-8")) for path in files]
    return run, run.stdout + run.stderr, events


DRIFT = ("--event", "drift", "--title", "Drift in 2 of 9 checks", "--body-file", "drift.md")


def test_slack_gets_a_header_the_body_in_mrkdwn_and_the_link(workdir):
    with Receiver() as slack:
        run, output, events = notify(
            workdir, *DRIFT, "--link", "https://x.test/issues/7", CAUCE_SLACK_WEBHOOK_URL=slack.url
        )
    assert run.returncode == 0, output
    [payload] = slack.payloads()
    assert payload["text"] == "Drift in 2 of 9 checks"
    header, section, context = payload["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": payload["text"]}}
    assert section["text"]["text"] == (
        "*Drift in AGEP*\n\n*2 of 9* checks drift, p &lt; 0.01: <https://x.test/d|docs>"
    )
    assert "<https://x.test/issues/7|" in context["elements"][0]["text"]
    [event] = events
    assert event["deliveries"] == [
        {"receiver": "slack", "status": 200, "attempts": 1, "delivered": True}
    ]
    assert TOKEN not in output + json.dumps(event)


def test_the_generic_receiver_gets_the_event_signed_the_standard_webhooks_way(workdir):
    github = {"GITHUB_REPOSITORY": "o/r", "GITHUB_SERVER_URL": "https://gh.test"}
    with Receiver() as hook:
        run, output, [event] = notify(
            workdir,
            *DRIFT,
            CAUCE_WEBHOOK_URL=hook.url,
            CAUCE_WEBHOOK_SECRET=SECRET,
            GITHUB_RUN_ID="42",
            **github,
        )
    assert run.returncode == 0, output
    [(_, headers, body)] = hook.requests
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(KEY, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"] == event["id"]
    sent = json.loads(body)
    assert sent == {k: event[k] for k in ("type", "timestamp", "data")}
    assert sent["type"] == "cauce.drift"
    assert sent["data"]["text"] == (workdir / "drift.md").read_text(encoding="utf-8")
    assert sent["data"]["run_url"] == "https://gh.test/o/r/actions/runs/42"
    assert SECRET not in output + json.dumps(event)
    assert TOKEN not in output + json.dumps(event)


def test_a_5xx_is_retried_with_the_same_id_and_body_until_delivered(workdir):
    with Receiver((503, {}), (503, {}), (200, {})) as hook:
        run, output, [event] = notify(
            workdir, *DRIFT, CAUCE_WEBHOOK_URL=hook.url, CAUCE_WEBHOOK_SECRET=SECRET
        )
    assert run.returncode == 0, output
    assert len(hook.requests) == 3
    assert len({headers["webhook-id"] for _, headers, _ in hook.requests}) == 1
    assert len({body for _, _, body in hook.requests}) == 1
    assert "webhook: 503, retrying in 0.1 s (attempt 3 of 4)" in output
    assert event["deliveries"] == [
        {"receiver": "webhook", "status": 200, "attempts": 3, "delivered": True}
    ]


def test_a_429_waits_as_long_as_retry_after_asks(workdir):
    with Receiver((429, {"Retry-After": "1"}), (200, {})) as slack:
        run, output, _ = notify(workdir, *DRIFT, CAUCE_SLACK_WEBHOOK_URL=slack.url)
    assert run.returncode == 0, output
    first, second = (when for when, _, _ in slack.requests)
    assert second - first >= 0.95
    assert "slack: 429, retrying in 1 s (attempt 2 of 4)" in output


def test_a_receiver_that_stays_down_fails_the_command_and_keeps_the_event(workdir):
    down = f"http://127.0.0.1:{free_port()}/services/{TOKEN}"
    run, output, [event] = notify(workdir, *DRIFT, CAUCE_SLACK_WEBHOOK_URL=down)
    assert run.returncode == ExitCode.EXTERNAL
    assert "slack: ConnectError after 4 of 4 attempts" in output
    assert f"kept in reports/notify/{event['id']}.json" in output
    assert event["deliveries"] == [
        {"receiver": "slack", "status": "ConnectError", "attempts": 4, "delivered": False}
    ]
    assert event["data"]["title"] == "Drift in 2 of 9 checks"
    assert TOKEN not in output + json.dumps(event)


def test_a_4xx_is_not_retried(workdir):
    with Receiver((400, {})) as hook:
        run, output, [event] = notify(
            workdir, *DRIFT, CAUCE_WEBHOOK_URL=hook.url, CAUCE_WEBHOOK_SECRET=SECRET
        )
    assert run.returncode == ExitCode.EXTERNAL
    assert len(hook.requests) == 1
    assert "webhook: 400 after 1 of 4 attempts" in output
    assert event["deliveries"][0]["delivered"] is False


def test_without_a_webhook_nothing_is_sent_and_the_event_is_kept(workdir):
    run, output, [event] = notify(workdir, "--event", "release", "--title", "v0.2.0 released")
    assert run.returncode == 0, output
    assert "no webhook configured" in output
    assert "nothing sent" in output
    assert event["type"] == "cauce.release"
    assert event["data"]["text"] == ""
    assert event["deliveries"] == []


@pytest.mark.parametrize(
    ("arguments", "environment", "message"),
    [
        (DRIFT, {"CAUCE_WEBHOOK_URL": "hook"}, "CAUCE_WEBHOOK_SECRET is not"),
        (DRIFT, {"CAUCE_WEBHOOK_URL": "hook", "CAUCE_WEBHOOK_SECRET": "s3cret"}, "whsec_"),
        (("--event", "exploded", "--title", "x"), {}, "drift, contract-breach, release"),
        (("--event", "drift", "--title", "x", "--body-file", "gone.md"), {}, "gone.md"),
        (("--event", "drift", "--title", "x", "--body-file", "latin1.md"), {}, "not UTF-8 text"),
    ],
)
def test_mistakes_are_refused_before_anything_is_written_or_sent(
    workdir, arguments, environment, message
):
    with Receiver() as receiver:
        environment = {k: receiver.url if v == "hook" else v for k, v in environment.items()}
        run, output, events = notify(
            workdir, *arguments, CAUCE_SLACK_WEBHOOK_URL=receiver.url, **environment
        )
    assert run.returncode == ExitCode.USAGE
    assert message in output
    assert "Traceback" not in output
    assert receiver.requests == []
    assert events == []
    assert "s3cret" not in output
