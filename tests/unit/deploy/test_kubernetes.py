"""Kubernetes manifests: required fields, and labels, selectors and references that agree.

No cluster is needed: these are the checks `kubectl apply --dry-run` and a linter would make
about structure and wiring.
"""

from __future__ import annotations

from typing import Any

import pytest

from .contract import DEPLOY, load_yaml, load_yaml_documents

KUBERNETES = DEPLOY / "kubernetes"
KUSTOMIZATION = load_yaml(KUBERNETES / "kustomization.yaml")
MANIFESTS = [
    document
    for resource in KUSTOMIZATION["resources"]
    for document in load_yaml_documents(KUBERNETES / resource)
]


def _by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in MANIFESTS if m["kind"] == kind}


def _containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    return containers


def test_kustomization_lists_every_manifest() -> None:
    listed = set(KUSTOMIZATION["resources"])
    present = {path.name for path in KUBERNETES.glob("*.yaml")}
    # Helm values for prometheus-adapter are not a Kubernetes object.
    assert present - listed == {"kustomization.yaml", "prometheus-adapter-values.yaml"}
    assert listed <= present


@pytest.mark.parametrize(
    "manifest", MANIFESTS, ids=lambda m: f"{m.get('kind')}/{m.get('metadata', {}).get('name')}"
)
def test_required_fields(manifest: dict[str, Any]) -> None:
    assert manifest["apiVersion"] == "v1" or "/" in manifest["apiVersion"]
    assert manifest["kind"]
    assert manifest["metadata"]["name"]
    assert manifest["kind"] in ("Namespace", "ConfigMap", "Secret") or "spec" in manifest


def test_expected_objects() -> None:
    kinds = {(m["kind"], m["metadata"]["name"]) for m in MANIFESTS}

    assert {
        ("Deployment", "fingerv7-orchestrator"),
        ("Service", "fingerv7-orchestrator"),
        ("Deployment", "fingerv7-worker"),
        ("HorizontalPodAutoscaler", "fingerv7-worker"),
        ("PodDisruptionBudget", "fingerv7-worker"),
        ("ConfigMap", "fingerv7-orchestrator-config"),
        ("ConfigMap", "fingerv7-worker-config"),
        ("Secret", "fingerv7-secrets"),
    } <= kinds


@pytest.mark.parametrize("name", ["fingerv7-orchestrator", "fingerv7-worker"])
def test_deployment_selector_matches_its_pod_labels(name: str) -> None:
    deployment = _by_kind("Deployment")[name]
    selector = deployment["spec"]["selector"]["matchLabels"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]

    assert selector and selector.items() <= pod_labels.items()


def test_service_selects_the_orchestrator_pods_on_a_declared_port() -> None:
    service = _by_kind("Service")["fingerv7-orchestrator"]
    deployment = _by_kind("Deployment")["fingerv7-orchestrator"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    port_names = {p["name"] for c in _containers(deployment) for p in c["ports"]}

    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names
    worker_config = _by_kind("ConfigMap")["fingerv7-worker-config"]["data"]
    assert worker_config["ORCHESTRATOR_URL"] == f"http://{service['metadata']['name']}:8000"


def test_orchestrator_probes_and_single_writer() -> None:
    deployment = _by_kind("Deployment")["fingerv7-orchestrator"]
    (container,) = _containers(deployment)

    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["startupProbe"]["httpGet"]["path"] == "/health"
    assert "livenessProbe" in container


def test_worker_takes_its_instance_id_from_the_pod_name() -> None:
    deployment = _by_kind("Deployment")["fingerv7-worker"]
    (container,) = _containers(deployment)
    env = {item["name"]: item for item in container["env"]}

    assert env["INSTANCE_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 60


def test_references_to_configmaps_and_secrets_resolve() -> None:
    config_maps = _by_kind("ConfigMap")
    secrets = _by_kind("Secret")
    for deployment in _by_kind("Deployment").values():
        for container in _containers(deployment):
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in config_maps
                if "secretRef" in source:
                    assert source["secretRef"]["name"] in secrets
            for item in container.get("env", []):
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets[ref["name"]]["stringData"]


def test_images_are_the_ones_kustomize_rewrites() -> None:
    image_names = {image["name"] for image in KUSTOMIZATION["images"]}
    used = {c["image"] for d in _by_kind("Deployment").values() for c in _containers(d)}

    assert used == image_names


def test_hpa_scales_the_worker_deployment_on_unassigned_streams() -> None:
    hpa = _by_kind("HorizontalPodAutoscaler")["fingerv7-worker"]
    target = hpa["spec"]["scaleTargetRef"]
    metrics = [m["external"]["metric"] for m in hpa["spec"]["metrics"] if m["type"] == "External"]

    assert hpa["apiVersion"] == "autoscaling/v2"
    assert (target["kind"], target["name"]) == ("Deployment", "fingerv7-worker")
    assert target["name"] in _by_kind("Deployment")
    assert {"name": "fingerv7_streams", "selector": {"matchLabels": {"status": "unassigned"}}} in (
        metrics
    )
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


def test_prometheus_adapter_exposes_the_metric_the_hpa_reads() -> None:
    values = load_yaml(KUBERNETES / "prometheus-adapter-values.yaml")
    exposed = {rule["name"]["as"] for rule in values["rules"]["external"]}
    hpa = _by_kind("HorizontalPodAutoscaler")["fingerv7-worker"]

    assert {m["external"]["metric"]["name"] for m in hpa["spec"]["metrics"]} <= exposed


def test_pdb_covers_the_worker_pods() -> None:
    pdb = _by_kind("PodDisruptionBudget")["fingerv7-worker"]
    pod_labels = _by_kind("Deployment")["fingerv7-worker"]["spec"]["template"]["metadata"]["labels"]

    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pdb["spec"]["maxUnavailable"] == 1


def test_secret_template_holds_only_placeholders() -> None:
    for key, value in _by_kind("Secret")["fingerv7-secrets"]["stringData"].items():
        assert value == "" or "<" in value, f"{key} looks like a real secret"
        if "@" in value:
            assert ":<" in value, f"{key}: the password part must be a placeholder"
