"""The admission decision on its own: steps, priorities and hysteresis, on a fake clock."""

from __future__ import annotations

import pytest

from draftroom.admission import AdmissionControl, Pressure, Work
from draftroom.admission.gate import RECOVER_SECONDS
from draftroom.errors import Overloaded
from draftroom.loop_lag import LoopLag


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def gate(
    max_connections: int = 0, max_loop_lag_ms: float = 100.0
) -> tuple[AdmissionControl, Clock]:
    clock = Clock()
    return AdmissionControl(max_connections, max_loop_lag_ms, LoopLag(), clock=clock), clock


def test_lag_past_the_limit_refuses_newcomers_until_it_has_stayed_low() -> None:
    admission, clock = gate(max_loop_lag_ms=100)
    admission.sample(0.01)
    admission.admit_socket()
    admission.sample(0.15)
    assert admission.pressure() is Pressure.FULL
    with pytest.raises(Overloaded) as refused:
        admission.admit_socket()
    assert refused.value.close_code == 1013 and refused.value.status == 503
    assert refused.value.headers["Retry-After"] == str(int(RECOVER_SECONDS))
    # Health probes pass whatever the pressure.
    admission.check(Work.HEALTH, "http")
    # Low samples do not lift it at once: no flapping at the edge.
    for _ in range(int(RECOVER_SECONDS / 0.1) - 1):
        clock.now += 0.1
        admission.sample(0.001)
        assert admission.pressure() is Pressure.FULL
    clock.now += 0.2
    admission.sample(0.001)
    assert admission.pressure() is Pressure.NORMAL
    admission.admit_socket()
    assert admission.sockets == 2
    assert +admission.refused == {("websocket", "loop_lag"): 1}  # + drops the zero series


def test_half_the_lag_limit_sheds_deferrable_work_but_admits_editors() -> None:
    admission, clock = gate(max_loop_lag_ms=100)
    admission.sample(0.06)
    assert admission.pressure() is Pressure.SHEDDING
    with pytest.raises(Overloaded):
        admission.check(Work.DEFERRABLE, "http")
    admission.check(Work.EDIT, "http")
    admission.admit_socket()
    clock.now += RECOVER_SECONDS + 0.1
    admission.check(Work.DEFERRABLE, "http")


def test_a_full_step_lifts_to_shedding_before_normal() -> None:
    admission, clock = gate(max_loop_lag_ms=100)
    admission.sample(0.2)
    clock.now += 1.0
    admission.sample(0.06)  # still loaded, less so
    clock.now += RECOVER_SECONDS - 0.5
    assert admission.pressure() is Pressure.SHEDDING
    clock.now += 1.0
    assert admission.pressure() is Pressure.NORMAL


def test_connection_limit_is_exact_and_frees_with_each_socket() -> None:
    admission, _ = gate(max_connections=10, max_loop_lag_ms=0)
    for _ in range(8):
        admission.admit_socket()
    admission.check(Work.DEFERRABLE, "http")
    admission.admit_socket()  # 9 of 10: past 90 %, work that can wait is refused
    with pytest.raises(Overloaded):
        admission.check(Work.DEFERRABLE, "http")
    admission.admit_socket()
    with pytest.raises(Overloaded) as refused:
        admission.admit_socket()
    assert refused.value.headers["Retry-After"] == "5"
    admission.release_socket()
    admission.admit_socket()
    assert admission.sockets == 10


def test_zero_means_no_limit() -> None:
    admission, _ = gate(max_connections=0, max_loop_lag_ms=0)
    admission.sample(10.0)
    for _ in range(100):
        admission.admit_socket()
    assert admission.pressure() is Pressure.NORMAL
    assert admission.lag == 10.0
