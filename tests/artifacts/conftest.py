"""Artifact-store fixtures: a local root always, and a real S3 API (moto) on loopback.

moto's server keeps its buckets in process-global state, so a server per test would isolate
nothing: one server is started per session (like any external service the suite talks to),
and every test gets a freshly created bucket after a full ``/moto-api/reset``. Everything a
test can observe is therefore function-scoped.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mlops.artifacts import ArtifactStore

StoreFactory = Callable[[str], ArtifactStore]


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
