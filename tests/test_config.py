"""Configuration precedence: arguments > environment > mlops.toml > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops.config import MLOpsConfig, enable_debug_mode, load_config
from mlops.errors import ConfigError


def test_embedded_default_lives_in_the_working_directory(tmp_path: Path) -> None:
    config = MLOpsConfig()
    assert config.resolved_tracking_uri == f"sqlite:///{tmp_path / '.mlops' / 'mlops.db'}"
    assert config.resolved_artifact_uri == str(tmp_path / ".mlops" / "artifacts")


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mlops.toml").write_text(
        'tracking_uri = "sqlite:///from-toml.db"\nuser = "toml-user"\n'
        "[model_registry]\napproval_required = true\n"
    )
    config = MLOpsConfig()
    assert config.resolved_tracking_uri == "sqlite:///from-toml.db"
    assert config.model_registry.approval_required is True
    monkeypatch.setenv("MLOPS_TRACKING_URI", "sqlite:///from-env.db")
    monkeypatch.setenv("MLOPS_MODEL_REGISTRY__APPROVAL_REQUIRED", "false")
    config = MLOpsConfig()
    assert config.resolved_tracking_uri == "sqlite:///from-env.db"
    assert config.model_registry.approval_required is False
    assert config.user == "toml-user"
    assert MLOpsConfig(tracking_uri="sqlite:///arg.db").resolved_tracking_uri == "sqlite:///arg.db"


def test_home_moves_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "elsewhere"))
    assert MLOpsConfig().resolved_tracking_uri.endswith("/elsewhere/mlops.db")


def test_seed_style_sections() -> None:
    config = MLOpsConfig(
        experiment_tracking={"backend": "mlops", "tracking_uri": "sqlite:///seed.db"},
        model_registry={"stage_transitions": True, "approval_required": True},
        monitoring={"drift_detection": True, "alert_channels": ["slack", "email"]},
        deployment={"platform": "kubernetes", "canary_deployment": True},
    )
    assert config.resolved_tracking_uri == "sqlite:///seed.db"
    assert config.model_registry.approval_required


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"tracking_uri": "mysql://x"}, "no supported scheme"),
        ({"model_registry": {"approval_required": "maybe"}}, "model_registry.approval_required"),
        ({"nonsense": 1}, "nonsense"),
    ],
)
def test_bad_settings_name_the_setting(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(**overrides)


def test_enable_debug_mode() -> None:
    import logging

    enable_debug_mode(monitoring=False)
    assert logging.getLogger("mlops.experiments").level == logging.DEBUG
    assert logging.getLogger("mlops.monitoring").level == logging.INFO
