"""An S3 object store on loopback for tests: moto's server, speaking the S3 protocol over HTTP, with
the AWS_* variables pointing at it (as for MinIO or any S3-compatible endpoint) and one bucket."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import boto3
import pytest
from moto.server import ThreadedMotoServer


@contextmanager
def s3_bucket() -> Iterator[str]:
    """Yields ``s3://<a new bucket>``; the variables are set for this process and the ones it
    starts. (moto's servers in one process share their buckets: each use gets its own.)"""
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        with pytest.MonkeyPatch.context() as env:
            for name, value in {
                "AWS_ENDPOINT_URL": f"http://{host}:{port}",
                "AWS_ALLOW_HTTP": "true",
                "AWS_ACCESS_KEY_ID": "softliq",
                "AWS_SECRET_ACCESS_KEY": "softliq",
                "AWS_REGION": "us-east-1",
            }.items():
                env.setenv(name, value)
            boto3.client("s3").create_bucket(Bucket=bucket)
            yield f"s3://{bucket}"
    finally:
        server.stop()
