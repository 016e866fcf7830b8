"""The fsspec side of the artifact store: building filesystems and translating their errors.

Everything fsspec, the OS, s3fs, botocore or aiohttp can raise is turned into an
``mlops.errors`` class here, at the boundary, the way httpx maps httpcore's exceptions: callers
only ever catch ``NotFoundError``, ``BackendUnavailableError`` and friends.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import fsspec

from mlops.errors import BackendUnavailableError, ConfigError, MLOpsError, NotFoundError

ENDPOINT_ENV = "MLOPS_S3_ENDPOINT_URL"
"""Environment variable naming an S3-compatible endpoint (MinIO, moto, ...)."""


def create_filesystem(scheme: str, storage_options: Mapping[str, Any] | None) -> Any:
    """Build the fsspec filesystem for a root scheme.

    S3 options are the given ``storage_options`` (s3fs keyword arguments); an ``endpoint_url``
    missing from them comes from ``MLOPS_S3_ENDPOINT_URL``. Credentials and region come from
    the usual AWS environment and files, which botocore reads itself.

    The instance is private (``skip_instance_cache``) and keeps no listing cache
    (``use_listings_cache=False``): other processes write to the same bucket, and a stale
    listing would make ``exists``/``list`` lie.

    Raises:
        ConfigError: ``s3fs`` is not installed.
    """
    if scheme == "file":
        return fsspec.filesystem("file")
    try:
        import s3fs
    except ImportError as exc:
        raise ConfigError(
            "s3:// artifact roots need s3fs; install it with: pip install 'mlops[s3]'"
        ) from exc
    options = dict(storage_options or {})
    endpoint = os.environ.get(ENDPOINT_ENV)
    client_kwargs = options.get("client_kwargs") or {}
    if endpoint and "endpoint_url" not in options and "endpoint_url" not in client_kwargs:
        options["endpoint_url"] = endpoint
    options.setdefault("use_listings_cache", False)
    options["skip_instance_cache"] = True
    return s3fs.S3FileSystem(**options)


@contextmanager
def translate_errors(what: str) -> Iterator[None]:
    """Re-raise storage errors met inside the block as ``mlops.errors``, chained with ``from``.

    Args:
        what: Names the object in messages, e.g. ``"artifact s3://b/runs/1/model.skops"``.
    """
    try:
        yield
    except MLOpsError:
        raise
    except Exception as exc:
        translated = translate(exc, what)
        if translated is None:
            raise
        raise translated from exc


def translate(exc: BaseException, what: str) -> MLOpsError | None:
    """The ``mlops`` error for a storage exception, or None if it is not a storage error."""
    if is_missing_bucket(exc):
        return ConfigError(f"{what}: the bucket does not exist; check the artifact root")
    if isinstance(exc, FileNotFoundError | IsADirectoryError | NotADirectoryError):
        # A "directory" is never an artifact: on S3 it is only a common key prefix.
        return NotFoundError(f"{what} not found")
    if isinstance(exc, PermissionError):
        return ConfigError(f"access to {what} denied; check credentials and permissions: {exc}")
    if _is_credentials_error(exc):
        return ConfigError(f"no usable credentials for {what}: {exc}")
    if isinstance(exc, OSError) or _is_client_error(exc):
        return BackendUnavailableError(f"storage failed for {what}: {exc}")
    return None


def is_missing_bucket(exc: BaseException) -> bool:
    """Whether an s3fs "not found" is about the bucket rather than the key.

    s3fs maps both to ``FileNotFoundError``; the S3 error code survives on the chained
    botocore ``ClientError``. A missing bucket is a configuration error, never "no artifact".
    """
    for candidate in (exc, exc.__cause__, exc.__context__):
        response = getattr(candidate, "response", None)
        if isinstance(response, dict) and response.get("Error", {}).get("Code") == "NoSuchBucket":
            return True
    return False


def _is_credentials_error(exc: BaseException) -> bool:
    # Looked up in sys.modules rather than imported: if botocore was never imported, the
    # exception cannot come from it, and local stores do not pay for the import.
    botocore_exceptions = sys.modules.get("botocore.exceptions")
    if botocore_exceptions is None:
        return False
    kinds = (botocore_exceptions.NoCredentialsError, botocore_exceptions.PartialCredentialsError)
    return isinstance(exc, kinds)


def _is_client_error(exc: BaseException) -> bool:
    kinds: list[type[BaseException]] = []
    botocore_exceptions = sys.modules.get("botocore.exceptions")
    if botocore_exceptions is not None:
        kinds += [botocore_exceptions.BotoCoreError, botocore_exceptions.ClientError]
    aiohttp = sys.modules.get("aiohttp")
    if aiohttp is not None:
        kinds.append(aiohttp.ClientError)
    return isinstance(exc, tuple(kinds))
