"""``RestArtifactStore``: the artifact store's methods, served by an mlops server.

Artifacts keep the URIs of the server's own artifact root (``file:///srv/...`` or
``s3://bucket/...``), so metadata written through a server and directly are the same. Bytes
stream both ways in ``CHUNK_SIZE`` pieces: an upload is read from its file as it is sent, and a
download is written to a temporary file while its sha256 is computed, then renamed into place
only if the hash matches. A 1 GB artifact never sits whole in memory on either side.
"""

from __future__ import annotations

import builtins
import io
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

from mlops.artifacts import CHUNK_SIZE, ArtifactInfo, ArtifactStore
from mlops.artifacts.filesystems import translate_errors
from mlops.artifacts.hashing import Digest, ReadableBinary, iter_chunks, normalize_sha256
from mlops.artifacts.paths import validate_path, validate_prefix
from mlops.artifacts.store import ArtifactSink
from mlops.artifacts.writers import write_local
from mlops.errors import (
    ArtifactCorruptedError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
)
from mlops.store.rest.client import RestClient

_FILES = "/api/v1/artifacts/files/"


class RestArtifactStore:
    """Artifacts under the artifact root of an mlops server.

    The root (and the server's upload limit) is fetched on first use, so creating the store
    never touches the network.
    """

    def __init__(self, client: RestClient):
        self.client = client
        self._paths: ArtifactStore | None = None
        self._max_upload = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RestArtifactStore({self.client.base_url!r})"

    def _root(self) -> ArtifactStore:
        # An ArtifactStore on the server's root, used only for its path arithmetic (no I/O), so
        # URIs are built and parsed exactly as on the server.
        if self._paths is None:
            with self._lock:
                if self._paths is None:
                    info = self.client.request("GET", "/api/v1/artifacts/root").json()
                    self._max_upload = int(info["max_upload_size"])
                    self._paths = ArtifactStore(info["root_uri"])
        return self._paths

    @property
    def root_uri(self) -> str:
        """The server's artifact root; artifact URIs are this plus ``/`` plus their path."""
        return self._root().root_uri

    # --- paths ---------------------------------------------------------------------------------

    def uri_for(self, path: str) -> str:
        """The full URI of the artifact (or prefix) at ``path``; see ``ArtifactStore.uri_for``."""
        return self._root().uri_for(path)

    def relative(self, uri: str) -> str:
        """The artifact path of ``uri`` under the server's root; see ``ArtifactStore.relative``."""
        return self._root().relative(uri)

    def _resolve(self, uri_or_path: str) -> str:
        root = self._root()
        if "://" in uri_or_path or (root.root_uri.startswith("file://") and uri_or_path[:1] == "/"):
            return root.relative(uri_or_path)
        return validate_path(uri_or_path)

    def _url(self, path: str) -> str:
        return _FILES + quote(path, safe="/")

    # --- writes --------------------------------------------------------------------------------

    def put_file(self, local_path: str | os.PathLike[str], dest: str) -> ArtifactInfo:
        """Upload a local file to ``dest``, streaming it from disk (retried from the start).

        Raises:
            InvalidInputError: Invalid ``dest``, or ``local_path`` is a folder.
            NotFoundError: ``local_path`` does not exist.
            PayloadTooLargeError: The file is over the server's upload limit.
            BackendUnavailableError: The server could not be reached.
        """
        source = Path(local_path)
        path = validate_path(dest)
        if source.is_dir():
            raise InvalidInputError(f"{source} is a folder; use put_dir")
        what = f"local file {source}"
        with translate_errors(what):
            size = source.stat().st_size

        def body() -> Iterator[bytes]:
            with translate_errors(what), source.open("rb") as file:
                yield from iter_chunks(file, what)

        return self._upload(path, body, size)

    def put_bytes(self, data: bytes, dest: str) -> ArtifactInfo:
        """Upload ``data`` to ``dest``."""
        payload = bytes(data)
        return self._upload(validate_path(dest), lambda: [payload], len(payload))

    def put_fileobj(
        self, fileobj: ReadableBinary, dest: str, *, size: int | None = None
    ) -> ArtifactInfo:
        """Upload everything ``fileobj.read()`` yields to ``dest``, streaming.

        A seekable stream is rewound for a retry; any other stream is sent once.
        """
        path = validate_path(dest)
        rewind = _rewinder(fileobj)

        def body() -> Iterable[bytes]:
            if rewind is not None:
                rewind()
            return iter_chunks(fileobj, f"source stream for {path}")

        return self._upload(path, body, size, retry=rewind is not None)

    def put_dir(
        self, local_dir: str | os.PathLike[str], dest_prefix: str = ""
    ) -> builtins.list[ArtifactInfo]:
        """Upload every file under ``local_dir`` below ``dest_prefix``, in path order."""
        source = Path(local_dir)
        prefix = validate_prefix(dest_prefix)
        if not source.is_dir():
            raise NotFoundError(f"local folder {source} not found")
        planned: builtins.list[tuple[Path, str]] = []
        with translate_errors(f"local folder {source}"):
            for dirpath, _dirnames, filenames in os.walk(source):
                for name in filenames:
                    file = Path(dirpath, name)
                    relative = file.relative_to(source).as_posix()
                    planned.append(
                        (file, validate_path(f"{prefix}/{relative}" if prefix else relative))
                    )
        return [self.put_file(file, dest) for file, dest in sorted(planned, key=lambda p: p[1])]

    def _upload(
        self, path: str, body: Any, size: int | None, *, retry: bool = True
    ) -> ArtifactInfo:
        self._root()
        if size is not None and size > self._max_upload:
            raise PayloadTooLargeError(
                f"{path} is {size} bytes, over the server's upload limit of {self._max_upload}"
            )
        headers = {"Content-Type": "application/octet-stream"}
        if size is not None:
            headers["Content-Length"] = str(size)
        response = self.client.request(
            "PUT", self._url(path), content=body, headers=headers, retry=retry
        )
        return ArtifactInfo(**response.json())

    # --- reads ---------------------------------------------------------------------------------

    def download(
        self, uri_or_path: str, local_path: str | os.PathLike[str], sha256: str | None = None
    ) -> Path:
        """Stream an artifact into a local file, atomically, verifying ``sha256`` if given.

        On a mismatch the partial download is deleted and ``local_path`` is left as it was.

        Raises:
            NotFoundError: No artifact there.
            ArtifactCorruptedError: The content does not match ``sha256``.
        """
        path = self._resolve(uri_or_path)
        expected = normalize_sha256(sha256) if sha256 is not None else None
        target = Path(local_path)
        what = f"local file {target}"

        def attempt() -> None:
            with self.client.stream("GET", self._url(path)) as response:
                chunks = _verified(response.iter_bytes(CHUNK_SIZE), self.uri_for(path), expected)
                with translate_errors(what):
                    write_local(target, chunks, what)

        self.client.retrying(attempt, what=f"download of {path}")
        return target

    def open(self, uri_or_path: str, sha256: str | None = None) -> BinaryIO:
        """A forward-only stream of the artifact; with ``sha256`` it is verified at its end."""
        path = self._resolve(uri_or_path)
        expected = normalize_sha256(sha256) if sha256 is not None else None
        context = self.client.stream("GET", self._url(path))
        response = context.__enter__()
        chunks = _verified(response.iter_bytes(CHUNK_SIZE), self.uri_for(path), expected)
        return io.BufferedReader(_ResponseReader(chunks, context), buffer_size=CHUNK_SIZE)

    def read_bytes(self, uri_or_path: str, sha256: str | None = None) -> bytes:
        """A whole artifact, verified against ``sha256`` if given (retried like any read)."""

        def attempt() -> bytes:
            with self.open(uri_or_path, sha256) as reader:
                return reader.read()

        return self.client.retrying(attempt, what=f"read of {uri_or_path}")

    def copy_to(self, other: ArtifactSink, path: str, sha256: str | None = None) -> ArtifactInfo:
        """Stream the artifact at ``path`` into ``other`` under the same relative path."""
        relative = self._resolve(path)
        with self.open(relative, sha256) as reader:
            return other.put_fileobj(reader, relative, size=self.size(relative))

    # --- queries -------------------------------------------------------------------------------

    def _stat(self, path: str) -> dict[str, Any]:
        params = {"path": self._resolve(path)}
        stat: dict[str, Any] = self.client.request(
            "GET", "/api/v1/artifacts/stat", params=params
        ).json()
        return stat

    def exists(self, path: str) -> bool:
        """Whether an artifact exists at ``path``."""
        return bool(self._stat(path)["exists"])

    def size(self, path: str) -> int:
        """The size in bytes of the artifact at ``path``."""
        stat = self._stat(path)
        if not stat["exists"]:
            raise NotFoundError(f"artifact {self.uri_for(stat['path'])} not found")
        return int(stat["size"])

    def list(self, prefix: str = "") -> builtins.list[str]:
        """Every artifact path under the folder-like ``prefix`` (recursive), sorted."""
        params = {"prefix": validate_prefix(prefix)}
        response = self.client.request("GET", "/api/v1/artifacts", params=params)
        return [str(p) for p in response.json()["paths"]]

    # --- deletes -------------------------------------------------------------------------------

    def delete(self, path: str) -> None:
        """Delete the artifact at ``path``; ``NotFoundError`` if there is none."""
        self.client.request("DELETE", self._url(self._resolve(path)))

    def delete_prefix(self, prefix: str) -> int:
        """Delete every artifact under the folder-like ``prefix``; returns how many.

        Raises:
            InvalidInputError: Empty prefix (the whole store is never deleted through here).
        """
        checked = validate_prefix(prefix)
        if not checked:
            raise InvalidInputError(
                "delete_prefix needs a prefix; refusing to delete the whole store"
            )
        response = self.client.request("DELETE", "/api/v1/artifacts", params={"prefix": checked})
        return int(response.json()["deleted"])


def _rewinder(fileobj: Any) -> Callable[[], None] | None:
    """A function putting a seekable stream back where it is now; None if it cannot seek."""
    try:
        if not fileobj.seekable():
            return None
        start = fileobj.tell()
    except (AttributeError, OSError):
        return None
    return lambda: fileobj.seek(start)


def _verified(chunks: Iterable[bytes], uri: str, expected: str | None) -> Iterator[bytes]:
    """Pass ``chunks`` through; at their end, raise if their sha256 is not ``expected``."""
    digest = Digest()
    yield from digest.tee(chunks)
    if expected is not None and digest.hexdigest() != expected:
        raise ArtifactCorruptedError(
            f"artifact {uri} is corrupted: expected sha256 {expected}, got {digest.hexdigest()} "
            f"({digest.size} bytes)"
        )


class _ResponseReader(io.RawIOBase):
    """A raw stream over an HTTP response body; closing it closes the response."""

    def __init__(self, chunks: Iterator[bytes], context: Any):
        super().__init__()
        self._chunks = chunks
        self._context = context
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any, /) -> int:
        view = memoryview(buffer).cast("B")
        if not view:
            return 0
        if not self._pending:
            self._pending = next(self._chunks, b"")
        count = min(len(view), len(self._pending))
        view[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def close(self) -> None:
        if not self.closed:
            try:
                self._context.__exit__(None, None, None)
            finally:
                super().close()
