"""``ApiClient``: the Operate API as paging, hydration and the probe see it (JSON and raw pages,
XML, authentication with one re-authentication on a 401), over ``http.Transport``'s single
retry loop. Kept apart from http.py so that auth.py (which sends token and login requests
through ``Transport``) and the client build on http.py without importing each other.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

import orjson

from exporter.errors import ApiError, AuthError, redact_url
from exporter.spec import SourceSpec
from exporter.transport.auth import Authenticator, build_authenticator, scrub
from exporter.transport.http import (
    _JSON_HEADERS,
    _XML_ACCEPT,
    Exchange,
    RequestStats,
    Transport,
)
from exporter.transport.retry import Expect, Kind

log = logging.getLogger(__name__)


class ApiClient:
    """The Operate API as paging and hydration see it. One per run, shared by all threads."""

    def __init__(
        self,
        source: SourceSpec,
        *,
        authenticator: Authenticator | None = None,
        logger: logging.Logger | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        transport: Transport | None = None,
    ) -> None:
        self.source = source
        self.base_url = source.base_url.rstrip("/")
        self.log = logger or log
        self.transport = transport or Transport(source, sleep=sleep, rng=rng)
        self.authenticator = authenticator or build_authenticator(source, self.transport)
        # The ``Date`` header of the API's first successful answer: the run's clock for
        # incremental windows (a client clock running ahead must not move a watermark).
        self.server_date: str | None = None

    def __repr__(self) -> str:
        return (
            f"ApiClient(base_url={redact_url(self.base_url)!r}, auth={self.authenticator.mode!r})"
        )

    def authenticate(self) -> None:
        """Obtain the credential now (token or login), so bad credentials fail before paging."""
        self.authenticator.prepare()

    def post_json(
        self, path: str, body: dict[str, Any], *, stats: RequestStats | None = None
    ) -> Any:
        data = orjson.dumps(body)
        return self._call("POST", path, Expect.JSON, data, dict(_JSON_HEADERS), stats)

    def post_json_raw(
        self, path: str, body: dict[str, Any], *, stats: RequestStats | None = None
    ) -> tuple[bytes, Any]:
        """``post_json`` that also returns the response body as received (the Parquet sink
        decodes a search page's raw bytes in C++, off the GIL)."""
        data = orjson.dumps(body)
        exchange = self._exchange("POST", path, Expect.JSON, data, dict(_JSON_HEADERS), stats)
        assert exchange.response is not None  # an OK verdict always has its response
        return exchange.response.content, exchange.verdict.value

    def post_page(
        self, path: str, body: dict[str, Any], *, stats: RequestStats | None = None
    ) -> Any:
        """A search page as ``rawpage.RawPage``: the raw body with its cursor read from the tail
        (the items are left to the sink), or the whole page parsed when the tail is ambiguous."""
        data = orjson.dumps(body)
        return self._call("POST", path, Expect.JSON_PAGE, data, dict(_JSON_HEADERS), stats)

    def get_json(self, path: str, *, stats: RequestStats | None = None) -> Any:
        return self._call("GET", path, Expect.JSON, None, {"Accept": "application/json"}, stats)

    def get_text(self, path: str, *, stats: RequestStats | None = None) -> str:
        result: str = self._call("GET", path, Expect.TEXT, None, dict(_XML_ACCEPT), stats)
        return result

    def close(self) -> None:
        """Log out (cookie mode) and close every session. Safe to call twice."""
        try:
            self.authenticator.close()
        finally:
            self.transport.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(
        self,
        method: str,
        path: str,
        expect: Expect,
        data: bytes | None,
        headers: dict[str, str],
        stats: RequestStats | None,
    ) -> Any:
        return self._exchange(method, path, expect, data, headers, stats).verdict.value

    def _exchange(
        self,
        method: str,
        path: str,
        expect: Expect,
        data: bytes | None,
        headers: dict[str, str],
        stats: RequestStats | None,
    ) -> Exchange:
        """One call to the API: the OK exchange, or the final failure raised as an error."""
        url = f"{self.base_url}/{path.lstrip('/')}"
        exchange = self.transport.execute(
            method,
            url,
            expect=expect,
            data=data,
            headers=headers,
            stats=stats,
            authenticator=self.authenticator,
        )
        verdict = exchange.verdict
        if verdict.kind is Kind.OK:
            if self.server_date is None and exchange.response is not None:
                self.server_date = exchange.response.headers.get("Date")
            return exchange
        secrets = self.authenticator.secret_values()
        server = scrub(verdict.server_message, secrets)
        where = f"{method} {redact_url(url)}"
        if verdict.kind is Kind.UNAUTHORIZED:
            again = " even after re-authenticating" if exchange.reauthenticated else ""
            reason = f": {server}" if server else ""
            raise AuthError(
                f"{self.authenticator.mode} authentication: the API rejected the credentials "
                f"for {where} (HTTP 401{again}){reason}"
            )
        hint = ""
        if verdict.reason.startswith("TLS error"):
            hint = (
                " (point source.tls.ca_bundle at the PEM file of the CA that signed the server's "
                "certificate, or set source.tls.verify: false for a throw-away test cluster)"
            )
        raise ApiError(
            f"{where} failed: {verdict.reason}{hint}",
            status=verdict.status,
            url=url,
            server_message=server,
            instance=scrub(verdict.instance, secrets),
        )
