"""Where alerts go: a generic JSON webhook, Slack, email over SMTP, Prometheus Alertmanager and
the log.

A channel only formats and sends one group of alerts; retries, backoff and bookkeeping belong to
``AlertManager``, which keeps every delivery in the store until it succeeds. A failed send
raises ``DeliveryError`` naming the channel and the reason.

Channels can be named by string, as in the seed's ``alert_channels=["slack", "email"]`` config:
``"log"``, ``"webhook+https://host/hook"``, ``"slack+https://hooks.slack.com/..."``,
``"alertmanager+http://host:9093"``,
``"smtp://user:password@host:587?from=a@x&to=b@y,c@z&starttls=true"``.
"""

from __future__ import annotations

import abc
import json
import logging
import math
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

from mlops.errors import MonitoringError
from mlops.monitoring.entities import Alert
from mlops.monitoring.units import InvalidMonitoringInputError

log = logging.getLogger(__name__)


class DeliveryError(MonitoringError):
    """A channel could not deliver a notification (it will be retried)."""


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat().replace("+00:00", "Z")


def alert_dict(alert: Alert) -> dict[str, Any]:
    """An alert as plain JSON-able data (without its delivery history)."""
    data = {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v)
        for k, v in asdict(alert).items()
    }
    data.pop("deliveries", None)
    data["started_at_iso"] = _iso(alert.started_at)
    data["resolved_at_iso"] = _iso(alert.resolved_at)
    return data


class Channel(abc.ABC):
    """One destination. ``name`` identifies it in the store's delivery records."""

    name: str

    @abc.abstractmethod
    def send(self, alerts: Sequence[Alert], event: str) -> None:
        """Deliver one group of alerts (``event`` is "firing" or "resolved").

        Raises:
            DeliveryError: The destination refused or could not be reached.
        """


class _HttpChannel(Channel):
    def __init__(self, url: str, timeout: float = 5.0, headers: Mapping[str, str] | None = None):
        self.url = url
        self.timeout = timeout
        self.headers = dict(headers or {})

    def _post(self, payload: Any) -> None:
        try:
            response = httpx.post(
                self.url, json=payload, timeout=self.timeout, headers=self.headers
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{self.name}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 300:
            raise DeliveryError(f"{self.name}: HTTP {response.status_code}: {response.text[:200]}")


class WebhookChannel(_HttpChannel):
    """POSTs ``{"status", "group", "alerts": [...]}`` as JSON to any URL."""

    def __init__(self, url: str, timeout: float = 5.0, headers: Mapping[str, str] | None = None):
        super().__init__(url, timeout, headers)
        self.name = f"webhook:{url}"

    def send(self, alerts: Sequence[Alert], event: str) -> None:
        self._post(
            {
                "version": "1",
                "status": event,
                "group": alerts[0].group_key if alerts else "",
                "alerts": [alert_dict(a) for a in alerts],
            }
        )


_EMOJI = {
    "critical": ":red_circle:",
    "warning": ":large_orange_circle:",
    "info": ":large_blue_circle:",
}


class SlackChannel(_HttpChannel):
    """A Slack incoming-webhook payload (``text`` plus ``blocks``); Mattermost reads it too."""

    def __init__(self, url: str, timeout: float = 5.0):
        super().__init__(url, timeout)
        self.name = f"slack:{url}"

    def send(self, alerts: Sequence[Alert], event: str) -> None:
        head = f"[{event.upper()}] {len(alerts)} alert(s): {alerts[0].rule if alerts else ''}"
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": head[:150]}}
        ]
        for a in alerts:
            where = (
                a.model_name + (f" v{a.model_version}" if a.model_version else "")
                if (a.model_name)
                else "-"
            )
            blocks.append(
                {
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": f"{_EMOJI.get(a.severity, '')} *{a.rule}* ({a.severity}) on "
                        f"`{where}`\n{a.message}",
                    },
                }
            )
        self._post({"text": head, "blocks": blocks})


class AlertmanagerChannel(_HttpChannel):
    """Prometheus Alertmanager's API v2: ``POST /api/v2/alerts`` with a list of alerts."""

    def __init__(self, url: str, timeout: float = 5.0):
        base = url.rstrip("/")
        super().__init__(f"{base}/api/v2/alerts", timeout)
        self.name = f"alertmanager:{base}"

    def send(self, alerts: Sequence[Alert], event: str) -> None:
        payload = []
        for a in alerts:
            labels = {"alertname": a.rule, "severity": a.severity, **a.labels}
            item: dict[str, Any] = {
                "labels": {k: str(v) for k, v in labels.items()},
                "annotations": {"summary": a.message, "metric": a.metric},
                "startsAt": _iso(a.started_at),
                "generatorURL": f"mlops://alerts/{a.id}",
            }
            if event == "resolved":
                item["endsAt"] = _iso(a.resolved_at or a.last_seen_at)
            payload.append(item)
        self._post(payload)


class EmailChannel(Channel):
    """One plain-text email per group, over SMTP (STARTTLS or SMTPS when asked)."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        recipients: Sequence[str],
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        use_ssl: bool = False,
        timeout: float = 10.0,
    ):
        if not recipients:
            raise InvalidMonitoringInputError("an email channel needs at least one recipient")
        self.host, self.port, self.sender = host, port, sender
        self.recipients = list(recipients)
        self.username, self.password = username, password
        self.starttls, self.use_ssl, self.timeout = starttls, use_ssl, timeout
        self.name = f"email:{','.join(self.recipients)}@{host}:{port}"

    def send(self, alerts: Sequence[Alert], event: str) -> None:
        message = EmailMessage()
        worst = max((a.severity for a in alerts), key=_severity_rank, default="info")
        message["Subject"] = f"[mlops {event}] {worst}: {alerts[0].rule if alerts else ''}" + (
            f" (+{len(alerts) - 1} more)" if len(alerts) > 1 else ""
        )
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        lines = []
        for a in alerts:
            lines.append(f"{a.rule} [{a.severity}] {event}")
            lines.append(f"  {a.message}")
            lines.append(f"  model: {a.model_name} version: {a.model_version}")
            lines.append(f"  value: {a.value} threshold: {a.threshold} since {_iso(a.started_at)}")
            lines.append("")
        message.set_content("\n".join(lines))
        try:
            smtp_class = smtplib.SMTP_SSL if self.use_ssl else smtplib.SMTP
            with smtp_class(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"{self.name}: {type(exc).__name__}: {exc}") from exc


class LogChannel(Channel):
    """Writes each alert to the ``mlops.monitoring.alerts`` logger (always works)."""

    name = "log"

    def send(self, alerts: Sequence[Alert], event: str) -> None:
        logger = logging.getLogger("mlops.monitoring.alerts")
        for a in alerts:
            level = logging.ERROR if a.severity == "critical" else logging.WARNING
            if event == "resolved":
                level = logging.INFO
            logger.log(level, "alert %s %s [%s]: %s", a.rule, event, a.severity, a.message)


def _severity_rank(severity: str) -> int:
    return {"info": 0, "warning": 1, "critical": 2}.get(severity, 1)


def channel_from_spec(spec: str | Channel) -> Channel:
    """A channel from its string form (see the module docstring).

    Raises:
        InvalidMonitoringInputError: The string names no known channel, or is incomplete.
    """
    if isinstance(spec, Channel):
        return spec
    text = str(spec).strip()
    if text == "log":
        return LogChannel()
    for prefix, cls in (
        ("webhook+", WebhookChannel),
        ("slack+", SlackChannel),
        ("alertmanager+", AlertmanagerChannel),
    ):
        if text.startswith(prefix):
            return cls(text[len(prefix) :])
    if text.startswith(("smtp://", "smtps://")):
        parts = urlsplit(text)
        query = parse_qs(parts.query)
        to = [r for v in query.get("to", []) for r in v.split(",") if r]
        sender = (query.get("from") or [""])[0]
        if not parts.hostname or not to or not sender:
            raise InvalidMonitoringInputError(
                f"email channel {text!r} needs a host, from= and to=: "
                "smtp://user:password@host:587?from=a@x.org&to=b@x.org"
            )
        return EmailChannel(
            parts.hostname,
            parts.port or (465 if parts.scheme == "smtps" else 25),
            sender,
            to,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            starttls=(query.get("starttls") or ["false"])[0].lower() == "true",
            use_ssl=parts.scheme == "smtps",
        )
    raise InvalidMonitoringInputError(
        f"unknown alert channel {text!r}; use 'log', 'webhook+URL', 'slack+URL', "
        "'alertmanager+URL' or 'smtp://user:password@host:port?from=...&to=...'"
    )


def dumps(alerts: Sequence[Alert]) -> str:
    return json.dumps([alert_dict(a) for a in alerts], indent=2)
