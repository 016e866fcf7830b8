"""``ArtifactStore``: atomic, content-hashed artifact storage on a local folder or S3.

Every write streams (``CHUNK_SIZE`` pieces), computes sha256 and size on the way, and is atomic:
a reader sees the old content or the new, never a prefix of it. Every read can verify a sha256
recorded at write time. Paths are relative to the root and validated the same way on every
backend (see ``mlops.artifacts.paths``).
"""

from __future__ import annotations

import builtins
import io
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from mlops.artifacts.deletion import delete_local_tree, delete_object_tree
from mlops.artifacts.entities import ArtifactInfo
from mlops.artifacts.filesystems import create_filesystem, is_missing_bucket, translate_errors
from mlops.artifacts.hashing import (
    CHUNK_SIZE,
    Digest,
    ReadableBinary,
    VerifyingReader,
    iter_chunks,
    normalize_sha256,
)
from mlops.artifacts.paths import (
    is_temp_name,
    local_path_from_uri,
    parse_root,
    validate_path,
    validate_prefix,
)
from mlops.artifacts.writers import part_size, write_local, write_object
from mlops.errors import InvalidInputError, NotFoundError


class ArtifactSink(Protocol):
    """Anything that stores a stream under a relative path, like ``ArtifactStore.put_fileobj``."""

    def put_fileobj(
        self, fileobj: ReadableBinary, dest: str, *, size: int | None = None
    ) -> ArtifactInfo:
        """Store everything ``fileobj.read()`` yields at ``dest``."""
        ...


_S3_READ_OPTIONS = {"block_size": 4 * 1024 * 1024, "cache_type": "readahead"}
"""s3fs reads ahead 50 MiB by default; 4 MiB keeps streaming reads small in memory."""


class ArtifactStore:
    """Artifacts under one root: a local folder, a ``file://`` URI or ``s3://bucket/prefix``.

    A local root cannot hold both ``a`` and ``a/b`` (a file is not a folder); S3 can, but
    portable callers do not rely on it.

    The constructor only stores its arguments; the fsspec filesystem is built on first use, so
    creating a store never touches the network. Stores pickle (without their filesystem), so
    they can be shipped to worker processes.

    Args:
        root_uri: Where artifacts live. A relative folder is made absolute immediately.
        storage_options: s3fs keyword arguments (``endpoint_url``, ``key``, ``secret``,
            ``client_kwargs``, ...). Without an ``endpoint_url`` the environment variable
            ``MLOPS_S3_ENDPOINT_URL`` is used; credentials otherwise come from the standard
            AWS environment variables and files. Ignored for local roots.

    Raises:
        ConfigError: Unknown scheme or unusable root (S3 without ``s3fs`` fails on first use).
    """

    def __init__(self, root_uri: str, *, storage_options: Mapping[str, Any] | None = None) -> None:
        self._root = parse_root(root_uri)
        self._storage_options = dict(storage_options) if storage_options is not None else None
        self._fs: Any = None
        self._lock = threading.Lock()

    @property
    def root_uri(self) -> str:
        """The root as a URI; artifact URIs are this plus ``/`` plus their path."""
        return self._root.uri

    def __repr__(self) -> str:
        return f"ArtifactStore({self._root.uri!r})"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_fs"] = None  # rebuilt lazily on the other side: sessions do not pickle
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def _is_local(self) -> bool:
        return self._root.scheme == "file"

    def _filesystem(self) -> Any:
        if self._fs is None:
            with self._lock:
                if self._fs is None:
                    self._fs = create_filesystem(self._root.scheme, self._storage_options)
        return self._fs

    # --- paths ---------------------------------------------------------------------------------

    def uri_for(self, path: str) -> str:
        """The full URI of the artifact (or folder-like prefix) at ``path``.

        ``uri_for("")`` is ``root_uri``.

        Raises:
            InvalidInputError: ``path`` is not a valid relative artifact path.
        """
        prefix = validate_prefix(path)
        return self._root.join_uri(prefix) if prefix else self._root.uri

    def relative(self, uri: str) -> str:
        """The artifact path of ``uri`` relative to this store's root.

        Local stores also accept plain absolute paths under the root.

        Raises:
            InvalidInputError: ``uri`` is not under the root, is the root itself, or would
                escape it (``..``).
        """
        candidate = uri
        if self._is_local:
            if uri.startswith("file://"):
                candidate = local_path_from_uri(uri)
            candidate = candidate.replace(os.sep, "/")
        base = self._root.fs_path.rstrip("/") if self._is_local else self._root.uri
        if not candidate.startswith(f"{base}/"):
            raise InvalidInputError(f"{uri!r} is not under the artifact root {self._root.uri}")
        path = candidate[len(base) + 1 :]
        try:
            return validate_path(path)
        except InvalidInputError as exc:
            raise InvalidInputError(f"{uri!r} does not name an artifact: {exc}") from exc

    def _resolve(self, uri_or_path: str) -> str:
        if "://" in uri_or_path or (self._is_local and os.path.isabs(uri_or_path)):
            return self.relative(uri_or_path)
        return validate_path(uri_or_path)

    # --- writes --------------------------------------------------------------------------------

    def put_file(self, local_path: str | os.PathLike[str], dest: str) -> ArtifactInfo:
        """Store a local file at ``dest``, streaming it in ``CHUNK_SIZE`` pieces.

        Raises:
            InvalidInputError: Invalid ``dest``, or ``local_path`` is a folder.
            NotFoundError: ``local_path`` does not exist.
            BackendUnavailableError: The storage could not be written.
        """
        source = Path(local_path)
        path = validate_path(dest)
        if source.is_dir():
            raise InvalidInputError(f"{source} is a folder; use put_dir")
        what = f"local file {source}"
        with translate_errors(what):
            file = source.open("rb")
        with file:
            with translate_errors(what):
                size = os.fstat(file.fileno()).st_size
            return self._write(iter_chunks(file, what), path, size)

    def put_bytes(self, data: bytes, dest: str) -> ArtifactInfo:
        """Store ``data`` at ``dest``.

        Raises:
            InvalidInputError: Invalid ``dest``.
            BackendUnavailableError: The storage could not be written.
        """
        return self._write([bytes(data)], validate_path(dest), len(data))

    def put_fileobj(
        self, fileobj: ReadableBinary, dest: str, *, size: int | None = None
    ) -> ArtifactInfo:
        """Store everything ``fileobj.read()`` yields, streaming, at ``dest``.

        If reading ``fileobj`` fails midway, nothing is stored and the error propagates.

        Args:
            fileobj: Any binary stream (an open file, an upload, another store's reader).
            dest: Relative artifact path.
            size: Expected size, if known: lets S3 pick parts large enough for huge streams.

        Raises:
            InvalidInputError: Invalid ``dest``.
            BackendUnavailableError: The storage could not be written.
        """
        path = validate_path(dest)
        return self._write(iter_chunks(fileobj, f"source stream for {path}"), path, size)

    def put_dir(
        self, local_dir: str | os.PathLike[str], dest_prefix: str = ""
    ) -> builtins.list[ArtifactInfo]:
        """Store every file under ``local_dir`` (recursively) below ``dest_prefix``.

        Each file is atomic on its own; the folder as a whole is not. All destination paths
        are validated before the first upload. Symlinked folders are not followed.

        Returns:
            One ``ArtifactInfo`` per file, in path order.

        Raises:
            NotFoundError: ``local_dir`` is not a folder.
            InvalidInputError: Invalid prefix, or a file name that is not a valid artifact path.
        """
        source = Path(local_dir)
        prefix = validate_prefix(dest_prefix)
        if not source.is_dir():
            raise NotFoundError(f"local folder {source} not found")
        planned: builtins.list[tuple[Path, str]] = []
        with translate_errors(f"local folder {source}"):
            for dirpath, _dirnames, filenames in os.walk(source, onerror=_raise):
                for name in filenames:
                    file = Path(dirpath, name)
                    relative = file.relative_to(source).as_posix()
                    planned.append(
                        (file, validate_path(f"{prefix}/{relative}" if prefix else relative))
                    )
        return [self.put_file(file, dest) for file, dest in sorted(planned, key=lambda p: p[1])]

    def _write(self, chunks: Iterable[bytes], path: str, size: int | None) -> ArtifactInfo:
        uri = self._root.join_uri(path)
        digest = Digest()
        with translate_errors(f"artifact {uri}"):
            if self._is_local:
                write_local(Path(self._root.join_fs(path)), digest.tee(chunks), f"artifact {uri}")
            else:
                fs = self._filesystem()
                write_object(fs, self._root.join_fs(path), digest.tee(chunks), part_size(size))
        return ArtifactInfo(uri=uri, path=path, size=digest.size, sha256=digest.hexdigest())

    # --- reads ---------------------------------------------------------------------------------

    def open(self, uri_or_path: str, sha256: str | None = None) -> BinaryIO:
        """Open an artifact for streaming reads; use it as a context manager.

        With ``sha256`` the stream is forward-only and raises ``ArtifactCorruptedError`` as
        soon as the last byte is read if the content does not match (a stream closed before
        its end is not checked). Without it, the stream is seekable.

        Raises:
            NotFoundError: No artifact there.
            InvalidInputError: Invalid path or URI, or ``sha256`` is not a hex digest.
        """
        return self._open(self._resolve(uri_or_path), sha256)

    def _open(self, path: str, sha256: str | None) -> io.BufferedReader[VerifyingReader]:
        expected = normalize_sha256(sha256) if sha256 is not None else None
        uri = self._root.join_uri(path)
        fs = self._filesystem()
        options = {} if self._is_local else _S3_READ_OPTIONS
        with translate_errors(f"artifact {uri}"):
            source = fs.open(self._root.join_fs(path), "rb", **options)
            details = getattr(source, "details", None)
            if isinstance(details, dict) and details.get("type", "file") != "file":
                source.close()  # s3fs opens a common prefix ("folder") without complaint
                raise NotFoundError(f"artifact {uri} not found")
        size = getattr(source, "size", None)
        reader = VerifyingReader(source, uri=uri, sha256=expected, size=size)
        return io.BufferedReader(reader, buffer_size=CHUNK_SIZE)

    def read_bytes(self, uri_or_path: str, sha256: str | None = None) -> bytes:
        """Read a whole artifact, verifying ``sha256`` if given.

        Raises:
            NotFoundError: No artifact there.
            ArtifactCorruptedError: The content does not match ``sha256``.
        """
        with self.open(uri_or_path, sha256) as reader:
            return reader.read()

    def download(
        self, uri_or_path: str, local_path: str | os.PathLike[str], sha256: str | None = None
    ) -> Path:
        """Copy an artifact to a local file, atomically, verifying ``sha256`` if given.

        On a mismatch the partial download is deleted and ``local_path`` is left as it was.

        Returns:
            ``local_path`` as a ``Path``.

        Raises:
            NotFoundError: No artifact there.
            ArtifactCorruptedError: The content does not match ``sha256``.
            InvalidInputError: ``local_path`` is a folder.
        """
        target = Path(local_path)
        what = f"local file {target}"
        with self.open(uri_or_path, sha256) as reader, translate_errors(what):
            write_local(target, iter_chunks(reader, what), what)
        return target

    def copy_to(self, other: ArtifactSink, path: str, sha256: str | None = None) -> ArtifactInfo:
        """Stream the artifact at ``path`` into ``other`` under the same relative path.

        ``other`` is another ``ArtifactStore``, or anything else that stores streams (the
        artifact store of an mlops server).

        With ``sha256`` the source is verified on the way; a mismatch aborts the write, so a
        corrupted artifact is never copied.

        Raises:
            NotFoundError: No artifact there.
            ArtifactCorruptedError: The source does not match ``sha256``.
        """
        relative = self._resolve(path)
        with self._open(relative, sha256) as reader:
            return other.put_fileobj(reader, relative, size=reader.raw.size)

    # --- queries -------------------------------------------------------------------------------

    def exists(self, path: str) -> bool:
        """Whether an artifact (not merely a folder or prefix) exists at ``path``.

        Raises:
            BackendUnavailableError: The storage could not be reached (never a silent False).
        """
        info = self._info(self._resolve(path))
        return info is not None and info.get("type") == "file"

    def size(self, path: str) -> int:
        """The size in bytes of the artifact at ``path``.

        Raises:
            NotFoundError: No artifact there.
        """
        return int(self._file_info(self._resolve(path))["size"])

    def list(self, prefix: str = "") -> builtins.list[str]:
        """Every artifact path under the folder-like ``prefix`` (recursive), sorted.

        ``prefix`` matches whole segments: ``"runs/1"`` lists ``runs/1/...`` but not
        ``runs/10/...``. Writes in progress are never listed. An unknown prefix lists nothing.
        """
        prefix = validate_prefix(prefix)
        base = self._root.join_fs(prefix) if prefix else self._root.fs_path
        strip = self._root.fs_path.rstrip("/") + "/"
        wanted = f"{prefix}/" if prefix else ""
        fs = self._filesystem()
        with translate_errors(f"artifacts under {self._root.uri}/{prefix}"):
            found = fs.find(base)
        paths = (name[len(strip) :] for name in found if name.startswith(strip))
        return sorted(
            path
            for path in paths
            if path.startswith(wanted) and not path.endswith("/") and not is_temp_name(path)
        )

    def _info(self, path: str) -> dict[str, Any] | None:
        fs = self._filesystem()
        with translate_errors(f"artifact {self._root.join_uri(path)}"):
            try:
                info: dict[str, Any] = fs.info(self._root.join_fs(path))
            except (FileNotFoundError, NotADirectoryError) as exc:
                if is_missing_bucket(exc):
                    raise
                return None
        return info

    def _file_info(self, path: str) -> dict[str, Any]:
        info = self._info(path)
        if info is None or info.get("type") != "file":
            raise NotFoundError(f"artifact {self._root.join_uri(path)} not found")
        return info

    # --- deletes -------------------------------------------------------------------------------

    def delete(self, path: str) -> None:
        """Delete the artifact at ``path``.

        Raises:
            NotFoundError: No artifact there (a folder is not an artifact; see
                ``delete_prefix``).
        """
        relative = self._resolve(path)
        self._file_info(relative)
        with translate_errors(f"artifact {self._root.join_uri(relative)}"):
            self._filesystem().rm_file(self._root.join_fs(relative))

    def delete_prefix(self, prefix: str) -> int:
        """Delete every artifact under the folder-like ``prefix``, page by page.

        Used by garbage collection; memory stays bounded however large the tree is. Deleting
        an unknown prefix deletes nothing.

        Returns:
            How many artifacts were deleted.

        Raises:
            InvalidInputError: Empty prefix (the whole store is never deleted through here).
        """
        prefix = validate_prefix(prefix)
        if not prefix:
            raise InvalidInputError(
                "delete_prefix needs a prefix; refusing to delete the whole store"
            )
        base = self._root.join_fs(prefix)
        with translate_errors(f"artifacts under {self._root.join_uri(prefix)}"):
            if self._is_local:
                return delete_local_tree(Path(base))
            return delete_object_tree(self._filesystem(), base)


def _raise(exc: OSError) -> None:
    # os.walk skips unreadable folders by default; an upload must not silently miss files.
    raise exc
