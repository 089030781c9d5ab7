from __future__ import annotations

import math
import socket

import pytest

from trainmedic.train.monitor import Monitor
from trainmedic.train.protocol import Heartbeat, StepRecord, decode, parse_injection


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def receiver() -> tuple[socket.socket, tuple[str, int]]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(2)
    return s, s.getsockname()


def test_a_heartbeat_carries_steps_losses_checkpoints_and_collective_counts() -> None:
    sock, addr = receiver()
    clock = Clock()
    m = Monitor(rank=3, endpoint=addr, clock=clock, perf=clock, start_thread=False)
    with m.step(7):
        m.collective_entered()
        clock.t += 0.25
        m.collective_completed(0.2)
    m.loss(1.5)
    m.checkpoint_saved(7, "/ck/ckpt_7.pt")
    m.flush()
    hb = decode(sock.recv(65536))
    assert hb is not None and hb.rank == 3 and hb.last_step == 7 and hb.current_step is None
    assert hb.steps[0].step == 7 and hb.steps[0].duration_s == pytest.approx(0.25)
    assert hb.steps[0].wait_s == pytest.approx(0.2)
    assert hb.coll_entered == 1 and hb.coll_completed == 1
    assert hb.checkpoints == ((7, "/ck/ckpt_7.pt"),)
    assert hb.last_loss == 1.5 and hb.bad_losses == ()


def test_non_finite_losses_survive_the_json_wire() -> None:
    sock, addr = receiver()
    m = Monitor(rank=0, endpoint=addr, start_thread=False)
    with m.step(1):
        pass
    m.loss(float("nan"))
    m.loss(float("-inf"))
    m.flush()
    hb = decode(sock.recv(65536))
    assert hb is not None and len(hb.bad_losses) == 2
    assert math.isnan(hb.bad_losses[0][1]) and hb.bad_losses[1][1] == -math.inf


def test_tensor_like_losses_are_converted_off_the_training_thread() -> None:
    class Lazy:
        converted = False

        def __float__(self) -> float:
            Lazy.converted = True
            return 2.0

    m = Monitor(start_thread=False)
    m.loss(Lazy())
    assert not Lazy.converted
    hb = m.flush()
    assert Lazy.converted and hb is not None and hb.last_loss == 2.0


def test_a_gone_launcher_is_counted_and_never_raised() -> None:
    sock, addr = receiver()
    sock.close()  # nobody listens any more: sends fail with ECONNREFUSED
    m = Monitor(rank=0, endpoint=addr, start_thread=False)
    for i in range(5):
        with m.step(i):
            pass
        m.flush()
    assert m.stats()["send_errors"] >= 1
    assert m.stats()["internal_errors"] == 0


def test_an_exception_in_the_step_propagates_unchanged_and_is_recorded() -> None:
    m = Monitor(start_thread=False)
    with pytest.raises(ValueError, match="user bug"), m.step(4):
        raise ValueError("user bug")
    hb = m.flush()
    assert hb is not None and hb.steps[0].step == 4 and hb.last_step is None


def test_injects_an_exception_only_on_its_rank_step_and_attempt() -> None:
    inj = parse_injection("rank=1,step=3,kind=exception")
    other = Monitor(rank=0, injection=inj, start_thread=False)
    later = Monitor(rank=1, injection=inj, attempt=1, start_thread=False)
    m = Monitor(rank=1, injection=inj, start_thread=False)
    for i in range(5):
        with other.step(i), later.step(i):
            pass
    with m.step(2):
        pass
    with pytest.raises(RuntimeError, match="injected exception at step 3 on rank 1"), m.step(3):
        pass


def test_injected_straggle_sleeps_a_multiple_of_the_step_period() -> None:
    slept: list[float] = []
    clock = Clock()
    m = Monitor(
        rank=0,
        injection=parse_injection("rank=0,step=5,kind=straggle,factor=3"),
        perf=clock,
        clock=clock,
        sleep=slept.append,
        start_thread=False,
    )
    for i in range(7):
        clock.t += 0.3
        with m.step(i):
            pass
    assert slept == [pytest.approx(0.9), pytest.approx(0.9)]


def test_injected_nan_replaces_the_reported_loss() -> None:
    m = Monitor(rank=0, injection=parse_injection("rank=0,step=2,kind=nan"), start_thread=False)
    for i in range(3):
        with m.step(i):
            pass
        m.loss(1.0)
    hb = m.flush()
    assert hb is not None and [s for s, _ in hb.bad_losses] == [2]


@pytest.mark.parametrize(
    "spec, message",
    [
        ("rank=1,step=2,kind=explode", "kind"),
        ("rank=x,step=2,kind=hang", "value"),
        ("rank=1,when=2,kind=hang", "unknown"),
        ("hang", "key=value"),
    ],
)
def test_a_bad_injection_spec_says_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_injection(spec)


def test_malformed_datagrams_decode_to_none() -> None:
    assert decode(b"not json") is None
    assert decode(b'{"r": 1}') is None
    hb = Heartbeat(rank=1, pid=2, attempt=0, sent_at=1.0, seq=1, steps=(StepRecord(1, 0.1, None, 1.0),))
    assert decode(hb.encode()) == hb
