"""Content hashing while bytes stream past, so no artifact is ever held whole in memory.

Every write computes sha256 and size as the bytes go out; every verified read computes them as
the bytes come in and compares at end of file. A mismatch raises ``ArtifactCorruptedError``
before the caller can act on the last chunk.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from mlops.artifacts.filesystems import translate_errors
from mlops.errors import ArtifactCorruptedError, InvalidInputError

CHUNK_SIZE = 1024 * 1024
"""Bytes moved per read or write: large enough for throughput, small enough for memory."""

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class ReadableBinary(Protocol):
    """Anything with a binary ``read(size)``: open files, ``io.BytesIO``, HTTP upload streams."""

    def read(self, size: int = -1, /) -> bytes:
        """Return up to ``size`` bytes; ``b""`` at end of stream."""
        ...


def sha256_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """Hash a local file without reading it whole into memory.

    Args:
        path: The file to hash.

    Returns:
        ``(sha256 hex digest, size in bytes)``.

    Raises:
        NotFoundError: No file at ``path``.
        BackendUnavailableError: The file cannot be read.
    """
    with translate_errors(f"local file {os.fspath(path)}"), open(path, "rb") as file:
        digest = hashlib.file_digest(file, "sha256")
        return digest.hexdigest(), file.tell()


def normalize_sha256(sha256: str) -> str:
    """Lower-case a sha256 hex digest, refusing anything that is not one.

    Raises:
        InvalidInputError: Not 64 hex digits.
    """
    normalized = sha256.strip().lower() if isinstance(sha256, str) else ""
    if not _SHA256_HEX.fullmatch(normalized):
        raise InvalidInputError(f"not a sha256 hex digest: {sha256!r}")
    return normalized


def iter_chunks(stream: ReadableBinary, what: str) -> Iterator[bytes]:
    """Yield a stream's bytes in ``CHUNK_SIZE`` pieces, translating read errors for ``what``."""
    while True:
        with translate_errors(what):
            chunk = stream.read(CHUNK_SIZE)
        if not chunk:
            return
        yield chunk


class Digest:
    """Running sha256 and byte count of a stream, fed as the bytes pass through."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        """Account for the next chunk of the stream."""
        self._hash.update(chunk)
        self.size += len(chunk)

    def hexdigest(self) -> str:
        """The sha256 of everything seen so far."""
        return self._hash.hexdigest()

    def tee(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """Pass ``chunks`` through unchanged while hashing them."""
        for chunk in chunks:
            self.update(chunk)
            yield chunk


class VerifyingReader(io.RawIOBase):
    """A raw stream over an fsspec file that checks the sha256 once the last byte is read.

    Wrap it in ``io.BufferedReader`` for ``read(n)``, ``readline`` and iteration. With an
    expected hash the stream is forward-only (a seek would make the running hash meaningless);
    without one it is seekable when the source is, and only translates errors.

    The check fires as soon as the source's known size has been read, not only on an explicit
    EOF read, because readers such as ``numpy.load`` stop after exactly the bytes they need.
    """

    def __init__(self, source: Any, *, uri: str, sha256: str | None, size: int | None) -> None:
        super().__init__()
        self._source = source
        self._uri = uri
        self._expected = sha256
        self._size = size
        self._digest = Digest() if sha256 is not None else None
        self._failure: str | None = None
        self._verified = False
        self._position = 0

    @property
    def name(self) -> str:
        """The artifact URI, like ``file.name``."""
        return self._uri

    @property
    def size(self) -> int | None:
        """The artifact's size as the storage reported it when opened, if it did."""
        return self._size

    def readable(self) -> bool:
        """Always true: this is a read stream."""
        return True

    def seekable(self) -> bool:
        """Only unverified streams can seek; see the class docstring."""
        if self._digest is not None:
            return False
        with translate_errors(f"artifact {self._uri}"):
            return bool(self._source.seekable())

    def seek(self, offset: int, whence: int = io.SEEK_SET, /) -> int:
        """Move within an unverified stream."""
        if self._digest is not None:
            raise io.UnsupportedOperation("a stream verified against a sha256 cannot seek")
        with translate_errors(f"artifact {self._uri}"):
            self._position = int(self._source.seek(offset, whence))
        return self._position

    def tell(self) -> int:
        """Bytes from the start of the artifact."""
        return self._position

    def readinto(self, buffer: Any, /) -> int:
        """Read into ``buffer``; on the last byte, compare the sha256."""
        if self._failure is not None:
            # Keep failing: a caller that swallowed the first error must not see a clean EOF.
            raise ArtifactCorruptedError(self._failure)
        view = memoryview(buffer).cast("B")
        if not view:
            return 0  # an empty read is not end of file; it must not trigger the check
        with translate_errors(f"artifact {self._uri}"):
            chunk = self._source.read(len(view))
        count = len(chunk)
        view[:count] = chunk
        self._position += count
        if self._digest is not None and not self._verified:
            self._digest.update(chunk)
            if count == 0 or (self._size is not None and self._digest.size >= self._size):
                self._verify(self._digest)
        return count

    def _verify(self, digest: Digest) -> None:
        self._verified = True
        actual = digest.hexdigest()
        if actual != self._expected:
            self._failure = (
                f"artifact {self._uri} is corrupted: expected sha256 {self._expected}, "
                f"got {actual} ({digest.size} bytes)"
            )
            raise ArtifactCorruptedError(self._failure)

    def readall(self) -> bytes:
        """Read to the end in ``CHUNK_SIZE`` pieces (the default reads 8 KiB at a time)."""
        chunks = []
        while chunk := self.read(CHUNK_SIZE):
            chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        """Close the source too."""
        if self.closed:
            return
        try:
            with translate_errors(f"artifact {self._uri}"):
                self._source.close()
        finally:
            super().close()
