"""Years of data.source, as `cauce monitor --years` and `cauce train-window --through` name
them: typed here, so the rooms take a value and not the CLI's text (a row's year is
ingest.years_of's)."""

from __future__ import annotations

import re
from dataclasses import dataclass


def year(text: str) -> int:
    """`text` as a four-digit year, or a ValueError saying what a year looks like."""
    if not re.fullmatch(r"\d{4}", text):
        raise ValueError(f"{text!r} is not a year like 2018")
    return int(text)


@dataclass(frozen=True)
class Years:
    """Years of data.source; none listed means the newest (`latest`)."""

    text: str  # as given, for messages
    values: tuple[int, ...]

    @classmethod
    def parse(cls, text: str) -> Years:
        if text == "latest":
            return cls(text, ())
        try:
            return cls(text, tuple(year(part.strip()) for part in text.split(",")))
        except ValueError:
            raise ValueError(f"{text!r}: give years like 2018, 2016,2017 or latest") from None
