"""Faults of the launcher's own world: a killed launcher, a rank ignoring SIGTERM, a plain script,
an early exit, a busy port, a bad world size, several launchers on one host."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.launcher._launch import FAKE_JOB, SRC, fake_cfg, incidents, launch
from trainmedic.launcher.runner import run
from trainmedic.launcher.supervisor import LaunchError

pytestmark = pytest.mark.e2e


def cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    e = dict(os.environ, PYTHONPATH=str(SRC), **(env or {}))
    return subprocess.Popen(
        [sys.executable, "-m", "trainmedic", "run", *args],
        env=e,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def test_killing_the_launcher_leaves_no_orphaned_ranks(tmp_path: Path) -> None:
    p = cli(
        tmp_path,
        "--nproc-per-node",
        "3",
        "--echo",
        "none",
        "--",
        str(FAKE_JOB),
        "--sync-dir",
        str(tmp_path / "s"),
        "--steps",
        "100000",
    )
    try:
        deadline = time.time() + 20
        kids: list[psutil.Process] = []
        while time.time() < deadline and len(kids) < 3:
            kids = psutil.Process(p.pid).children()
            time.sleep(0.1)
        assert len(kids) == 3
        time.sleep(0.5)
        os.kill(p.pid, signal.SIGKILL)
        p.wait(5)
        _gone, alive = psutil.wait_procs(kids, timeout=5)
        assert alive == []
    finally:
        for k in psutil.Process(os.getpid()).children(recursive=True):
            if k.pid != p.pid:
                k.kill()
        if p.poll() is None:
            p.kill()
        p.wait(5)
        assert p.stdout is not None
        p.stdout.close()


def test_sigterm_to_the_launcher_stops_every_rank_and_exits_143(tmp_path: Path) -> None:
    p = cli(
        tmp_path,
        "--nproc-per-node",
        "2",
        "--echo",
        "none",
        "--",
        str(FAKE_JOB),
        "--sync-dir",
        str(tmp_path / "s"),
        "--steps",
        "100000",
    )
    deadline = time.time() + 20
    kids: list[psutil.Process] = []
    while time.time() < deadline and len(kids) < 2:
        kids = psutil.Process(p.pid).children()
        time.sleep(0.1)
    os.kill(p.pid, signal.SIGTERM)
    assert p.wait(15) == 143
    assert psutil.wait_procs(kids, timeout=5)[1] == []
    assert p.stdout is not None
    p.stdout.close()


def test_a_rank_that_ignores_sigterm_is_killed_after_the_stop_timeout(tmp_path: Path) -> None:
    script = tmp_path / "stubborn.py"
    script.write_text(
        "import os, signal, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "if os.environ['RANK'] == '0':\n    time.sleep(0.5); sys.exit(3)\n"
        "time.sleep(60)\n"
    )
    cfg = fake_cfg(tmp_path, n=2, max_restarts=0, stop_timeout_s=1.0)
    cfg = type(cfg)(
        **{**{f: getattr(cfg, f) for f in cfg.__dataclass_fields__}, "argv": (sys.executable, str(script))}
    )
    t0 = time.time()
    result, _said = launch(cfg)
    assert result.rc == 1
    inc = incidents(tmp_path / "ck")[0]
    assert inc["launcher"]["stop"]["0"]["killed"] == [1]
    assert time.time() - t0 < 20


def test_a_plain_script_is_watched_through_its_step_lines(tmp_path: Path) -> None:
    cfg = fake_cfg(tmp_path, steps=14, inject="rank=1,step=8,kind=hang", extra_args=("--plain",))
    result, said = launch(cfg)
    assert result.rc == 0, said
    inc = incidents(tmp_path / "ck")[0]
    assert inc["symptom"] == "hang"
    assert inc["launcher"]["last_step_before"] == 7


def test_a_rank_exiting_0_early_is_blamed_for_the_hang_of_its_peers(tmp_path: Path) -> None:
    result, said = launch(fake_cfg(tmp_path, inject="rank=3,step=5,kind=exit0"))
    assert result.rc == 0, said
    inc = incidents(tmp_path / "ck")[0]
    assert inc["verdict"]["culprit"]["rank"] == 3
    assert "exited (code 0)" in inc["launcher"]["localization"]["reason"]


def test_a_busy_master_port_is_a_clear_error_before_anything_starts(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        with pytest.raises(LaunchError, match=f"port {port} .* already in use"):
            run(fake_cfg(tmp_path, master_port=port), say=lambda _m: None)


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"nproc_per_node": 0}, "nproc-per-node"),
        ({"nnodes": 2, "node_rank": 2, "master_port": 1}, "node-rank"),
        ({"nnodes": 2}, "master-port"),
    ],
)
def test_a_misconfigured_world_size_is_refused(tmp_path: Path, kw: dict[str, int], message: str) -> None:
    with pytest.raises(LaunchError, match=message):
        run(fake_cfg(tmp_path, **kw), say=lambda _m: None)


def test_a_missing_script_is_one_clear_error(tmp_path: Path) -> None:
    cfg = fake_cfg(tmp_path)
    cfg = type(cfg)(
        **{
            **{f: getattr(cfg, f) for f in cfg.__dataclass_fields__},
            "argv": (sys.executable, "-u", str(tmp_path / "nope.py")),
        }
    )
    with pytest.raises(LaunchError, match="not found"):
        run(cfg, say=lambda _m: None)


def test_two_launchers_on_one_host_stop_and_restart_together_with_one_verdict(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    common = [
        "--nnodes",
        "2",
        "--nproc-per-node",
        "2",
        "--master-port",
        str(port),
        "--checkpoint-dir",
        str(tmp_path / "ck"),
        "--echo",
        "none",
        "--",
    ]
    job = [
        str(FAKE_JOB),
        "--sync-dir",
        str(tmp_path / "s"),
        "--ckpt-dir",
        str(tmp_path / "ck"),
        "--steps",
        "14",
    ]
    env = {"TRAINMEDIC_INJECT": "rank=3,step=7,kind=hang"}
    n0 = cli(tmp_path, "--node-rank", "0", *common, *job, env=env)
    n1 = cli(tmp_path, "--node-rank", "1", *common, *job, env=env)
    out0, _ = n0.communicate(timeout=90)
    out1, _ = n1.communicate(timeout=30)
    assert n0.returncode == 0, out0
    assert n1.returncode == 0, out1
    found = incidents(tmp_path / "ck")
    assert len(found) == 1, out0
    culprit = found[0]["verdict"]["culprit"]
    assert culprit["rank"] == 3 and culprit["node"].endswith("#1") and culprit["local_rank"] == 1
    assert found[0]["launcher"]["steps_lost"] is not None
