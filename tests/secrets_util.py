"""Find leaked secrets in text and files. Reusable by every leak test (auth, full pipeline).

A leak is any secret value occurring verbatim, or its base64 / URL-encoded form (Basic auth
headers and form bodies would carry it that way).
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote, quote_plus

MIN_SECRET_LENGTH = 6  # shorter values ("demo") would match innocent text


def secret_forms(secret: str) -> set[str]:
    """The spellings under which a secret could show up in output."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret)}
    forms.add(base64.b64encode(secret.encode()).decode("ascii").rstrip("="))
    return {f for f in forms if len(f) >= MIN_SECRET_LENGTH}


def find_leaks(text: str, secrets: Iterable[str]) -> list[str]:
    """Masked descriptions of the secrets found in ``text`` (empty list = clean)."""
    leaks = []
    for secret in secrets:
        if not secret or len(secret) < MIN_SECRET_LENGTH:
            continue
        for form in secret_forms(secret):
            if form in text:
                leaks.append(f"{secret[:3]}...({len(secret)} chars) as {form[:3]}...")
                break
    return leaks


def scan_paths(paths: Iterable[Path], secrets: Iterable[str]) -> dict[str, list[str]]:
    """Leaks per file, for every file under the given files/directories (binary included:
    Parquet stores strings uncompressed in dictionary pages often enough to matter)."""
    secrets = list(secrets)
    found: dict[str, list[str]] = {}
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            text = path.read_bytes().decode("latin-1")
            leaks = find_leaks(text, secrets)
            if leaks:
                found[str(path)] = leaks
    return found


def output_texts(path: Path) -> str:
    """A written file as a reader would see it: raw bytes, plus the gunzipped content of
    ``.gz`` files and every value of Parquet files (compressed pages hide them from a raw scan)."""
    raw = path.read_bytes()
    views = [raw.decode("latin-1")]
    if path.name.endswith(".gz"):
        views.append(gzip.decompress(raw).decode("utf-8"))
    if path.name.endswith(".parquet"):
        import pyarrow.parquet as pq  # only the pipeline tests need it

        parquet = pq.ParquetFile(path)
        views.append(str(parquet.schema_arrow.metadata))
        views.append(repr(parquet.read().to_pylist()))
    return "\n".join(views)


def exception_texts(exc: BaseException) -> str:
    """str() and repr() of an exception and everything chained to it."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts += [str(current), repr(current)]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


def assert_no_leaks(where: str, text: str, secrets: Iterable[str]) -> None:
    leaks = find_leaks(text, secrets)
    assert not leaks, f"secrets leaked into {where}: {leaks}"
