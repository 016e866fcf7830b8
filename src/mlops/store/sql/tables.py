"""The metadata schema, as SQLAlchemy Core tables shared by SQLite and PostgreSQL.

Alembic migrations under ``migrations/`` build exactly this schema; a test compares the two.

Times are integer milliseconds since the epoch (UTC), so ordering and arithmetic are the same on
every backend. Soft deletion is a ``deleted_at`` timestamp: NULL means live.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# Stable constraint names, so Alembic batch migrations on SQLite can find them.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

RUN_ID = String(32)
KEY = String(250)

experiments = Table(
    "experiments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("artifact_location", Text, nullable=False),
    Column("description", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("deleted_at", BigInteger),
)

experiment_tags = Table(
    "experiment_tags",
    metadata,
    Column(
        "experiment_id",
        Integer,
        ForeignKey("experiments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("key", KEY, primary_key=True),
    Column("value", Text, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", RUN_ID, primary_key=True),
    Column(
        "experiment_id",
        Integer,
        ForeignKey("experiments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("parent_run_id", RUN_ID, ForeignKey("runs.id", ondelete="CASCADE")),
    Column("name", String(256), nullable=False),
    Column("status", String(16), nullable=False),  # RUNNING | FINISHED | FAILED | KILLED
    Column("user", String(256), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger),
    Column("error", Text),
    Column("artifact_uri", Text, nullable=False),
    # Who is running it, so a dead process can be detected and the run marked KILLED.
    Column("host", String(256), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("heartbeat_at", BigInteger, nullable=False),
    Column("deleted_at", BigInteger),
    Index("ix_runs_experiment_start", "experiment_id", "start_time"),
    Index("ix_runs_status", "status"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", RUN_ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Text, nullable=False),
    Index("ix_params_key_value", "key", "value"),
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", RUN_ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Text, nullable=False),
)

# One row per (run, metric key): a metric *series*. Its small integer id keys the points, so a
# point row carries no strings (half the bytes, twice the insert rate of a (run_id, key) key),
# and it holds the series' newest point, which search filters and orders by; that copy is kept in
# step with `metrics` inside the same transaction. AUTOINCREMENT on SQLite: an id is never
# reused, so an id a writer has cached can never come to name another series.
latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", RUN_ID, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", KEY, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("value", Float(precision=53), nullable=False),
    Column("is_nan", Boolean, nullable=False, default=False),
    UniqueConstraint("run_id", "key"),
    Index("ix_latest_metrics_key_value", "key", "value"),
    sqlite_autoincrement=True,
)

# One row per logged point. The primary key *is* the read path (one series' history by step),
# and, being the whole identity of a point, makes a re-sent batch a no-op. On SQLite the table is
# WITHOUT ROWID: a point is written into one b-tree, not a table plus an index. NaN cannot be
# stored by SQLite (it becomes NULL), so it is flagged and stored as 0.
metrics = Table(
    "metrics",
    metadata,
    Column(
        "series_id",
        Integer,
        ForeignKey("latest_metrics.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("step", BigInteger, primary_key=True),
    Column("timestamp", BigInteger, primary_key=True),
    Column("value", Float(precision=53), primary_key=True),
    Column("is_nan", Boolean, primary_key=True, default=False),
    sqlite_with_rowid=False,
)

datasets = Table(
    "datasets",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("source", Text, nullable=False),
    Column("schema", Text, nullable=False),  # JSON: [{"name": ..., "type": ...}, ...]
    Column("num_rows", BigInteger),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("name", "digest"),
)

run_inputs = Table(
    "run_inputs",
    metadata,
    Column("run_id", RUN_ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "dataset_id",
        String(32),
        ForeignKey("datasets.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("context", String(64), primary_key=True),  # training | validation | evaluation | ...
    Column("created_at", BigInteger, nullable=False),
)

# Every artifact written through the artifact store, with what it must hash to when read.
artifacts = Table(
    "artifacts",
    metadata,
    Column("uri", String(1024), primary_key=True),
    Column("run_id", RUN_ID, ForeignKey("runs.id", ondelete="CASCADE")),
    Column("path", Text, nullable=False),  # relative to the run's (or version's) artifact root
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_artifacts_run", "run_id"),
)

registered_models = Table(
    "registered_models",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("description", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("deleted_at", BigInteger),
)

registered_model_tags = Table(
    "registered_model_tags",
    metadata,
    Column(
        "name",
        String(256),
        ForeignKey("registered_models.name", ondelete="CASCADE", onupdate="CASCADE"),
        primary_key=True,
    ),
    Column("key", KEY, primary_key=True),
    Column("value", Text, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column(
        "name",
        String(256),
        ForeignKey("registered_models.name", ondelete="CASCADE", onupdate="CASCADE"),
        primary_key=True,
    ),
    Column("version", Integer, primary_key=True),
    Column("run_id", RUN_ID, ForeignKey("runs.id", ondelete="SET NULL")),
    Column("stage", String(16), nullable=False),  # none | staging | production | archived
    Column("artifact_uri", Text, nullable=False),
    Column("sha256", String(64), nullable=False),  # of the model's manifest; it lists every file
    Column("size", BigInteger, nullable=False),
    Column("flavor", String(32), nullable=False),
    Column("format", String(32), nullable=False),  # skops | onnx | pickle
    Column("signature", Text),  # JSON
    Column("description", Text),
    Column("created_by", String(256), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("deleted_at", BigInteger),
    Index("ix_model_versions_stage", "name", "stage"),
    Index("ix_model_versions_run", "run_id"),
)

model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Text, nullable=False),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column(
        "name",
        String(256),
        ForeignKey("registered_models.name", ondelete="CASCADE", onupdate="CASCADE"),
        primary_key=True,
    ),
    Column("alias", String(256), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# Queryable history of the registry: every stage change, alias move, request and decision.
registry_events = Table(
    "registry_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False),
    Column("version", Integer),
    Column(
        "kind", String(32), nullable=False
    ),  # stage | alias | alias_removed | request | approve | reject | rollback | register
    Column("from_value", String(256)),
    Column("to_value", String(256)),
    Column("user", String(256), nullable=False),
    Column("comment", Text),
    Column("request_id", Integer),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_registry_events_name", "name", "created_at"),
)

approval_requests = Table(
    "approval_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False),
    Column("version", Integer, nullable=False),
    Column("action", String(16), nullable=False),  # stage | alias
    Column("target", String(256), nullable=False),  # the stage or the alias
    Column("archive_existing", Boolean, nullable=False, default=True),
    Column("status", String(16), nullable=False),  # pending | approved | rejected
    Column("requested_by", String(256), nullable=False),
    Column("requested_at", BigInteger, nullable=False),
    Column("decided_by", String(256)),
    Column("decided_at", BigInteger),
    Column("comment", Text),
    Index("ix_approval_requests_status", "status"),
)

# One lineage graph for every domain: (source) -[relation]-> (target).
lineage_edges = Table(
    "lineage_edges",
    metadata,
    Column("src_type", String(32), primary_key=True),
    Column("src_id", String(512), primary_key=True),
    Column("relation", String(32), primary_key=True),
    Column("dst_type", String(32), primary_key=True),
    Column("dst_id", String(512), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_lineage_dst", "dst_type", "dst_id"),
)

# Writes a tracking server has completed, by the client's Idempotency-Key: a retried request
# replays the stored response instead of running again. Rows older than the server's
# `idempotency_ttl` are purged, so the table stays small.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("fingerprint", String(64), nullable=False),  # sha256 of method, path and body
    Column("status_code", Integer, nullable=False),
    Column("response", Text, nullable=False),  # the JSON body sent the first time
    Column("created_at", BigInteger, nullable=False),
    Index("ix_idempotency_keys_created_at", "created_at"),
)

# --- Users, API tokens and roles (the tracking server's `--auth`) --------------------------------

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(128), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
    Column("disabled_at", BigInteger),  # a disabled user's tokens stop working
)

# Tokens are random 32-byte secrets shown once; only their sha256 is kept (a secret with that much
# entropy needs no slow hash). `prefix` is the token's first characters, to tell tokens apart.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger),
    Column("last_used_at", BigInteger),
    Column("revoked_at", BigInteger),
    Index("ix_api_tokens_user_id", "user_id"),
)

# A role (viewer | editor | admin) on everything (scope "global", resource ""), on one experiment
# (scope "experiment", resource = its id) or on one registered model (scope "model", its name).
role_grants = Table(
    "role_grants",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("scope", String(16), primary_key=True),
    Column("resource", String(256), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("granted_by", String(128), nullable=False),
    Column("granted_at", BigInteger, nullable=False),
)

# Every write, with who, what and when. Each row carries the sha256 of its content and of the row
# before it, so editing or deleting a row breaks the chain (governance verifies it).
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("resource_type", String(32), nullable=False),
    Column("resource_id", String(512), nullable=False),
    Column("status_code", Integer),
    Column("details", Text),  # JSON
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_actor", "actor", "at"),
    Index("ix_audit_log_resource", "resource_type", "resource_id"),
)

# --- Monitoring: detectors, open windows, window results, predictions and alerts ----------------
# Every row names the model it watched (model_name, model_version; version is NULL for a label
# that is not a registered model, e.g. the seed's "model_v1"), and the deployment once serving
# exists.

# A fitted drift detector (settings + reference summary, an .npz blob) attached to a version.
monitoring_detectors = Table(
    "monitoring_detectors",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("model_name", String(256)),
    Column("model_version", Integer),
    Column("deployment", String(256)),
    Column("blob", LargeBinary, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_monitoring_detectors_model", "model_name", "model_version"),
)

# Rows of still-open windows, as logged (Arrow IPC), so a restarted process rebuilds the window
# and loses nothing acknowledged. Deleted in the transaction that stores the window's result.
monitoring_chunks = Table(
    "monitoring_chunks",
    metadata,
    Column("monitor", String(256), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("window_start", Float, nullable=False),
    Column("n_rows", Integer, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# One row per closed window and kind (drift | performance); performance rows are rewritten when
# late labels arrive.
monitoring_results = Table(
    "monitoring_results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("monitor", String(256), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("model_name", String(256)),
    Column("model_version", Integer),
    Column("deployment", String(256)),
    Column("window_start", Float, nullable=False),
    Column("window_end", Float, nullable=False),
    Column("n_rows", Integer, nullable=False),
    Column("flagged", Boolean, nullable=False),
    Column("score", Float),
    Column("payload", Text, nullable=False),  # JSON
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("monitor", "kind", "window_start"),
    Index("ix_monitoring_results_model", "model_name", "model_version", "window_start"),
)

# Predictions of a performance monitor, joined with labels that arrive later by prediction id.
monitoring_predictions = Table(
    "monitoring_predictions",
    metadata,
    Column("monitor", String(256), primary_key=True),
    Column("prediction_id", String(128), primary_key=True),
    Column("window_start", Float, nullable=False),
    Column("predicted_at", Float, nullable=False),
    Column("prediction", Float),
    Column("score", Float),
    Column("label", Float),
    Column("latency", Float),
    Column("error", Boolean, nullable=False),
    Column("labelled_at", Float),
    Index("ix_monitoring_predictions_window", "monitor", "window_start"),
)

# Alerts: one row per fingerprint (rule + labels) and episode; repeats only bump count/last_seen.
monitoring_alerts = Table(
    "monitoring_alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("fingerprint", String(64), nullable=False),
    Column("rule", String(256), nullable=False),
    Column("metric", String(128), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False),  # pending | firing | acknowledged | resolved
    Column("model_name", String(256)),
    Column("model_version", Integer),
    Column("deployment", String(256)),
    Column("group_key", String(512), nullable=False),
    Column("value", Float),
    Column("threshold", Float),
    Column("message", Text, nullable=False),
    Column("labels", Text, nullable=False),  # JSON
    Column("count", Integer, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("last_seen_at", Float, nullable=False),
    Column("resolved_at", Float),
    Column("acked_by", String(128)),
    Column("acked_at", Float),
    Index("ix_monitoring_alerts_status", "status"),
    Index("ix_monitoring_alerts_fingerprint", "fingerprint"),
)

# Each notification of an alert to a channel; a failed one stays here (visible) and is retried.
monitoring_deliveries = Table(
    "monitoring_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "alert_id",
        Integer,
        ForeignKey("monitoring_alerts.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("channel", String(128), nullable=False),
    Column("event", String(16), nullable=False),  # firing | resolved
    Column("status", String(16), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("next_attempt_at", Float, nullable=False),
    Column("delivered_at", Float),
    Column("created_at", Float, nullable=False),
    Index("ix_monitoring_deliveries_status", "status", "next_attempt_at"),
)

# Silences: alerts whose labels match every matcher are recorded but not sent until ends_at.
monitoring_silences = Table(
    "monitoring_silences",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("matchers", Text, nullable=False),  # JSON {label: value}
    Column("starts_at", Float, nullable=False),
    Column("ends_at", Float, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("comment", Text),
)

# --- Feature store: definitions with versions, and materialization history ----------------------

# Every feature definition (entity | feature_view | feature_service | on_demand_view), one row per
# version. A compatible change updates the newest version in place; a breaking one (a view's keys,
# feature types or timestamps) adds a version, so readers of the old one keep working.
feature_definitions = Table(
    "feature_definitions",
    metadata,
    Column("kind", String(32), primary_key=True),
    Column("name", String(256), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("spec", Text, nullable=False),  # JSON
    Column("schema_hash", String(64), nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("deleted_at", BigInteger),
)

# One row per materialization of a view version into an online store: what window it covered,
# so `materialize_incremental` knows where to start.
feature_materializations = Table(
    "feature_materializations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("view", String(256), nullable=False),
    Column("version", Integer, nullable=False),
    Column("online_store", String(1024), nullable=False),
    Column("start_us", BigInteger),  # None: from the beginning
    Column("end_us", BigInteger, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_feature_materializations_view", "view", "version"),
)

# --- Deployments: every rollout of a model version, and each step, gate verdict and rollback ----

# One row per deployment (a rollout of a model version to a target: local or kubernetes).
# status: running | succeeded | rolled_back | failed. previous_version is what it replaced.
deployments = Table(
    "deployments",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("target", String(32), nullable=False),  # local | kubernetes
    Column("strategy", String(32), nullable=False),  # direct | canary | rolling | blue_green
    Column("model_name", String(256), nullable=False),
    Column("model_version", Integer),
    Column("previous_version", Integer),
    Column("status", String(16), nullable=False),
    Column("url", Text),
    Column("config", Text, nullable=False),  # JSON: steps, gates, replicas, ...
    Column("message", Text),
    Column("created_by", String(256), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("finished_at", BigInteger),
    Index("ix_deployments_model", "model_name", "model_version"),
    Index("ix_deployments_name", "name", "created_at"),
)

# What happened during a deployment, in order: started, step (traffic set), gate (verdict with
# the measured error rate, p99 and request count), promoted, rolled_back, stopped.
deployment_events = Table(
    "deployment_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "deployment_id",
        String(32),
        ForeignKey("deployments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("kind", String(32), nullable=False),
    Column("traffic", Float),  # percent of requests to the new version at that point
    Column("passed", Boolean),  # gates only
    Column("detail", Text, nullable=False),  # JSON
    Column("message", Text),
    Column("at", BigInteger, nullable=False),
    Index("ix_deployment_events_deployment", "deployment_id", "id"),
)

# --- A/B tests: the plan and state of each test, and the outcomes logged per unit --------------

# One row per A/B test. variants: JSON {variant: share}; models: JSON {variant: "name/version"};
# metrics: JSON list of metric specs; config: JSON (alpha, control, correction, sequential,
# allocation, salt); result: JSON of the last analysis. status: running | stopped.
abtests = Table(
    "abtests",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    Column("variants", Text, nullable=False),
    Column("models", Text, nullable=False),
    Column("metrics", Text, nullable=False),
    Column("duration_days", Float, nullable=False),
    Column("config", Text, nullable=False),
    Column("result", Text),
    Column("description", Text),
    Column("created_by", String(256), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("stopped_at", BigInteger),
)

# One value per (test, unit, metric): a unit is the independent thing randomized (a user), so a
# re-logged value replaces the earlier one. Classification metrics read each unit's
# "prediction" and "label" rows.
abtest_outcomes = Table(
    "abtest_outcomes",
    metadata,
    Column(
        "test_id",
        String(32),
        ForeignKey("abtests.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("unit_id", String(256), primary_key=True),
    Column("metric", String(256), primary_key=True),
    Column("variant", String(256), nullable=False),
    Column("value", Float, nullable=False),
    Column("at", BigInteger, nullable=False),
)

# Alert rules made with create_alert / `mlops alerts rules add`, so every process (and a
# restarted one) evaluates them; rules a ModelMonitor derives from its thresholds stay in memory.
monitoring_alert_rules = Table(
    "monitoring_alert_rules",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("model_name", String(256)),  # the rule's "model" label, for permissions and listing
    Column("spec", Text, nullable=False),  # JSON: metric, condition, threshold, for_duration, ...
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)


# The model each monitor's rows belong to, bound by the first write through a server that named
# one: monitor names are global, so without it an editor of one model could write into (or read)
# another model's open windows by naming that model's monitor.
monitoring_monitors = Table(
    "monitoring_monitors",
    metadata,
    Column("monitor", String(256), primary_key=True),
    Column("model_name", String(256), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)
