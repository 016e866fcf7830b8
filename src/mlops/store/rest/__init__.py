"""A client of an mlops server behind the same store interfaces as the SQL stores.

``open_stores`` picks it for an ``http(s)://`` tracking URI: ``RestTrackingStore``,
``RestRegistryStore`` and ``RestArtifactStore`` share one ``RestClient`` (one connection pool).
"""

from mlops.store.rest.artifacts import RestArtifactStore
from mlops.store.rest.client import RestClient
from mlops.store.rest.registry import RestRegistryStore
from mlops.store.rest.tracking import RestTrackingStore

__all__ = ["RestArtifactStore", "RestClient", "RestRegistryStore", "RestTrackingStore"]
