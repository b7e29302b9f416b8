"""The events cauce announces to the team's webhooks (`cauce notify --event`), named once:
the CLI offers them, notify checks and sends them, the workflows name them."""

from __future__ import annotations

EVENTS = (
    "drift",
    "contract-breach",
    "release",
    "promotion",
    "hold",
    "deploy",
    "rollback",
    "scored",
)
