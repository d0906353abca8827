"""Kubernetes manifests: required fields, and labels, selectors and references that agree.

No cluster is needed: structure and wiring are checked here, and `kubectl kustomize` builds the
set when kubectl is installed. Nothing validates against a cluster's API schemas.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from fingerv7.cli.main import app
from fingerv7.core.credentials import instance_of_key

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


def _containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = workload["spec"]["template"]["spec"]["containers"]
    return containers


def _workloads() -> dict[str, dict[str, Any]]:
    return _by_kind("Deployment") | _by_kind("StatefulSet")


WORKER = _by_kind("StatefulSet")["fingerv7-worker"]
(WORKER_CONTAINER,) = _containers(WORKER)
WORKER_ENV = {item["name"]: item for item in WORKER_CONTAINER["env"]}


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
        ("StatefulSet", "fingerv7-worker"),
        ("Service", "fingerv7-worker"),
        ("HorizontalPodAutoscaler", "fingerv7-worker"),
        ("PodDisruptionBudget", "fingerv7-worker"),
        ("ConfigMap", "fingerv7-orchestrator-config"),
        ("ConfigMap", "fingerv7-worker-config"),
        ("Secret", "fingerv7-secrets"),
    } <= kinds


@pytest.mark.parametrize("name", ["fingerv7-orchestrator", "fingerv7-worker"])
def test_workload_selector_matches_its_pod_labels(name: str) -> None:
    workload = _workloads()[name]
    selector = workload["spec"]["selector"]["matchLabels"]
    pod_labels = workload["spec"]["template"]["metadata"]["labels"]

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
    assert WORKER_ENV["INSTANCE_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert WORKER["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 60


def test_worker_pods_have_stable_names_from_a_headless_service() -> None:
    service = _by_kind("Service")[WORKER["spec"]["serviceName"]]
    pod_labels = WORKER["spec"]["template"]["metadata"]["labels"]

    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert WORKER["spec"]["podManagementPolicy"] == "Parallel"


def test_each_worker_reads_only_the_key_named_after_its_pod() -> None:
    key_file = WORKER_ENV["ORCHESTRATOR_API_KEY_FILE"]["value"]
    (mount,) = [m for m in WORKER_CONTAINER["volumeMounts"] if m["mountPath"] == key_file]
    volumes = {v["name"]: v for v in WORKER["spec"]["template"]["spec"]["volumes"]}
    key_secret = volumes[mount["name"]]["secret"]

    # The Secret volume is mounted one item deep, at the item named after this pod's id.
    assert mount["subPathExpr"] == "$(INSTANCE_ID)" and "subPath" not in mount
    assert mount["readOnly"] is True
    assert key_secret["secretName"] == "fingerv7-worker-keys"  # kubernetes-keys' default
    assert key_secret["defaultMode"] == 0o440
    assert WORKER["spec"]["template"]["spec"]["securityContext"]["fsGroup"] == 10001


def test_workers_never_get_the_instance_secret_or_a_shared_key() -> None:
    referenced = {
        item["valueFrom"]["secretKeyRef"]["key"]
        for item in WORKER_CONTAINER["env"]
        if "secretKeyRef" in item.get("valueFrom", {})
    }

    assert "ORCHESTRATOR_INSTANCE_SECRET" not in referenced
    assert "ORCHESTRATOR_API_KEY" not in WORKER_ENV  # its own key comes from the file
    assert all("secretRef" not in source for source in WORKER_CONTAINER.get("envFrom", []))
    orchestrator_secret = _by_kind("Secret")["fingerv7-secrets"]["stringData"]
    assert "ORCHESTRATOR_INSTANCE_SECRET" in orchestrator_secret


def test_references_to_configmaps_and_secrets_resolve() -> None:
    config_maps = _by_kind("ConfigMap")
    secrets = _by_kind("Secret")
    for workload in _workloads().values():
        for container in _containers(workload):
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
    used = {c["image"] for w in _workloads().values() for c in _containers(w)}

    assert used == image_names


def test_hpa_scales_the_worker_statefulset_on_unassigned_streams() -> None:
    hpa = _by_kind("HorizontalPodAutoscaler")["fingerv7-worker"]
    target = hpa["spec"]["scaleTargetRef"]
    metrics = [m["external"]["metric"] for m in hpa["spec"]["metrics"] if m["type"] == "External"]

    assert hpa["apiVersion"] == "autoscaling/v2"
    assert (target["kind"], target["name"]) == ("StatefulSet", "fingerv7-worker")
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
    pod_labels = WORKER["spec"]["template"]["metadata"]["labels"]

    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pdb["spec"]["maxUnavailable"] == 1


def test_secret_template_holds_only_placeholders() -> None:
    for key, value in _by_kind("Secret")["fingerv7-secrets"]["stringData"].items():
        assert value == "" or "<" in value, f"{key} looks like a real secret"
        if "@" in value:
            assert ":<" in value, f"{key}: the password part must be a placeholder"


def test_kubernetes_keys_makes_a_key_for_every_pod_the_hpa_may_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORCHESTRATOR_INSTANCE_SECRET", "test-secret")
    max_replicas = _by_kind("HorizontalPodAutoscaler")["fingerv7-worker"]["spec"]["maxReplicas"]

    result = CliRunner().invoke(app, ["kubernetes-keys", "--replicas", str(max_replicas)])

    assert result.exit_code == 0, result.output
    secret = yaml.safe_load(result.output)
    assert (secret["kind"], secret["metadata"]["name"]) == ("Secret", "fingerv7-worker-keys")
    assert secret["metadata"]["namespace"] == KUSTOMIZATION["namespace"]
    pods = [f"{WORKER['metadata']['name']}-{n}" for n in range(max_replicas)]
    assert sorted(secret["stringData"]) == sorted(pods)
    for pod, key in secret["stringData"].items():
        assert instance_of_key("test-secret", key) == pod  # each item admits its own pod only
    assert "test-secret" not in result.output


def test_kubernetes_keys_needs_the_secret_and_valid_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.delenv("ORCHESTRATOR_INSTANCE_SECRET", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env
    runner = CliRunner()

    missing = runner.invoke(app, ["kubernetes-keys", "--replicas", "2"])
    assert missing.exit_code == 2 and "ORCHESTRATOR_INSTANCE_SECRET is not set" in missing.output

    monkeypatch.setenv("ORCHESTRATOR_INSTANCE_SECRET", "test-secret")
    bad = runner.invoke(app, ["kubernetes-keys", "--replicas", "2", "--statefulset", "Bad_Name"])
    assert bad.exit_code == 2 and "not a Kubernetes object name" in bad.output
    assert runner.invoke(app, ["kubernetes-keys", "--replicas", "0"]).exit_code == 2


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_builds_the_manifests() -> None:
    built = subprocess.run(
        ["kubectl", "kustomize", str(KUBERNETES)], capture_output=True, text=True, check=True
    )
    kinds = {(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(built.stdout) if d}
    assert ("StatefulSet", "fingerv7-worker") in kinds
