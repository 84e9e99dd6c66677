"""Static checks of what production runs: the Dockerfiles (hadolint), the Kubernetes manifests and the
GPU work pool's job template (the Kubernetes API schemas, prefect-kubernetes's job configuration),
the compose file (docker-compose config) and the production deployments (prefect.yaml)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ROOT / "infra" / "production"
KUBERNETES = "1.33.0"  # the API version the manifests are checked against
IN_CI = os.environ.get("CI") == "true"


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        message = f"{name} is not installed: `make test` installs it"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "infra/production/mlflow.Dockerfile"])
def test_dockerfiles_pass_hadolint(dockerfile: str) -> None:
    linted = subprocess.run([_tool("hadolint"), "--no-color", str(ROOT / dockerfile)], capture_output=True, text=True)
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_kubernetes_manifests_validate_against_the_api_schemas() -> None:
    import kubernetes_validate

    documents = [d for d in yaml.safe_load_all((PRODUCTION / "k8s" / "llmops.yaml").read_text()) if d]
    assert {d["kind"] for d in documents} >= {"Namespace", "PersistentVolumeClaim", "Deployment"}
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES, strict=True)


def _template() -> dict:
    return json.loads((PRODUCTION / "k8s" / "gpu-job-template.json").read_text())


def test_gpu_job_template_is_a_kubernetes_work_pool_template_and_renders_a_valid_job() -> None:
    import jsonschema
    import kubernetes_validate
    from prefect.client.schemas.objects import FlowRun
    from prefect.utilities.templating import apply_values
    from prefect_kubernetes.worker import KubernetesWorker, KubernetesWorkerJobConfiguration

    template = _template()
    jsonschema.Draft7Validator.check_schema(template["variables"])
    # every variable the worker's own template has, so no setting of the worker is lost
    default = KubernetesWorker.get_default_base_job_template()
    assert set(default["variables"]["properties"]) <= set(template["variables"]["properties"])
    values = {k: v["default"] for k, v in template["variables"]["properties"].items() if v.get("default") is not None}
    jsonschema.validate(values, template["variables"])
    # what the worker does with a template (prefect.workers.base.from_template_and_values) short of
    # resolving block documents and Prefect variables, of which this template has none
    assert "{{ prefect." not in json.dumps(template)
    populated = apply_values(template=template["job_configuration"], values=values)
    config = KubernetesWorkerJobConfiguration(**populated)
    config.prepare_for_flow_run(FlowRun(flow_id=uuid.uuid4(), name="gentle-otter"))  # as the worker does for a run
    job = config.job_manifest
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert pod["nodeSelector"] and pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert container["envFrom"][0]["secretRef"]["name"] == "llmops-secrets"
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "llmops-state"
    # a pod given N GPUs trains in N ranks (tasks/train/launch.py), with shared memory for NCCL
    assert {"name": "LLMOPS_TRAIN_PROCESSES", "value": "auto"} in container["env"]
    assert any(v.get("emptyDir", {}).get("medium") == "Memory" for v in pod["volumes"])
    kubernetes_validate.validate(job, KUBERNETES, strict=True)


def test_production_deployments_pull_from_the_image_and_use_the_gpu_pool() -> None:
    config = yaml.safe_load((PRODUCTION / "prefect.yaml").read_text())
    assert config["pull"] == [{"prefect.deployments.steps.set_working_directory": {"directory": "/opt/llmops"}}]
    local = {d["name"] for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]}
    deployments = config["deployments"]
    assert {d["name"] for d in deployments} == local  # every local deployment has its production twin
    for deployment in deployments:
        assert deployment["work_pool"]["name"] == "llmops-k8s-gpu", deployment["name"]
        module, _, function = deployment["entrypoint"].partition(":")
        assert (ROOT / (module.replace(".", "/") + ".py")).is_file() and function
    lifecycle = next(d for d in deployments if d["name"] == "lifecycle")
    assert lifecycle["work_pool"]["job_variables"]["gpu_count"] >= 1


def test_compose_file_passes_docker_compose_config(tmp_path: Path) -> None:
    env = {
        line.split("=", 1)[0]: "x"
        for line in (PRODUCTION / "env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    checked = subprocess.run(
        [_tool("docker-compose"), "-f", str(PRODUCTION / "docker-compose.yml"), "--env-file", str(env_file), "config"],
        capture_output=True,
        text=True,
        cwd=PRODUCTION,
    )
    assert checked.returncode == 0, checked.stderr
    services = yaml.safe_load(checked.stdout)["services"]
    assert not [s for s, spec in services.items() if ":latest" in str(spec.get("image", ""))]
    assert not [s for s, spec in services.items() if s != "buckets" and "healthcheck" not in spec]
