"""deploy/kubernetes: rendered by kustomize (kubectl's), validated against the
Kubernetes OpenAPI schemas with kubernetes-validate, and wired consistently.

The ServiceMonitor and PrometheusRule are Prometheus Operator CRDs, which
kubernetes-validate has no schema for; they are checked by hand below, as is the
prometheus-adapter rule that turns a Draftroom metric into the
HorizontalPodAutoscaler's per-pod metric.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml

from devtools.inprocess import make_settings, running_server
from draftroom.client import DraftroomClient

from .tools import KUBERNETES, ROOT, kubectl_binary, run

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


def _one(resources: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [r for r in resources if r["kind"] == kind]
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
        files += [f for g in spec.get("secretGenerator", []) for f in g.get("envs", [])]
        for name in files:
            assert (kustomization.parent / name).exists(), f"{kustomization}: {name}"


def test_the_overlay_has_every_part(overlay: list[dict[str, Any]]) -> None:
    kinds = sorted(r["kind"] for r in overlay)
    assert kinds == sorted([
        "Namespace", "Secret", "Deployment", "Service", "PodDisruptionBudget",
        "HorizontalPodAutoscaler", "NetworkPolicy", "ServiceMonitor", "PrometheusRule",
        "Ingress",
    ])  # fmt: skip
    assert {r["metadata"].get("namespace", "draftroom") for r in overlay} == {"draftroom"}
    image = _one(overlay, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.example.com/draftroom:0.1.0"


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
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
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
