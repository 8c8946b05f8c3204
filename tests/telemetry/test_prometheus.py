"""A real Prometheus scrapes a real node while a client edits; rules and dashboards
only query metrics the server really exports."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from devtools.inprocess import make_settings, running_server
from devtools.process import free_port
from draftroom.client import DraftroomClient
from draftroom.telemetry import metrics
from draftroom.telemetry.tracing import FANOUT_SAMPLE_EVERY

ROOT = Path(__file__).resolve().parents[2]
OBS = ROOT / "deploy" / "observability"
METRIC = re.compile(r"\b((?:draftroom|gen_ai|db_client)_[A-Za-z_]+)")


def _binary(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} not found: apt-get install prometheus (scripts/test APT_PACKAGES)"
    return path


def test_promtool_accepts_alert_rules() -> None:
    result = subprocess.run(
        [_binary("promtool"), "check", "rules", str(OBS / "alerts.yml")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def _queried_metrics() -> set[str]:
    texts = [(OBS / "alerts.yml").read_text()]
    for board in (OBS / "grafana").glob("*.json"):
        for panel in json.loads(board.read_text())["panels"]:
            texts += [t["expr"] for t in panel["targets"]]
    names = set()
    for text in texts:
        # Drop label matchers, grouping clauses and template labels: only metric names stay.
        text = re.sub(r"\$labels\.\w+", "", text)
        while re.search(r"\{[^{}]*\}", text):
            text = re.sub(r"\{[^{}]*\}", "", text)
        text = re.sub(r"\b(?:by|without)\s*\([^)]*\)", "", text)
        names |= set(METRIC.findall(text))
    return names


async def test_every_queried_metric_is_exported(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    queried = _queried_metrics()
    assert len(queried) >= 15
    common = dict(redis_url=redis_url, allow_anonymous=True)
    a_settings = make_settings(tmp_path / "a", postgres_url, **common)
    b_settings = make_settings(tmp_path / "b", postgres_url, **common)
    async with running_server(a_settings) as server, running_server(b_settings) as other:
        async with DraftroomClient(server.ws("m")) as client, DraftroomClient(other.ws("m")):
            await asyncio.sleep(0.3)  # both nodes subscribed
            for _ in range(2 * FANOUT_SAMPLE_EVERY):  # some updates carry commit times
                n = client.insert("h")
            await client.wait_saved(n)
            # What agents and exports report through the telemetry API.
            metrics.agent_call("summarize", "test-model", 0.5, 100, 20, 0.001)
            metrics.cache_miss("summarize")
            metrics.export_done("docx", 1.5)
            await asyncio.sleep(0.6)  # one event-loop lag sample
            async with httpx.AsyncClient() as http:
                scrape = (await http.get(server.http + "/metrics")).text
    series = {line.split("{")[0].split(" ")[0] for line in scrape.splitlines() if line[:1] != "#"}
    missing = sorted(m for m in queried if m not in series)
    assert not missing, f"queried but not exported: {missing}"


def _query(prom: str, expr: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=5)
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


def _start_prometheus(config: Path, tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    with open(tmp_path / "prometheus.log", "wb") as log:
        return subprocess.Popen(
            [
                _binary("prometheus"), f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def _ready(prom: str) -> bool:
    try:
        return httpx.get(f"{prom}/-/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


async def test_prometheus_sees_series_move(
    tmp_path: Path, draftroom_process: Any, postgres_url: str
) -> None:
    node = draftroom_process("--database-url", postgres_url)
    port = free_port()
    target = node.http_url.split("//", 1)[1]
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: draftroom\n"
        f"    static_configs: [{{targets: ['{target}']}}]\n"
    )
    prom_proc = _start_prometheus(config, tmp_path, port)
    prom = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30

        def value(expr: str) -> float:
            result = _query(prom, expr)
            return float(result[0]["value"][1]) if result else -1.0

        while not _ready(prom):
            assert time.monotonic() < deadline, (tmp_path / "prometheus.log").read_text()[-2000:]
            await asyncio.sleep(0.2)
        while value('up{job="draftroom"}') != 1.0:
            assert time.monotonic() < deadline, (tmp_path / "prometheus.log").read_text()[-2000:]
            await asyncio.sleep(0.5)
        before = value("sum(draftroom_updates_received_total)")
        async with DraftroomClient(node.ws_url("watched")) as client:
            for ch in "prometheus":
                n = client.insert(ch)
                await client.wait_saved(n)
            while value("sum(draftroom_websocket_connections)") < 1:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.5)
            while value("sum(draftroom_updates_received_total)") < before + 10:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.5)
        while value("sum(draftroom_save_duration_seconds_count)") <= 0:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.5)
        assert value('sum(draftroom_dependency_up{draftroom_dependency="store"})') == 1.0
        # A scrape is one instant: one that lands while the pool's connections are all
        # busy (a save, a compaction) sees none idle; the next one after it sees them back.
        idle = 'sum(db_client_connection_count{db_client_connection_state="idle"})'
        while value(idle) < 1:
            assert time.monotonic() < deadline, f"{idle} stayed {value(idle)}"
            await asyncio.sleep(0.5)
        # The searches' own pool is a series of its own (empty until a search).
        search_pool = (
            'sum(db_client_connection_count{db_client_connection_pool_name="draftroom-search"})'
        )
        assert value(search_pool) == 0.0, search_pool
    finally:
        prom_proc.terminate()
        try:
            prom_proc.wait(10)
        except subprocess.TimeoutExpired:
            prom_proc.kill()
            prom_proc.wait(10)
