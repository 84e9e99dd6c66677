"""Clients for each service, built from settings when they are needed (never at import time)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from llmops.errors import ConfigError
from llmops.settings import Settings

if TYPE_CHECKING:
    import lakefs
    from mlflow import MlflowClient
    from pymilvus import MilvusClient


def process_env(settings: Settings) -> dict[str, str]:
    """Environment variables the official clients read (Prefect, MLflow) for this stack."""
    env = {
        "PREFECT_API_URL": settings.prefect.api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "MLFLOW_TRACKING_URI": settings.mlflow.base_url,
    }
    if settings.prefect.managed:
        env["PREFECT_HOME"] = str(settings.storage.service_dir("prefect"))
    if settings.prefect.api_key is not None:
        env["PREFECT_API_KEY"] = settings.prefect.api_key.get_secret_value()
    if settings.prefect.auth_string is not None:
        env["PREFECT_API_AUTH_STRING"] = settings.prefect.auth_string.get_secret_value()
    if settings.mlflow.username and settings.mlflow.password is not None:
        env["MLFLOW_TRACKING_USERNAME"] = settings.mlflow.username
        env["MLFLOW_TRACKING_PASSWORD"] = settings.mlflow.password.get_secret_value()
    return env


def use_stack(settings: Settings) -> None:
    """Point this process's Prefect and MLflow clients at the stack (call before running a flow)."""
    os.environ.update(process_env(settings))


def mlflow_client(settings: Settings) -> MlflowClient:
    from mlflow import MlflowClient

    use_stack(settings)  # credentials travel through the environment for MLflow's REST client
    return MlflowClient(tracking_uri=settings.mlflow.base_url, registry_uri=settings.mlflow.base_url)


def milvus_client(settings: Settings, timeout_s: float = 10.0) -> MilvusClient:
    from pymilvus import MilvusClient

    token = settings.milvus.token.get_secret_value() if settings.milvus.token else ""
    # pymilvus pings every 10 s even when idle; gRPC servers (Milvus Lite's among them) answer an
    # idle client that pings more often than every 5 minutes with GOAWAY "too_many_pings", and
    # every later call fails with UNAVAILABLE. Ping only while calls are in flight.
    options = {"grpc.keepalive_time_ms": 60_000, "grpc.keepalive_permit_without_calls": False}
    return MilvusClient(uri=settings.milvus.base_url, token=token, timeout=timeout_s, grpc_options=options)


def lakefs_client(settings: Settings) -> lakefs.Client:
    from lakefs.client import Client

    lk = settings.lakefs
    if not lk.access_key_id or lk.secret_access_key is None:
        raise ConfigError(
            "LLMOPS_LAKEFS_ACCESS_KEY_ID / LLMOPS_LAKEFS_SECRET_ACCESS_KEY are not set; for the local "
            "stack run `llmops up` once (it creates them), otherwise set both in the environment"
        )
    return Client(host=lk.base_url, username=lk.access_key_id, password=lk.secret_access_key.get_secret_value())
