"""Recursive deletion of artifact trees without holding the whole tree in memory.

Garbage collection deletes run and model-version prefixes that can hold millions of files, so
both backends work page by page: locally one folder at a time (``os.walk`` bottom-up), on S3
1,000 keys at a time (one ``ListObjectsV2`` page, then one ``DeleteObjects`` call).
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import Any

from mlops.artifacts.paths import is_temp_name
from mlops.errors import BackendUnavailableError

_PAGE = 1000  # S3's maximum for both ListObjectsV2 and DeleteObjects


def delete_local_tree(top: Path) -> int:
    """Delete the folder ``top`` and everything in it.

    Returns:
        How many artifacts were deleted (stale temporary files are removed but not counted).
    """
    if not top.is_dir():
        return 0
    removed = 0
    for dirpath, dirnames, filenames in os.walk(top, topdown=False, onerror=_raise):
        for name in filenames:
            # Another collector may be deleting the same tree; gone is what we want.
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(dirpath, name))
                removed += not is_temp_name(name)
        for name in dirnames:
            # os.walk does not descend into symlinked folders; remove the link itself.
            link = os.path.join(dirpath, name)
            if os.path.islink(link):
                os.remove(link)
        try:
            os.rmdir(dirpath)
        except FileNotFoundError:
            pass
        except OSError as exc:
            # A concurrent writer has just put a new artifact here; it was not ours to delete.
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
    return removed


def _raise(exc: OSError) -> None:
    # os.walk ignores errors by default; a collector must not report success it did not have.
    raise exc


def delete_object_tree(fs: Any, base: str) -> int:
    """Delete every key under ``base + "/"`` in an s3fs filesystem.

    Lists one page, deletes it, and continues after the page's last key, so memory stays at
    one page whatever the size of the tree, and keys are never listed twice.

    Returns:
        How many objects were deleted.

    Raises:
        BackendUnavailableError: S3 refused to delete some of the keys.
    """
    bucket, key, _ = fs.split_path(base)
    prefix = f"{key}/"
    removed = 0
    start_after = ""
    while True:
        page = fs.call_s3(
            "list_objects_v2", Bucket=bucket, Prefix=prefix, StartAfter=start_after, MaxKeys=_PAGE
        )
        keys = [item["Key"] for item in page.get("Contents", [])]
        if not keys:
            return removed
        result = fs.call_s3(
            "delete_objects",
            Bucket=bucket,
            Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True},
        )
        errors = result.get("Errors") or []
        if errors:
            first = errors[0]
            raise BackendUnavailableError(
                f"could not delete {len(errors)} objects under s3://{bucket}/{prefix}, e.g. "
                f"{first.get('Key')}: {first.get('Code')} {first.get('Message')}"
            )
        removed += len(keys)
        fs.invalidate_cache(base)
        start_after = keys[-1]
