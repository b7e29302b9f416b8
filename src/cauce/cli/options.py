"""The `cauce` command's options: argparse types that name what a value must be, and the
declarative tables the subcommands are built from (commands.py)."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cauce import ExitCode, periods

# GTO's own rules: a semver tag with its v (pre-releases too), named alone or as model@v…
VERSION = re.compile(r"(?:model@)?(v\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)")
STAGE = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9/_-]*[a-zA-Z0-9])?")
REPOSITORY = re.compile(r"[\w.-]+/[\w.-]+")
URL = re.compile(r"https?://[^\s/]+(?:/\S*)?")


def _checked(pattern: re.Pattern[str], described: str) -> Callable[[str], str]:
    """An argparse type: the text when `pattern` matches all of it (its group, if any)."""

    def check(text: str) -> str:
        match = pattern.fullmatch(text)
        if match is None:
            raise argparse.ArgumentTypeError(f"{text!r} is not {described}")
        return match[match.lastindex or 0]

    return check


version = _checked(VERSION, "a version like v0.2.0")
stage = _checked(STAGE, "a stage name like prod")
repository = _checked(REPOSITORY, "a repository like owner/name")
url = _checked(URL, "an http(s) address like http://127.0.0.1:8000")


def port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: a whole number 1-65535")
    return int(text)


def count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count: a whole number 1 or more")
    return int(text)


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return value


def _argument(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type from a parser that raises ValueError with the message to show."""

    def check(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return check


year = _argument(periods.year)
years = _argument(periods.Years.parse)


@dataclass(frozen=True)
class Option:
    flag: str
    help: str
    required: bool = False
    default: Any = None
    type: Callable[[str], Any] = str
    choices: tuple[str, ...] | None = None
    switch: bool = False  # a flag that takes no value: True when given
    repeated: bool = False  # may be given again: a list of every value (None when never)

    @property
    def name(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class Command:
    # Called as handler(params, **options), or handler(**options) without needs_params; it
    # prints the result and returns the exit code (None: 0).
    handler: Callable[..., ExitCode | None]
    summary: str
    options: tuple[Option, ...] = ()
    needs_params: bool = True  # False: the command never reads params.yaml
