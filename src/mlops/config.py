"""Configuration, resolved in one place.

Precedence, highest first: arguments to ``MLOpsConfig(...)`` > environment ``MLOPS_*`` (nested
sections with ``__``, e.g. ``MLOPS_MODEL_REGISTRY__APPROVAL_REQUIRED=true``) > ``mlops.toml`` in
the working directory (or the file ``MLOPS_CONFIG`` names) > embedded defaults.

The embedded default needs nothing: ``.mlops/`` in the working directory holds ``mlops.db``
(SQLite) and ``artifacts/``. ``MLOPS_HOME`` moves that folder.
"""

from __future__ import annotations

import getpass
import logging
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from mlops.errors import ConfigError

TRACKING_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg", "http", "https")


class TrackingSettings(BaseModel):
    """Experiment tracking (the seed's ``experiment_tracking={...}``)."""

    backend: Literal["mlops", "mlflow"] = "mlops"
    tracking_uri: str | None = None
    artifact_store: str | None = None
    metrics_flush_interval: float = Field(
        0.5,
        gt=0,
        le=60,
        description="Seconds between background metric flushes (max data lost on kill -9).",
    )
    metrics_max_buffer: int = Field(
        200_000, gt=0, description="Metric points buffered before log_metrics waits for the writer."
    )
    heartbeat_interval: float = Field(5.0, gt=0, description="Seconds between run heartbeats.")
    stale_run_after: float = Field(
        120.0,
        gt=0,
        description="A RUNNING run on another host with no heartbeat for this long is KILLED.",
    )


class RegistrySettings(BaseModel):
    """Model registry (the seed's ``model_registry={...}``)."""

    backend: Literal["mlops", "mlflow"] = "mlops"
    stage_transitions: bool = True
    approval_required: bool = Field(
        False,
        description="Stage changes and protected-alias moves become requests for another user.",
    )
    protected_aliases: list[str] = Field(
        default_factory=lambda: ["champion"], description="Aliases whose moves need approval."
    )


class MonitoringRetention(BaseModel):
    """Days `mlops gc` keeps monitoring data, per kind (None: forever).

    Why per kind: raw predictions are big and only matter until their labels arrive and the
    window is evaluated, while window results and alerts are the small history that reports and
    dashboards draw. An open window's rows are never removed, whatever the setting.
    """

    predictions: float | None = Field(
        30.0, gt=0, description="Stored predictions of closed, evaluated windows."
    )
    results: float | None = Field(
        365.0, gt=0, description="Closed windows' drift and performance results."
    )
    alerts: float | None = Field(
        365.0, gt=0, description="Resolved alerts (with their deliveries) and ended silences."
    )


class MonitoringSettings(BaseModel):
    """Monitoring (the seed's ``monitoring={...}``); used by the monitoring domain."""

    drift_detection: bool = True
    performance_monitoring: bool = True
    alert_channels: list[str] = Field(default_factory=lambda: ["log"])
    dashboard_enabled: bool = True
    retention_days: MonitoringRetention = Field(
        default_factory=lambda: MonitoringRetention(),
        description="How long `mlops gc` keeps each kind of monitoring data.",
    )


class DeploymentSettings(BaseModel):
    """Deployment (the seed's ``deployment={...}``); used by the serving domain."""

    platform: Literal["local", "kubernetes"] = "local"
    auto_scaling: bool = False
    canary_deployment: bool = False
    rollback_enabled: bool = True


class ServingSettings(BaseModel):
    """Model servers (``mlops serve``, ``ModelServing``)."""

    monitor: bool = Field(
        False,
        description=(
            "Feed every served prediction to the served version's ModelMonitor (drift and "
            "performance), off the request path; ``mlops serve --monitor`` turns it on too."
        ),
    )
    deployment: str | None = Field(
        None,
        description=(
            "The deployment the servers belong to: the monitoring hook tags its windows and "
            "alerts with it (a rollout sets it on the new version's replicas for its drift gate)."
        ),
    )
    workers: int = Field(
        1,
        ge=1,
        description=(
            "Worker processes of the server (``mlops serve --workers`` sets it for them): with "
            "more than one, each worker's monitors are tagged ``w<pid>``, since one monitor "
            "must have one writer."
        ),
    )


class ServerSettings(BaseModel):
    """The tracking server (``mlops server``)."""

    host: str = Field("127.0.0.1", description="Interface the server listens on.")
    port: int = Field(5000, ge=0, le=65535, description="Port the server listens on.")
    workers: int = Field(1, ge=1, description="Server worker processes.")
    max_upload_size: int = Field(
        10 * 1024**3, gt=0, description="Largest artifact upload accepted, in bytes (else 413)."
    )
    max_request_bytes: int = Field(
        32 * 1024**2,
        gt=0,
        description=(
            "Largest JSON request body accepted, in bytes (else 413); artifact uploads have "
            "max_upload_size instead."
        ),
    )
    idempotency_ttl: float = Field(
        86_400.0,
        gt=0,
        description="Seconds a completed request is remembered by its Idempotency-Key.",
    )
    auth: bool = Field(
        False,
        description=(
            "Require an API token (Authorization: Bearer) on /api/v1 and check users' roles; "
            "off for local use (everyone acts as an admin, recorded as 'anonymous')."
        ),
    )


class ClientSettings(BaseModel):
    """How the Python API talks to a tracking server (an ``http(s)://`` tracking URI)."""

    timeout: float = Field(60.0, gt=0, description="Seconds to wait for the server to answer.")
    max_retries: int = Field(
        5, ge=0, description="Retries of a request that could not connect or got 502/503/504."
    )
    backoff: float = Field(
        0.25, gt=0, description="Seconds before the first retry; doubled for each further one."
    )
    max_backoff: float = Field(8.0, gt=0, description="Longest wait between two retries.")


class FeatureSettings(BaseModel):
    """The feature store: where ``FeatureStore``, ``mlops server`` and ``mlops features serve``
    find online and offline data when a caller names none."""

    online_store: str | None = Field(
        None,
        description=(
            "Online store: sqlite:///PATH or redis://HOST:PORT/DB (default HOME/online.db); "
            "`mlops server --online-store` and `mlops features serve --online-store` override it."
        ),
    )
    offline_store: str | None = Field(
        None,
        description="Root folder (or s3://...) of views registered without a source "
        "(default HOME/features).",
    )


def _default_home() -> Path:
    return Path.cwd() / ".mlops"


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. in some containers
        return "unknown"


class MLOpsConfig(BaseSettings):
    """All of mlops' settings. Build one at the entry point and pass it down."""

    model_config = SettingsConfigDict(
        env_prefix="MLOPS_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    home: Path = Field(default_factory=_default_home, description="Folder of the embedded store.")
    tracking_uri: str | None = Field(
        None,
        description=(
            "Metadata store: sqlite:///PATH, postgresql://... or an mlops server http(s)://HOST:PORT"
            " (default: HOME/mlops.db)."
        ),
    )
    artifact_uri: str | None = Field(
        None,
        description="Artifact root: a local folder or s3://bucket/prefix (default HOME/artifacts).",
    )
    user: str = Field(default_factory=_default_user, description="Who is recorded as acting.")
    tracking_token: SecretStr | None = Field(
        None,
        description=(
            "API token sent to an mlops server run with --auth (``mlops tokens create`` makes "
            "one); MLOPS_TRACKING_TOKEN in the environment."
        ),
    )
    debug: bool = Field(False, description="Verbose logging for every mlops component.")
    experiment_tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    model_registry: RegistrySettings = Field(default_factory=RegistrySettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    deployment: DeploymentSettings = Field(default_factory=DeploymentSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    client: ClientSettings = Field(default_factory=ClientSettings)
    features: FeatureSettings = Field(default_factory=FeatureSettings)
    serving: ServingSettings = Field(default_factory=ServingSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = Path(os.environ.get("MLOPS_CONFIG", "mlops.toml"))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file))

    @field_validator("tracking_uri")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme = value.split(":", 1)[0].lower()
        if "://" not in value or scheme not in TRACKING_SCHEMES:
            raise ValueError(
                f"tracking URI {value!r} has no supported scheme; use one of "
                "sqlite:///PATH, postgresql://USER@HOST/DB or http://HOST:PORT (an mlops server)"
            )
        return value

    @property
    def resolved_tracking_uri(self) -> str:
        """The metadata store URI actually used."""
        uri = self.tracking_uri or self.experiment_tracking.tracking_uri
        if uri:
            return uri
        return f"sqlite:///{(self.home / 'mlops.db').resolve()}"

    @property
    def resolved_artifact_uri(self) -> str:
        """The artifact root actually used."""
        uri = self.artifact_uri or self.experiment_tracking.artifact_store
        if uri:
            return uri
        return str((self.home / "artifacts").resolve())


def load_config(**overrides: Any) -> MLOpsConfig:
    """Build a config; any mistake in it is a ``ConfigError`` that names the setting or file."""
    import tomllib

    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    named = os.environ.get("MLOPS_CONFIG")
    if named and not Path(named).is_file():
        raise ConfigError(f"MLOPS_CONFIG names {named!r}, which is not a file")
    try:
        return MLOpsConfig(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg'].removeprefix('Value error, ')}"
            f" (got {err.get('input')!r})"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid mlops configuration: {problems}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{named or 'mlops.toml'} is not valid TOML: {exc}") from exc
    except SettingsError as exc:
        raise ConfigError(
            f"{exc}; list settings in the environment are JSON, e.g. "
            'MLOPS_MODEL_REGISTRY__PROTECTED_ALIASES=\'["champion", "prod"]\''
        ) from exc


def with_locations(
    config: MLOpsConfig | None = None,
    tracking_uri: str | None = None,
    artifact_uri: str | None = None,
) -> MLOpsConfig:
    """``config`` (default: the environment's) with the store locations a caller passed."""
    updates: dict[str, Any] = {}
    if tracking_uri:
        updates["tracking_uri"] = tracking_uri
    if artifact_uri:
        updates["artifact_uri"] = artifact_uri
    if config is None:
        return load_config(**updates)
    if not updates:
        return config
    return load_config(**{**config.model_dump(exclude_unset=True), **updates})


def enable_debug_mode(
    experiment_tracking: bool = True,
    model_serving: bool = True,
    monitoring: bool = True,
    pipeline_execution: bool = True,
) -> None:
    """Turn on DEBUG logging for the chosen components (the seed's debug switch)."""
    chosen = {
        "mlops.experiments": experiment_tracking,
        "mlops.store": experiment_tracking,
        "mlops.models": model_serving,
        "mlops.monitoring": monitoring,
        "mlops.pipelines": pipeline_execution,
    }
    handler_needed = not logging.getLogger("mlops").handlers
    if handler_needed:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        logging.getLogger("mlops").addHandler(handler)
    for name, on in chosen.items():
        logging.getLogger(name).setLevel(logging.DEBUG if on else logging.INFO)
