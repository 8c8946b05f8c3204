"""The pass/fail decisions of the load test and the benchmarks, on recorded results.

A load test that cannot fail proves nothing: these feed the decision functions the results
of runs that went wrong (Locust never started, users that never connected, a missed
latency target) and check that each is a failure with its reason, and that a good run
passes. No load is generated here.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from bench import common
from bench import export as export_bench
from loadtests import run


def _good_run() -> dict[str, Any]:
    stats = {
        "connect": {"requests": 200, "failures": 0},
        "sync": {"requests": 200, "failures": 0},
        "ack": {"requests": 5000, "failures": 0},
        "Aggregated": {"requests": 10400, "failures": 0},
    }
    return {
        "users": 200,
        "exit_codes": {"locust": 0, "probe": 0},
        "locust": {"stats": stats, "failures": []},
        "probe": {
            "clients": 40,
            "connected": 40,
            "errors": {},
            "acks_missing": 0,
            "deliveries_missing": 0,
            "ack_ms": {"p99": 20.0},
            "delivery_ms": {"p99": 30.0},
        },
    }


def test_a_good_load_test_passes() -> None:
    assert run.failures(_good_run()) == []


def test_locust_that_never_started_fails_the_load_test() -> None:
    # What a missing `locust` executable looked like: taskset exits 127, Locust writes no
    # CSVs, and only the probe's own clients are measured (and meet the latency target).
    r = _good_run()
    r["exit_codes"]["locust"] = 127
    r["locust"] = {"stats": {}, "failures": []}
    reasons = run.failures(r)
    assert "locust exited with 127 (see locust.log)" in reasons
    assert "only 0 of 200 Locust users connected" in reasons
    assert "only 0 of 200 Locust users synced" in reasons
    assert "NOT MET" in _render_verdict(r)


def test_users_that_did_not_all_connect_fail_the_load_test() -> None:
    r = _good_run()
    r["locust"]["stats"]["connect"] = {"requests": 200, "failures": 3}
    r["locust"]["stats"]["sync"] = {"requests": 150, "failures": 0}
    reasons = run.failures(r)
    assert "only 197 of 200 Locust users connected" in reasons
    assert "only 150 of 200 Locust users synced" in reasons
    assert "3 Locust failures" in reasons


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"ack_ms": {"p99": 140.0}}, "probe save ack p99 140.0 ms >= 100 ms"),
        ({"delivery_ms": {}}, "no probe delivery latency measured"),
        ({"connected": 12}, "probe clients synced: 12 of 40"),
        ({"acks_missing": 2}, "probe acks missing: 2"),
        ({"errors": {"closed": 1}}, 'probe errors: {"closed": 1}'),
    ],
)
def test_probe_misses_fail_the_load_test(change: dict[str, Any], reason: str) -> None:
    r = _good_run()
    r["probe"].update(change)
    assert run.failures(r) == [reason]


def test_no_probe_result_fails_the_load_test() -> None:
    r = _good_run()
    r["probe"] = {"error": "no probe result: missing"}
    assert "no probe result: missing" in run.failures(r)


def test_a_run_without_exit_codes_fails() -> None:
    r = _good_run()
    del r["exit_codes"]  # the run was cut short before the generators were reaped
    assert "locust did not finish (no exit code)" in run.failures(r)


def _render_verdict(r: dict[str, Any]) -> str:
    full = copy.deepcopy(r)
    full.update(
        date="now", nodes=2, room_size=5, typists_pct=20.0, typing_interval_ms=300.0,
        awareness_interval_s=3.0, ramp_s=2.0, settle_s=5.0, duration_s=20.0, processes=2,
        server_cpus=[0], gen_cpus=[1], load_before=[0.1, 0.1, 0.1],
    )  # fmt: skip
    return run.render(full).splitlines()[-1 - len(run.failures(r))]


def test_the_load_test_refuses_to_run_without_locust(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(run, "BIN", tmp_path)  # an environment without the bench extra
    assert run.main(["--users", "10", "--out", str(tmp_path / "out")]) == 2
    assert "locust not found" in capsys.readouterr().err


def test_the_main_exit_code_follows_the_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    assert common.exit_status([]) == 0
    assert common.exit_status(["fanout @ 500: only 3 of 500 clients connected"]) == 1
    assert "FAILED: fanout @ 500: only 3 of 500 clients connected" in capsys.readouterr().err


def test_bench_load_runs_fail_on_missing_clients_errors_or_no_data() -> None:
    ok = dict(wanted=200, connected=200, measured=1234, errors_total=0)
    assert common.load_failures("sqlite", **ok) == []  # type: ignore[arg-type]
    assert common.load_failures("sqlite", **{**ok, "connected": 0}) == [  # type: ignore[arg-type]
        "sqlite: only 0 of 200 clients connected"
    ]
    assert common.load_failures("sqlite", **{**ok, "measured": 0}) == [  # type: ignore[arg-type]
        "sqlite: nothing was measured"
    ]
    assert common.load_failures("sqlite", **{**ok, "errors_total": 2})  # type: ignore[arg-type]


def test_export_bench_fails_on_a_missed_target_or_a_format_that_did_not_run() -> None:
    fast = {"export_s": 0.5, "peak_mb": 100.0}
    assert export_bench.failures([("md", fast), ("docx", fast)], ["md", "docx"]) == []
    reasons = export_bench.failures([("md", {"export_s": 2.0, "peak_mb": 600.0})], ["md", "docx"])
    assert reasons == [
        "docx: did not run",
        "md: export took 2.00 s (target < 1 s)",
        "md: peak RSS 600 MB (ceiling 500 MB)",
    ]


def _search_bench() -> Any:
    import importlib
    import importlib.util
    import sys

    # bench/search.py imports its neighbours as scripts do (`import common`): give it
    # the same modules under those names rather than changing sys.path.
    for neighbour in ("common", "search_corpus"):
        sys.modules.setdefault(neighbour, importlib.import_module(f"bench.{neighbour}"))
    if "bench_search" not in sys.modules:
        # Not `import search`: tests/search is a package of that name.
        path = Path(__file__).resolve().parent.parent / "bench" / "search.py"
        spec = importlib.util.spec_from_file_location("bench_search", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_search"] = module
        spec.loader.exec_module(module)
    return sys.modules["bench_search"]


def _search_run() -> dict[str, Any]:
    def phase(ack_p99: float) -> dict[str, Any]:
        return {
            "ack_ms": {"p99": ack_p99, "n": 20000},
            "search_ms": {"p99": 30.0, "n": 500},
            "fresh_s": {"p99": 1.5, "n": 120},
            "errors": {},
            "connected": 200,
        }

    return {"store": "sqlite", "on": phase(10.5), "off": phase(10.0)}


def test_search_bench_passes_a_good_run_and_fails_each_missed_target() -> None:
    verdicts = _search_bench().verdicts
    assert verdicts([_search_run()], 200) == []
    cases: list[tuple[str, Any, str]] = [
        ("errors", {"ack not received in 10 s": 3}, "sqlite indexing on: 3 errors"),
        ("connected", 150, "only 150 of 200 clients connected"),
        ("search_ms", {"p99": 60.0, "n": 500}, "search p99 60.0 ms >= 50 ms"),
        ("search_ms", {"p99": float("nan"), "n": 0}, "no search was measured"),
        ("fresh_s", {"p99": 2.5, "n": 120}, "freshness p99 2.50 s >= 2 s"),
        ("fresh_s", {"p99": float("nan"), "n": 0}, "no freshness marker was measured"),
        ("ack_ms", {"p99": 11.5, "n": 20000}, "(> +10%)"),
    ]
    for key, value, reason in cases:
        run = _search_run()
        run["on"][key] = value
        failures = verdicts([run], 200)
        assert any(reason in f for f in failures), (key, failures)
    assert verdicts([{"store": "postgres", "on": _search_run()["on"]}], 200) == [
        "postgres: a load phase did not run"
    ]
