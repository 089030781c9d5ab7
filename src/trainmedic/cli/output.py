"""Shared CLI output: JSON to stdout when asked, plain or rich text otherwise, errors to stderr.

Used by every command module so `--json`, colours and exit codes behave the same everywhere.
"""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click


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
