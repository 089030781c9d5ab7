"""Every CLI command has help, and the group lists only commands that exist."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from trainmedic.cli.main import cli


def _walk(cmd: click.Command, path: list[str]) -> list[list[str]]:
    out = [path]
    if isinstance(cmd, click.Group):
        ctx = click.Context(cmd)
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            assert sub is not None, f"{' '.join([*path, name])} is listed but cannot be loaded"
            out.extend(_walk(sub, [*path, name]))
    return out


ALL = _walk(cli, [])


@pytest.mark.parametrize("path", ALL, ids=lambda p: " ".join(p) or "trainmedic")
def test_every_command_has_help(path: list[str]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["no-such-command"])
    assert result.exit_code == 2
