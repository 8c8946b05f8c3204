"""bench/web.py's pass/fail decisions and report, on recorded results (no browser).

A run of cold loads only (``--skip-typing``) must still be judged on what it measured,
and a paired run (``--baseline-tree``) must show both builds.
"""

from __future__ import annotations

import copy
from typing import Any

from bench import web


def _dist(p50: float, p95: float) -> dict[str, float]:
    return {"p50": p50, "p95": p95, "p99": p95, "max": p95, "mean": p50, "n": 20}


def _loads(p50: float, p95: float, label: str = "this tree") -> dict[str, Any]:
    return {
        "target": label,
        "ms": _dist(p50, p95),
        "runs_ms": [p50] * 20,
        "scripts": ["editor-x.js", "index-y.js"],
        "js_gzip_kb": 164.0,
        "breakdown_ms": {"ttfb": 5.0, "editable": p50 * 0.6, "visible": p50},
        "step2_bytes": 3742,
    }


def _run(paint_p95: float, cpu: float = 250.0) -> dict[str, Any]:
    """One typing run's raw samples: 20 keys, two of them at ``paint_p95``."""
    return {
        "keys": 20,
        "remote_edits": 33,
        "key_to_paint": [12.0] * 18 + [paint_p95] * 2,
        "key_to_paint_busy": [9.0] * 18 + [paint_p95 - 2] * 2,
        "key_to_handled": [4.0] * 20,
        "frames": [16.6] * 60,
        "longtasks": [],
        "remote": [14.0] * 33,
        "renderer_cpu_ms_per_s": [cpu],
        "gpu_cpu_ms_per_s": [30.0],
    }


def _typing(paint_p95: float) -> dict[str, Any]:
    return web.typing_summary([_run(paint_p95)])


def _good() -> dict[str, Any]:
    return {
        "machine": {"nproc": 2, "cpu_model": "test", "kernel": "k", "python": "3", "date": "d"},
        "date": "2026-11-29T14:37:00+00:00",
        "desktop": _loads(470, 660),
        "phone": _loads(1500, 1900),
        "typing": {"draftroom": _typing(15.0), "node_reference": _typing(15.5)},
        "lighthouse_desktop": {"median": 100.0, "runs": [100.0] * 3},
        "lighthouse_mobile": {"median": 95.0, "runs": [95.0] * 3},
    }


def test_a_good_run_passes_and_each_miss_is_named() -> None:
    assert web.verdicts(_good()) == []
    bad = copy.deepcopy(_good())
    bad["phone"]["ms"]["p95"] = 2438.0
    bad["typing"]["draftroom"]["key_to_paint_ms"]["p95"] = 39.1
    failures = web.verdicts(bad)
    assert len(failures) == 2
    assert "phone cold load p95 2438" in failures[0]
    assert "keypress-to-paint p95 39.1" in failures[1]


def test_loads_only_are_judged_on_loads() -> None:
    r = _good()
    r["typing"] = {}
    assert web.verdicts(r) == []
    r["desktop"]["ms"]["p95"] = 1009.0
    assert web.verdicts(r) == ["desktop cold load p95 1009 ms >= 1000"]
    text = web.report(r, web.verdicts(r))
    assert "MISSED: desktop cold load p95 1009 ms" in text
    assert "| desktop | 5 |" in text  # the breakdown row


def test_a_paired_run_reports_both_builds() -> None:
    r = _good()
    r["baseline"] = {
        "desktop": _loads(469, 700, "baseline"),
        "phone": _loads(1776, 2438, "baseline"),
    }
    text = web.report(r, web.verdicts(r))
    assert "| phone | this tree | 20 | 1,500 | 1,900 |" in text
    assert "| phone | baseline | 20 | 1,776 | 2,438 |" in text


def test_typing_rounds_pool_the_samples_and_show_each_runs_p95() -> None:
    ty = web.typing_summary([_run(20.0, cpu=240.0), _run(30.0, cpu=260.0), _run(25.0)])
    assert ty["keys"] == 60 and ty["remote_edits"] == 99
    assert ty["key_to_paint_ms"]["n"] == 60
    assert [r["key_to_paint_ms"]["p95"] for r in ty["runs"]] == [20.0, 30.0, 25.0]
    assert ty["renderer_cpu_ms_per_s"]["p50"] == 250.0
    r = _good()
    del r["desktop"], r["phone"]  # --skip-loads: judged on typing alone
    r["typing"] = {"draftroom": ty, "node_reference": _typing(15.5)}
    failures = web.verdicts(r)
    assert failures == ["keypress-to-paint p95 25.0 ms >= 16"]
    text = web.report(r, failures)
    # The honest number, the one without the vsync wait, and the spread over runs.
    assert "| draftroom | 3 | 60 | 99 | 12.0 / 25.0 | 20.0-30.0 | 9.0 / 23.0 | 18.0-28.0 |" in text
    assert "Cold load" not in text
