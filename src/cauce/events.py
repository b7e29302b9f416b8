"""The verdicts of `cauce monitor` and the events cauce announces to the team's webhooks
(`cauce notify --event`), named once: the CLI offers them, the monitor decides a verdict,
notify checks and sends the events, the workflows name them."""

from __future__ import annotations

from typing import Literal, get_args

# A judged batch's verdict; each but "none" is an alert: an event, an issue's label.
Verdict = Literal["none", "drift", "contract-breach"]
ALERTS: tuple[Verdict, ...] = tuple(v for v in get_args(Verdict) if v != "none")

EVENTS = (
    *ALERTS,
    "release",
    "promotion",
    "hold",
    "deploy",
    "rollback",
    "scored",
)
