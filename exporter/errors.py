"""The one exception tree of operate-export.

    ExporterError                  base; ``exit_code`` decides the CLI's exit status
    ├── SpecError                  exit 2: the job spec is invalid (carries every problem)
    ├── UsageError                 exit 2: bad command-line usage not caught by click
    └── ExportFailed               exit 1: something went wrong while exporting
        ├── AuthError              credentials rejected, token/login endpoint unusable
        ├── ApiError               the API answered with a fatal error (4xx other than 401/429)
        │   └── RetriesExhausted   a retriable failure persisted past retry.max_attempts
        ├── ProtocolError          the server broke the paging contract (repeated cursor, ...)
        └── OutputError            writing or publishing a snapshot failed

Messages never contain secrets: URLs are passed through ``redact_url`` and no error is
built from a request body or header.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

EXIT_OK = 0
EXIT_EXPORT_FAILED = 1
EXIT_INVALID = 2


class ExporterError(Exception):
    """Base of every error the tool raises on purpose."""

    exit_code: int = EXIT_EXPORT_FAILED


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
        self.server_message = server_message
        self.instance = instance
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
