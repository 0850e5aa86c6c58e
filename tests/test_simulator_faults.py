"""Fault injection: each kind is observable on the wire and counted in stats."""

from __future__ import annotations

import orjson
import pytest
import requests

from exporter.simulator import FaultConfig


def post(sim, http=None):
    return (http or requests).post(sim.base_url + "/v1/incidents/search", json={"size": 5})


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors(make_simulator, status):
    sim = make_simulator(scale=10, faults=FaultConfig(**{f"rate_{status}": 1.0}))
    assert post(sim).status_code == status
    assert sim.stats()["faults"] == {str(status): 1}


def test_429_with_retry_after(make_simulator):
    sim = make_simulator(scale=10, faults=FaultConfig(rate_429=1.0, retry_after=0))
    r = post(sim)
    assert r.status_code == 429 and r.headers["Retry-After"] == "0"
    assert sim.stats()["faults"] == {"429": 1}


def test_reset_connection(make_simulator):
    sim = make_simulator(scale=10, faults=FaultConfig(rate_reset=1.0))
    with pytest.raises(requests.ConnectionError):
        post(sim)
    assert sim.stats()["faults"] == {"reset": 1}


def test_truncated_body_is_invalid_json(make_simulator):
    sim = make_simulator(scale=10, faults=FaultConfig(rate_truncated=1.0))
    r = post(sim)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(r.content)


def test_html_login_page(make_simulator):
    sim = make_simulator(scale=10, faults=FaultConfig(rate_html=1.0))
    r = post(sim)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert b"<form" in r.content


def test_slow_answer_still_answers(make_simulator):
    sim = make_simulator(scale=10, faults=FaultConfig(rate_slow=1.0, slow_seconds=0.05))
    assert post(sim).status_code == 200
    assert sim.stats()["faults"] == {"slow": 1}


def test_fault_sequence_is_deterministic_and_proportional(make_simulator):
    config = FaultConfig(rate_503=0.3)
    runs = []
    for _ in range(2):
        sim = make_simulator(scale=10, seed=5, faults=config)
        with requests.Session() as http:
            runs.append([post(sim, http).status_code for _ in range(60)])
        assert sim.stats()["faults"]["503"] == runs[-1].count(503)
    assert runs[0] == runs[1]
    assert 5 < runs[0].count(503) < 35


def test_auth_endpoints_spared_unless_asked(make_simulator):
    creds = {
        "client_id": "operate-export",
        "client_secret": "sim-client-secret",
        "audience": "operate.camunda.io",
        "grant_type": "client_credentials",
    }
    sim = make_simulator(scale=10, auth="saas", faults=FaultConfig(rate_500=1.0))
    assert requests.post(sim.token_url, data=creds).status_code == 200
    sim.set_faults(FaultConfig(rate_500=1.0, apply_to_auth=True))
    assert requests.post(sim.token_url, data=creds).status_code == 500


def test_faults_settable_over_http(make_simulator):
    sim = make_simulator(scale=10)
    r = requests.post(sim.base_url + "/__sim/faults", json={"rate_502": 1.0})
    assert r.status_code == 200
    assert post(sim).status_code == 502
    bad = requests.post(sim.base_url + "/__sim/faults", json={"rate_bogus": 1})
    assert bad.status_code == 400 and "rate_bogus" in bad.text
    assert requests.post(sim.base_url + "/__sim/faults", json={}).ok
    assert post(sim).status_code == 200


def test_fault_rates_must_be_valid():
    with pytest.raises(ValueError, match="more than 1"):
        FaultConfig(rate_500=0.7, rate_503=0.6)
