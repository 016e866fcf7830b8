"""Writes are atomic: a failure or a crash mid-write never exposes a partial artifact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from mlops.artifacts import ArtifactStore
from mlops.errors import BackendUnavailableError

MIB = 1024 * 1024


class FailingStream:
    """A source stream (an upload, a pipe) that breaks after ``fail_after`` bytes."""

    def __init__(self, fail_after: int, error: Exception) -> None:
        self.fail_after = fail_after
        self.error = error
        self.sent = 0

    def read(self, size: int = -1) -> bytes:
        if self.sent >= self.fail_after:
            raise self.error
        chunk = b"x" * min(size if size > 0 else MIB, self.fail_after - self.sent)
        self.sent += len(chunk)
        return chunk


def local_files(store: ArtifactStore) -> list[str]:
    root = Path(store.root_uri.removeprefix("file://"))
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_source_failure_mid_write_leaves_no_file_and_no_temp(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "root"))
    stream = FailingStream(3 * MIB, RuntimeError("client went away"))

    with pytest.raises(RuntimeError, match="client went away"):
        store.put_fileobj(stream, "runs/1/model.bin")

    assert stream.sent == 3 * MIB  # the failure really happened midway
    assert not store.exists("runs/1/model.bin")
    assert local_files(store) == []


def test_source_io_error_is_translated_and_cleaned_up(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "root"))
    with pytest.raises(BackendUnavailableError, match="source stream"):
        store.put_fileobj(FailingStream(MIB, OSError("EIO")), "a.bin")
    assert local_files(store) == []


def test_failed_overwrite_keeps_the_previous_version(store: ArtifactStore) -> None:
    store.put_bytes(b"version 1", "model.bin")

    with pytest.raises(RuntimeError):
        store.put_fileobj(FailingStream(2 * MIB, RuntimeError("boom")), "model.bin")

    assert store.read_bytes("model.bin") == b"version 1"
    assert store.list() == ["model.bin"]


def test_failed_multipart_upload_is_aborted(make_store: Any, s3_bucket: Any) -> None:
    store = make_store("s3")
    # Past one multipart part (8 MiB): parts have been uploaded when the source fails.
    stream = FailingStream(20 * MIB, RuntimeError("boom"))

    with pytest.raises(RuntimeError):
        store.put_fileobj(stream, "big.bin")

    assert stream.sent == 20 * MIB
    assert store.list() == []
    assert list(s3_bucket.objects.all()) == []
    assert list(s3_bucket.multipart_uploads.all()) == []


def test_multipart_round_trip(make_store: Any, s3_bucket: Any) -> None:
    store = make_store("s3")
    data = os.urandom(MIB) * 19  # three parts of 8 MiB, the last one short

    info = store.put_fileobj(_Chunked(data), "big.bin")

    assert info.size == len(data)
    assert store.read_bytes("big.bin", sha256=info.sha256) == data
    assert list(s3_bucket.multipart_uploads.all()) == []


class _Chunked:
    def __init__(self, data: bytes) -> None:
        self._view = memoryview(data)
        self._offset = 0

    def read(self, size: int = -1) -> bytes:
        chunk = bytes(self._view[self._offset : self._offset + size])
        self._offset += len(chunk)
        return chunk


WRITER = """
import sys
from mlops.artifacts import ArtifactStore
ArtifactStore(sys.argv[1]).put_fileobj(sys.stdin.buffer, "runs/1/model.bin")
"""


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
def test_killed_writer_leaves_no_artifact(tmp_path: Path) -> None:
    root = tmp_path / "root"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root)],
        stdin=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert writer.stdin is not None
    writer.stdin.write(b"x" * 3 * MIB)
    writer.stdin.flush()
    folder = root / "runs" / "1"
    deadline = time.monotonic() + 30
    while not (folder.is_dir() and any(folder.iterdir())):
        assert time.monotonic() < deadline, "writer never started writing"
        time.sleep(0.01)

    writer.send_signal(signal.SIGKILL)
    writer.wait()
    writer.stdin.close()

    store = ArtifactStore(str(root))
    assert not (folder / "model.bin").exists()
    assert not store.exists("runs/1/model.bin")
    assert store.list() == []  # the orphaned temporary file is invisible...
    assert store.delete_prefix("runs") == 0  # ...and garbage collection removes it
    assert not folder.exists()
