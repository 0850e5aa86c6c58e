"""Conditional writes on S3: the two primitives ``pyarrow.fs`` cannot send.

``PutObject`` with ``If-None-Match: *`` creates an object only if the key is free (claiming a
snapshot name, taking a free run lease); with ``If-Match: <etag>`` it replaces an object only if
nobody changed it since it was read (renewing or taking over an expired lease). S3 answers 412
PreconditionFailed otherwise (AWS since 2024, MinIO, moto).

boto3 is the ``s3`` extra and is imported only here, only for ``s3://`` outputs. It finds
credentials in the same standard chain as pyarrow's S3 filesystem (environment, shared
profiles, instance/container roles); nothing of them passes through this module's messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PRECONDITION_CODES = ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")


class S3Conditional:
    """Conditional puts/gets/deletes of ``bucket/key`` paths (pyarrow.fs's path form)."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:  # pragma: no cover - the s3 extra is part of dev
            raise OSError(
                "s3:// outputs need boto3 for conditional writes: pip install 'operate-export[s3]'"
            ) from exc
        endpoint = options.get("endpoint_override")
        url = None
        if endpoint:
            endpoint = str(endpoint)
            scheme = str(options.get("scheme", "https"))
            url = endpoint if "://" in endpoint else f"{scheme}://{endpoint}"
        config = Config(
            retries={"mode": "standard", "max_attempts": 5},
            connect_timeout=float(options.get("connect_timeout", 10)),
            read_timeout=float(options.get("request_timeout", 30)),
        )
        self._client = boto3.session.Session().client(
            "s3",
            endpoint_url=url,
            region_name=str(options["region"]) if options.get("region") else None,
            config=config,
        )

    @staticmethod
    def _split(path: str) -> tuple[str, str]:
        bucket, _, key = path.partition("/")
        return bucket, key

    def _call(self, action: str, path: str, **kwargs: Any) -> Any:
        """One request; a failed precondition returns None, other errors raise OSError."""
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, key = self._split(path)
        try:
            return getattr(self._client, action)(Bucket=bucket, Key=key, **kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code in PRECONDITION_CODES:
                return None
            if code in ("NoSuchKey", "404") and action == "get_object":
                return False
            raise OSError(f"S3 {action} of s3://{path} failed: {code or 'error'}") from None
        except BotoCoreError as exc:
            raise OSError(f"S3 {action} of s3://{path} failed: {type(exc).__name__}") from None

    def put_if_absent(self, path: str, data: bytes) -> str | None:
        """Create ``path``; its ETag, or None if the key exists."""
        answer = self._call("put_object", path, Body=data, IfNoneMatch="*")
        return str(answer["ETag"]) if answer else None

    def put_if_match(self, path: str, data: bytes, etag: str) -> str | None:
        """Replace ``path`` if its ETag is still ``etag``; the new ETag, or None."""
        answer = self._call("put_object", path, Body=data, IfMatch=etag)
        return str(answer["ETag"]) if answer else None

    def get(self, path: str) -> tuple[bytes, str] | None:
        """The object's content and ETag, or None when it does not exist."""
        answer = self._call("get_object", path)
        if not answer:
            return None
        return answer["Body"].read(), str(answer["ETag"])

    def delete_if_match(self, path: str, etag: str) -> bool:
        """Delete ``path`` if its ETag is still ``etag``."""
        return self._call("delete_object", path, IfMatch=etag) is not None
