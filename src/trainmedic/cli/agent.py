"""`trainmedic agent`: the node agent (live sampling, /metrics and /health, push to the controller)
and `trainmedic agent --replay DIR` over recorded telemetry and kernel logs."""

from __future__ import annotations

import json
import logging
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import click

from trainmedic.cli.output import emit_json, fail, is_terminal


def _print_findings(findings: list[Any]) -> None:
    for f in findings:
        where = f"{f.node or '-'}" + (f" card {f.card_index}" if f.card_index is not None else "") + (f" [{f.bus_id}]" if f.bus_id else "")
        click.echo(f"{f.at:.0f}  {f.severity!s:8s} {f.fault or f.rule or '-':36s} {where}  {f.message[:120]}")


def _do_replay(directory: Path, as_json: bool, peer: bool) -> None:
    from trainmedic.agent.replay import ReplayError, replay

    try:
        result = replay(directory, peer=peer)
    except ReplayError as exc:
        fail(str(exc), hint="point --replay at a `trainmedic sim telemetry --out` directory or a folder of kernel logs", code=1)
    if as_json:
        emit_json(result.to_dict())
        return
    click.echo(f"replayed {result.nodes} nodes x {result.cards_per_node} cards, {result.seconds}s of telemetry, "
               f"{result.kernel_lines} kernel lines: {len(result.findings)} findings")
    _print_findings(result.findings)
    if result.truth and result.truth.get("culprit"):
        c = result.truth["culprit"]
        click.echo(f"truth: {result.truth['fault']} on {c['node']} card {c['local_rank']} ({(c.get('card') or {}).get('bus_id')})")


@click.group(invoke_without_command=True)
@click.option("--replay", "replay_dir", type=click.Path(path_type=Path), help="Replay a recorded directory instead of running live.")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@click.option("--no-peer", is_flag=True, help="Replay without the cross-machine peer-outlier detector.")
@click.pass_context
def agent(ctx: click.Context, replay_dir: Path | None, as_json: bool, no_peer: bool) -> None:
    """Node agent: telemetry, kernel log, detectors, /metrics.

    `trainmedic agent run` samples this node's cards; `trainmedic agent --replay DIR` runs the same
    detectors over a recording (simulator output or real kernel-log captures).
    """
    if ctx.invoked_subcommand is not None:
        return
    if replay_dir is None:
        click.echo(ctx.get_help())
        return
    _do_replay(replay_dir, as_json, not no_peer)


@agent.command("replay")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@click.option("--no-peer", is_flag=True, help="Without the cross-machine peer-outlier detector.")
def replay_cmd(directory: Path, as_json: bool, no_peer: bool) -> None:
    """Replay recorded telemetry and kernel logs through the detectors (same as --replay)."""
    _do_replay(directory, as_json, not no_peer)


def _build(node: str, collectors: str, nvml_fixture: Path | None, npu_smi: str, sys_root: Path, psutil_ok: bool) -> list[Any]:
    from trainmedic.agent.collectors import COLLECTORS

    out: list[Any] = []
    for name in [c.strip() for c in collectors.split(",") if c.strip()]:
        try:
            cls = COLLECTORS.get(name)
        except KeyError as exc:
            fail(str(exc).strip("'\""), hint=f"--collectors takes a comma list of: {', '.join(COLLECTORS.names())}", code=2)
        if name == "nvidia":
            nvml = None
            if nvml_fixture is not None:
                from trainmedic.agent.collectors.nvml_replay import RecordedNvml

                try:
                    nvml = RecordedNvml.load(nvml_fixture)
                except (OSError, ValueError, KeyError) as exc:
                    fail(f"cannot read the NVML fixture {nvml_fixture}: {exc}", code=1)
            out.append(cls(node, nvml=nvml))
        elif name == "ascend":
            out.append(cls(node, npu_smi=npu_smi))
        elif name == "infiniband":
            out.append(cls(node, root=sys_root / "class" / "infiniband"))
        else:
            out.append(cls(node))
    return out


@agent.command("run")
@click.option("--node", default=socket.gethostname(), show_default=True, help="Node name in findings and labels.")
@click.option("--collectors", default="nvidia,host,infiniband", show_default=True, help="Comma list of collectors.")
@click.option("--nvml-fixture", type=click.Path(path_type=Path), help="Answer NVML calls from recorded responses (no driver needed).")
@click.option("--npu-smi", default="npu-smi", show_default=True, help="npu-smi executable for the ascend collector.")
@click.option("--sys-root", type=click.Path(path_type=Path), default=Path("/sys"), show_default=True, help="Root of sysfs.")
@click.option("--kmsg", type=click.Path(path_type=Path), default=None, help="Kernel log: /dev/kmsg or a recorded kmsg file.")
@click.option("--kernel-source", type=click.Choice(["kmsg", "journal", "dmesg", "none"]), default="kmsg", show_default=True)
@click.option("--interval-s", type=float, default=1.0, show_default=True, help="Seconds between samples.")
@click.option("--duration-s", type=float, default=None, help="Stop after this long (default: run until stopped).")
@click.option("--once", is_flag=True, help="Take one sample, print it and exit.")
@click.option("--json", "as_json", is_flag=True, help="Print the sample and findings as JSON.")
@click.option("--port", type=int, default=None, help="Serve /metrics and /health on this port (e.g. 9400).")
@click.option("--host", "bind", default="0.0.0.0", show_default=True, help="Address to serve on.")
@click.option("--controller", default=None, help="URL to POST findings to (buffered on disk while unreachable).")
@click.option("--spool", type=click.Path(path_type=Path), default=Path.home() / ".local/share/trainmedic/agent-spool", show_default=True)
def run_cmd(node: str, collectors: str, nvml_fixture: Path | None, npu_smi: str, sys_root: Path, kmsg: Path | None,
            kernel_source: str, interval_s: float, duration_s: float | None, once: bool, as_json: bool, port: int | None,
            bind: str, controller: str | None, spool: Path) -> None:
    """Sample this node's cards, watch the kernel log, raise findings, serve /metrics."""
    from trainmedic.agent.kmsg import CommandLines, KmsgReader
    from trainmedic.agent.push import Pusher
    from trainmedic.agent.runner import NodeAgent

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if interval_s <= 0:
        fail("--interval-s must be > 0", code=2)
    cols = _build(node, collectors, nvml_fixture, npu_smi, sys_root, True)
    kernel: Any = None
    if kernel_source == "kmsg":
        path = kmsg or Path("/dev/kmsg")
        kernel = KmsgReader(path) if path.exists() else None
    elif kernel_source == "journal":
        kernel = CommandLines(["journalctl", "-k", "-f", "-o", "short", "-n", "0"], follow=True)
    elif kernel_source == "dmesg":
        kernel = CommandLines(["dmesg"], follow=False)
    pusher = None
    if controller:
        try:
            pusher = Pusher(controller, spool, node)
        except OSError as exc:
            fail(f"cannot create the spool directory {spool}: {exc}", hint="pass --spool to a writable directory")
    ag = NodeAgent(node, cols, kernel=kernel, pusher=pusher)
    if once:
        found = ag.tick()
        doc = {**ag.sample(), "findings": [f.to_dict() for f in found], "health": ag.health()}
        if as_json:
            emit_json(doc)
        else:
            for c in doc["cards"]:
                m = c["metrics"]
                click.echo(f"card {c['index']} {c.get('bus_id')} {c.get('serial')}: util {m.get('gpu_util_pct')}% "
                           f"temp {m.get('temp_c')}C power {m.get('power_w')}W pcie gen{m.get('pcie_gen')} x{m.get('pcie_width')}")
            _print_findings(found)
            if doc["health"]["unreadable"]:
                click.echo(f"could not read: {', '.join(doc['health']['unreadable'])}")
        return
    lock = threading.Lock()
    server = None
    if port is not None:
        from trainmedic.agent.exporter import serve

        try:
            server = serve(ag, bind, port, lock)
        except OSError as exc:
            fail(f"cannot serve on {bind}:{port}: {exc}", hint="pick another --port")
        if is_terminal():
            click.echo(f"serving http://{bind}:{port}/metrics and /health", err=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    end = time.monotonic() + duration_s if duration_s is not None else None
    nxt = time.monotonic()
    try:
        while not stop.is_set() and (end is None or time.monotonic() < end):
            with lock:
                found = ag.tick()
            if as_json:
                for f in found:
                    click.echo(json.dumps(f.to_dict(), default=str))
            else:
                _print_findings(found)
            nxt += interval_s
            stop.wait(max(0.0, nxt - time.monotonic()))
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            server.shutdown()
