"""bench/hpa_replay.py against the Kubernetes HPA documentation's worked examples
("Horizontal Pod Autoscaling": algorithm details, scaling policies, stabilization
window, default behavior), then the shipped manifest over synthetic load shapes.

The replay is what bench/hpa_record.py's verdict rests on, so each rule it models is
pinned here by a number the documentation states or that follows from it by hand.
"""

from __future__ import annotations

import math

import pytest

from bench import hpa_replay as h
from bench.hpa_replay import HPA, Controller, Metric, PodModel, PodSample, Policy, Rules

from .tools import KUBERNETES

SHIPPED = KUBERNETES / "base" / "hpa.yaml"


def _ready(*values: float) -> list[PodSample]:
    return [PodSample(v) for v in values]


# -- one metric ----------------------------------------------------------------------------


def test_ratio_doubles_and_halves() -> None:
    # Docs: current 200m, desired 100m -> doubled; current 50m -> halved.
    assert h.metric_replicas(4, _ready(200, 200, 200, 200), 100) == 8
    assert h.metric_replicas(4, _ready(50, 50, 50, 50), 100) == 2


def test_within_tolerance_nothing_moves() -> None:
    # Docs: skipped if the ratio is within the tolerance (0.1) of 1.0.
    assert h.metric_replicas(10, _ready(*[109] * 10), 100) == 10
    assert h.metric_replicas(10, _ready(*[91] * 10), 100) == 10
    # Just outside: ceil(1.11 * 10) = 12, ceil(0.89 * 10) = 9.
    assert h.metric_replicas(10, _ready(*[111] * 10), 100) == 12
    assert h.metric_replicas(10, _ready(*[89] * 10), 100) == 9


def test_ceil_of_ratio_times_ready_pods() -> None:
    # desiredReplicas = ceil[currentReplicas * (currentMetricValue / desiredMetricValue)]
    assert h.metric_replicas(3, _ready(130, 130, 130), 100) == math.ceil(3 * 1.3) == 4


def test_missing_metric_counts_as_zero_on_scale_up() -> None:
    # Two pods at 150 % of target, one without a sample: scaling up, the missing pod
    # counts as 0, the average becomes 100 %, inside the tolerance: no change.
    pods = [*_ready(150, 150), PodSample(None)]
    assert h.metric_replicas(3, pods, 100) == 3
    # Without the missing pod the same two would ask for ceil(1.5 * 2) = 3 -> from 2.
    assert h.metric_replicas(2, _ready(150, 150), 100) == 3


def test_missing_metric_counts_as_target_on_scale_down() -> None:
    # Two pods at 20 % of target and one missing: scaling down, the missing pod counts as
    # 100 % of the target: (20 + 20 + 100) / 3 = 46.7 % -> ceil(0.467 * 3) = 2, not 1.
    pods = [*_ready(20, 20), PodSample(None)]
    assert h.metric_replicas(3, pods, 100) == 2
    assert h.metric_replicas(3, _ready(20, 20, 20), 100) == 1


def test_unready_pods_count_as_zero_on_scale_up_only() -> None:
    # Docs: not-yet-ready pods are set aside, then assumed 0 % on a scale-up.
    pods = [*_ready(300, 300), PodSample(50, ready=False)]
    assert h.metric_replicas(3, pods, 100) == math.ceil(600 / 3 / 100 * 3)  # 6
    # On a scale-down they are left out: ceil(0.2 * 2) = 1.
    assert h.metric_replicas(3, [*_ready(20, 20), PodSample(500, ready=False)], 100) == 1


def test_rewrite_that_flips_direction_keeps_current() -> None:
    # 120 % on one ready pod, three pending: with them at 0 the average is 30 %, which
    # would scale *down*: the controller keeps the current count instead.
    pods = [PodSample(120), *[PodSample(None, pending=True)] * 3]
    assert h.metric_replicas(4, pods, 100) == 4


def test_no_sample_at_all_is_invalid() -> None:
    assert h.metric_replicas(2, [PodSample(None), PodSample(None)], 100) is None


# -- the controller ----------------------------------------------------------------------


def _hpa(**kw: object) -> HPA:
    base: dict[str, object] = {
        "min_replicas": 1,
        "max_replicas": 100,
        "metrics": (Metric("conns", 100),),
    }
    base.update(kw)
    return HPA(**base)  # type: ignore[arg-type]


def test_largest_proposal_over_metrics_wins() -> None:
    hpa = _hpa(metrics=(Metric("conns", 100), Metric("cpu", 70)))
    ctl = Controller(hpa)
    # connections ask for 2 (ratio 0.5 of 4), CPU for ceil(4 * 140/70) = 8 -> 8
    samples = {"conns": _ready(50, 50, 50, 50), "cpu": _ready(140, 140, 140, 140)}
    assert ctl.sync(0, 4, samples) == 8


def test_invalid_metric_forbids_scale_down() -> None:
    hpa = _hpa(metrics=(Metric("conns", 100), Metric("cpu", 70)))
    samples = {"conns": _ready(10, 10, 10, 10), "cpu": [PodSample(None)] * 4}
    assert Controller(hpa).sync(0, 4, samples) == 4


def test_default_scale_up_policies() -> None:
    # Docs (default behavior): add at most 4 pods or 100 % of the current replicas every
    # 15 s, whichever is more: from 1 -> 5, from 10 -> 20.
    ctl = Controller(_hpa())
    assert ctl.sync(0, 1, {"conns": _ready(5000)}) == 5
    ctl = Controller(_hpa())
    assert ctl.sync(0, 10, {"conns": _ready(*[5000] * 10)}) == 20


def test_scale_down_policy_example_from_the_docs() -> None:
    # Docs: policies Pods 4 / 60 s and Percent 10 / 60 s, the larger change wins: 80
    # replicas heading for 10 lose 8 first, then at 72 10 % is 7.2 -> 8 again; under 40
    # replicas the Pods policy's 4 is the larger.
    rules = Rules(0, "Max", (Policy("Pods", 4, 60), Policy("Percent", 10, 60)))
    ctl = Controller(_hpa(scale_down=rules))
    low = 10.0  # 10 % of the target: wants 10 replicas out of 100-ish
    n = 80
    n = ctl.sync(0, n, {"conns": _ready(*[low] * n)})
    assert n == 72
    assert ctl.sync(30, n, {"conns": _ready(*[low] * n)}) == 72  # within the 60 s period
    n = ctl.sync(61, n, {"conns": _ready(*[low] * n)})
    assert n == 64
    ctl2 = Controller(_hpa(scale_down=rules))
    assert ctl2.sync(0, 30, {"conns": _ready(*[low] * 30)}) == 26


def test_scale_down_stabilization_takes_the_highest_recent_recommendation() -> None:
    # Docs: with a 300 s window, the highest recommendation of the last 5 minutes is used.
    ctl = Controller(_hpa(scale_down=Rules(300, "Max", (Policy("Percent", 100, 15),))))
    assert ctl.sync(0, 10, {"conns": _ready(*[100] * 10)}) == 10  # recommends 10
    for t in range(15, 300, 15):
        assert ctl.sync(t, 10, {"conns": _ready(*[20] * 10)}) == 10
    assert ctl.sync(301, 10, {"conns": _ready(*[20] * 10)}) == 2


def test_scale_up_stabilization_takes_the_lowest_recent_recommendation() -> None:
    up = Rules(60, "Max", (Policy("Percent", 100, 15),))
    ctl = Controller(_hpa(scale_up=up))
    assert ctl.sync(0, 2, {"conns": _ready(100, 100)}) == 2
    assert ctl.sync(15, 2, {"conns": _ready(300, 300)}) == 2  # lowest of (2, 6) is 2
    assert ctl.sync(61, 2, {"conns": _ready(300, 300)}) == 4  # 6, limited to +100 %


def test_min_and_max_replicas_bound_the_result() -> None:
    ctl = Controller(_hpa(min_replicas=2, max_replicas=5))
    assert ctl.sync(0, 4, {"conns": _ready(*[1000] * 4)}) == 5
    down = Rules(0, "Max", (Policy("Percent", 100, 15),))
    ctl = Controller(_hpa(min_replicas=2, max_replicas=5, scale_down=down))
    assert ctl.sync(0, 4, {"conns": _ready(1, 1, 1, 1)}) == 2


# -- the shipped manifest ----------------------------------------------------------------


def test_shipped_manifest_is_read_with_its_numbers() -> None:
    hpa = h.load_hpa(SHIPPED)
    assert (hpa.min_replicas, hpa.max_replicas) >= (2, 2)
    names = {m.name for m in hpa.metrics}
    assert names == {"cpu", "draftroom_websocket_connections"}
    assert hpa.scale_down.window_s >= 60, "a scale-down window is what prevents flapping"
    assert hpa.scale_up.policies


def _trace(shape: list[tuple[int, float]]) -> list[float]:
    """Piecewise linear per-second series from (seconds, level at the end) segments."""
    out: list[float] = []
    level = 0.0
    for seconds, end in shape:
        out += [level + (end - level) * (i + 1) / seconds for i in range(seconds)]
        level = end
    return out


def test_shipped_hpa_on_a_ramp_with_a_dip_scales_up_in_time_and_does_not_flap() -> None:
    hpa = h.load_hpa(SHIPPED)
    conn = next(m for m in hpa.metrics if not m.is_cpu).target
    peak = conn * hpa.min_replicas * 3
    conns = _trace([(30, 0), (120, peak), (60, peak), (20, peak * 0.6), (60, peak * 0.6),
                    (20, peak), (60, peak), (120, 0), (900, 0)])  # fmt: skip
    busy = [c / conn * 0.2 for c in conns]  # CPU well under its target: connections lead
    model = PodModel()
    result = h.replay(hpa, conns, busy, model)
    assert result.crossed_at is not None and result.first_up_at is not None
    assert result.scale_up_delay_s is not None
    assert result.scale_up_delay_s <= h.in_time_limit_s(hpa, model)
    assert result.max_replicas >= 6
    assert result.flaps == 0
    assert h.verdict(result, hpa, model) == []


def test_a_windowless_hpa_on_the_same_dip_flaps_and_the_verdict_says_so() -> None:
    shipped = h.load_hpa(SHIPPED)
    hpa = HPA(
        shipped.min_replicas,
        shipped.max_replicas,
        shipped.metrics,
        scale_up=shipped.scale_up,
        scale_down=Rules(0, "Max", (Policy("Percent", 100, 15),)),
    )
    conn = next(m for m in hpa.metrics if not m.is_cpu).target
    peak = conn * hpa.min_replicas * 3
    conns = _trace([(30, 0), (60, peak), (60, peak), (10, peak * 0.5), (60, peak * 0.5),
                    (10, peak), (60, peak), (60, 0), (300, 0)])  # fmt: skip
    result = h.replay(hpa, conns, [0.0] * len(conns), PodModel(), flap_window_s=300)
    assert result.flaps >= 1
    assert "flap(s): a scale reversed within 300 s" in " ".join(h.verdict(result, hpa, PodModel()))


def test_a_load_that_never_crosses_is_a_miss() -> None:
    hpa = h.load_hpa(SHIPPED)
    result = h.replay(hpa, [10.0] * 120, [0.01] * 120)
    assert result.crossed_at is None
    assert h.verdict(result, hpa, PodModel()) == [
        "the load never crossed the threshold: nothing to scale"
    ]


def test_a_slow_scale_up_window_is_late() -> None:
    # A 120 s scale-up window, judged by the limit the shipped windows set.
    shipped = h.load_hpa(SHIPPED)
    slow = Rules(120, "Max", shipped.scale_up.policies)
    hpa = HPA(shipped.min_replicas, shipped.max_replicas, shipped.metrics, scale_up=slow)
    conn = next(m for m in hpa.metrics if not m.is_cpu).target
    conns = _trace([(10, 0), (30, conn * hpa.min_replicas * 2), (600, 0), (600, 0)])
    result = h.replay(hpa, conns, [0.0] * len(conns))
    limit = h.in_time_limit_s(shipped, PodModel())
    misses = h.verdict(result, hpa, PodModel(), limit_s=limit)
    assert result.scale_up_delay_s is not None and result.scale_up_delay_s > limit
    assert misses == [
        f"scale-up {result.scale_up_delay_s:.0f} s after the crossing > {limit:.0f} s"
    ]
    assert h.verdict(h.replay(shipped, conns, [0.0] * len(conns)), shipped, PodModel()) == []


@pytest.mark.parametrize("value,expected", [("1500", 1500.0), ("500m", 0.5), ("2", 2.0)])
def test_quantities(value: str, expected: float) -> None:
    assert h._quantity(value) == expected
