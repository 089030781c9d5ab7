from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "detect"))

from tests.detect._launcher_progress import beat, make_job, train_steps
from trainmedic.launcher.classify import classify, last_exception
from trainmedic.localize.devices import DeviceMap, parse_smi
from trainmedic.localize.wavefront import first_failure, hung_rank
from trainmedic.model import Action, Component, Symptom


def test_names_the_rank_that_never_entered_the_allreduce() -> None:
    job = make_job()
    last = train_steps(job, 10)
    for r in (0, 1, 3):
        beat(job, r, last + 3, last_step=9, current=10, entered=11)
    beat(job, 2, last + 3, last_step=9, current=10, entered=10)
    loc = hung_rank(job, last + 3.05)
    assert loc.rank == 2 and loc.method == "collective_wavefront"


def test_names_the_silent_rank_when_its_heartbeats_stopped() -> None:
    job = make_job()
    last = train_steps(job, 10)
    for r in (0, 1, 2):
        beat(job, r, last + 3, last_step=9, current=10, entered=11)
    loc = hung_rank(job, last + 3.05)
    assert loc.rank == 3 and loc.method == "silent"


def test_names_a_rank_that_exited_while_its_peers_wait() -> None:
    job = make_job()
    last = train_steps(job, 10)
    job.exited(1, 0, last + 0.5)
    assert hung_rank(job, last + 4).rank == 1


def test_says_so_when_no_rank_stands_out() -> None:
    job = make_job()
    last = train_steps(job, 10)
    for r in job.ranks:
        beat(job, r, last + 3, last_step=9, current=10, entered=11)
    assert hung_rank(job, last + 3.05).rank is None


def test_a_rank_killed_by_a_signal_beats_a_victim_that_died_first() -> None:
    job = make_job()
    last = train_steps(job, 5)
    job.error_line(3, last + 0.01)  # a victim's gloo error, seen first
    job.exited(3, 1, last + 0.02)
    job.exited(0, -9, last + 0.05)
    loc = first_failure(job, last + 0.6, is_victim=lambda r: r == 3)
    assert loc.rank == 0 and loc.method == "hard_signal"


def test_the_first_error_wins_among_exceptions_unless_it_is_only_a_cascade() -> None:
    job = make_job()
    last = train_steps(job, 5)
    job.error_line(1, last + 0.01)
    job.error_line(2, last + 0.20)
    job.exited(1, 1, last + 0.3)
    job.exited(2, 1, last + 0.3)
    assert first_failure(job, last + 1).rank == 1
    assert first_failure(job, last + 1, is_victim=lambda r: r == 1).rank == 2


def test_maps_a_local_rank_through_visible_devices_to_bus_id_and_serial() -> None:
    smi = "0, 00000000:07:00.0, GPU-aaa, 1321021035711, NVIDIA H100 80GB HBM3\n1, 00000000:0F:00.0, GPU-bbb, [N/A], NVIDIA H100 80GB HBM3\n"
    dm = DeviceMap("n1", {"CUDA_VISIBLE_DEVICES": "1,0"}, query=lambda: smi)
    c = dm.card(1)
    assert (c.index, c.bus_id, c.serial, c.uuid) == (0, "00000000:07:00.0", "1321021035711", "GPU-aaa")
    assert dm.card(0).serial is None
    assert parse_smi("garbage") == {}


def test_on_a_cpu_node_the_card_is_the_local_slot() -> None:
    c = DeviceMap("cpu0", {}, query=lambda: None).card(3)
    assert (c.node, c.index, c.model) == ("cpu0", 3, "cpu-slot")


def test_finds_the_exception_that_ended_a_traceback() -> None:
    lines = ["Traceback (most recent call last):", '  File "t.py", line 3, in <module>', "    main()", "RuntimeError: boom"]
    assert last_exception(lines) == "RuntimeError: boom"
    assert last_exception(["all good"]) is None


def test_a_catalog_line_in_the_culprits_output_sets_the_verdict() -> None:
    v = classify(Symptom.CRASH, ["NVRM: Xid (PCI:0000:09:00): 79, pid=0, GPU has fallen off the bus."])
    assert v.fault != "process.crash" and v.component is not Component.UNKNOWN


def test_without_a_catalog_line_the_symptom_sets_the_class() -> None:
    v = classify(Symptom.HANG, ["[train] step 4"], detail="no heartbeat")
    assert v.fault == "hang.silent" and v.action is Action.RESTART_JOB


def test_the_same_exception_on_every_rank_is_the_users_code() -> None:
    tb = ["Traceback (most recent call last):", "KeyError: 'lr'"]
    v = classify(Symptom.EXCEPTION, tb, same_exception_everywhere=True)
    assert v.action is Action.CHECK_USER_CODE and v.component is Component.USER
