"""``source.api: auto``: ask the server once per run which API it speaks (prefer v2).

One cheap search per API, through the run's ``ApiClient`` (same auth, retries and TLS):

1. ``POST /v2/process-definitions/search`` with ``{"page": {"limit": 1}}``: a JSON answer means v2;
2. only on 404 or 405 (no such route: Camunda before 8.8, or a v1-only gateway):
   ``POST /v1/process-definitions/search`` with ``{"size": 1}``: a JSON answer means v1.

401 and 403 are authentication/authorization failures, not a missing API: falling back would hide
the real problem (and v1 would fail the same way), so they are raised as ``AuthError``. Any other
failure (5xx after retries, TLS, a broken body) is raised as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from exporter.api import AUTO_ORDER, get_dialect
from exporter.errors import ApiError, AuthError

log = logging.getLogger(__name__)

# Every API version has it, and a search for one of them costs the server next to nothing.
PROBE_EXPORT = "process-definitions"
NOT_THERE = (404, 405)


class ProbeClient(Protocol):
    def post_json(self, path: str, body: dict[str, Any], *, stats: Any = None) -> Any: ...


def _ask(client: ProbeClient, path: str, body: dict[str, Any], stats: Any) -> int | None:
    """None when the server answered the search, else the HTTP status of the refusal."""
    try:
        client.post_json(path, body, stats=stats)
    except ApiError as exc:
        if exc.status in (401, 403):
            raise AuthError(
                f"api auto: POST {path} was refused with HTTP {exc.status}; the credentials "
                f"are not allowed to search (not a sign of a missing API): {exc}"
            ) from None
        if exc.status in NOT_THERE:
            return exc.status
        raise
    return None


def probe_request(api: str) -> tuple[str, dict[str, Any]]:
    """The search that tells whether the server speaks ``api``: one process definition."""
    dialect = get_dialect(api)
    return dialect.registry[PROBE_EXPORT].search_path, dialect.one_record_request({})


def choose_api(
    client: ProbeClient,
    stats: Any = None,
    fits: tuple[str, ...] = AUTO_ORDER,
    *,
    client_for: Callable[[str], ProbeClient] | None = None,
) -> tuple[str, str]:
    """``(api, reason)``: the first API the server answers, v2 preferred.

    ``fits`` are the APIs the spec fits as written (``api.validation.fitting_apis``); they are
    probed first, so a spec written for v1 is not switched to v2 just because the server also
    speaks v2. Only when none of them answers is the other API probed: the caller then refuses
    the spec for that API with every problem (exit 2), which says more than "not found".
    Raises ``ExportFailed`` subclasses when the server answers neither.

    ``client_for(api)``, when given, is the client to probe ``api`` with (credentials valid for
    that API: a SaaS token's audience differs between v1 and v2); else ``client`` probes both.
    """
    order = [*fits, *(api for api in AUTO_ORDER if api not in fits)]
    refusals: list[str] = []
    refused: int | None = None
    for api in order:
        path, body = probe_request(api)
        asking = client_for(api) if client_for is not None else client
        refused = _ask(asking, path, body, stats)
        if refused is None:
            refusals.append(f"POST {path} answered 200")
            reason = ", ".join(refusals)
            if len(fits) == 1 and api in fits:
                reason += f"; the spec as written fits only {api}"
            return api, reason
        refusals.append(f"POST {path} answered {refused}")
    raise ApiError(
        f"api auto: the server has neither API ({', '.join(refusals)}); check source.base_url",
        status=refused,
    )


def log_choice(api: str, reason: str) -> None:
    log.info("api auto: chose %s (%s)", api, reason)
