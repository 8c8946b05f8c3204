"""The HorizontalPodAutoscaler's algorithm, replayed over a recorded load trace.

Why a replay rather than a cluster: nothing here runs a kube-controller-manager, and an
autoscaler's failures (too slow to add pods, or adding and removing them in turns) come
from its arithmetic and its windows, not from Kubernetes' plumbing. So this module runs
the controller's documented algorithm (kubernetes.io, "Horizontal Pod Autoscaling", and
``pkg/controller/podautoscaler`` it describes) on the shipped manifest
(deploy/kubernetes/base/hpa.yaml), once per sync period, over a trace that
bench/hpa_record.py measured on a real node. What is modelled, step by step:

- per metric: ``desired = ceil(ready * usage / target)``; skipped while
  ``|usage/target - 1| <= tolerance`` (0.1, the controller's default);
- a pod with no sample (not scraped yet) counts as 0 % of the target on a scale-up
  and as 100 % of it on a scale-down (for CPU: ``max(100 %, target)`` of its request);
  an unready pod counts as 0 on a scale-up and is left out otherwise; if that rewrite
  flips the direction or lands in the tolerance, the replica count stays;
- the largest proposal over the metrics wins; a metric with no sample at all is invalid,
  and any invalid metric forbids a scale-down;
- ``behavior``: the recommendation is held between the lowest recommendation of the
  scale-up stabilization window and the highest of the scale-down window, then limited
  by the policies (replicas added or removed in each policy's period, ``selectPolicy``)
  and by min/max replicas;
- pods: a new pod is Pending, then running but not Ready (out of the Service, so not
  scraped: no connection sample; for CPU "unready" until one metric window after it
  turned Ready), then Ready. Removed pods vanish at once (their clients reconnect to
  the rest).

The trace is the *total* load of the fleet. Per pod: open connections are
``total / ready pods`` (the HPA averages over pods, so how the clients are spread does
not matter: sum / count); CPU is the idle CPU of a pod plus the recorded busy CPU above
idle shared over the ready pods. The controller sees each sample ``metric_delay_s`` late
(the ServiceMonitor's scrape interval).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# kube-controller-manager's defaults (--horizontal-pod-autoscaler-*).
SYNC_PERIOD_S = 15
TOLERANCE = 0.1
CPU_INITIALIZATION_PERIOD_S = 300
DEFAULT_DOWNSCALE_WINDOW_S = 300
INT32_MAX, INT32_MIN = 2**31 - 1, -(2**31)
# A scale reversed within this long of the one before is a flap: pods added and removed
# again (or removed and needed again) within five minutes. Every pod removed drains its
# WebSockets onto the rest, so churn costs the writers, not just the scheduler.
FLAP_WINDOW_S = 300.0


@dataclass(frozen=True)
class Policy:
    kind: str  # "Pods" or "Percent"
    value: int
    period_s: int


@dataclass(frozen=True)
class Rules:
    window_s: int
    select: str  # "Max", "Min" or "Disabled"
    policies: tuple[Policy, ...]


# autoscaling/v2 defaults when `behavior` leaves a direction out.
DEFAULT_SCALE_UP = Rules(0, "Max", (Policy("Percent", 100, 15), Policy("Pods", 4, 15)))
DEFAULT_SCALE_DOWN = Rules(DEFAULT_DOWNSCALE_WINDOW_S, "Max", (Policy("Percent", 100, 15),))


@dataclass(frozen=True)
class Metric:
    name: str  # "cpu" or the Pods metric's name
    target: float  # utilisation percent (cpu) or the per-pod average value

    @property
    def is_cpu(self) -> bool:
        return self.name == "cpu"


@dataclass(frozen=True)
class HPA:
    min_replicas: int
    max_replicas: int
    metrics: tuple[Metric, ...]
    scale_up: Rules = DEFAULT_SCALE_UP
    scale_down: Rules = DEFAULT_SCALE_DOWN
    tolerance: float = TOLERANCE


def _rules(raw: dict[str, Any] | None, default: Rules) -> Rules:
    if not raw:
        return default
    policies = tuple(
        Policy(p["type"], int(p["value"]), int(p["periodSeconds"])) for p in raw.get("policies", [])
    )
    return Rules(
        int(raw.get("stabilizationWindowSeconds", default.window_s)),
        str(raw.get("selectPolicy", "Max")),
        policies or default.policies,
    )


def _quantity(value: Any) -> float:
    text = str(value)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def load_hpa(path: Path) -> HPA:
    """The autoscaling/v2 manifest, with the API's defaults filled in."""
    doc = yaml.safe_load(path.read_text())
    spec = doc["spec"]
    metrics: list[Metric] = []
    for m in spec["metrics"]:
        if m["type"] == "Resource":
            target = m["resource"]["target"]
            if m["resource"]["name"] != "cpu" or target["type"] != "Utilization":
                raise ValueError(f"only cpu Utilization is replayed, not {m['resource']}")
            metrics.append(Metric("cpu", float(target["averageUtilization"])))
        elif m["type"] == "Pods":
            target = m["pods"]["target"]
            if target["type"] != "AverageValue":
                raise ValueError(f"Pods metrics take AverageValue targets, not {target}")
            metrics.append(Metric(m["pods"]["metric"]["name"], _quantity(target["averageValue"])))
        else:
            raise ValueError(f"metric type {m['type']} is not replayed")
    behavior = spec.get("behavior") or {}
    return HPA(
        min_replicas=int(spec.get("minReplicas", 1)),
        max_replicas=int(spec["maxReplicas"]),
        metrics=tuple(metrics),
        scale_up=_rules(behavior.get("scaleUp"), DEFAULT_SCALE_UP),
        scale_down=_rules(behavior.get("scaleDown"), DEFAULT_SCALE_DOWN),
    )


# -- one metric: replica_calculator ------------------------------------------------------


@dataclass(frozen=True)
class PodSample:
    """What the controller knows of one pod for one metric. ``value`` None: no sample."""

    value: float | None
    ready: bool = True
    pending: bool = False


def metric_replicas(
    current: int,
    pods: Sequence[PodSample],
    target: float,
    tolerance: float = TOLERANCE,
    missing_down_value: float | None = None,
) -> int | None:
    """Replicas one metric asks for, or None when no pod has a usable sample (invalid).

    ``target`` is per pod (for CPU: a pod's request x utilisation target, and ``value``
    its usage). ``missing_down_value``: what a pod without a sample counts as on a
    scale-down (default: exactly the target)."""
    metrics: list[float] = []
    unready = missing = 0
    for pod in pods:
        if pod.pending:
            unready += 1
        elif pod.value is None:
            missing += 1
        elif not pod.ready:
            unready += 1
        else:
            metrics.append(pod.value)
    if not metrics:
        return None
    ready_count = len(metrics)
    ratio = sum(metrics) / len(metrics) / target
    scale_up_with_unready = unready > 0 and ratio > 1.0
    if not scale_up_with_unready and missing == 0:
        if abs(1.0 - ratio) <= tolerance:
            return current
        return math.ceil(ratio * ready_count)
    if missing:
        if ratio < 1.0:
            fill = target if missing_down_value is None else missing_down_value
            metrics += [fill] * missing
        elif ratio > 1.0:
            metrics += [0.0] * missing
    if scale_up_with_unready:
        metrics += [0.0] * unready
    new_ratio = sum(metrics) / len(metrics) / target
    if abs(1.0 - new_ratio) <= tolerance or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current
    proposal = math.ceil(new_ratio * len(metrics))
    if (new_ratio < 1.0 and proposal > current) or (new_ratio > 1.0 and proposal < current):
        return current
    return proposal


# -- the controller: horizontal.go -------------------------------------------------------


@dataclass
class Controller:
    """One HPA's state across syncs: past recommendations and scale events."""

    hpa: HPA
    recommendations: list[tuple[float, int]] = field(default_factory=list)
    up_events: list[tuple[float, int]] = field(default_factory=list)
    down_events: list[tuple[float, int]] = field(default_factory=list)

    def _stabilize(self, now: float, current: int, desired: int) -> int:
        up_cut = now - self.hpa.scale_up.window_s
        down_cut = now - self.hpa.scale_down.window_s
        up_rec = down_rec = desired
        for t, rec in self.recommendations:
            if t > up_cut:
                up_rec = min(up_rec, rec)
            if t > down_cut:
                down_rec = max(down_rec, rec)
        keep_after = min(up_cut, down_cut)
        self.recommendations = [(t, r) for t, r in self.recommendations if t >= keep_after]
        self.recommendations.append((now, desired))
        return min(max(current, up_rec), down_rec)

    @staticmethod
    def _changed(now: float, period_s: int, events: list[tuple[float, int]]) -> int:
        return sum(change for t, change in events if t > now - period_s)

    def _up_limit(self, now: float, current: int) -> int:
        rules = self.hpa.scale_up
        if rules.select == "Disabled":
            return current
        proposals = []
        for p in rules.policies:
            start = (
                current
                - self._changed(now, p.period_s, self.up_events)
                + self._changed(now, p.period_s, self.down_events)
            )
            if p.kind == "Pods":
                proposals.append(start + p.value)
            else:
                proposals.append(math.ceil(start * (1 + p.value / 100)))
        # No policy: no limit (the controller starts from MinInt32 / MaxInt32).
        if rules.select == "Min":
            return min(proposals, default=INT32_MAX)
        return max(proposals, default=INT32_MIN)

    def _down_limit(self, now: float, current: int) -> int:
        rules = self.hpa.scale_down
        if rules.select == "Disabled":
            return current
        proposals = []
        for p in rules.policies:
            start = (
                current
                - self._changed(now, p.period_s, self.up_events)
                + self._changed(now, p.period_s, self.down_events)
            )
            if p.kind == "Pods":
                proposals.append(start - p.value)
            else:
                proposals.append(int(start * (1 - p.value / 100)))
        if rules.select == "Min":
            return max(proposals, default=INT32_MIN)
        return min(proposals, default=INT32_MAX)

    def normalize(self, now: float, current: int, desired: int) -> int:
        """normalizeDesiredReplicasWithBehaviors: stabilize, then rate-limit and clamp."""
        desired = self._stabilize(now, current, desired)
        if desired > current:
            ceiling = min(self.hpa.max_replicas, max(self._up_limit(now, current), current))
            return min(desired, ceiling)
        if desired < current:
            floor = max(self.hpa.min_replicas, min(self._down_limit(now, current), current))
            return max(desired, floor)
        return desired

    def sync(self, now: float, current: int, samples: dict[str, list[PodSample]]) -> int:
        """One reconcile: the replica count the controller sets (== current: no change).

        ``samples``: per metric name, per pod; CPU values are utilisation percent."""
        hpa = self.hpa
        if not self.recommendations:
            self.recommendations.append((now, current))  # recordInitialRecommendation
        if current > hpa.max_replicas:
            desired = hpa.max_replicas
        elif current < hpa.min_replicas:
            desired = hpa.min_replicas
        else:
            proposals = []
            invalid = 0
            for metric in hpa.metrics:
                down_fill = max(100.0, metric.target) if metric.is_cpu else None
                proposal = metric_replicas(
                    current, samples[metric.name], metric.target, hpa.tolerance, down_fill
                )
                if proposal is None:
                    invalid += 1
                else:
                    proposals.append(proposal)
            desired = max(proposals, default=0)
            if invalid == len(hpa.metrics) or (invalid and desired < current):
                return current  # the controller errors out of this sync: no change
            desired = self.normalize(now, current, desired)
        if desired != current:
            events = self.up_events if desired > current else self.down_events
            longest = max(
                p.period_s
                for p in (self.hpa.scale_up if desired > current else self.hpa.scale_down).policies
            )
            events[:] = [e for e in events if e[0] > now - longest]
            events.append((now, abs(desired - current)))
        return desired


# -- the fleet, over a trace ---------------------------------------------------------------


@dataclass(frozen=True)
class PodModel:
    """How long a new pod takes, and what it costs idle."""

    pending_s: float = 5.0  # scheduled, image present, container starting
    ready_s: float = 15.0  # startupProbe then readinessProbe (periodSeconds 5) pass
    cpu_window_s: float = 30.0  # metrics-server: one window after Ready before CPU counts
    cpu_request_cores: float = 0.5
    idle_cpu_cores: float = 0.0
    metric_delay_s: float = 15.0  # ServiceMonitor interval


@dataclass
class Replay:
    """Replica count per second, each scale decision, and the verdict numbers."""

    replicas: list[int]
    decisions: list[tuple[float, int, int]]  # (time, from, to)
    crossed_at: float | None  # first time the load needs more than min replicas
    first_up_at: float | None
    direction_changes: int
    flaps: int
    max_replicas: int
    # seconds in which fewer pods ran than the load needed (settled), and the longest run
    short_s: int = 0
    longest_short_s: int = 0
    flap_window_s: float = 0.0

    @property
    def scale_up_delay_s(self) -> float | None:
        if self.crossed_at is None or self.first_up_at is None:
            return None
        return self.first_up_at - self.crossed_at


def _need_more(hpa: HPA, n: int, conns: float, busy: float, model: PodModel) -> bool:
    """Would a settled fleet of n ready pods carrying this load be asked to grow?"""
    for metric in hpa.metrics:
        if metric.is_cpu:
            per_pod = (model.idle_cpu_cores + busy / n) / model.cpu_request_cores * 100
        else:
            per_pod = conns / n
        if per_pod / metric.target > 1 + hpa.tolerance:
            return True
    return False


def needed_replicas(hpa: HPA, conns: float, busy: float, model: PodModel) -> int:
    n = hpa.min_replicas
    while n < hpa.max_replicas and _need_more(hpa, n, conns, busy, model):
        n += 1
    return n


def replay(
    hpa: HPA,
    connections: Sequence[float],
    busy_cores: Sequence[float],
    model: PodModel | None = None,
    sync_period_s: int = SYNC_PERIOD_S,
    flap_window_s: float | None = None,
) -> Replay:
    """Run the controller once per sync period over a per-second trace of the fleet's
    total open connections and busy CPU (cores above idle). Direction changes count
    every reversal of the replica count; flaps only those within ``flap_window_s``
    (default :data:`FLAP_WINDOW_S`) of the decision before."""
    model = model or PodModel()
    flap_window = FLAP_WINDOW_S if flap_window_s is None else flap_window_s
    conn_metric = next((m.name for m in hpa.metrics if not m.is_cpu), None)
    ctl = Controller(hpa)
    pods: list[float] = [-1e9] * hpa.min_replicas  # creation times; the first are settled
    replicas_by_s: list[int] = []
    decisions: list[tuple[float, int, int]] = []
    crossed_at: float | None = None
    delay = int(model.metric_delay_s)
    short = run = longest_short = 0
    for t in range(len(connections)):
        seen = max(0, t - delay)
        if crossed_at is None and _need_more(
            hpa, hpa.min_replicas, connections[t], busy_cores[t], model
        ):
            crossed_at = float(t)
        if t % sync_period_s == 0:
            ready = [c for c in pods if t - c >= model.ready_s]
            n_ready = max(1, len(ready))
            samples: dict[str, list[PodSample]] = {"cpu": []}
            if conn_metric:
                samples[conn_metric] = []
            for created in pods:
                age = t - created
                pending = age < model.pending_s
                is_ready = age >= model.ready_s
                # Not-ready pods are out of the Service: no clients, no scrape.
                busy = busy_cores[seen] / n_ready if is_ready else 0.0
                cpu = (model.idle_cpu_cores + busy) / model.cpu_request_cores * 100
                cpu_counts = is_ready and (
                    age >= CPU_INITIALIZATION_PERIOD_S or age >= model.ready_s + model.cpu_window_s
                )
                samples["cpu"].append(
                    PodSample(None if pending else cpu, ready=cpu_counts, pending=pending)
                )
                if conn_metric:
                    value = connections[seen] / n_ready if is_ready else None
                    samples[conn_metric].append(PodSample(value, pending=pending))
            current = len(pods)
            new = ctl.sync(float(t), current, samples)
            if new > current:
                pods += [float(t)] * (new - current)
            elif new < current:
                pods = sorted(pods)[:new]  # the newest go first (ReplicaSet prefers them)
            if new != current:
                decisions.append((float(t), current, new))
        replicas_by_s.append(len(pods))
        if len(pods) < needed_replicas(hpa, connections[t], busy_cores[t], model):
            short += 1
            run += 1
            longest_short = max(longest_short, run)
        else:
            run = 0
    changes = flaps = 0
    for prev, cur in itertools.pairwise(decisions):
        if (prev[2] > prev[1]) != (cur[2] > cur[1]):
            changes += 1
            if cur[0] - prev[0] < flap_window:
                flaps += 1
    first_up = next((t for t, a, b in decisions if b > a), None)
    return Replay(
        replicas=replicas_by_s,
        decisions=decisions,
        crossed_at=crossed_at,
        first_up_at=first_up,
        direction_changes=changes,
        flaps=flaps,
        max_replicas=max(replicas_by_s, default=0),
        short_s=short,
        longest_short_s=longest_short,
        flap_window_s=flap_window,
    )


def in_time_limit_s(hpa: HPA, model: PodModel, sync_period_s: int = SYNC_PERIOD_S) -> float:
    """The latest a scale-up may come after the load crosses the threshold: the
    scale-up window, the metric's own delay, and one sync period to notice."""
    return hpa.scale_up.window_s + model.metric_delay_s + sync_period_s


def verdict(result: Replay, hpa: HPA, model: PodModel, limit_s: float | None = None) -> list[str]:
    """Misses: the load never crossed, scale-up late (after ``limit_s``, by default
    :func:`in_time_limit_s` of ``hpa``) or never, flapping, never back to minReplicas
    after the load fell."""
    misses = []
    limit = in_time_limit_s(hpa, model) if limit_s is None else limit_s
    if result.crossed_at is None:
        misses.append("the load never crossed the threshold: nothing to scale")
    elif result.first_up_at is None:
        misses.append("the load crossed the threshold but the HPA never scaled up")
    elif (result.scale_up_delay_s or 0) > limit:
        misses.append(
            f"scale-up {result.scale_up_delay_s:.0f} s after the crossing > {limit:.0f} s"
        )
    if result.flaps:
        misses.append(
            f"{result.flaps} flap(s): a scale reversed within {result.flap_window_s:.0f} s"
        )
    if result.replicas and result.replicas[-1] != hpa.min_replicas:
        misses.append(f"ended at {result.replicas[-1]} replicas, not minReplicas")
    return misses
