from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmops.errors import ConfigError
from llmops.settings import available_profiles, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("LLMOPS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("LLMOPS_STATE_DIR", str(tmp_path / "state"))


def test_local_profile_is_the_default_and_points_at_loopback() -> None:
    s = load_settings()
    assert s.profile == "local"
    assert s.prefect.api_url == "http://127.0.0.1:4200/api"
    assert s.mlflow.base_url == "http://127.0.0.1:5000"
    assert s.lakefs.api_url == "http://127.0.0.1:8000/api/v1"
    assert s.milvus.base_url == "http://127.0.0.1:19530"
    assert all(x.managed for x in (s.prefect, s.mlflow, s.lakefs, s.milvus))


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMOPS_MLFLOW_PORT", "5123")
    monkeypatch.setenv("LLMOPS_PREFECT_WORK_POOL", "gpu-pool")
    s = load_settings()
    assert s.mlflow.base_url == "http://127.0.0.1:5123"
    assert s.prefect.work_pool == "gpu-pool"


PRODUCTION_CREDENTIALS = {
    "LLMOPS_PREFECT_AUTH_STRING": "ops:prefect-secret",
    "LLMOPS_MLFLOW_USERNAME": "ops",
    "LLMOPS_MLFLOW_PASSWORD": "mlflow-secret",
    "LLMOPS_LAKEFS_ACCESS_KEY_ID": "AKIAPROD",
    "LLMOPS_LAKEFS_SECRET_ACCESS_KEY": "lakefs-secret",
    "LLMOPS_MILVUS_TOKEN": "ops:milvus-secret",
}


def test_production_profile_documents_external_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in PRODUCTION_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    s = load_settings("production")
    assert s.profile == "production"
    assert not any(x.managed for x in (s.prefect, s.mlflow, s.lakefs, s.milvus))
    assert s.mlflow.base_url.startswith("https://")
    assert s.prefect.api_url.endswith("/api")
    assert {"local", "production"} <= set(available_profiles())


def test_profile_file_by_path_and_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    profile = tmp_path / "team.env"
    profile.write_text("LLMOPS_MLFLOW_PORT=5999\nLLMOPS_MILVUS_PORT=29530\n")
    monkeypatch.setenv("LLMOPS_MILVUS_PORT", "39530")
    s = load_settings(str(profile))
    assert s.profile == "team"
    assert s.mlflow.port == 5999
    assert s.milvus.port == 39530


@pytest.mark.parametrize(
    ("env", "profile", "must_mention"),
    [
        ({}, "staging", ["LLMOPS_PROFILE", "'staging'", "local", "production"]),
        ({}, "missing/file.env", ["LLMOPS_PROFILE", "no such profile file"]),
        (
            {"LLMOPS_MLFLOW_MANAGED": "false", "LLMOPS_MLFLOW_URL": "not a url"},
            None,
            ["LLMOPS_MLFLOW_URL", "not a url"],
        ),
        ({"LLMOPS_PREFECT_PORT": "70000"}, None, ["LLMOPS_PREFECT_PORT", "70000"]),
        ({"LLMOPS_MILVUS_PORT": "abc"}, None, ["LLMOPS_MILVUS_PORT"]),
        ({"LLMOPS_LAKEFS_HOST": "0.0.0.0"}, None, ["LLMOPS_LAKEFS_HOST", "127.0.0.1", "LLMOPS_LAKEFS_MANAGED=false"]),
        # A managed service with a remote URL would get the local stack's generated key.
        (
            {"LLMOPS_LAKEFS_URL": "https://lakefs.example.com"},
            None,
            ["LLMOPS_LAKEFS_URL", "LLMOPS_LAKEFS_MANAGED=true", "LLMOPS_LAKEFS_MANAGED=false"],
        ),
        # Credentials over plain http to a server elsewhere.
        (
            {"LLMOPS_MLFLOW_MANAGED": "false", "LLMOPS_MLFLOW_URL": "http://alice:hunter2@mlflow.example.com"},
            None,
            ["LLMOPS_MLFLOW_URL", "https://", "LLMOPS_MLFLOW_ALLOW_INSECURE_HTTP", "alice:****@"],
        ),
        (
            {
                "LLMOPS_LAKEFS_MANAGED": "false",
                "LLMOPS_LAKEFS_URL": "http://lakefs.example.com",
                "LLMOPS_LAKEFS_ACCESS_KEY_ID": "AKIA1",
                "LLMOPS_LAKEFS_SECRET_ACCESS_KEY": "s",
            },
            None,
            ["LLMOPS_LAKEFS_URL", "plain http://"],
        ),
        # The production profile without credentials in the environment.
        ({}, "production", ["LLMOPS_PREFECT_AUTH_STRING", "LLMOPS_MLFLOW_PASSWORD", "LLMOPS_LAKEFS_SECRET_ACCESS_KEY"]),
    ],
    ids=[
        "unknown-profile",
        "missing-profile-file",
        "malformed-url",
        "port-out-of-range",
        "port-not-int",
        "public-bind",
        "managed-with-remote-url",
        "password-over-http",
        "keys-over-http",
        "production-without-credentials",
    ],
)
def test_bad_configuration_fails_fast_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], profile: str | None, must_mention: list[str]
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as err:
        load_settings(profile)
    for fragment in must_mention:
        assert fragment in str(err.value)


def test_secrets_are_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMOPS_MLFLOW_PASSWORD", "hunter2-mlflow")
    monkeypatch.setenv("LLMOPS_LAKEFS_SECRET_ACCESS_KEY", "hunter2-lakefs")
    monkeypatch.setenv("LLMOPS_LAKEFS_ACCESS_KEY_ID", "AKIATEST")
    s = load_settings()
    shown = json.dumps(s.redacted()) + repr(s) + str(s)
    assert "hunter2" not in shown
    assert s.lakefs.secret_access_key is not None
    assert s.lakefs.secret_access_key.get_secret_value() == "hunter2-lakefs"


def test_config_masks_credentials_inside_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in PRODUCTION_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("LLMOPS_MLFLOW_URL", "https://alice:hunter2@mlflow.example.com")
    shown = json.dumps(load_settings("production").redacted())
    assert "hunter2" not in shown and "alice:****@mlflow.example.com" in shown
    assert not any(v in shown for v in ("prefect-secret", "mlflow-secret", "lakefs-secret", "milvus-secret"))


def test_plain_http_with_credentials_takes_an_explicit_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMOPS_MLFLOW_MANAGED", "false")
    monkeypatch.setenv("LLMOPS_MLFLOW_URL", "http://mlflow.internal:5000")
    monkeypatch.setenv("LLMOPS_MLFLOW_USERNAME", "ops")
    monkeypatch.setenv("LLMOPS_MLFLOW_PASSWORD", "pw")
    with pytest.raises(ConfigError):
        load_settings()
    monkeypatch.setenv("LLMOPS_MLFLOW_ALLOW_INSECURE_HTTP", "true")
    assert load_settings().mlflow.base_url == "http://mlflow.internal:5000"


def test_a_managed_service_may_name_a_loopback_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMOPS_MLFLOW_URL", "http://localhost:5001")
    assert load_settings().mlflow.base_url == "http://localhost:5001"


def test_generated_prefect_and_mlflow_credentials_come_from_the_state_dir(tmp_path: Path) -> None:
    for service, data in (
        ("prefect", {"auth_string": "admin:p-token"}),
        ("mlflow", {"username": "admin", "password": "m-token"}),
    ):
        path = tmp_path / "state" / service / "credentials.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(data))
    s = load_settings()
    assert s.prefect.auth_string is not None and s.prefect.auth_string.get_secret_value() == "admin:p-token"
    assert s.mlflow.password is not None and s.mlflow.password.get_secret_value() == "m-token"
    assert "p-token" not in json.dumps(s.redacted()) and "m-token" not in json.dumps(s.redacted())


def test_local_lakefs_credentials_come_from_the_state_dir(tmp_path: Path) -> None:
    creds = tmp_path / "state" / "lakefs" / "credentials.json"
    creds.parent.mkdir(parents=True)
    creds.write_text(json.dumps({"access_key_id": "AKIALOCAL", "secret_access_key": "s3cr3t"}))
    s = load_settings()
    assert s.lakefs.access_key_id == "AKIALOCAL"
    assert s.lakefs.secret_access_key is not None and s.lakefs.secret_access_key.get_secret_value() == "s3cr3t"


def test_loading_settings_has_no_side_effects(tmp_path: Path) -> None:
    load_settings()
    assert not (tmp_path / "state").exists()
