"""Alerts: rules over monitoring metrics, one stored episode per problem, reliable delivery.

Why each piece:
- *Rules* say when (``metric condition threshold`` held ``for_duration``) and how bad
  (``severity``). A rule that holds is first ``pending``; it fires only once it has held for
  ``for_duration``, so one noisy window does not page anyone. Rules made with ``create_alert``
  (or ``save_rule``, ``mlops alerts rules add``) are stored, so every process evaluates them,
  a restarted one included; ``add_rule`` keeps a rule in this process only (``ModelMonitor``'s
  thresholds, which it derives again on each start).
- *Deduplication*: an episode is keyed by a fingerprint of the rule and its labels; while it is
  open, repeats only bump ``count`` and ``last_seen_at``. It resolves when the rule stops
  holding (or by hand), and a later breach starts a new episode.
- *Grouping*: deliveries due together for the same channel and group (the rule and the
  ``group_by`` labels, by default the model) go out as one notification.
- *Silences* hold notifications back until they end; the alert is still recorded and shown.
- *Acknowledgement* marks that someone is on it (no further notifications for the episode).
- *Delivery*: every notification is a stored row; a failed send is retried with exponential
  backoff and, after ``max_attempts``, stays ``failed`` in the store, listed by
  ``mlops alerts list`` and retried by ``retry_failed()``. Nothing acknowledged is dropped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import operator
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mlops.errors import InvalidStateError, MonitoringError, PermissionDeniedError
from mlops.monitoring.channels import Channel, DeliveryError, channel_from_spec
from mlops.monitoring.entities import Alert, Silence
from mlops.monitoring.units import InvalidMonitoringInputError, parse_duration, parse_threshold

if TYPE_CHECKING:
    from mlops.config import MLOpsConfig
    from mlops.monitoring.performance import PerformanceResult
    from mlops.monitoring.results import DriftResult
    from mlops.monitoring.store import MonitoringStore

log = logging.getLogger(__name__)

CONDITIONS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
SEVERITIES = ("info", "warning", "critical")
RULES_REFRESH = 5.0
"""Seconds between re-reads of the stored rules (each evaluation would be a query)."""
OPEN = ("pending", "firing", "acknowledged")


class AlertStateError(MonitoringError, InvalidStateError):
    """The alert is not in a state that allows the operation (e.g. acking a resolved one)."""


@dataclass(frozen=True)
class AlertRule:
    """When to alert: ``metric condition threshold`` held for ``for_duration`` seconds."""

    name: str
    metric: str
    condition: str
    threshold: float
    for_duration: float = 0.0
    severity: str = "warning"
    labels: dict[str, str] = field(default_factory=dict)
    group_by: tuple[str, ...] = ("model",)
    message: str | None = None

    @classmethod
    def create(
        cls,
        name: str,
        metric: str,
        condition: str = ">",
        threshold: str | float = 0.0,
        for_duration: str | float = 0.0,
        severity: str = "warning",
        labels: Mapping[str, str] | None = None,
        group_by: Sequence[str] = ("model",),
        message: str | None = None,
    ) -> AlertRule:
        """A rule with its strings parsed ("100ms", "2%", "5m").

        Raises:
            InvalidMonitoringInputError: Unknown condition or severity, or a bad duration.
        """
        if condition not in CONDITIONS:
            raise InvalidMonitoringInputError(
                f"condition {condition!r} is not one of {' '.join(CONDITIONS)}"
            )
        if severity not in SEVERITIES:
            raise InvalidMonitoringInputError(
                f"severity {severity!r} is not one of {', '.join(SEVERITIES)}"
            )
        seconds = 0.0
        if for_duration not in (0, 0.0, "0", "", None):
            seconds = parse_duration(for_duration, what="for_duration")
        return cls(
            name=name,
            metric=metric,
            condition=condition,
            threshold=parse_threshold(threshold, metric),
            for_duration=seconds,
            severity=severity,
            labels={str(k): str(v) for k, v in (labels or {}).items()},
            group_by=tuple(group_by),
            message=message,
        )

    def holds(self, value: float) -> bool:
        return CONDITIONS[self.condition](value, self.threshold)

    def to_dict(self) -> dict[str, Any]:
        """The rule as JSON-ready values (what the store keeps)."""
        return {**asdict(self), "group_by": list(self.group_by)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertRule:
        """A rule from ``to_dict`` (its values already parsed)."""
        return cls(
            name=str(data["name"]),
            metric=str(data["metric"]),
            condition=str(data["condition"]),
            threshold=float(data["threshold"]),
            for_duration=float(data.get("for_duration", 0.0)),
            severity=str(data.get("severity", "warning")),
            labels={str(k): str(v) for k, v in (data.get("labels") or {}).items()},
            group_by=tuple(data.get("group_by") or ("model",)),
            message=data.get("message"),
        )


def fingerprint(rule: str, labels: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps([rule, sorted(labels.items())]).encode()).hexdigest()


class AlertManager:
    """Rules, alert episodes, silences and delivery to channels, all kept in the store.

    Args:
        channels: Channels or their string forms (default: the config's
            ``monitoring.alert_channels``, "log" if none).
        rules: Rules to start with.
        config: Store configuration (default: the environment's).
        max_attempts: Sends tried before a delivery is marked failed.
        backoff: Seconds before the first retry; doubled each time, up to ``max_backoff``.
        lease: Seconds a claimed delivery is reserved for this process while it sends, so
            several processes can deliver from one store without sending anything twice.
        store: The monitoring store to keep alerts in (default: the config's); the tracking
            server passes the store it already has open on its database.
    """

    def __init__(
        self,
        channels: Sequence[str | Channel] | None = None,
        rules: Sequence[AlertRule] | None = None,
        config: MLOpsConfig | None = None,
        max_attempts: int = 8,
        backoff: float = 1.0,
        max_backoff: float = 300.0,
        lease: float = 60.0,
        store: MonitoringStore | None = None,
    ):
        from mlops.config import load_config
        from mlops.monitoring.store import monitoring_store

        self.config = config or load_config()
        specs = channels if channels is not None else self.config.monitoring.alert_channels
        self.channels: dict[str, Channel] = {}
        for spec in specs or ["log"]:
            if spec in ("slack", "email"):
                raise InvalidMonitoringInputError(
                    f"alert channel {spec!r} needs its address: 'slack+https://hooks.slack.com/"
                    "...' or 'smtp://host:port?from=...&to=...'"
                )
            channel = channel_from_spec(spec)
            self.channels[channel.name] = channel
        self.rules: dict[str, AlertRule] = {r.name: r for r in rules or []}
        self._stored: dict[str, AlertRule] = {}
        self._stored_at = -math.inf
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.lease = lease
        self.store: MonitoringStore = store or monitoring_store(self.config)
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._told_denied = False

    # --- rules ---------------------------------------------------------------------------------

    def add_rule(self, rule: AlertRule) -> AlertRule:
        """Evaluate ``rule`` in this process only (it is gone after a restart)."""
        self.rules[rule.name] = rule
        return rule

    def create_rule(self, name: str, metric: str, **kwargs: Any) -> AlertRule:
        """``AlertRule.create(...)`` and add it (in this process only)."""
        return self.add_rule(AlertRule.create(name, metric, **kwargs))

    def save_rule(self, rule: AlertRule) -> AlertRule:
        """Store ``rule`` (replacing a stored one of the same name) so every process using
        this store evaluates it, a restarted one included."""
        if not math.isfinite(rule.threshold):
            raise InvalidMonitoringInputError(
                f"rule {rule.name!r} has threshold {rule.threshold}; a stored rule needs a "
                "finite one"
            )
        self.store.create_rule(rule.name, rule.to_dict())
        with self._lock:
            self._stored[rule.name] = rule
        return rule

    def delete_rule(self, name: str) -> None:
        """Remove a stored rule (``NotFoundError`` if there is none) and this process's copy."""
        with self._lock:
            self.rules.pop(name, None)
            self._stored.pop(name, None)
        self.store.delete_rule(name)

    def list_rules(self) -> list[AlertRule]:
        """Every rule this manager evaluates: stored ones and this process's, by name."""
        return sorted(self._active_rules().values(), key=lambda r: r.name)

    def _active_rules(self) -> dict[str, AlertRule]:
        """Stored rules (re-read at most every ``RULES_REFRESH`` seconds, so a rule added by
        another process takes effect here soon) overlaid by this process's rules."""
        now = time.monotonic()
        if now - self._stored_at >= RULES_REFRESH:
            self._stored = {
                spec["name"]: AlertRule.from_dict(spec) for spec in self.store.list_rules()
            }
            self._stored_at = now
        return {**self._stored, **self.rules}

    # --- evaluating ----------------------------------------------------------------------------

    def evaluate(
        self,
        metrics: Mapping[str, float],
        labels: Mapping[str, Any] | None = None,
        at: float | None = None,
    ) -> list[Alert]:
        """Apply every rule whose metric is in ``metrics``; returns the open alerts touched."""
        now = time.time() if at is None else at
        base = {str(k): str(v) for k, v in (labels or {}).items() if v is not None}
        touched = []
        with self._lock:
            for rule in self._active_rules().values():
                if rule.metric not in metrics:
                    continue
                value = float(metrics[rule.metric])
                alert_labels = {**base, **rule.labels, "rule": rule.name, "metric": rule.metric}
                alert = self._apply(rule, value, alert_labels, now)
                if alert is not None:
                    touched.append(alert)
        return touched

    def _apply(
        self, rule: AlertRule, value: float, labels: dict[str, str], now: float
    ) -> Alert | None:
        key = fingerprint(rule.name, labels)
        current = self.store.get_open_alert(key, labels.get("model"))
        if not rule.holds(value):
            if current is not None:
                self._resolve(current, now, notify=current.status != "pending")
            return None
        if current is None:
            group = "/".join([rule.name, *(labels.get(g, "-") for g in rule.group_by)])
            message = (
                rule.message or "{metric} is {value:.4g} ({condition} {threshold:.4g})"
            ).format(
                metric=rule.metric, value=value, condition=rule.condition, threshold=rule.threshold
            )
            current = self.store.create_alert(
                {
                    "fingerprint": key,
                    "rule": rule.name,
                    "metric": rule.metric,
                    "severity": rule.severity,
                    "status": "pending",
                    "model_name": labels.get("model"),
                    "model_version": int(labels["version"])
                    if labels.get("version", "").isdigit()
                    else None,
                    "deployment": labels.get("deployment"),
                    "group_key": group,
                    "value": value,
                    "threshold": rule.threshold if math.isfinite(rule.threshold) else None,
                    "message": message,
                    "labels": labels,
                    "count": 1,
                    "started_at": now,
                    "last_seen_at": now,
                }
            )
        else:
            current = self.store.update_alert(
                current.id, value=value, count=current.count + 1, last_seen_at=now
            )
        if current.status == "pending" and now - current.started_at >= rule.for_duration:
            current = self.store.update_alert(current.id, status="firing")
            self.store.create_deliveries(current.id, list(self.channels), "firing", now)
        return current

    def observe_drift(
        self, result: DriftResult, labels: Mapping[str, Any] | None = None
    ) -> list[Alert]:
        """Feed a drift result: ``drift_share``, ``dataset_drift`` (0/1), ``drifted_columns``,
        ``prediction_drift`` and one ``drift_score:<column>`` per column."""
        metrics: dict[str, float] = {
            "drift_share": result.drift_share,
            "dataset_drift": float(result.dataset_drift),
            "drifted_columns": float(result.number_of_drifted_columns),
        }
        for name, column in result.columns.items():
            metrics[f"drift_score:{name}"] = column.score
            metrics[f"drifted:{name}"] = float(column.drifted)
        if result.prediction is not None:
            metrics["prediction_drift"] = float(result.prediction.drifted)
        if result.multivariate is not None:
            metrics["domain_classifier_auc"] = result.multivariate.auc
        return self.evaluate(metrics, labels, at=result.window_end)

    def observe_performance(
        self, result: PerformanceResult, labels: Mapping[str, Any] | None = None
    ) -> list[Alert]:
        """Feed a performance result: each metric by its name."""
        return self.evaluate(result.metrics, labels)

    def fire(
        self,
        name: str,
        message: str,
        severity: str = "warning",
        labels: Mapping[str, Any] | None = None,
        value: float | None = None,
    ) -> Alert:
        """Raise an alert by hand (no rule): fires at once, deduplicated by name and labels."""
        rule = AlertRule.create(
            name, "manual", ">", float("-inf"), severity=severity, message=message
        )
        with self._lock:
            self.rules.setdefault(name, rule)
            alert = self._apply(
                rule,
                0.0 if value is None else value,
                {
                    **{str(k): str(v) for k, v in (labels or {}).items()},
                    "rule": name,
                    "metric": "manual",
                },
                time.time(),
            )
        assert alert is not None
        return alert

    # --- people --------------------------------------------------------------------------------

    def acknowledge(self, alert_id: int, user: str | None = None) -> Alert:
        """Someone is on it: no further notifications for this episode."""
        alert = self.store.get_alert(alert_id)
        if alert.status == "resolved":
            raise AlertStateError(f"alert {alert_id} is resolved; nothing to acknowledge")
        return self.store.update_alert(
            alert_id, status="acknowledged", acked_by=user or self.config.user, acked_at=time.time()
        )

    def resolve(self, alert_id: int) -> Alert:
        """End the episode by hand (a resolved notification goes out if it had fired)."""
        alert = self.store.get_alert(alert_id)
        if alert.status == "resolved":
            raise AlertStateError(f"alert {alert_id} is already resolved")
        return self._resolve(alert, time.time(), notify=alert.status != "pending")

    def _resolve(self, alert: Alert, now: float, notify: bool) -> Alert:
        updated = self.store.update_alert(alert.id, status="resolved", resolved_at=now)
        if notify:
            self.store.create_deliveries(alert.id, list(self.channels), "resolved", now)
        return updated

    def silence(
        self,
        matchers: Mapping[str, Any],
        duration: str | float,
        comment: str | None = None,
        user: str | None = None,
    ) -> Silence:
        """Hold back notifications of alerts whose labels match all ``matchers`` for
        ``duration`` ("2h"); they are delivered after the silence if still due."""
        if not matchers:
            raise InvalidMonitoringInputError("a silence needs at least one label matcher")
        now = time.time()
        return self.store.create_silence(
            {str(k): str(v) for k, v in matchers.items()},
            now,
            now + parse_duration(duration, what="silence duration"),
            user or self.config.user,
            comment,
        )

    def list_alerts(self, status: Sequence[str] | None = None, limit: int = 1000) -> list[Alert]:
        return self.store.list_alerts(status=status, limit=limit)

    # --- delivery ------------------------------------------------------------------------------

    def deliver(self, at: float | None = None) -> dict[str, int]:
        """Send every due delivery once (grouped); returns counts by outcome."""
        now = time.time() if at is None else at
        outcome = {"delivered": 0, "retrying": 0, "failed": 0, "silenced": 0, "waiting": 0}
        # Look before claiming: a claim is a write (through a server, an audited one), and the
        # delivery loop asks every second while nearly always nothing is due.
        try:
            if not self.store.list_due_deliveries(now, limit=1):
                return outcome
            due = self.store.claim_deliveries(now, self.lease, limit=1000)
        except PermissionDeniedError as exc:
            # Through a server with --auth, sending works across models (a global editor's);
            # this process records alerts and leaves their notifications to such a process.
            if not self._told_denied:
                log.warning("alert notifications are left to another process: %s", exc)
                self._told_denied = True
            return outcome
        if not due:
            return outcome
        silences = self.store.list_silences(active_at=now)
        alerts = {d.alert_id: self.store.get_alert(d.alert_id) for d in due}
        groups: dict[tuple[str, str, str], list[tuple[Any, Alert]]] = {}
        for delivery in due:
            alert = alerts[delivery.alert_id]
            silence = next((s for s in silences if s.matches(alert.labels, now)), None)
            if silence is not None:
                self.store.update_delivery(delivery.id, next_attempt_at=silence.ends_at)
                outcome["silenced"] += 1
                continue
            if delivery.event == "firing" and alert.status == "acknowledged":
                self.store.update_delivery(
                    delivery.id, status="delivered", last_error="acknowledged before sending"
                )
                continue
            groups.setdefault((delivery.channel, alert.group_key, delivery.event), []).append(
                (delivery, alert)
            )
        for (channel_name, _, event), items in groups.items():
            channel = self.channels.get(channel_name)
            if channel is None:
                # Configured in another process: give the claim back at once, for that one.
                for delivery, _ in items:
                    self.store.update_delivery(
                        delivery.id, next_attempt_at=delivery.next_attempt_at
                    )
                outcome["waiting"] += len(items)
                continue
            try:
                channel.send([a for _, a in items], event)
            except DeliveryError as exc:
                log.warning("alert delivery failed: %s", exc)
                for delivery, _ in items:
                    attempts = delivery.attempts + 1
                    if attempts >= self.max_attempts:
                        self.store.update_delivery(
                            delivery.id, status="failed", attempts=attempts, last_error=str(exc)
                        )
                        outcome["failed"] += 1
                    else:
                        wait = min(self.backoff * 2 ** (attempts - 1), self.max_backoff)
                        self.store.update_delivery(
                            delivery.id,
                            attempts=attempts,
                            last_error=str(exc),
                            next_attempt_at=now + wait,
                        )
                        outcome["retrying"] += 1
                continue
            for delivery, _ in items:
                self.store.update_delivery(
                    delivery.id,
                    status="delivered",
                    attempts=delivery.attempts + 1,
                    delivered_at=now,
                )
                outcome["delivered"] += 1
        return outcome

    def retry_failed(self) -> int:
        """Put every failed delivery back in the queue; returns how many."""
        count = 0
        for alert in self.store.list_alerts():
            for d in alert.deliveries:
                if d.status == "failed":
                    self.store.update_delivery(
                        d.id, status="pending", attempts=0, next_attempt_at=time.time()
                    )
                    count += 1
        return count

    def start(self, interval: float = 1.0) -> None:
        """Deliver in a background thread every ``interval`` seconds (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, args=(interval,), daemon=True)
        self._thread.start()

    def _loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.deliver()
            except MonitoringError as exc:
                log.error("alert delivery loop: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


# --- module function ---------------------------------------------------------------------------

_default: AlertManager | None = None
_default_lock = threading.Lock()


def default_alert_manager() -> AlertManager:
    """The process's ``AlertManager`` (configured from the environment on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = AlertManager()
        return _default


def set_default_alert_manager(manager: AlertManager | None) -> None:
    global _default
    with _default_lock:
        _default = manager


def create_alert(
    name: str,
    metric: str,
    condition: str = ">",
    threshold: str | float = 0.0,
    for_duration: str | float = 0.0,
    severity: str = "warning",
    labels: Mapping[str, str] | None = None,
    manager: AlertManager | None = None,
) -> AlertRule:
    """Store an alert rule (replacing one of the same name) and return it (the seed's
    function): ``manager`` (default: the process's) and every other process on the same store
    evaluate it, also after a restart."""
    target = manager or default_alert_manager()
    return target.save_rule(
        AlertRule.create(name, metric, condition, threshold, for_duration, severity, labels=labels)
    )
