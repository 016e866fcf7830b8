"""sha256_file and the verifying reader, independent of any store."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from mlops.artifacts import sha256_file
from mlops.artifacts.hashing import VerifyingReader, normalize_sha256
from mlops.errors import ArtifactCorruptedError, InvalidInputError, NotFoundError


def test_sha256_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"hello" * 1000)
    assert sha256_file(path) == (hashlib.sha256(b"hello" * 1000).hexdigest(), 5000)
    assert sha256_file(str(path)) == sha256_file(path)


def test_sha256_file_of_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="nope"):
        sha256_file(tmp_path / "nope")


@pytest.mark.parametrize("bad", ["", "abc", "g" * 64, "a" * 63, "a" * 65])
def test_normalize_sha256_rejects_non_digests(bad: str) -> None:
    with pytest.raises(InvalidInputError):
        normalize_sha256(bad)


def test_normalize_sha256_lowercases() -> None:
    assert normalize_sha256("AB" * 32) == "ab" * 32


def reader(data: bytes, sha256: str | None, size: int | None) -> io.BufferedReader[VerifyingReader]:
    raw = VerifyingReader(io.BytesIO(data), uri="mem://x", sha256=sha256, size=size)
    return io.BufferedReader(raw, buffer_size=4)


@pytest.mark.parametrize("size", [None, 11])
def test_verifying_reader_passes_matching_content(size: int | None) -> None:
    data = b"hello world"
    with reader(data, hashlib.sha256(data).hexdigest(), size) as stream:
        assert stream.read() == data
        assert stream.read() == b""


@pytest.mark.parametrize("size", [None, 11])
def test_verifying_reader_fails_at_the_end(size: int | None) -> None:
    with reader(b"hello world", "0" * 64, size) as stream:
        assert stream.read(3) == b"hel"  # no verdict before the end
        with pytest.raises(ArtifactCorruptedError, match="mem://x"):
            stream.read()


def test_unverified_reader_translates_nothing_and_seeks() -> None:
    with reader(b"hello world", None, None) as stream:
        stream.seek(6)
        assert stream.read() == b"world"
        assert stream.raw.name == "mem://x"
