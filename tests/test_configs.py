"""Every shipped config validates, and each one shows what it is meant to show."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from exporter.api import REGISTRY
from exporter.api.validation import load_spec
from exporter.errors import SpecError

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
SECRETS = {"OPERATE_CLIENT_ID": "id", "OPERATE_CLIENT_SECRET": "secret", "OPERATE_PASSWORD": "pw"}


def test_there_is_a_config_per_auth_mode_and_a_demo() -> None:
    names = {p.name for p in CONFIGS.glob("*.yaml")}
    assert {"saas.yaml", "identity.yaml", "cookie.yaml", "basic.yaml", "demo.yaml"} <= names


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_config_validates(path: Path) -> None:
    spec = load_spec(path, env=SECRETS)
    assert spec.exports
    assert path.read_text(encoding="utf-8").lstrip().startswith("#"), "configs are commented"


@pytest.mark.parametrize("mode", ["saas", "identity", "cookie", "basic"])
def test_auth_example_uses_its_mode(mode: str) -> None:
    assert load_spec(CONFIGS / f"{mode}.yaml", env=SECRETS).source.auth.mode == mode


@pytest.mark.parametrize("mode", ["saas", "identity", "cookie", "basic"])
def test_auth_example_secrets_come_only_from_the_environment(mode: str) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(CONFIGS / f"{mode}.yaml", env={})
    assert all("is not set" in p.message for p in info.value.problems)
    assert {p.path.rsplit(".", 1)[-1] for p in info.value.problems} & {"client_secret", "password"}


def test_demo_covers_every_endpoint_and_the_promised_options() -> None:
    spec = load_spec(CONFIGS / "demo.yaml", env={})
    assert spec.source.auth.mode == "none"
    assert spec.source.base_url == "http://127.0.0.1:8080"
    assert spec.output.format == "parquet"
    assert spec.output.path == "./demo-output"
    assert {e.endpoint for e in spec.exports} == set(REGISTRY["v1"])
    by_endpoint = {e.endpoint: e for e in spec.exports}
    assert by_endpoint["process-definitions"].include_xml
    assert by_endpoint["decision-instances"].include_evaluation_details
    assert any(e.endpoint == "variables" for e in spec.exports)
    filtered = [e for e in spec.exports if e.endpoint == "process-instances" and e.filter]
    assert filtered and any(s.field == "startDate" for s in filtered[0].sort)


def test_demo_follows_the_environment() -> None:
    env = {"OPERATE_BASE_URL": "http://127.0.0.1:5555", "OPERATE_EXPORT_OUTPUT": "/tmp/x"}
    spec = load_spec(CONFIGS / "demo.yaml", env=env)
    assert (spec.source.base_url, spec.output.path) == ("http://127.0.0.1:5555", "/tmp/x")


def _raw(path: Path, *keys: str) -> object:
    node: object = yaml.safe_load(path.read_text(encoding="utf-8"))
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_deployment_specific_value_has_an_environment_hook(path: Path) -> None:
    # What differs between a laptop, CI and production must be settable without editing files.
    hooked = [("source", "base_url"), ("output", "path")]
    if _raw(path, "source", "auth", "mode") in ("saas", "identity"):
        hooked += [("source", "auth", "token_url"), ("source", "auth", "audience")]
    for keys in hooked:
        value = _raw(path, *keys)
        assert isinstance(value, str) and value.startswith("${"), (path.name, keys, value)


def test_saas_token_url_and_audience_default_to_camunda_and_follow_the_environment() -> None:
    spec = load_spec(CONFIGS / "saas.yaml", env=SECRETS)
    assert spec.source.auth.token_url == "https://login.cloud.camunda.io/oauth/token"
    assert spec.source.auth.audience == "operate.camunda.io"
    assert spec.concurrency == 4
    env = {
        **SECRETS,
        "OPERATE_TOKEN_URL": "https://login.example.test/oauth/token",
        "OPERATE_AUDIENCE": "zeebe.camunda.io",
        "OPERATE_EXPORT_CONCURRENCY": "2",
        "OPERATE_EXPORT_OUTPUT": "/data/operate",
    }
    spec = load_spec(CONFIGS / "saas.yaml", env=env)
    assert spec.source.auth.token_url == "https://login.example.test/oauth/token"
    assert spec.source.auth.audience == "zeebe.camunda.io"
    assert spec.concurrency == 2
    assert spec.output.path == "/data/operate"
