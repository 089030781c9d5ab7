"""The `trainmedic` command: a lazy click group so `trainmedic explain` does not import torch or SQL.

Each command lives in its own module under `trainmedic.cli`; a command appears once its module exists.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from typing import Any

import click

from trainmedic import __version__
from trainmedic.cli.output import exits_without_teardown, process_ends_after_command

# name -> (module, attribute, one-line help shown without importing the module)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "explain": ("trainmedic.cli.explain", "explain", "Classify log text with the fault catalog."),
    "catalog": ("trainmedic.cli.catalog", "catalog", "List, show and check the fault catalog."),
    "diagnose": ("trainmedic.cli.diagnose", "diagnose", "Name the culprit card of a failed job from its logs."),
    "run": ("trainmedic.cli.run", "run", "Run a training job under supervision (torchrun-compatible)."),
    "demo": ("trainmedic.cli.demo", "demo", "Train, inject a fault, detect, localize and recover, live."),
    "sim": ("trainmedic.cli.sim", "sim", "Simulate 18,432-card jobs, faults, telemetry and goodput."),
    "agent": ("trainmedic.cli.agent", "agent", "Node agent: telemetry, kernel log, detectors, /metrics."),
    "incidents": ("trainmedic.cli.incidents", "incidents", "List and show recorded incidents."),
    "cards": ("trainmedic.cli.cards", "cards", "Cards, their states and whole histories."),
    "repair": ("trainmedic.cli.repair", "repair", "Record repairs done on a card."),
    "report": ("trainmedic.cli.report", "report", "Reliability reports from the fleet store."),
    "db": ("trainmedic.cli.db", "db", "Manage the incident database (upgrade)."),
}


def _available(name: str) -> bool:
    module = COMMANDS[name][0]
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


class LazyGroup(click.Group):
    """Imports a command's module only when that command runs (or its help is asked for)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n in COMMANDS if _available(n))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS or not _available(cmd_name):
            return None
        module_name, attr, _ = COMMANDS[cmd_name]
        module = importlib.import_module(module_name)
        cmd: Any = getattr(module, attr)
        return cmd  # type: ignore[no-any-return]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(n, COMMANDS[n][2]) for n in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="trainmedic")
def cli() -> None:
    """trainmedic keeps very large synchronous training jobs alive.

    It detects crashes, hangs, stragglers and numerical faults in seconds, names the one culprit card,
    classifies the fault with its catalog, recovers from the last checkpoint, and remembers every
    card's faults and repairs.
    """


def main() -> None:
    """Console entry point: exit 0 ok, 1 error, 2 usage."""
    process_ends_after_command()
    try:
        cli.main(prog_name="trainmedic", standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except SystemExit as e:
        if e.code in (0, None) and exits_without_teardown():
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        raise


if __name__ == "__main__":
    main()
