"""Semantic checks of ``output`` the schema cannot express (issue 18).

* no credentials in the spec: ``storage_options`` keys that carry secrets, and user info or a
  secret query parameter in an object-store ``output.path``, are refused (credentials come from
  the environment and profile chains of the store);
* ``storage_options`` only mean something for an object-store URI;
* ``keep`` prunes old snapshots, but an incremental export's committed windows are its data.

Messages never repeat a refused value: it may be a secret.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

from exporter.errors import SpecProblem

OBJECT_STORE_SCHEMES = ("s3", "gs", "gcs", "abfs", "abfss", "az")
OPTION_SCHEMES = ("s3", "gs", "gcs")  # pyarrow filesystems built from keyword arguments
# Substrings of option / query names that carry credentials in pyarrow's filesystems.
SECRET_OPTION_WORDS = ("secret", "access_key", "session_token", "password", "token", "sas")
SECRET_OPTION_NAMES = ("account_key", "credential", "credentials", "client_secret")


def is_secret_option(name: str) -> bool:
    lowered = name.lower()
    return lowered in SECRET_OPTION_NAMES or any(w in lowered for w in SECRET_OPTION_WORDS)


def scheme_of(path: str) -> str:
    head, sep, _ = path.partition("://")
    return head.lower() if sep and len(head) > 1 else ""


def output_problems(document: Any) -> list[SpecProblem]:
    if not isinstance(document, dict) or not isinstance(document.get("output"), dict):
        return []
    output = document["output"]
    problems: list[SpecProblem] = []
    path = output.get("path")
    path = path if isinstance(path, str) else ""
    scheme = scheme_of(path)
    options = output.get("storage_options")
    if isinstance(options, dict):
        for name in options:
            if is_secret_option(str(name)):
                problems.append(
                    SpecProblem(
                        f"output.storage_options.{name}",
                        "credentials do not belong in the spec; the store's standard "
                        "environment variables and profiles provide them (e.g. "
                        "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE for s3://)",
                    )
                )
        if options and scheme not in OPTION_SCHEMES:
            problems.append(
                SpecProblem(
                    "output.storage_options",
                    "only applies to an s3:// or gs:// output.path (abfs:// takes its options "
                    "in the URI)",
                )
            )
    if scheme in OBJECT_STORE_SCHEMES:
        parts = urlsplit(path)
        secret_query = any(is_secret_option(k) for k, _ in parse_qsl(parts.query))
        if "@" in parts.netloc or secret_query:
            problems.append(
                SpecProblem(
                    "output.path",
                    "must not contain credentials (user info or a secret query parameter); "
                    "they come from the store's environment variables and profiles",
                )
            )
    if output.get("keep") is not None:
        exports = document.get("exports")
        for index, export in enumerate(exports if isinstance(exports, list) else []):
            if isinstance(export, dict) and export.get("incremental") is not None:
                name = export.get("name") or export.get("endpoint")
                problems.append(
                    SpecProblem(
                        "output.keep",
                        f"cannot be used with the incremental export {name!r} "
                        f"(exports[{index}].incremental): its committed windows are the data, "
                        "pruning them would lose records; remove output.keep or write the "
                        "incremental exports to another output",
                    )
                )
    return problems
