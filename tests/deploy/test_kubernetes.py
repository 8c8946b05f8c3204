"""deploy/kubernetes: rendered by kustomize (kubectl's), validated against the
Kubernetes OpenAPI schemas with kubernetes-validate, and wired consistently.

The ServiceMonitor and PrometheusRule are Prometheus Operator CRDs, which
kubernetes-validate has no schema for; they are checked by hand below, as is the
prometheus-adapter rule that turns a Draftroom metric into the
HorizontalPodAutoscaler's per-pod metric.

The pgbouncer the base ships must be compose's: the same image, the same
pgbouncer.ini (the one devtools' ShippedPgBouncer runs in tests/store), the same
node settings, and the only way from a node to PostgreSQL.
"""

from __future__ import annotations

import asyncio
import base64
import configparser
import json
import re
import urllib.parse
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml

from devtools.inprocess import make_settings, running_server
from devtools.pgbouncer import SHIPPED_INI, ShippedPgBouncer, render_shipped_ini
from draftroom.client import DraftroomClient

from .tools import DEPLOY, KUBERNETES, ROOT, kubectl_binary, run

# The oldest Kubernetes still maintained upstream when this was written, and the
# newest kubernetes-validate knows: the manifests must suit both.
VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
CRDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}


def _render(path: Path) -> list[dict[str, Any]]:
    result = run([kubectl_binary(), "kustomize", str(path)])
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def _one(resources: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    """The one resource of ``kind`` (named ``name``, or Draftroom's own when pgbouncer
    has one of that kind too)."""
    of_kind = [r for r in resources if r["kind"] == kind]
    if name is None and len(of_kind) > 1:
        name = "draftroom-credentials" if kind == "Secret" else "draftroom"
    (found,) = [r for r in of_kind if name is None or r["metadata"]["name"] == name]
    return found


@pytest.fixture(scope="module")
def overlay() -> list[dict[str, Any]]:
    return _render(KUBERNETES / "overlays" / "example")


@pytest.mark.parametrize("folder", ["base", "overlays/example", "prometheus-adapter"])
@pytest.mark.parametrize("version", VERSIONS)
def test_every_rendered_resource_validates(folder: str, version: str) -> None:
    resources = _render(KUBERNETES / folder)
    assert resources
    for resource in resources:
        if (resource["apiVersion"], resource["kind"]) in CRDS:
            continue
        kubernetes_validate.validate(resource, version, strict=True)


def test_the_validator_rejects_a_broken_manifest(overlay: list[dict[str, Any]]) -> None:
    deployment = _one(overlay, "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replicas": "three"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[0], strict=True)


def test_every_listed_file_exists() -> None:
    for kustomization in KUBERNETES.rglob("kustomization.yaml"):
        spec = yaml.safe_load(kustomization.read_text())
        files = spec.get("resources", []) + [p["path"] for p in spec.get("patches", [])]
        generators = spec.get("secretGenerator", []) + spec.get("configMapGenerator", [])
        files += [f for g in generators for f in g.get("envs", [])]
        files += [f.split("=", 1)[-1] for g in generators for f in g.get("files", [])]
        for name in files:
            assert (kustomization.parent / name).exists(), f"{kustomization}: {name}"


def test_the_overlay_has_every_part(overlay: list[dict[str, Any]]) -> None:
    kinds = sorted(r["kind"] for r in overlay)
    assert kinds == sorted([
        "Namespace", "Secret", "Deployment", "Service", "PodDisruptionBudget",
        "HorizontalPodAutoscaler", "NetworkPolicy", "ServiceMonitor", "PrometheusRule",
        "Ingress",
        # pgbouncer, and the overlay's alias for where PostgreSQL runs
        "ConfigMap", "Secret", "Deployment", "Service", "PodDisruptionBudget",
        "NetworkPolicy", "Service",
    ])  # fmt: skip
    assert {r["metadata"].get("namespace", "draftroom") for r in overlay} == {"draftroom"}
    image = _one(overlay, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.example.com/draftroom:0.1.0"
    pgbouncer = _one(overlay, "Deployment", "pgbouncer")["spec"]["template"]["spec"]
    assert pgbouncer["containers"][0]["image"] == "registry.example.com/draftroom-pgbouncer:1.18.0"


def test_deployment_probes_shutdown_and_security(overlay: list[dict[str, Any]]) -> None:
    pod = _one(overlay, "Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    # preStop, then the drain, then uvicorn's own shutdown (drain + 5 s) must all
    # fit in the grace period, or the kubelet SIGKILLs a node with unsaved edits.
    args = container["args"]
    drain = float(args[args.index("--drain-seconds") + 1])
    pre_stop = float(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert pod["terminationGracePeriodSeconds"] > pre_stop + drain + 5
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the image's USER
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/data", "/tmp"} <= mounts
    assert container["resources"]["requests"]["cpu"]


def test_credentials_come_from_the_secret(overlay: list[dict[str, Any]]) -> None:
    secret = _one(overlay, "Secret")
    (container,) = _one(overlay, "Deployment")["spec"]["template"]["spec"]["containers"]
    refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in container["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    for name in ("DRAFTROOM_DATABASE_URL", "DRAFTROOM_REDIS_URL"):
        assert refs[name]["name"] == secret["metadata"]["name"]
        assert refs[name]["key"] in secret["data"]
    plain = {e["name"] for e in container["env"] if "value" in e}
    assert not plain & {"DRAFTROOM_DATABASE_URL", "DRAFTROOM_REDIS_URL", "DRAFTROOM_LLM_API_KEY"}


def test_selectors_match_the_pods(overlay: list[dict[str, Any]]) -> None:
    deployment = _one(overlay, "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]

    def matches(selector: dict[str, str]) -> bool:
        return bool(selector) and selector.items() <= labels.items()

    assert matches(deployment["spec"]["selector"]["matchLabels"])
    service = _one(overlay, "Service")
    assert matches(service["spec"]["selector"])
    assert matches(_one(overlay, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"])
    assert matches(_one(overlay, "NetworkPolicy")["spec"]["podSelector"]["matchLabels"])
    backend = _one(overlay, "Ingress")["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    assert backend["service"]["name"] == service["metadata"]["name"]
    assert backend["service"]["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    monitor = _one(overlay, "ServiceMonitor")
    scraped = [
        r["metadata"]["name"]
        for r in overlay
        if r["kind"] == "Service"
        and monitor["spec"]["selector"]["matchLabels"].items()
        <= r["metadata"].get("labels", {}).items()
    ]
    assert scraped == [service["metadata"]["name"]]
    ports = {p["name"] for p in service["spec"]["ports"]}
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= ports
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    # The alert rules select job="draftroom"; jobLabel names the label that sets it.
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "draftroom"


def test_prometheus_rule_carries_the_shipped_alerts(overlay: list[dict[str, Any]]) -> None:
    rule = _one(overlay, "PrometheusRule")
    shipped = yaml.safe_load((ROOT / "deploy" / "observability" / "alerts.yml").read_text())
    assert rule["spec"]["groups"] == shipped["groups"], "run scripts/update-k8s-alerts"


def _adapter_rules() -> list[dict[str, Any]]:
    (configmap,) = _render(KUBERNETES / "prometheus-adapter")
    rules: list[dict[str, Any]] = yaml.safe_load(configmap["data"]["config.yaml"])["rules"]
    return rules


def test_hpa_scales_on_cpu_and_a_metric_the_adapter_serves(overlay: list[dict[str, Any]]) -> None:
    hpa = _one(overlay, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == (
        "Deployment",
        _one(overlay, "Deployment")["metadata"]["name"],
    )
    metrics = {m["type"]: m for m in hpa["spec"]["metrics"]}
    assert metrics["Resource"]["resource"]["name"] == "cpu"
    pods_metric = metrics["Pods"]["pods"]["metric"]["name"]
    served = {rule["name"]["as"] for rule in _adapter_rules()}
    assert pods_metric in served
    assert 1 < hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    # Scale-in moves live WebSockets: it must be slower than scale-out.
    behavior = hpa["spec"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] >= 300
    assert behavior["scaleUp"]["stabilizationWindowSeconds"] < 60


def _series(rule: dict[str, Any]) -> str:
    match = re.match(r"(\w+)\{", rule["seriesQuery"])
    assert match, rule["seriesQuery"]
    return match.group(1)


async def test_adapter_rules_query_metrics_a_node_exports(tmp_path: Path) -> None:
    """Scrape a real node's /metrics: every series the adapter reads is there."""
    wanted = {_series(rule) for rule in _adapter_rules()}
    assert "draftroom_websocket_connections" in wanted
    settings = make_settings(tmp_path)
    async with running_server(settings) as server, DraftroomClient(server.ws("hpa")) as client:
        await client.wait_saved(client.insert("x"))
        await asyncio.sleep(0.6)  # one event-loop lag sample
        async with httpx.AsyncClient() as http:
            scrape = (await http.get(server.http + "/metrics")).text
    values = {
        line.split("{")[0].split(" ")[0]: line.rsplit(" ", 1)[-1]
        for line in scrape.splitlines()
        if line and not line.startswith("#")
    }
    assert not wanted - set(values), f"not exported: {sorted(wanted - set(values))}"
    assert float(values["draftroom_websocket_connections"]) >= 1


def test_docs_name_the_same_metric() -> None:
    text = (ROOT / "docs" / "DEPLOY.md").read_text()
    for rule in _adapter_rules():
        assert rule["name"]["as"] in text


# pgbouncer: the same pooler, config and node settings as deploy/compose.yaml.


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return compose


def _ini(text: str) -> configparser.ConfigParser:
    parsed = configparser.ConfigParser(interpolation=None)
    parsed.read_string(text)
    return parsed


def _secret_value(secret: dict[str, Any], key: str) -> str:
    if key in secret.get("stringData", {}):
        return str(secret["stringData"][key])
    return base64.b64decode(secret["data"][key]).decode()


def _cluster_ini(resources: list[dict[str, Any]]) -> str:
    """pgbouncer.ini as the pgbouncer pods get it: from the ConfigMap their volume names."""
    pod = _one(resources, "Deployment", "pgbouncer")["spec"]["template"]["spec"]
    (volume,) = pod["volumes"]
    (source,) = [s["configMap"] for s in volume["projected"]["sources"] if "configMap" in s]
    (item,) = source["items"]
    configmap = _one(resources, "ConfigMap", source["name"])
    text: str = configmap["data"][item["key"]]
    return text


@pytest.mark.parametrize("folder", ["base", "overlays/example"])
def test_the_cluster_runs_the_pgbouncer_ini_compose_ships(folder: str) -> None:
    """One pgbouncer.ini for compose, Kubernetes and the tests' ShippedPgBouncer, so
    what tests/store/test_pgbouncer.py proves about it holds in the cluster too."""
    cluster = _cluster_ini(_render(KUBERNETES / folder))
    compose = (DEPLOY / _compose()["configs"]["pgbouncer-ini"]["file"]).read_text()
    assert cluster == compose, "cp deploy/compose/pgbouncer.ini deploy/kubernetes/base/"
    bouncer = ShippedPgBouncer(5432, "secret")
    try:
        assert bouncer.ini == SHIPPED_INI and SHIPPED_INI.read_text() == cluster
        users = bouncer.base / "userlist.txt"
        expected = render_shipped_ini(
            cluster, server_port=5432, listen_port=bouncer.port, auth_file=users
        )
        assert bouncer._write_config().read_text() == expected
    finally:
        bouncer.cleanup()


def test_pgbouncer_pods_find_their_config_where_compose_puts_it(
    overlay: list[dict[str, Any]],
) -> None:
    base = _render(KUBERNETES / "base")
    compose = _compose()["services"]["pgbouncer"]
    # The image compose builds (Debian's package), under the same name.
    (container,) = _one(base, "Deployment", "pgbouncer")["spec"]["template"]["spec"]["containers"]
    assert container["image"] == compose["image"]
    entrypoint = re.search(r"^ENTRYPOINT (.+)$", compose["build"]["dockerfile_inline"], re.M)
    assert entrypoint
    ini_path = json.loads(entrypoint.group(1))[-1]
    assert "command" not in container and "args" not in container  # the image's ENTRYPOINT
    # The ini where the ENTRYPOINT reads it, and the userlist where the ini says.
    deployment = _one(overlay, "Deployment", "pgbouncer")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    (mount,) = container["volumeMounts"]
    (volume,) = pod["volumes"]
    assert volume["name"] == mount["name"]
    files = {
        f"{mount['mountPath']}/{item['path']}": (kind, source["name"], item["key"])
        for entry in volume["projected"]["sources"]
        for kind, source in entry.items()
        for item in source["items"]
    }
    assert {c["target"]: c["source"] for c in compose["configs"]} == {
        ini_path: "pgbouncer-ini",
        "/etc/pgbouncer/userlist.txt": "pgbouncer-users",
    }
    ini = _ini(_cluster_ini(overlay))["pgbouncer"]
    assert files[ini_path][0] == "configMap"
    kind, name, key = files[ini["auth_file"]]
    assert kind == "secret" and key in _one(overlay, "Secret", name)["data"]
    # It listens where the Service sends clients.
    port = int(ini["listen_port"])
    (ports,) = container["ports"]
    assert ports["containerPort"] == port
    (service_port,) = _one(overlay, "Service", "pgbouncer")["spec"]["ports"]
    assert service_port["targetPort"] == ports["name"]
    # Non-root and a read-only root: pgbouncer must not be told to write a file.
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert not any(ini.get(k) for k in ("logfile", "pidfile", "unix_socket_dir"))
    # Two replicas, probed on its port, one down at a time.
    assert deployment["spec"]["replicas"] == 2
    assert container["readinessProbe"]["tcpSocket"]["port"] == ports["name"]
    assert container["livenessProbe"]["tcpSocket"]["port"] == ports["name"]
    assert container["resources"]["requests"]["cpu"] and container["resources"]["limits"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    for selector in (
        deployment["spec"]["selector"]["matchLabels"],
        _one(overlay, "Service", "pgbouncer")["spec"]["selector"],
        _one(overlay, "PodDisruptionBudget", "pgbouncer")["spec"]["selector"]["matchLabels"],
        _one(overlay, "NetworkPolicy", "pgbouncer")["spec"]["podSelector"]["matchLabels"],
    ):
        assert selector and selector.items() <= labels.items()
    assert _one(overlay, "PodDisruptionBudget", "pgbouncer")["spec"]["maxUnavailable"] == 1


def test_nodes_use_pgbouncer_with_composes_settings(overlay: list[dict[str, Any]]) -> None:
    (container,) = _one(overlay, "Deployment")["spec"]["template"]["spec"]["containers"]
    plain = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    compose_env = _compose()["x-draftroom"]["environment"]
    wanted = {k: v for k, v in compose_env.items() if k.startswith("DRAFTROOM_DATABASE_")}
    # compose's URL names its own hosts and password; the cluster's is checked below.
    del wanted["DRAFTROOM_DATABASE_URL"]
    secret = _one(overlay, "Secret")
    url = urllib.parse.urlsplit(_secret_value(secret, "DRAFTROOM_DATABASE_URL"))
    assert wanted["DRAFTROOM_DATABASE_POOLER"] == "pgbouncer"
    assert {k: plain[k] for k in wanted} == wanted
    # The URL names the pgbouncer Service, a database pgbouncer serves, and the user
    # and password of its userlist.
    service = _one(overlay, "Service", "pgbouncer")
    (port,) = service["spec"]["ports"]
    assert (url.hostname, url.port) == (service["metadata"]["name"], port["port"])
    ini = _ini(_cluster_ini(overlay))
    assert url.path.lstrip("/") in ini["databases"]
    userlist = _secret_value(_one(overlay, "Secret", "pgbouncer-userlist"), "userlist.txt")
    assert f'"{url.username}" "{url.password}"' in userlist.splitlines()
    # The overlay tells the cluster where the ini's PostgreSQL host is.
    target = dict(kv.split("=", 1) for kv in ini["databases"][url.path.lstrip("/")].split())
    assert _one(overlay, "Service", target["host"])["spec"]["type"] == "ExternalName"


def test_only_pgbouncer_reaches_postgresql(overlay: list[dict[str, Any]]) -> None:
    def pods(name: str) -> dict[str, str]:
        labels: dict[str, str] = _one(overlay, "Deployment", name)["spec"]["template"]["metadata"][
            "labels"
        ]
        return labels

    def selects(peer: dict[str, Any], labels: dict[str, str]) -> bool:
        wanted = peer.get("podSelector", {}).get("matchLabels", {})
        return "podSelector" in peer and wanted.items() <= labels.items()

    ini = _ini(_cluster_ini(overlay))
    pg_port = int(dict(kv.split("=", 1) for kv in ini["databases"]["draftroom"].split())["port"])
    bouncer_port = int(ini["pgbouncer"]["listen_port"])
    nodes = _one(overlay, "NetworkPolicy", "draftroom")["spec"]
    node_ports = {p["port"]: rule for rule in nodes["egress"] for p in rule["ports"]}
    assert pg_port not in node_ports
    (peer,) = node_ports[bouncer_port]["to"]
    assert selects(peer, pods("pgbouncer")) and not selects(peer, pods("draftroom"))
    bouncer = _one(overlay, "NetworkPolicy", "pgbouncer")["spec"]
    assert set(bouncer["policyTypes"]) == {"Ingress", "Egress"}
    (rule,) = bouncer["ingress"]
    (peer,) = rule["from"]
    assert selects(peer, pods("draftroom")) and not selects(peer, pods("pgbouncer"))
    assert [p["port"] for p in rule["ports"]] == ["pgbouncer"]
    assert {p["port"] for r in bouncer["egress"] for p in r["ports"]} == {53, pg_port}


def test_operations_sizes_postgresql_for_the_shipped_replicas(
    overlay: list[dict[str, Any]],
) -> None:
    """The sizing rule in docs/OPERATIONS.md, with the manifests' own numbers."""
    ini = _ini(_cluster_ini(overlay))["pgbouncer"]
    pool = int(ini["default_pool_size"]) + int(ini.get("reserve_pool_size", "0"))
    bouncers = _one(overlay, "Deployment", "pgbouncer")["spec"]
    b_count, b_surge = bouncers["replicas"], bouncers["strategy"]["rollingUpdate"]["maxSurge"]
    nodes = _one(overlay, "Deployment")
    n_surge = nodes["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
    n_max = _one(overlay, "HorizontalPodAutoscaler")["spec"]["maxReplicas"]
    (container,) = nodes["spec"]["template"]["spec"]["containers"]
    pool_max = int(
        next(e["value"] for e in container["env"] if e["name"] == "DRAFTROOM_DATABASE_POOL_MAX")
    )
    # Every node's pool could land on one pgbouncer: each must take them all.
    assert (n_max + n_surge) * pool_max <= int(ini["max_client_conn"])
    text = " ".join((ROOT / "docs" / "OPERATIONS.md").read_text().split())
    times = "\N{MULTIPLICATION SIGN}"
    assert f"({b_count} + {b_surge}) {times} {pool} = {(b_count + b_surge) * pool}" in text
    assert f"({n_max} + {n_surge}) {times} {pool_max} = {(n_max + n_surge) * pool_max}" in text
