"""Artifact storage: atomic, content-hashed, on a local folder or S3-compatible storage.

```python
store = ArtifactStore("s3://bucket/mlops")          # or a folder, or file:///abs/path
info = store.put_file("model.skops", "runs/42/model.skops")
data = store.read_bytes(info.uri, sha256=info.sha256)  # ArtifactCorruptedError on mismatch
```
"""

from mlops.artifacts.entities import ArtifactInfo
from mlops.artifacts.hashing import CHUNK_SIZE, sha256_file
from mlops.artifacts.store import ArtifactStore

__all__ = ["CHUNK_SIZE", "ArtifactInfo", "ArtifactStore", "sha256_file"]
