"""Which S3 errors a retry can cure: the worker retries those and fails the rest at once."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
)

from pipeline.storage import TransientStorageError
from pipeline.storage.s3 import _translate
from pipeline.transient import is_transient


def client_error(code: str, status: int) -> ClientError:
    response = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "PutObject")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "error",
    [
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
        client_error("SlowDown", 503),
        client_error("InternalError", 500),
    ],
)
def test_outages_and_throttling_are_retried(error: Exception) -> None:
    translated = _translate(error, "put")
    assert isinstance(translated, TransientStorageError)
    assert is_transient(translated)


@pytest.mark.parametrize(
    "error",
    [
        NoCredentialsError(),
        PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"),
        client_error("AccessDenied", 403),
        client_error("NoSuchBucket", 404),
    ],
)
def test_configuration_errors_fail_at_once(error: Exception) -> None:
    translated = _translate(error, "put")
    assert not isinstance(translated, TransientStorageError)
    assert not is_transient(translated)


def test_missing_credentials_say_how_to_set_them() -> None:
    assert "AWS_" in str(_translate(NoCredentialsError(), "put"))
