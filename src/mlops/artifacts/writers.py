"""Atomic writes: an artifact appears whole under its final name, or not at all.

Locally that is a temporary sibling file, ``fsync``, then ``os.replace`` (atomic on POSIX and
Windows within one filesystem). On S3 it is one ``PutObject`` for small objects, or a multipart
upload that only becomes visible on ``CompleteMultipartUpload`` and is aborted on any error.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mlops.artifacts.paths import temp_name
from mlops.errors import InvalidInputError

MIN_PART_SIZE = 8 * 1024 * 1024
"""S3 multipart part size: S3 allows at most 10,000 parts, so this caps streams at ~80 GiB."""

_MAX_PARTS = 9_000  # below S3's 10,000, leaving slack for sizes that grow while we read


def part_size(size_hint: int | None) -> int:
    """A part size that fits a ``size_hint``-byte object into S3's part limit."""
    if size_hint is None:
        return MIN_PART_SIZE
    return max(MIN_PART_SIZE, -(-size_hint // _MAX_PARTS))


def write_local(target: Path, chunks: Iterable[bytes], what: str) -> None:
    """Write ``chunks`` to the local file ``target`` atomically.

    The temporary file is removed on any failure, including ``KeyboardInterrupt`` and errors
    raised by ``chunks`` itself. Only a hard kill can leave one behind; it keeps the reserved
    suffix, so listings hide it and ``delete_prefix`` removes it.

    Raises:
        InvalidInputError: ``target`` is a folder, or one of its parents is a file.
    """
    parent = target.parent
    if target.is_dir():
        raise InvalidInputError(f"{what} is a folder, not a file name")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise InvalidInputError(f"{what}: one of its parent folders is a file") from exc
    temp = parent / temp_name(target.name)
    # O_EXCL: the name is unique, so never share it with another writer. Mode 0o666 lets the
    # umask decide the final permissions, as for any normally created file.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            for chunk in chunks:
                file.write(chunk)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_folder(parent)


def _fsync_folder(folder: Path) -> None:
    # Makes the rename itself durable across a power loss; POSIX only (Windows cannot open a
    # folder as a file, and NTFS journals the rename).
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_object(fs: Any, fs_path: str, chunks: Iterable[bytes], block: int) -> None:
    """Write ``chunks`` to an object store key so that it only ever appears complete.

    Up to ``block`` bytes are buffered; a stream that ends by then goes up as one PUT. Longer
    streams use a multipart upload (parts of ``block`` bytes) with ``autocommit=False``, so
    the object appears only when the upload is completed after the last chunk.
    """
    iterator = iter(chunks)
    head = bytearray()
    for chunk in iterator:
        head += chunk
        if len(head) >= block:
            break
    else:
        fs.pipe_file(fs_path, bytes(head))
        return
    upload = fs.open(fs_path, "wb", block_size=block, autocommit=False)
    try:
        upload.write(head)
        del head
        for chunk in iterator:
            upload.write(chunk)
        upload.close()  # uploads the last part; the object is still invisible
        upload.commit()  # CompleteMultipartUpload: it appears, whole
    except BaseException as exc:
        try:
            upload.discard()  # AbortMultipartUpload
        except Exception as abort_exc:
            exc.add_note(f"aborting the multipart upload of {fs_path} also failed: {abort_exc!r}")
        # A discarded file must not try to upload again when it is closed or collected.
        upload.closed = True
        raise
