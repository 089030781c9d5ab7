"""Shared CLI output: JSON to stdout when asked, plain or rich text otherwise, errors to stderr.

Used by every command module so `--json`, colours and exit codes behave the same everywhere.
"""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click

_EXIT_WITHOUT_TEARDOWN = [False]


def exit_without_teardown() -> None:
    """Let the process end as soon as this command returns, without freeing its objects one by one
    (diagnose's are hundreds of thousands: 0.1 s). Only `main()` acts on it, so tests that invoke the
    CLI in-process are unaffected; call it when everything is written and nothing is left open."""
    _EXIT_WITHOUT_TEARDOWN[0] = True


def exits_without_teardown() -> bool:
    return _EXIT_WITHOUT_TEARDOWN[0]


def is_terminal() -> bool:
    """True when stdout is a terminal (progress bars and colour only then)."""
    return sys.stdout.isatty()


def emit_json(obj: Any) -> None:
    """Print `obj` as JSON on stdout (keys in insertion order, non-JSON values as strings)."""
    click.echo(json.dumps(obj, indent=2, default=str, ensure_ascii=False))


def fail(message: str, hint: str | None = None, code: int = 1) -> NoReturn:
    """Print an error that says what failed and what to do, then exit with `code`."""
    click.echo(f"error: {message}", err=True)
    if hint:
        click.echo(f"hint: {hint}", err=True)
    sys.exit(code)
