"""Shared CLI output: JSON to stdout when asked, plain or rich text otherwise, errors to stderr.

Used by every command module so `--json`, colours and exit codes behave the same everywhere.
"""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click

_ENDS = {"process": False, "now": False}


def process_ends_after_command() -> None:
    """Called by the console entry point (`main()`): this process ends when the command returns.
    In-process callers (tests invoking the CLI) never call it."""
    _ENDS["process"] = True


def ends_after_command() -> bool:
    """True when this process ends as soon as the command returns: a command may then skip work that
    only a long-lived process needs (freeing its objects, the cyclic garbage collector)."""
    return _ENDS["process"]


def exit_without_teardown() -> None:
    """Once this command has returned, end the process without freeing its objects one by one
    (diagnose's are millions: 0.1 s and more). Call it when everything is written and nothing is left
    open; only `main()` acts on it."""
    _ENDS["now"] = True


def exits_without_teardown() -> bool:
    return _ENDS["process"] and _ENDS["now"]


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
