"""Large artifacts stream: Python memory stays far below the artifact's size."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mlops.artifacts import ArtifactStore, sha256_file

SIZE = 50 * 1024 * 1024
PEAK_LIMIT = 8 * 1024 * 1024  # the chunk size is 1 MiB; leave room for buffers, not the file


@pytest.fixture
def big_file(tmp_path: Path) -> Path:
    path = tmp_path / "big.bin"
    block = bytes(range(256)) * 4096  # 1 MiB
    with path.open("wb") as file:
        for i in range(SIZE // len(block)):
            file.write(block[i % 256 :] + block[: i % 256])
    return path


@pytest.fixture
def peak_memory() -> Iterator[Callable[[], int]]:
    tracemalloc.start()
    try:
        yield lambda: tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_large_file_round_trip_streams(
    tmp_path: Path, big_file: Path, peak_memory: Callable[[], int]
) -> None:
    store = ArtifactStore(str(tmp_path / "root"))
    expected = sha256_file(big_file)

    info = store.put_file(big_file, "big/model.bin")
    with store.open(info.uri, sha256=info.sha256) as reader:
        while reader.read(1024 * 1024):
            pass
    downloaded = store.download(info.uri, tmp_path / "back.bin", sha256=info.sha256)
    copied = store.copy_to(ArtifactStore(str(tmp_path / "other")), info.path, info.sha256)

    assert peak_memory() < PEAK_LIMIT
    assert (info.sha256, info.size) == expected
    assert sha256_file(downloaded) == expected
    assert (copied.sha256, copied.size) == expected


def test_sha256_file_streams(big_file: Path, peak_memory: Callable[[], int]) -> None:
    digest, size = sha256_file(big_file)
    assert size == SIZE
    assert len(digest) == 64
    assert peak_memory() < PEAK_LIMIT
