"""The Kubernetes path end to end: `fingerv7 kubernetes-keys` makes the Secret, a pod's item is
mounted as a file, and a real worker reading ORCHESTRATOR_API_KEY_FILE is admitted as itself by an
orchestrator in per-instance mode (and a neighbour's item is refused)."""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml

from fingerv7.cli.keys import worker_keys_secret
from fingerv7.worker.sample_streams import LocalStreamServer
from tests.integration.worker.support import Cluster, import_streams, worker_settings
from tests.support.orchestrator import eventually

SECRET = "test-instance-secret"


async def test_a_worker_runs_with_the_key_mounted_for_its_pod(
    tmp_path: Path, stream_server: LocalStreamServer, cluster: Cluster
) -> None:
    database_url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    await import_streams(database_url, stream_server, 2, tmp_path)
    orchestrator = await cluster.orchestrator(database_url, orchestrator_instance_secret=SECRET)
    manifest = worker_keys_secret(
        SECRET,
        statefulset="fingerv7-worker",
        replicas=2,
        namespace="fingerv7",
        secret_name="fingerv7-worker-keys",
    )
    items = yaml.safe_load(manifest)["stringData"]
    key_file = tmp_path / "instance-key"  # what subPathExpr: $(INSTANCE_ID) mounts
    key_file.write_text(items["fingerv7-worker-1"])

    worker = cluster.worker(
        worker_settings("fingerv7-worker-1", orchestrator.url, orchestrator_api_key_file=key_file)
    )

    await eventually(lambda: len(worker.running) == 2, what="the pod's worker runs both streams")
    neighbour = {"Authorization": f"Bearer {items['fingerv7-worker-0']}"}
    async with httpx.AsyncClient(base_url=orchestrator.url, headers=neighbour) as client:
        forged = await client.post(
            "/heartbeat",
            json={"instance_id": "fingerv7-worker-1", "status": "stopping", "stream_ids": []},
        )
    assert forged.status_code == 403
    assert len(worker.running) == 2
