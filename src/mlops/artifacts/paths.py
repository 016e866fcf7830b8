"""Artifact paths and store roots: what is a valid name, and where a root points.

An artifact path is relative to its store's root, uses ``/`` as the only separator and maps
one-to-one onto an object key and a local file name. Anything that could escape the root
(``..``, absolute paths), mean different things on different backends (backslashes, ``a//b``,
``.``) or collide with the store's own temporary files is refused up front, so every backend
sees exactly the same set of names.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

from mlops.errors import ConfigError, InvalidInputError

TEMP_SUFFIX = ".mlops-tmp"
"""Suffix of in-flight local writes; reserved so listings can hide them."""

SCHEMES = ("file", "s3")
"""Root URI schemes an ``ArtifactStore`` accepts."""

MAX_SEGMENT_BYTES = 255
"""Longest path segment (UTF-8): the file-name limit of every common local file system."""

MAX_PATH_BYTES = 1024
"""Longest artifact path (UTF-8): S3's key limit, and well under local ``PATH_MAX``."""


def validate_path(path: str) -> str:
    """Check that ``path`` names an artifact under a store root.

    Args:
        path: A relative, ``/``-separated path such as ``runs/42/model.skops``.

    Returns:
        The path, unchanged.

    Raises:
        InvalidInputError: The path is empty, absolute, has a ``..``/``.``/empty segment, a
            backslash or a NUL byte, is not encodable as UTF-8, is longer than
            ``MAX_PATH_BYTES`` or has a segment longer than ``MAX_SEGMENT_BYTES``, or ends with
            the reserved temporary-file suffix.
    """
    problem = _path_problem(path)
    if problem is not None:
        raise InvalidInputError(f"invalid artifact path {path!r}: {problem}")
    return path


def validate_prefix(prefix: str) -> str:
    """Check a folder-like prefix; ``""`` means the whole store.

    One trailing ``/`` is accepted and dropped (``"runs/1/"`` is ``"runs/1"``).

    Raises:
        InvalidInputError: The prefix would be an invalid artifact path.
    """
    if prefix == "":
        return ""
    stripped = prefix.removesuffix("/") if isinstance(prefix, str) else prefix
    if stripped == "":
        raise InvalidInputError("invalid artifact prefix '/': paths are relative to the store root")
    problem = _path_problem(stripped)
    if problem is not None:
        raise InvalidInputError(f"invalid artifact prefix {prefix!r}: {problem}")
    return stripped


def _path_problem(path: str) -> str | None:
    if not isinstance(path, str):
        return "not a string"
    if path == "":
        return "empty"
    if "\\" in path:
        return "backslashes are not separators here; use '/'"
    if "\x00" in path:
        return "contains a NUL byte"
    if path.startswith("/"):
        return "absolute paths are not allowed; give a path relative to the store root"
    # Checked here so that a name no backend can store is a 400, not an OS error from deep in
    # the write (ENAMETOOLONG, or a lone surrogate the file system cannot encode).
    try:
        size = len(path.encode("utf-8"))
    except UnicodeEncodeError:
        return "not valid Unicode text (it contains a lone surrogate)"
    if size > MAX_PATH_BYTES:
        return f"{size} bytes long; the limit is {MAX_PATH_BYTES} bytes (UTF-8)"
    for segment in path.split("/"):
        if segment == "":
            return "empty segment ('//' or a trailing '/')"
        if segment in (".", ".."):
            return f"{segment!r} segments are not allowed"
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            return (
                f"the segment {segment[:20]!r}... is longer than {MAX_SEGMENT_BYTES} bytes "
                "(UTF-8), the file-name limit of local file systems; use shorter names"
            )
    if path.endswith(TEMP_SUFFIX):
        return f"the suffix {TEMP_SUFFIX!r} is reserved for temporary files"
    return None


def temp_name(final_name: str) -> str:
    """A unique hidden sibling name for writing ``final_name`` before the atomic rename."""
    # Truncated to 100 bytes (not characters: a name in a 4-byte script would be 400 bytes) so
    # the temporary name stays under the usual 255-byte file-name limit.
    short = final_name.encode("utf-8")[:100].decode("utf-8", "ignore")
    return f".{short}.{uuid.uuid4().hex}{TEMP_SUFFIX}"


def is_temp_name(path: str) -> bool:
    """Whether ``path`` is an in-flight (or crashed) write that readers must not see."""
    return path.endswith(TEMP_SUFFIX)


@dataclass(frozen=True)
class Root:
    """Where a store keeps its artifacts.

    Attributes:
        scheme: ``"file"`` or ``"s3"``.
        fs_path: The root as the fsspec filesystem spells it: an absolute local path, or
            ``bucket/prefix`` for S3. Never ends with ``/`` (except the local ``/`` itself).
        uri: The root as a URI (``file:///abs/path`` or ``s3://bucket/prefix``); artifact URIs
            are this plus ``/`` plus the artifact path. Not percent-encoded, like fsspec.
    """

    scheme: str
    fs_path: str
    uri: str

    def join_fs(self, path: str) -> str:
        """The fsspec path of the artifact ``path`` (already validated)."""
        return f"{self.fs_path.rstrip('/')}/{path}"

    def join_uri(self, path: str) -> str:
        """The full URI of the artifact ``path`` (already validated)."""
        return f"{self.uri.rstrip('/')}/{path}"


def parse_root(root_uri: str) -> Root:
    """Parse a store root: a local folder, a ``file://`` URI or ``s3://bucket[/prefix]``.

    Relative local folders are made absolute now, so a later ``chdir`` cannot move the store.
    No I/O happens here.

    Raises:
        ConfigError: Unknown scheme, or a root that cannot name a location.
    """
    if not isinstance(root_uri, str) or not root_uri.strip():
        raise ConfigError("artifact root must be a non-empty folder path or URI")
    if "://" not in root_uri:
        return _local_root(root_uri)
    scheme, _, rest = root_uri.partition("://")
    scheme = scheme.lower()
    if scheme == "file":
        try:
            return _local_root(local_path_from_uri(root_uri))
        except InvalidInputError as exc:
            raise ConfigError(f"artifact root: {exc}") from exc
    if scheme == "s3":
        return _s3_root(root_uri, rest)
    raise ConfigError(
        f"artifact root {root_uri!r}: unsupported scheme {scheme!r}; "
        f"valid schemes are {', '.join(SCHEMES)} (or a plain local folder)"
    )


def local_path_from_uri(uri: str) -> str:
    """The local path of a ``file://`` URI (``file:///p`` or ``file://localhost/p``).

    Not percent-decoded: artifact URIs are built unencoded, the way fsspec spells them.

    Raises:
        InvalidInputError: The URI names another host or no absolute path.
    """
    rest = uri[len("file://") :]
    if rest.startswith("localhost/"):
        rest = rest[len("localhost") :]
    if not rest.startswith("/"):
        raise InvalidInputError(f"{uri!r} is not a local file URI (expected file:///abs/path)")
    return rest


def _local_root(path: str) -> Root:
    if not path:
        raise ConfigError("artifact root: empty local path")
    absolute = os.path.abspath(os.path.expanduser(path))
    posix = absolute.replace(os.sep, "/")
    return Root(scheme="file", fs_path=posix, uri=f"file://{posix}")


def _s3_root(root_uri: str, rest: str) -> Root:
    rest = rest.rstrip("/")
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ConfigError(f"artifact root {root_uri!r}: no bucket (expected s3://bucket/prefix)")
    if prefix:
        problem = _path_problem(prefix)
        if problem is not None:
            raise ConfigError(f"artifact root {root_uri!r}: invalid prefix: {problem}")
    fs_path = f"{bucket}/{prefix}" if prefix else bucket
    return Root(scheme="s3", fs_path=fs_path, uri=f"s3://{fs_path}")
