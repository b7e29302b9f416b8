"""`cauce notify --event EVENT --title TEXT`: tell the team's webhooks what happened.

One event (drift, a contract breach, a release, a promotion, a hold, a deploy, a
rollback, a batch scored) goes to every receiver the environment configures: a Slack
incoming webhook (CAUCE_SLACK_WEBHOOK_URL) and a generic JSON receiver signed the
Standard Webhooks way with the standard's own library (CAUCE_WEBHOOK_URL with CAUCE_WEBHOOK_SECRET,
https://www.standardwebhooks.com). The URLs and the secret are repository secrets in
Actions: they are read from the environment only and never written or printed; logs and
errors name the receiver's kind.

The event is written to reports/notify/ before anything is sent and rewritten with what
each receiver answered, so a receiver that stays down loses nothing: the command exits
7 (ExitCode.EXTERNAL) and the file is there to send again. A 429, a 5xx, a timeout or a
refused connection is retried after Retry-After or a doubling backoff; any other 4xx will
not change on a retry and is not retried.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from cauce import ConfigError, ExternalError, UsageError
from cauce.config import NotifyParams, Params
from cauce.events import EVENTS
from cauce.files import write_json
from cauce.layout import NOTIFICATIONS

SLACK_URL = "CAUCE_SLACK_WEBHOOK_URL"
WEBHOOK_URL = "CAUCE_WEBHOOK_URL"
WEBHOOK_SECRET = "CAUCE_WEBHOOK_SECRET"  # noqa: S105 - the variable's name, not a secret
# What notify reads: each workflow step that runs `cauce notify` names exactly these, each
# from the secret of the same name. GitHub gives a step only the secrets it names (and a
# composite action none), so the names are repeated there; tests/workflows/test_static_checks.py
# holds every step to this list.
RECEIVER_VARIABLES = (SLACK_URL, WEBHOOK_URL, WEBHOOK_SECRET)
SECRET_PREFIX = "whsec_"  # noqa: S105 - how Standard Webhooks secrets are spelled
# Slack refuses a header longer than 150 characters and a section longer than 3000.
SLACK_HEADER_LIMIT = 150
SLACK_SECTION_LIMIT = 3000
TRUNCATED = "\n… _(truncated)_"

log = logging.getLogger("cauce")


class NotDeliveredError(ExternalError):
    """A receiver did not take the event; it is kept in reports/notify/ to send again."""


@dataclass(frozen=True)
class Receiver:
    """Where a copy of the event goes. `kind` is what logs and errors name: never the URL."""

    kind: str  # "slack" or "webhook"
    url: str = field(repr=False)
    signer: Webhook | None = field(default=None, repr=False)  # the generic receiver's

    def body(self, message: dict[str, Any]) -> bytes:
        payload = slack_payload(message["data"]) if self.kind == "slack" else message
        return json.dumps(payload).encode("utf-8")

    def headers(self, message_id: str, body: bytes) -> dict[str, str]:
        """Signed afresh on each attempt: receivers refuse a stale webhook-timestamp."""
        headers = {"content-type": "application/json"}
        if self.signer is not None:
            now = datetime.now(UTC).replace(microsecond=0)  # the header is whole seconds
            headers |= {
                "webhook-id": message_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": self.signer.sign(message_id, now, body),
            }
        return headers


@dataclass(frozen=True)
class Sent:
    """An event, kept in `record`, and the receivers it reached (none configured: [])."""

    event: str
    record: Path
    receivers: list[str]

    def line(self) -> str:
        if not self.receivers:
            configured = f"{SLACK_URL}, {WEBHOOK_URL}"
            return f"no webhook configured ({configured}): nothing sent; see {self.record}"
        return f"{self.event} sent to {', '.join(self.receivers)}: {self.record}"


def run(
    params: Params,
    event: str,
    title: str,
    body_file: Path | None = None,
    link: str | None = None,
) -> Sent:
    """`cauce notify`: write the event, send it to every configured receiver."""
    if event not in EVENTS:
        raise UsageError(f"--event {event!r} is not one of: {', '.join(EVENTS)}")
    if not title.strip():
        raise UsageError("--title is empty: say in one line what happened")
    if body_file is not None and not body_file.is_file():
        raise UsageError(f"--body-file {body_file}: no such file")
    try:
        text = body_file.read_text(encoding="utf-8") if body_file else ""
    except UnicodeDecodeError as error:
        raise UsageError(f"--body-file {body_file}: not UTF-8 text ({error})") from None
    receivers = configured_receivers(os.environ)
    message_id = f"msg_{secrets.token_hex(16)}"
    message = event_message(event, title, text, link, os.environ)
    record = NOTIFICATIONS / f"{message_id}.json"
    write_json(record, {"id": message_id, **message})
    with httpx.Client(timeout=params.notify.timeout_seconds) as client:
        deliveries = [
            deliver(client, receiver, message_id, receiver.body(message), params.notify)
            for receiver in receivers
        ]
    write_json(record, {"id": message_id, **message, "deliveries": deliveries})
    failed = [d for d in deliveries if not d["delivered"]]
    if failed:
        attempts = params.notify.attempts
        reasons = "; ".join(
            f"{d['receiver']}: {d['status']} after {d['attempts']} of {attempts} attempts"
            for d in failed
        )
        raise NotDeliveredError(f"not delivered ({reasons}); the event is kept in {record}")
    return Sent(message["type"], record, [d["receiver"] for d in deliveries])


def configured_receivers(environ: Mapping[str, str]) -> list[Receiver]:
    """The receivers the environment names; an empty variable (an unset secret) is none."""
    receivers = []
    if slack := environ.get(SLACK_URL):
        receivers.append(Receiver("slack", _checked_url(SLACK_URL, slack)))
    if url := environ.get(WEBHOOK_URL):
        secret = environ.get(WEBHOOK_SECRET)
        if not secret:
            raise ConfigError(f"{WEBHOOK_URL} is set but {WEBHOOK_SECRET} is not: never unsigned")
        signer = Webhook(signing_key(secret))
        receivers.append(Receiver("webhook", _checked_url(WEBHOOK_URL, url), signer))
    return receivers


def _checked_url(variable: str, value: str) -> str:
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise ConfigError(f"{variable} is not an http(s) URL")
    return value


def signing_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: the base64 after `whsec_`. Checked here,
    more strictly than the library does (it pads and decodes what it is given), so that a
    secret pasted wrong is named at once instead of signing with the wrong key."""
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error:
        key = b""
    if not secret.startswith(SECRET_PREFIX) or not key:
        raise ConfigError(f"{WEBHOOK_SECRET} is not {SECRET_PREFIX} followed by base64")
    return key


def event_message(
    event: str, title: str, text: str, link: str | None, environ: Mapping[str, str]
) -> dict[str, Any]:
    """The event as receivers get it; the workflow run that sent it, when run in Actions."""
    repository, run_id = environ.get("GITHUB_REPOSITORY"), environ.get("GITHUB_RUN_ID")
    server = environ.get("GITHUB_SERVER_URL", "https://github.com")
    run_url = f"{server}/{repository}/actions/runs/{run_id}" if repository and run_id else None
    return {
        "type": f"cauce.{event}",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "data": {
            "event": event,
            "title": title,
            "text": text,
            "link": link,
            "repository": repository,
            "run_url": run_url,
        },
    }


def slack_payload(data: dict[str, Any]) -> dict[str, Any]:
    """A Slack message: the title as header (and notification text), the body, the links."""
    title = data["title"]
    if len(title) > SLACK_HEADER_LIMIT:
        title = title[: SLACK_HEADER_LIMIT - 1] + "…"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title}}
    ]
    if data["text"].strip():
        text = mrkdwn(data["text"].strip())
        if len(text) > SLACK_SECTION_LIMIT:
            cut = text[: SLACK_SECTION_LIMIT - len(TRUNCATED)]
            head, newline, _ = cut.rpartition("\n")  # whole lines, when there are any
            text = (head if newline else cut) + TRUNCATED
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    links = [
        f"<{url}|{label}>"
        for label, url in (("Read more", data["link"]), ("Workflow run", data["run_url"]))
        if url
    ]
    if links:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(links)}]}
        )
    return {"text": data["title"], "blocks": blocks}


def mrkdwn(markdown: str) -> str:
    """Slack's mrkdwn from the Markdown the reports use: escapes, headings, bold, links."""
    text = markdown.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = re.sub(r"^#{1,6}[ \t]+(.+?)[ \t]*$", r"*\1*", text, flags=re.MULTILINE)
    text = re.sub(r"\*\*(.+?)\*\*", r"*\1*", text)
    return re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r"<\2|\1>", text)


def deliver(
    client: httpx.Client,
    receiver: Receiver,
    message_id: str,
    body: bytes,
    settings: NotifyParams,
) -> dict[str, Any]:
    """POST the same id and body until the receiver takes it, refuses it, or attempts run out.

    A loop of its own rather than a retry library: the wait comes from the answer itself
    (Retry-After, capped) or the backoff, and the record needs each attempt's status; both
    would be callbacks around a library's loop longer than this one."""
    for attempt in range(1, settings.attempts + 1):
        asked: float | None = None
        try:
            response = client.post(
                receiver.url, content=body, headers=receiver.headers(message_id, body)
            )
        except httpx.TransportError as error:  # its message may hold the URL: keep the kind
            status: int | str = type(error).__name__
        else:
            status = response.status_code
            if response.is_success:
                return _delivery(receiver, status, attempt, delivered=True)
            if status != 429 and status < 500:
                break
            asked = retry_after(response.headers.get("retry-after"))
        if attempt == settings.attempts:
            break
        wait = settings.backoff_seconds * 2 ** (attempt - 1) if asked is None else asked
        wait = min(wait, settings.max_wait_seconds)
        log.warning(
            f"{receiver.kind}: {status}, retrying in {wait:g} s "
            f"(attempt {attempt + 1} of {settings.attempts})"
        )
        time.sleep(wait)
    return _delivery(receiver, status, attempt, delivered=False)


def _delivery(receiver: Receiver, status: int | str, attempts: int, delivered: bool) -> dict:
    return {
        "receiver": receiver.kind,
        "status": status,
        "attempts": attempts,
        "delivered": delivered,
    }


def retry_after(value: str | None) -> float | None:
    """The seconds a Retry-After header asks for: a number of seconds or an HTTP date."""
    if value is None:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
