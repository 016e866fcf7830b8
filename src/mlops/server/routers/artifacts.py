"""``/api/v1/artifacts``: artifact files streamed in both directions, listings, sizes, deletes.

Uploads and downloads stream in ``CHUNK_SIZE`` pieces: a 1 GB artifact never sits whole in the
server's memory. Uploads are atomic (the store writes a temporary file and renames it) and
limited to ``server.max_upload_size`` bytes (413 beyond). Paths are checked three ways before
any I/O: the artifact path rules (no ``..``, absolute paths, backslashes or empty segments),
the same rules after one more round of percent-decoding (a double-encoded ``%252e%252e``), and,
on a local root, the real path after resolving symlinks must still be inside the root.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any
from urllib.parse import unquote

import anyio
import anyio.from_thread
import anyio.to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from mlops.artifacts import CHUNK_SIZE, ArtifactStore
from mlops.artifacts.paths import local_path_from_uri, validate_path, validate_prefix
from mlops.auth.entities import Role
from mlops.errors import InvalidInputError, PayloadTooLargeError
from mlops.server import schemas
from mlops.server.dependencies import Artifacts, State
from mlops.server.permissions import allow, param
from mlops.server.routers import API_PREFIX

router = APIRouter(prefix=f"{API_PREFIX}/artifacts", tags=["artifacts"])
PathQuery = Annotated[str, Query(max_length=4096)]


def check_path(artifacts: ArtifactStore, path: str, *, prefix: bool = False) -> str:
    """``path`` if it names something inside the store's root; else ``InvalidInputError``."""
    validate = validate_prefix if prefix else validate_path
    checked = validate(path)
    decoded = unquote(path)
    if decoded != path:
        try:
            validate(decoded)
        except InvalidInputError as exc:
            raise InvalidInputError(
                f"invalid artifact path {path!r}: it decodes to {exc}"
            ) from None
    root_uri = artifacts.root_uri
    if checked and root_uri.startswith("file://"):
        root = os.path.realpath(local_path_from_uri(root_uri))
        real = os.path.realpath(os.path.join(root, *checked.split("/")))
        if not real.startswith(root.rstrip(os.sep) + os.sep):
            raise InvalidInputError(
                f"invalid artifact path {path!r}: it leads outside the artifact root (a symlink)"
            )
    return checked


@router.get("/root", response_model=schemas.ArtifactRoot)
@allow("artifacts.root", None)
def get_root(artifacts: Artifacts, state: State) -> Any:
    """Where the server keeps artifacts (their URIs start with it) and the upload limit."""
    return {"root_uri": artifacts.root_uri, "max_upload_size": state.config.server.max_upload_size}


@router.get("", response_model=schemas.ArtifactPaths)
@allow("artifacts.list", Role.VIEWER, param("artifact", "prefix"))
def list_artifacts(artifacts: Artifacts, prefix: PathQuery = "") -> Any:
    """Every artifact path under a folder-like prefix, sorted."""
    return {"paths": artifacts.list(check_path(artifacts, prefix, prefix=True))}


@router.get("/stat", response_model=schemas.ArtifactStat)
@allow("artifacts.stat", Role.VIEWER, param("artifact", "path"))
def stat_artifact(artifacts: Artifacts, path: PathQuery) -> Any:
    """Whether an artifact exists at ``path``, and its size."""
    checked = check_path(artifacts, path)
    exists = artifacts.exists(checked)
    return {"path": checked, "exists": exists, "size": artifacts.size(checked) if exists else None}


@router.delete("", response_model=schemas.ArtifactsDeleted)
@allow("artifacts.delete_prefix", Role.EDITOR, param("artifact", "prefix"))
def delete_artifacts(artifacts: Artifacts, prefix: PathQuery) -> Any:
    """Delete every artifact under a (non-empty) folder-like prefix."""
    return {"deleted": artifacts.delete_prefix(check_path(artifacts, prefix, prefix=True))}


@router.put(
    "/files/{path:path}",
    status_code=201,
    response_model=schemas.ArtifactInfo,
    openapi_extra=schemas.UPLOAD_BODY,
)
@allow("artifacts.upload", Role.EDITOR, param("artifact", "path"))
async def upload_artifact(path: str, request: Request, artifacts: Artifacts, state: State) -> Any:
    """Store the request body at ``path``, streaming; returns its URI, size and sha256."""
    limit = state.config.server.max_upload_size
    declared = request.headers.get("content-length")
    size = int(declared) if declared and declared.isdigit() else None
    if size is not None and size > limit:
        raise PayloadTooLargeError(f"{size} bytes is over the server's upload limit of {limit}")
    checked = check_path(artifacts, path)
    body = _UploadStream(request.stream(), limit)
    return await anyio.to_thread.run_sync(lambda: artifacts.put_fileobj(body, checked, size=size))


@router.get(
    "/files/{path:path}",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
@allow("artifacts.download", Role.VIEWER, param("artifact", "path"))
def download_artifact(path: str, artifacts: Artifacts) -> StreamingResponse:
    """The artifact's bytes, streamed (``Content-Length`` set)."""
    checked = check_path(artifacts, path)
    size = artifacts.size(checked)
    reader = artifacts.open(checked)

    def chunks() -> Iterator[bytes]:
        with reader:
            while chunk := reader.read(CHUNK_SIZE):
                yield chunk

    return StreamingResponse(
        chunks(), media_type="application/octet-stream", headers={"Content-Length": str(size)}
    )


@router.delete("/files/{path:path}", status_code=204)
@allow("artifacts.delete", Role.EDITOR, param("artifact", "path"))
def delete_artifact(path: str, artifacts: Artifacts) -> None:
    """Delete one artifact (404 if there is none)."""
    artifacts.delete(check_path(artifacts, path))


class _UploadStream:
    """A request body as a blocking ``read()``, for the store's writer thread.

    Each ``read`` hands the next received piece over from the event loop, so at most one piece
    is in memory; going past ``limit`` bytes aborts the write (the store removes the partial
    file) with ``PayloadTooLargeError``.
    """

    def __init__(self, chunks: AsyncIterator[bytes], limit: int):
        self._chunks = chunks
        self._limit = limit
        self._received = 0
        self._pending = b""
        self._done = False

    async def _next(self) -> bytes:
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            return b""

    def read(self, size: int = -1, /) -> bytes:
        if not self._pending and not self._done:
            chunk = anyio.from_thread.run(self._next)
            if not chunk:
                self._done = True
            self._received += len(chunk)
            if self._received > self._limit:
                raise PayloadTooLargeError(
                    f"the upload is over the server's limit of {self._limit} bytes"
                )
            self._pending = chunk
        if size < 0 or size >= len(self._pending):
            out, self._pending = self._pending, b""
        else:
            out, self._pending = self._pending[:size], self._pending[size:]
        return out
