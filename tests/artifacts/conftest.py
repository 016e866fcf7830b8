"""Artifact-store fixtures: a local root always, and a real S3 API (moto) on loopback.

moto's server keeps its buckets in process-global state, so a server per test would isolate
nothing: one server is started per session (like any external service the suite talks to),
and every test gets a freshly created bucket after a full ``/moto-api/reset``. Everything a
test can observe is therefore function-scoped.
"""

from __future__ import annotations

import importlib.util
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops.artifacts import ArtifactStore

S3_SKIP_REASON = "S3 tests need s3fs and moto[server]: pip install 'mlops[dev]'"
HAVE_S3 = all(importlib.util.find_spec(name) for name in ("s3fs", "moto", "boto3"))

StoreFactory = Callable[[str], ArtifactStore]


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """URL of a moto S3 server on 127.0.0.1, on a free port."""
    if not HAVE_S3:
        pytest.skip(S3_SKIP_REASON)
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials, and no real AWS configuration leaking in from the machine."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "MLOPS_S3_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def s3_bucket(moto_endpoint: str, aws_env: None) -> Iterator[Any]:
    """A fresh, empty bucket; returns the boto3 ``Bucket`` resource (the test's 'disk')."""
    import boto3  # type: ignore[import-untyped]

    _reset_moto(moto_endpoint)
    resource = boto3.resource("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    bucket = resource.create_bucket(Bucket=f"mlops-test-{uuid.uuid4().hex[:12]}")
    yield bucket
    _reset_moto(moto_endpoint)


def _reset_moto(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


@pytest.fixture
def make_store(tmp_path: Path, request: pytest.FixtureRequest) -> StoreFactory:
    """Factory: ``make_store("local")`` or ``make_store("s3")``, each call a separate root."""
    counter = iter(range(1_000_000))

    def make(kind: str) -> ArtifactStore:
        name = f"root{next(counter)}"
        if kind == "local":
            return ArtifactStore(str(tmp_path / name))
        bucket = request.getfixturevalue("s3_bucket")
        endpoint = request.getfixturevalue("moto_endpoint")
        return ArtifactStore(
            f"s3://{bucket.name}/{name}", storage_options={"endpoint_url": endpoint}
        )

    return make


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, make_store: StoreFactory) -> ArtifactStore:
    """One store per backend; every contract test runs against both."""
    return make_store(request.param)


@pytest.fixture
def corrupt(request: pytest.FixtureRequest) -> Callable[[ArtifactStore, str], None]:
    """Flip one byte of a stored artifact behind the store's back ("bit rot")."""

    def flip(target: ArtifactStore, path: str) -> None:
        uri = target.uri_for(path)
        if uri.startswith("file://"):
            file = Path(uri.removeprefix("file://"))
            data = bytearray(file.read_bytes())
            data[len(data) // 2] ^= 0xFF
            file.write_bytes(bytes(data))
            return
        bucket = request.getfixturevalue("s3_bucket")
        key = uri.removeprefix(f"s3://{bucket.name}/")
        data = bytearray(bucket.Object(key).get()["Body"].read())
        data[len(data) // 2] ^= 0xFF
        bucket.put_object(Key=key, Body=bytes(data))

    return flip
