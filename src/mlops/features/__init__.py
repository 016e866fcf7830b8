"""The feature store: definitions, point-in-time training sets, online features, validation.

```python
from mlops.features import FeatureStore, Entity, Feature, FeatureView, FileSource

store = FeatureStore()
store.apply(Entity("driver", {"driver_id": "int64"}),
            FeatureView("driver_stats", ["driver"], [Feature("trips", "int64")],
                        FileSource("data/driver_stats.parquet"), ttl=timedelta(days=1)))
training = store.get_historical_features(entity_df, ["driver_stats:trips"]).to_pandas()
store.materialize_incremental(datetime.now(UTC))
store.get_online_features([1001, 1002], feature_view="driver_stats").to_dict()
```
"""

from mlops.errors import (
    BreakingChangeError,
    FeatureDefinitionNotFoundError,
    FeatureStoreError,
    FeatureValidationError,
    InvalidFeatureInputError,
)
from mlops.features.entities import (
    Entity,
    Feature,
    FeatureService,
    FeatureView,
    OnDemandFeatureView,
    ValueType,
)
from mlops.features.feature_store import FeatureStore
from mlops.features.online import OnlineFeatures
from mlops.features.plan import Plan
from mlops.features.sources import FileSource, FrameSource, SqlSource
from mlops.features.store import OnlineStore
from mlops.features.training import TrainingSet
from mlops.features.validation import Expectation, ValidationReport

__all__ = [
    "BreakingChangeError",
    "Entity",
    "Expectation",
    "Feature",
    "FeatureDefinitionNotFoundError",
    "FeatureService",
    "FeatureStore",
    "FeatureStoreError",
    "FeatureValidationError",
    "FeatureView",
    "FileSource",
    "FrameSource",
    "InvalidFeatureInputError",
    "OnDemandFeatureView",
    "OnlineFeatures",
    "OnlineStore",
    "Plan",
    "SqlSource",
    "TrainingSet",
    "ValidationReport",
    "ValueType",
]
