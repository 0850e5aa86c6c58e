"""The one exception tree of operate-export.

    ExporterError                  base; ``exit_code`` decides the CLI's exit status
    ├── SpecError                  exit 2: the job spec is invalid (carries every problem)
    ├── UsageError                 exit 2: bad command-line usage not caught by click
    ├── RunLocked                  exit 75: another run holds the lock of an export
    └── ExportFailed               exit 1: something went wrong while exporting
        ├── AuthError              credentials rejected, token/login endpoint unusable
        ├── ApiError               the API answered with a fatal error (4xx other than 401/429)
        │   └── RetriesExhausted   a retriable failure persisted past retry.max_attempts
        ├── ProtocolError          the server broke the paging contract (repeated cursor, ...)
        └── OutputError            writing or publishing a snapshot failed

Messages never contain secrets: URLs are passed through ``redact_url`` and no error is
built from a request body or header. Server-derived text can still carry a secret (a proxy that
echoes the request in its error page), so the process keeps ONE registry of the live secret
values (``register_secrets``: the authenticators add the client secret, password, Basic header,
every token, cookie and CSRF token as they learn them) and ``redact_secrets`` replaces each of
them, in every spelling a server could echo it (verbatim, URL/form-encoded, JSON-escaped,
HTML-escaped, base64), by ``***``. Every ``ExporterError`` passes its message and attributes
through it when it is built and again when it is printed, and the places that print or write
errors (CLI output, log handler, the ``_INCOMPLETE`` marker) apply it once more as a last line.
"""

from __future__ import annotations

import base64
import html
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

import orjson

EXIT_OK = 0
EXIT_EXPORT_FAILED = 1
EXIT_INVALID = 2
# EX_TEMPFAIL (sysexits.h): another run holds the lock of an export; try again later.
EXIT_LOCKED = 75


REDACTED = "***"
# Shorter values ("demo") would mangle innocent text; such weak secrets are not scrubbed.
MIN_SECRET_LENGTH = 4
# Tokens and cookies are renewed during a long run; remember this many values (oldest dropped:
# an old token has long expired when 4096 newer secrets have been issued).
MAX_REMEMBERED_SECRETS = 4096


def secret_spellings(secret: str) -> set[str]:
    """Every spelling under which ``secret`` could come back in a server's text."""
    json_escaped = orjson.dumps(secret).decode()[1:-1]
    ascii_escaped = json.dumps(secret)[1:-1]  # non-ASCII as \\u00e9-style escapes (ensure_ascii)
    forms = {
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        quote(secret),
        json_escaped,
        json_escaped.replace("/", "\\/"),
        ascii_escaped,
        ascii_escaped.replace("/", "\\/"),
        html.escape(secret),
        html.escape(secret, quote=False),
        base64.b64encode(secret.encode()).decode("ascii").rstrip("="),
    }
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


class SecretRegistry:
    """The live secret values of this process and their spellings, for ``redact``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: dict[str, None] = {}  # insertion-ordered set
        self._spellings: tuple[str, ...] = ()

    def add(self, values: Iterable[str | None]) -> None:
        with self._lock:
            new = [
                v for v in values if v and len(v) >= MIN_SECRET_LENGTH and v not in self._secrets
            ]
            if not new:
                return
            for value in new:
                self._secrets[value] = None
            while len(self._secrets) > MAX_REMEMBERED_SECRETS:
                del self._secrets[next(iter(self._secrets))]
            spellings = {form for value in self._secrets for form in secret_spellings(value)}
            # Longest first: a secret's spelling that contains another one is replaced whole.
            self._spellings = tuple(sorted(spellings, key=len, reverse=True))

    def redact(self, text: str) -> str:
        for spelling in self._spellings:  # a tuple swapped atomically: no lock needed
            if spelling in text:
                text = text.replace(spelling, REDACTED)
        return text

    def values(self) -> list[str]:
        with self._lock:
            return list(self._secrets)


_REGISTRY = SecretRegistry()


def register_secrets(*values: str | None) -> None:
    """Make ``values`` (secrets the process holds or was sent) unprintable from now on."""
    _REGISTRY.add(values)


def redact_secrets(text: str) -> str:
    """``text`` with every registered secret, in every spelling, replaced by ``***``."""
    return _REGISTRY.redact(text) if text else text


def redact_optional(text: str | None) -> str | None:
    return redact_secrets(text) if text else text


def _redacted_arg(value: Any) -> Any:
    return redact_secrets(value) if isinstance(value, str) else value


class ExporterError(Exception):
    """Base of every error the tool raises on purpose.

    Its message is scrubbed of registered secrets when the error is built, and ``str``/``repr``
    scrub again (a secret registered later, e.g. a token fetched after the error was made).
    """

    exit_code: int = EXIT_EXPORT_FAILED

    def __init__(self, *args: Any) -> None:
        super().__init__(*(_redacted_arg(a) for a in args))

    def __str__(self) -> str:
        return redact_secrets(super().__str__())

    def __repr__(self) -> str:
        return redact_secrets(super().__repr__())


@dataclass(frozen=True)
class SpecProblem:
    """One problem in a job spec, located by a path like ``exports[1].filter.state``."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class SpecError(ExporterError):
    """The job spec is invalid. ``problems`` lists every problem found, not just the first."""

    exit_code = EXIT_INVALID

    def __init__(self, problems: list[SpecProblem], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        head = f"{source}: " if source else ""
        lines = "\n".join(f"  {p}" for p in self.problems)
        noun = "problem" if len(self.problems) == 1 else "problems"
        super().__init__(f"{head}invalid job spec ({len(self.problems)} {noun}):\n{lines}")


class UsageError(ExporterError):
    exit_code = EXIT_INVALID


class RunLocked(ExporterError):
    """Another run (named in the message: host, pid, start time) exports the same exports into
    the same output location; nothing was written."""

    exit_code = EXIT_LOCKED


class ExportFailed(ExporterError):
    """An export (or the whole run) failed; exit 1."""

    exit_code = EXIT_EXPORT_FAILED


class AuthError(ExportFailed):
    """Authentication failed: names the mode, the (redacted) URL and the server's reason."""


class ApiError(ExportFailed):
    """A fatal answer from the API. Keeps the server's ``message`` and ``instance``."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        url: str | None = None,
        server_message: str | None = None,
        instance: str | None = None,
    ) -> None:
        self.status = status
        self.url = redact_url(url) if url else None
        self.server_message = server_message = redact_optional(server_message)
        self.instance = instance = redact_optional(instance)
        parts = [message]
        if server_message:
            parts.append(f"server says: {server_message}")
        if instance:
            parts.append(f"instance: {instance}")
        super().__init__("; ".join(parts))


class RetriesExhausted(ApiError):
    """A retriable failure (429, 5xx, network, garbage body) outlasted the retry budget."""


class ProtocolError(ExportFailed):
    """The server broke the paging contract, e.g. a cursor repeated or went missing."""


class OutputError(ExportFailed):
    """Writing, publishing or resuming a snapshot failed."""


_SECRET_QUERY_NAMES = {"password", "client_secret", "secret", "token", "access_token"}


def redact_url(url: str) -> str:
    """Drop userinfo and mask secret-looking query parameters, for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    pairs = []
    for item in filter(None, parts.query.split("&")):
        name = item.partition("=")[0]
        pairs.append(f"{name}=***" if name.lower() in _SECRET_QUERY_NAMES else item)
    query = "&".join(pairs)
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


class RedactingStream:
    """A text stream that scrubs registered secrets from everything written to it: the last
    line of defence around the CLI's stderr (progress lines, log records, error messages)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(redact_secrets(text))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, ...
        return getattr(self._stream, name)
