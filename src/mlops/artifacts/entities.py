"""What the artifact store hands back after a write."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ArtifactInfo:
    """A stored artifact, as recorded by whoever wrote it.

    The sha256 is computed from the bytes as they were written, so storing it next to the
    ``uri`` (in run or model-version metadata) is what later lets reads detect corruption.

    Attributes:
        uri: Full URI of the stored object (``file:///...`` or ``s3://bucket/...``).
        path: The same object as a path relative to the store root.
        size: Size in bytes.
        sha256: Hex digest of the content.
    """

    uri: str
    path: str
    size: int
    sha256: str
