"""S3-specific behaviour: configuration, laziness, and errors at the boundary."""

from __future__ import annotations

import io
import socket
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from mlops.artifacts import ArtifactStore
from mlops.errors import BackendUnavailableError, ConfigError


@pytest.fixture
def dead_endpoint() -> Iterator[str]:
    """An endpoint URL on a loopback port with nothing listening (bound, never accepting)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        # Bound but not listening: connections are refused, and no one else can take the port.
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def fail_fast(endpoint: str) -> dict[str, Any]:
    return {"endpoint_url": endpoint, "config_kwargs": {"retries": {"max_attempts": 1}}}


def test_endpoint_comes_from_env_when_not_given(
    s3_bucket: Any, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_S3_ENDPOINT_URL", moto_endpoint)
    store = ArtifactStore(f"s3://{s3_bucket.name}/env")

    info = store.put_bytes(b"via env", "a.txt")

    assert s3_bucket.Object("env/a.txt").get()["Body"].read() == b"via env"
    assert info.uri == f"s3://{s3_bucket.name}/env/a.txt"


def test_explicit_endpoint_wins_over_env(
    s3_bucket: Any, moto_endpoint: str, dead_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_S3_ENDPOINT_URL", dead_endpoint)
    store = ArtifactStore(f"s3://{s3_bucket.name}", storage_options={"endpoint_url": moto_endpoint})
    store.put_bytes(b"x", "a")
    assert store.exists("a")


def test_constructor_never_touches_the_network(dead_endpoint: str) -> None:
    store = ArtifactStore("s3://bucket/prefix", storage_options=fail_fast(dead_endpoint))
    assert store.uri_for("a") == "s3://bucket/prefix/a"
    assert store.relative("s3://bucket/prefix/a") == "a"


@pytest.mark.usefixtures("aws_env")
@pytest.mark.parametrize(
    "operation",
    [
        lambda s: s.put_bytes(b"x", "a"),
        lambda s: s.read_bytes("a"),
        lambda s: s.exists("a"),
        lambda s: s.list(),
        lambda s: s.delete_prefix("runs"),
    ],
    ids=["put_bytes", "read_bytes", "exists", "list", "delete_prefix"],
)
def test_unreachable_endpoint_is_backend_unavailable(dead_endpoint: str, operation: Any) -> None:
    pytest.importorskip("s3fs", reason="needs s3fs: pip install 'mlops[s3]'")
    store = ArtifactStore("s3://bucket/prefix", storage_options=fail_fast(dead_endpoint))

    with pytest.raises(BackendUnavailableError) as excinfo:
        operation(store)

    assert "s3://bucket/prefix" in str(excinfo.value)
    assert excinfo.value.__cause__ is not None  # chained, not swallowed


@pytest.mark.parametrize(
    "operation",
    [
        lambda s: s.put_bytes(b"x", "a"),
        lambda s: s.put_fileobj(io.BytesIO(b"x" * 9 * 1024 * 1024), "a"),  # multipart
        lambda s: s.read_bytes("a"),
        lambda s: s.exists("a"),
        lambda s: s.list(),
        lambda s: s.delete_prefix("runs"),
    ],
    ids=["put_bytes", "multipart", "read_bytes", "exists", "list", "delete_prefix"],
)
def test_missing_bucket_is_a_config_error(
    s3_bucket: Any, moto_endpoint: str, operation: Any
) -> None:
    store = ArtifactStore(
        "s3://no-such-bucket-here/x", storage_options={"endpoint_url": moto_endpoint}
    )

    with pytest.raises(ConfigError, match="bucket does not exist") as excinfo:
        operation(store)

    assert "s3://no-such-bucket-here/x" in str(excinfo.value)


def test_without_s3fs_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "s3fs", None)  # what an environment without it looks like
    store = ArtifactStore("s3://bucket/prefix")  # constructing is still fine

    with pytest.raises(ConfigError, match=r"pip install 'mlops\[s3\]'"):
        store.exists("a")


def test_local_stores_do_not_need_s3fs(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setitem(sys.modules, "s3fs", None)
    store = ArtifactStore(str(tmp_path))
    store.put_bytes(b"x", "a")
    assert store.read_bytes("a") == b"x"
