"""TLS against a real HTTPS loopback server with a self-signed certificate (made by openssl)."""

from __future__ import annotations

import logging
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from exporter.errors import ApiError, RetriesExhausted, SpecError
from exporter.spec import AuthSpec, RetrySpec, SourceSpec, TlsSpec
from exporter.transport.client import ApiClient
from exporter.transport.http import RequestStats

BODY = b'{"items": [{"key": 9007199254740993}], "sortValues": [9007199254740993], "total": 1}'


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    openssl = shutil.which("openssl")
    assert openssl, "the openssl command is needed to make a test certificate"
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", cert
    server.shutdown()
    server.server_close()
    thread.join(5)


def _client(base_url: str, tls: TlsSpec) -> ApiClient:
    retry = RetrySpec(max_attempts=3, initial_backoff_seconds=0.01, max_backoff_seconds=0.02)
    source = SourceSpec(base_url=base_url, auth=AuthSpec(), retry=retry, tls=tls, timeout_seconds=5)
    return ApiClient(source)


def test_default_verification_rejects_a_self_signed_certificate(
    https_server: tuple[str, Path],
) -> None:
    base_url, _ = https_server
    client = _client(base_url, TlsSpec())
    stats = RequestStats()
    with pytest.raises(ApiError) as caught:
        client.post_json("/v1/process-instances/search", {}, stats=stats)
    client.close()
    message = str(caught.value)
    assert not isinstance(caught.value, RetriesExhausted)  # a certificate problem is not retried
    assert "TLS error: certificate verification failed" in message
    assert "source.tls.ca_bundle" in message and base_url in message
    assert stats.requests == 1


def test_ca_bundle_trusts_the_certificate(https_server: tuple[str, Path]) -> None:
    base_url, cert = https_server
    client = _client(base_url, TlsSpec(ca_bundle=str(cert)))
    page = client.post_json("/v1/process-instances/search", {})
    client.close()
    assert page["items"][0]["key"] == 2**53 + 1  # exact int64 over HTTPS too


def test_verify_false_works_and_warns_once(
    https_server: tuple[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    base_url, _ = https_server
    caplog.set_level(logging.WARNING, logger="exporter")
    client = _client(base_url, TlsSpec(verify=False))
    for _ in range(3):
        assert client.post_json("/v1/process-instances/search", {})["total"] == 1
    client.close()
    warnings = [r for r in caplog.records if "verification is OFF" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING


def test_missing_ca_bundle_is_a_spec_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(SpecError) as caught:
        _client("https://127.0.0.1:1", TlsSpec(ca_bundle=str(missing)))
    assert "source.tls.ca_bundle" in str(caught.value) and str(missing) in str(caught.value)
    assert caught.value.exit_code == 2
