"""The five auth modes of the simulator (operate-api.md section 5)."""

from __future__ import annotations

import base64
import time

import orjson
import pytest
import requests

SECRET = "s3cret-value-that-must-not-leak"
IDENTITY = "/auth/realms/camunda-platform/protocol/openid-connect/token"


def assert_401(response: requests.Response) -> None:
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/json"
    assert set(orjson.loads(response.content)) == {"message"}
    assert "Location" not in response.headers


def test_no_auth_mode_needs_nothing(simulator):
    r = requests.post(simulator.base_url + "/v1/incidents/search", json={})
    assert r.status_code == 200


def test_saas_json_and_form_tokens(make_simulator):
    sim = make_simulator(scale=5, auth="saas", client_secret=SECRET)
    with requests.Session() as http:
        assert_401(http.post(sim.base_url + "/v1/incidents/search", json={}, allow_redirects=False))
        creds = {
            "client_id": "operate-export",
            "client_secret": SECRET,
            "audience": "operate.camunda.io",
            "grant_type": "client_credentials",
        }
        as_json = http.post(sim.token_url, json=creds)
        as_form = http.post(sim.token_url, data=creds)
        for r in (as_json, as_form):
            assert r.status_code == 200, r.text
            token = r.json()
            assert token["expires_in"] == 300 and token["token_type"] == "Bearer"
        assert as_json.json()["access_token"] != as_form.json()["access_token"]
        headers = {"Authorization": f"Bearer {as_form.json()['access_token']}"}
        assert http.post(sim.base_url + "/v1/incidents/search", json={}, headers=headers).ok
        bad = http.post(sim.token_url, json={**creds, "client_secret": "wrong"})
        assert bad.status_code == 401 and bad.json()["error"] == "access_denied"
        wrong_audience = http.post(sim.token_url, json={**creds, "audience": "tasklist.camunda.io"})
        assert wrong_audience.status_code == 401
        assert_401(
            http.post(
                sim.base_url + "/v1/incidents/search",
                json={},
                headers={"Authorization": "Bearer forged"},
            )
        )
    stats = sim.stats()
    assert stats["tokens_issued"] == 2 and stats["token_failures"] == 2
    assert stats["unauthorized"] == 2


def test_tokens_really_expire(make_simulator):
    sim = make_simulator(scale=5, auth="saas", token_ttl=1)
    creds = {
        "client_id": "operate-export",
        "client_secret": "sim-client-secret",
        "audience": "operate.camunda.io",
        "grant_type": "client_credentials",
    }
    with requests.Session() as http:
        token = http.post(sim.token_url, data=creds).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert http.post(sim.base_url + "/v1/variables/search", headers=headers).ok
        time.sleep(1.1)
        expired = http.post(sim.base_url + "/v1/variables/search", headers=headers)
        assert_401(expired)
        assert "expired" in expired.json()["message"].lower()


def test_identity_form_only_keycloak_shape(make_simulator):
    sim = make_simulator(scale=5, auth="identity", client_secret=SECRET)
    assert sim.token_url == sim.base_url + IDENTITY
    creds = {
        "client_id": "operate-export",
        "client_secret": SECRET,
        "grant_type": "client_credentials",
    }
    with requests.Session() as http:
        r = http.post(sim.token_url, data=creds)  # no audience: allowed for Identity
        assert r.status_code == 200
        assert set(r.json()) == {
            "access_token",
            "expires_in",
            "refresh_expires_in",
            "token_type",
            "not-before-policy",
            "scope",
        }
        assert http.post(sim.token_url, data={**creds, "audience": "operate-api"}).ok
        assert http.post(sim.token_url, json=creds).status_code == 400
        bad = http.post(sim.token_url, data={**creds, "client_secret": "nope"})
        assert bad.status_code == 401
        assert bad.json() == {
            "error": "unauthorized_client",
            "error_description": "Invalid client or Invalid client credentials",
        }
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        assert http.get(
            sim.base_url + f"/v1/incidents/{sim.dataset.records('incidents')[0]['key']}",
            headers=headers,
        ).ok
        assert SECRET not in bad.text


@pytest.mark.parametrize("csrf_header", ["X-CSRF-TOKEN", "OPERATE-X-CSRF-TOKEN"])
def test_cookie_login_csrf_and_logout(make_simulator, csrf_header):
    sim = make_simulator(scale=5, auth="cookie", password=SECRET, csrf_header=csrf_header)
    with requests.Session() as http:
        assert_401(http.post(sim.base_url + "/v1/variables/search", json={}))
        failed = http.post(
            sim.base_url + "/api/login", params={"username": "demo", "password": "wrong"}
        )
        assert_401(failed)
        login = http.post(
            sim.base_url + "/api/login", params={"username": "demo", "password": SECRET}
        )
        assert login.status_code == 204 and "OPERATE-SESSION" in http.cookies
        csrf = login.headers[csrf_header]
        no_csrf = http.post(sim.base_url + "/v1/variables/search", json={})
        assert no_csrf.status_code == 403
        assert no_csrf.headers["Content-Type"] == "application/problem+json"
        wrong = http.post(
            sim.base_url + "/v1/variables/search", json={}, headers={csrf_header: "forged"}
        )
        assert wrong.status_code == 403
        good = http.post(
            sim.base_url + "/v1/variables/search", json={}, headers={csrf_header: csrf}
        )
        assert good.status_code == 200
        key = sim.dataset.records("variables")[0]["key"]
        get = http.get(f"{sim.base_url}/v1/variables/{key}")
        assert get.ok and get.headers[csrf_header] == csrf
        assert http.post(sim.base_url + "/api/logout").status_code == 204
        assert_401(
            http.post(sim.base_url + "/v1/variables/search", json={}, headers={csrf_header: csrf})
        )
    stats = sim.stats()
    assert stats["logins"] == 1 and stats["login_failures"] == 1 and stats["logouts"] == 1
    assert stats["csrf_rejections"] == 2


def test_cookie_login_with_form_body(make_simulator):
    sim = make_simulator(scale=5, auth="cookie")
    with requests.Session() as http:
        r = http.post(sim.base_url + "/api/login", data={"username": "demo", "password": "demo"})
        assert r.status_code == 204 and r.headers["X-CSRF-TOKEN"]


def test_cookie_session_expires_by_request_count_and_age(make_simulator):
    sim = make_simulator(scale=5, auth="cookie", session_max_requests=3)
    with requests.Session() as http:
        http.post(sim.base_url + "/api/login", params={"username": "demo", "password": "demo"})
        url = f"{sim.base_url}/v1/incidents/{sim.dataset.records('incidents')[0]['key']}"
        assert [http.get(url).status_code for _ in range(4)] == [200, 200, 200, 401]
        assert http.get(url).status_code == 401  # the session is gone, not just over budget
        http.post(sim.base_url + "/api/login", params={"username": "demo", "password": "demo"})
        assert http.get(url).status_code == 200
    aged = make_simulator(scale=5, auth="cookie", session_max_age=0.5)
    with requests.Session() as http:
        http.post(aged.base_url + "/api/login", params={"username": "demo", "password": "demo"})
        url = f"{aged.base_url}/v1/incidents/{aged.dataset.records('incidents')[0]['key']}"
        assert http.get(url).status_code == 200
        time.sleep(0.6)
        assert_401(http.get(url))


def test_basic_checked_on_every_request(make_simulator):
    sim = make_simulator(scale=5, auth="basic", password=SECRET)
    url = sim.base_url + "/v1/process-definitions/search"
    good = "Basic " + base64.b64encode(f"demo:{SECRET}".encode()).decode()
    bad = "Basic " + base64.b64encode(b"demo:nope").decode()
    with requests.Session() as http:
        assert http.post(url, json={}, headers={"Authorization": good}).status_code == 200
        assert_401(http.post(url, json={}))  # no session is kept between requests
        assert_401(http.post(url, json={}, headers={"Authorization": bad}))
    assert sim.stats()["unauthorized"] == 2
