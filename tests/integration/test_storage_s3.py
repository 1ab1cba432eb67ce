"""S3 storage against an S3 server over HTTP: a wave of puts in flight at once."""

from __future__ import annotations

import uuid

import boto3
import pytest

from pipeline.storage import StoredObject, UnsafeKey
from pipeline.storage.s3 import S3Storage

pytestmark = pytest.mark.integration


def storage_on(s3_endpoint: str, upload_threads: int = 8) -> tuple[S3Storage, str]:
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    client.create_bucket(Bucket=bucket)
    return S3Storage(client, bucket, "site", upload_threads), bucket


def page(number: int) -> StoredObject:
    return StoredObject(
        f"articles/story-{number}/index.html",
        f"<p>story {number}</p>".encode(),
        "text/html; charset=utf-8",
        "public, max-age=300",
        {"event": str(number)},
    )


def test_a_wave_of_puts_lands_whole_with_its_headers(s3_endpoint: str) -> None:
    storage, bucket = storage_on(s3_endpoint)
    storage.put_many([page(number) for number in range(40)])
    assert sorted(storage.keys()) == sorted(page(number).key for number in range(40))
    stored = storage.client.head_object(Bucket=bucket, Key="site/articles/story-7/index.html")
    assert stored["ContentType"] == "text/html; charset=utf-8"
    assert stored["CacheControl"] == "public, max-age=300"
    assert stored["Metadata"] == {"event": "7"}
    assert storage.get("articles/story-39/index.html") == b"<p>story 39</p>"


def test_a_failing_put_stops_its_wave_and_a_retry_completes_it(s3_endpoint: str) -> None:
    storage, _ = storage_on(s3_endpoint, upload_threads=2)
    bad = StoredObject("../escape.html", b"x", "text/html")
    wave = [page(number) for number in range(200)]
    with pytest.raises(UnsafeKey):
        storage.put_many([bad, *wave])
    # Two threads cannot have put 200 objects before the failure stopped the wave.
    assert len(list(storage.keys())) < len(wave)
    storage.put_many(wave)
    assert sorted(storage.keys()) == sorted(item.key for item in wave)


def test_one_upload_thread_puts_in_turn(s3_endpoint: str) -> None:
    storage, _ = storage_on(s3_endpoint, upload_threads=1)
    storage.put_many([page(number) for number in range(5)])
    assert len(list(storage.keys())) == 5
