"""The S3 test server itself: pyarrow and boto3 both reach it, buckets are separate."""

from __future__ import annotations

import pyarrow.fs as pafs


def test_pyarrow_writes_and_boto3_reads(s3_server) -> None:
    bucket = s3_server.new_bucket()
    options = s3_server.storage_options
    fs = pafs.S3FileSystem(
        endpoint_override=options["endpoint_override"],
        scheme=options["scheme"],
        region=options["region"],
    )
    with fs.open_output_stream(f"{bucket}/a/b.txt") as out:
        out.write(b"hello")
    assert s3_server.keys(bucket) == ["a/b.txt"]
    body = s3_server.client().get_object(Bucket=bucket, Key="a/b.txt")["Body"].read()
    assert body == b"hello"
    assert s3_server.keys(s3_server.new_bucket()) == []
