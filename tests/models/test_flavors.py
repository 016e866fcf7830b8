"""Model flavors: save/load round trips on real models, integrity checks, serialization errors."""

from __future__ import annotations

import hashlib
import json
import pickle
import re
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.ensemble import IsolationForest
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import LocalOutlierFactor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM

from mlops.errors import (
    ConfigError,
    InvalidInputError,
    InvalidStateError,
    ModelIntegrityError,
    ModelSerializationError,
)
from mlops.models.flavors import (
    FLAVORS,
    MANIFEST_NAME,
    LoadedModel,
    SavedModel,
    detect_flavor,
    get_flavor,
    load_model,
    manifest_sha256,
    save_model,
    verify_model_dir,
)

# --- models and data ---------------------------------------------------------------------------


class MeanThreshold:
    """A custom model: flags rows whose mean exceeds a threshold learned in fit."""

    def __init__(self) -> None:
        self.threshold_: float | None = None

    def fit(self, x: np.ndarray) -> MeanThreshold:
        self.threshold_ = float(np.asarray(x).mean())
        return self

    def predict(self, x: Any) -> np.ndarray:
        means = np.asarray(x, dtype=float).mean(axis=1)
        return np.asarray(means > self.threshold_, dtype=int)


class LockedModel:
    """Has a predict, but holds a lock, which cannot be pickled."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def predict(self, x: Any) -> np.ndarray:
        return np.zeros(len(x))


class LambdaModel:
    """Has a predict, but holds a lambda, which stdlib pickle cannot serialize."""

    def __init__(self) -> None:
        self.score: Any = lambda row: sum(row)

    def predict(self, x: Any) -> np.ndarray:
        return np.array([self.score(r) for r in x])


class NoPredict:
    """Looks like a model, but cannot predict."""

    def transform(self, x: Any) -> Any:
        return x


class PatternEstimator(BaseEstimator):  # type: ignore[misc]
    """An estimator skops can dump but not load (re.Pattern), so it must fall back to pickle."""

    def __init__(self, pattern: str = "a+") -> None:
        self.pattern = pattern

    def fit(self, x: Any) -> PatternEstimator:
        self.regex_ = re.compile(self.pattern)
        return self

    def predict(self, x: Any) -> np.ndarray:
        return np.array([int(bool(self.regex_.match(str(v)))) for v in np.asarray(x).ravel()])


class Boom:
    """A pickle payload that writes a marker file when unpickled: proof of deserialization."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.write_text, (self.marker, "deserialized"))


@pytest.fixture(scope="module")
def cancer() -> np.ndarray:
    return np.asarray(load_breast_cancer().data[:200])


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, pd.Series]:
    x, y = load_iris(return_X_y=True, as_frame=True)
    return x, y


def roundtrip(model: Any, path: Path, flavor: str | None = None) -> tuple[SavedModel, LoadedModel]:
    saved = save_model(model, path / "model", flavor=flavor)
    return saved, load_model(path / "model", saved.sha256)


def model_file(saved: SavedModel, path: Path) -> Path:
    (name,) = saved.files
    return path / "model" / name


# --- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: IsolationForest(n_estimators=20, random_state=0),
        lambda: LocalOutlierFactor(novelty=True),
        lambda: OneClassSVM(gamma="scale"),
    ],
    ids=["isolation_forest", "lof_novelty", "one_class_svm"],
)
def test_sklearn_detectors_round_trip(make: Any, cancer: np.ndarray, tmp_path: Path) -> None:
    model = make().fit(cancer)
    saved, loaded = roundtrip(model, tmp_path)
    assert (saved.flavor, saved.format) == ("sklearn", "skops")
    assert saved.extra["sklearn_version"]
    np.testing.assert_array_equal(loaded.predict(cancer), model.predict(cancer))
    np.testing.assert_allclose(loaded.decision_function(cancer), model.decision_function(cancer))
    np.testing.assert_allclose(loaded.score_samples(cancer), model.score_samples(cancer))
    assert not hasattr(loaded, "predict_proba")
    assert type(loaded.native) is type(model)


def test_isolation_forest_records_trusted_types(cancer: np.ndarray, tmp_path: Path) -> None:
    saved, _ = roundtrip(IsolationForest(n_estimators=5, random_state=0).fit(cancer), tmp_path)
    assert "sklearn.tree._tree.Tree" in saved.extra["trusted_types"]


def test_pipeline_round_trip_with_proba(
    iris: tuple[pd.DataFrame, pd.Series], tmp_path: Path
) -> None:
    x, y = iris
    model = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=500))])
    model.fit(x, y)
    saved, loaded = roundtrip(model, tmp_path)
    assert saved.flavor == "sklearn"
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    np.testing.assert_allclose(loaded.predict_proba(x), model.predict_proba(x))
    assert not hasattr(loaded, "score_samples")


def test_dataframe_model_accepts_records_dicts_and_arrays(
    iris: tuple[pd.DataFrame, pd.Series], tmp_path: Path
) -> None:
    x, y = iris
    model = LogisticRegression(max_iter=500).fit(x, y)
    _, loaded = roundtrip(model, tmp_path)
    expected = model.predict(x)
    shuffled = x[list(reversed(x.columns))]
    np.testing.assert_array_equal(loaded.predict(shuffled.to_dict("records")), expected)
    np.testing.assert_array_equal(loaded.predict(shuffled.to_dict("list")), expected)
    np.testing.assert_array_equal(loaded.predict(x.to_numpy()), expected)
    np.testing.assert_array_equal(loaded.predict(x.to_numpy().tolist()), expected)
    with pytest.raises(InvalidInputError, match="petal width"):
        loaded.predict(x.drop(columns=["petal width (cm)"]))


def test_pyod_detector_round_trip(cancer: np.ndarray, tmp_path: Path) -> None:
    from pyod.models.iforest import IForest

    model = IForest(n_estimators=20, random_state=0).fit(cancer)
    saved, loaded = roundtrip(model, tmp_path)
    assert (saved.flavor, saved.format) == ("sklearn", "skops")
    assert "pyod.models.iforest.IForest" in saved.extra["trusted_types"]
    assert "pyod" in saved.library_versions
    np.testing.assert_array_equal(loaded.predict(cancer), model.predict(cancer))
    np.testing.assert_allclose(loaded.decision_function(cancer), model.decision_function(cancer))
    np.testing.assert_allclose(loaded.predict_proba(cancer), model.predict_proba(cancer))


def test_custom_python_model_round_trip(cancer: np.ndarray, tmp_path: Path) -> None:
    model = MeanThreshold().fit(cancer)
    saved, loaded = roundtrip(model, tmp_path)
    assert (saved.flavor, saved.format) == ("python", "pickle")
    assert saved.extra["model_class"].endswith("MeanThreshold")
    np.testing.assert_array_equal(loaded.predict(cancer), model.predict(cancer))
    np.testing.assert_array_equal(loaded.predict(cancer.tolist()), model.predict(cancer))
    assert not hasattr(loaded, "decision_function")
    assert loaded.flavor == "python"


def test_sklearn_model_skops_cannot_load_falls_back_to_pickle(tmp_path: Path) -> None:
    model = PatternEstimator().fit(None)
    saved, loaded = roundtrip(model, tmp_path)
    assert (saved.flavor, saved.format) == ("sklearn", "pickle")
    assert saved.extra["skops_error"]
    np.testing.assert_array_equal(loaded.predict([["aa"], ["b"]]), [1, 0])


def test_forced_python_flavor_pickles_an_estimator(cancer: np.ndarray, tmp_path: Path) -> None:
    model = IsolationForest(n_estimators=5, random_state=0).fit(cancer)
    saved, loaded = roundtrip(model, tmp_path, flavor="python")
    assert (saved.flavor, saved.format) == ("python", "pickle")
    np.testing.assert_array_equal(loaded.predict(cancer), model.predict(cancer))


def test_fitted_transformer_saves_but_cannot_predict(cancer: np.ndarray, tmp_path: Path) -> None:
    _, loaded = roundtrip(StandardScaler().fit(cancer), tmp_path)
    with pytest.raises(InvalidStateError, match="no predict method"):
        loaded.predict(cancer)


# --- ONNX --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def onnx_classifier(iris: tuple[pd.DataFrame, pd.Series]) -> Any:
    from skl2onnx import to_onnx

    x, y = iris
    features = x.to_numpy(dtype=np.float32)
    model = LogisticRegression(max_iter=500).fit(features, y)
    return to_onnx(model, features[:1], options={"zipmap": False})


def run_onnx(proto: Any, features: np.ndarray) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(
        proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return np.asarray(session.run(None, {session.get_inputs()[0].name: features})[0])


def test_onnx_round_trip(
    onnx_classifier: Any, iris: tuple[pd.DataFrame, pd.Series], tmp_path: Path
) -> None:
    x, _ = iris
    expected = run_onnx(onnx_classifier, x.to_numpy(dtype=np.float32))
    saved, loaded = roundtrip(onnx_classifier, tmp_path)
    assert (saved.flavor, saved.format) == ("onnx", "onnx")
    assert list(saved.files) == ["model.onnx"]
    assert saved.extra["inputs"][0]["dtype"] == "float32"
    assert {"onnx", "onnxruntime"} <= set(saved.library_versions)
    # float64 input of every accepted shape is cast to the graph's float32.
    np.testing.assert_array_equal(loaded.predict(x.to_numpy()), expected)
    np.testing.assert_array_equal(loaded.predict(x), expected)
    np.testing.assert_array_equal(loaded.predict(x.to_numpy().tolist()), expected)
    assert not hasattr(loaded, "predict_proba")


def test_onnx_isolation_forest_round_trip(cancer: np.ndarray, tmp_path: Path) -> None:
    from skl2onnx import to_onnx

    features = cancer.astype(np.float32)
    model = IsolationForest(n_estimators=10, random_state=0).fit(features)
    proto = to_onnx(model, features[:1], target_opset={"": 17, "ai.onnx.ml": 3})
    _, loaded = roundtrip(proto, tmp_path)
    np.testing.assert_array_equal(loaded.predict(features), run_onnx(proto, features))


@pytest.mark.parametrize("form", ["bytes", "path"])
def test_onnx_from_bytes_or_path(onnx_classifier: Any, form: str, tmp_path: Path) -> None:
    data = onnx_classifier.SerializeToString()
    source: Any = data
    if form == "path":
        source = tmp_path / "clf.onnx"
        source.write_bytes(data)
    saved, loaded = roundtrip(source, tmp_path)
    assert saved.flavor == "onnx"
    assert hashlib.sha256(data).hexdigest() == saved.files["model.onnx"]
    assert loaded.predict([[5.1, 3.5, 1.4, 0.2]]).shape == (1,)


def test_invalid_onnx_bytes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelSerializationError, match="not a valid ONNX model"):
        save_model(b"definitely not onnx", tmp_path / "model")
    assert not (tmp_path / "model").exists()


def test_missing_onnxruntime_is_a_config_error(
    onnx_classifier: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = save_model(onnx_classifier, tmp_path / "model")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what an absent extra looks like
    with pytest.raises(ConfigError, match=re.escape("pip install 'mlops[onnx]'")):
        load_model(tmp_path / "model", saved.sha256)


# --- integrity ---------------------------------------------------------------------------------


def test_manifest_lists_every_file_and_hash(cancer: np.ndarray, tmp_path: Path) -> None:
    saved = save_model(IsolationForest(n_estimators=5).fit(cancer), tmp_path / "model")
    manifest = json.loads((tmp_path / "model" / MANIFEST_NAME).read_text())
    assert manifest["files"] == saved.files
    assert manifest["flavor"] == "sklearn"
    assert manifest["python_version"] == saved.python_version
    assert manifest["library_versions"]["scikit-learn"] == saved.extra["sklearn_version"]
    assert manifest_sha256(tmp_path / "model") == saved.sha256
    on_disk = sum(f.stat().st_size for f in (tmp_path / "model").iterdir())
    assert saved.size == on_disk
    assert verify_model_dir(tmp_path / "model", saved.sha256) == saved


def test_flipped_byte_in_model_file_is_refused(cancer: np.ndarray, tmp_path: Path) -> None:
    saved = save_model(MeanThreshold().fit(cancer), tmp_path / "model")
    target = model_file(saved, tmp_path)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    found = hashlib.sha256(bytes(data)).hexdigest()
    with pytest.raises(ModelIntegrityError, match=r"model\.pkl") as info:
        load_model(tmp_path / "model", saved.sha256)
    assert saved.files["model.pkl"] in str(info.value)
    assert found in str(info.value)
    with pytest.raises(ModelIntegrityError):
        verify_model_dir(tmp_path / "model", saved.sha256)


def test_tampered_manifest_is_refused(cancer: np.ndarray, tmp_path: Path) -> None:
    saved = save_model(IsolationForest(n_estimators=5).fit(cancer), tmp_path / "model")
    manifest_path = tmp_path / "model" / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text())
    manifest["extra"]["trusted_types"].append("builtins.eval")
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ModelIntegrityError, match=MANIFEST_NAME) as info:
        load_model(tmp_path / "model", saved.sha256)
    assert saved.sha256 in str(info.value)
    assert manifest_sha256(tmp_path / "model") in str(info.value)


def test_swapped_model_never_reaches_pickle(cancer: np.ndarray, tmp_path: Path) -> None:
    # An attacker replaces the pickle *and* rewrites the manifest to match it; only the
    # registry's recorded hash stands between the payload and pickle.loads.
    saved = save_model(MeanThreshold().fit(cancer), tmp_path / "model")
    marker = tmp_path / "pwned"
    payload = pickle.dumps(Boom(marker))
    model_file(saved, tmp_path).write_bytes(payload)
    manifest_path = tmp_path / "model" / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text())
    manifest["files"]["model.pkl"] = hashlib.sha256(payload).hexdigest()
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ModelIntegrityError):
        load_model(tmp_path / "model", saved.sha256)
    assert not marker.exists()
    pickle.loads(payload)  # the payload is live: had it been unpickled, the marker would exist
    assert marker.exists()


def test_missing_file_or_manifest_is_refused(cancer: np.ndarray, tmp_path: Path) -> None:
    saved = save_model(MeanThreshold().fit(cancer), tmp_path / "model")
    model_file(saved, tmp_path).unlink()
    with pytest.raises(ModelIntegrityError, match="missing"):
        load_model(tmp_path / "model", saved.sha256)
    (tmp_path / "model" / MANIFEST_NAME).unlink()
    with pytest.raises(ModelIntegrityError, match=r"no MLmodel\.json"):
        load_model(tmp_path / "model", saved.sha256)


def test_expected_hash_must_be_a_sha256(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="64 hex digits"):
        load_model(tmp_path, "abc123")


# --- serialization errors and flavor selection -------------------------------------------------


def test_model_holding_a_lock_is_not_serializable(tmp_path: Path) -> None:
    with pytest.raises(ModelSerializationError, match="LockedModel") as info:
        save_model(LockedModel(), tmp_path / "model")
    message = str(info.value)
    assert "lock" in message
    assert "sklearn or onnx flavor" in message
    assert not (tmp_path / "model").exists()


def test_model_holding_a_lambda_is_not_serializable(tmp_path: Path) -> None:
    with pytest.raises(ModelSerializationError, match="LambdaModel"):
        save_model(LambdaModel(), tmp_path / "model")


def test_object_without_predict_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelSerializationError, match="predict"):
        save_model(NoPredict(), tmp_path / "model")


def test_unknown_flavor_lists_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"\['onnx', 'python', 'sklearn'\]"):
        save_model(MeanThreshold(), tmp_path / "model", flavor="torch")
    with pytest.raises(InvalidInputError, match="unknown model flavor"):
        get_flavor("torch")


def test_forced_flavor_must_accept_the_model(cancer: np.ndarray, tmp_path: Path) -> None:
    model = IsolationForest(n_estimators=5).fit(cancer)
    with pytest.raises(ModelSerializationError, match="flavor 'onnx' cannot save"):
        save_model(model, tmp_path / "model", flavor="onnx")


def test_save_needs_an_empty_folder(cancer: np.ndarray, tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "notes.txt").write_text("keep me")
    with pytest.raises(InvalidInputError, match="empty folder"):
        save_model(MeanThreshold().fit(cancer), tmp_path / "model")
    assert [p.name for p in (tmp_path / "model").iterdir()] == ["notes.txt"]


def test_class_no_longer_importable_is_a_serialization_error(
    cancer: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = save_model(MeanThreshold().fit(cancer), tmp_path / "model")
    monkeypatch.delattr(sys.modules[MeanThreshold.__module__], "MeanThreshold")
    with pytest.raises(ModelSerializationError, match="MeanThreshold"):
        load_model(tmp_path / "model", saved.sha256)


def test_detection_order(onnx_classifier: Any, cancer: np.ndarray) -> None:
    assert list(FLAVORS) == ["onnx", "sklearn", "python"]
    assert detect_flavor(onnx_classifier) == "onnx"
    assert detect_flavor(b"\x08\x07") == "onnx"
    assert detect_flavor("model.onnx") == "onnx"
    assert detect_flavor(Pipeline([("s", StandardScaler())])) == "sklearn"
    assert detect_flavor(MeanThreshold()) == "python"
    with pytest.raises(ModelSerializationError, match="predict"):
        detect_flavor("model.pkl")
