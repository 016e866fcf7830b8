"""``generate_report``: one self-contained HTML file (and JSON) about a model's monitoring.

Sections: the drift check (verdict, per-column table, reference vs current distribution per
column), drift share over time, performance over time and the alert history, the last three
read from the store. Charts are inline SVG (``charts.py``), so the file opens offline.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlops.monitoring import charts
from mlops.monitoring.drift import DriftDetector
from mlops.monitoring.frames import as_frame
from mlops.monitoring.results import DriftResult
from mlops.monitoring.stattests import N_BINS
from mlops.monitoring.summaries import ColumnSummary, numeric_values

if TYPE_CHECKING:
    from mlops.config import MLOpsConfig
    from mlops.models.entities import ModelVersion
    from mlops.monitoring.entities import Alert, WindowResult

TOP_CATEGORIES = 15


@dataclass
class Report:
    """A rendered report: ``html`` and the data behind it (``to_json``)."""

    title: str
    html: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(self.data, indent=2, default=str)

    def save(self, path: str | Path) -> Path:
        """Write HTML (``.html``) or JSON (``.json``) by the file's extension."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = self.to_json() if target.suffix.lower() == ".json" else self.html
        target.write_text(text, encoding="utf-8")
        return target


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return _esc(value)


def distribution_chart(summary: ColumnSummary, current: pd.Series) -> str:
    """Reference vs current shares: 30 bins for numbers, the top categories otherwise."""
    if summary.kind == "numeric" and not summary.counts:
        values = numeric_values(current, summary.name)
        values = values[np.isfinite(values)]
        if values.size == 0 or summary.sample.size == 0:
            return ""
        lo = min(summary.sample[0], values.min())
        hi = max(summary.sample[-1], values.max())
        edges = np.histogram_bin_edges(np.array([lo, hi]), bins=N_BINS)
        ref = np.diff(np.searchsorted(summary.sample, edges, side="left")).astype(float)
        ref[-1] += summary.sample.size - np.searchsorted(summary.sample, edges[-1], side="left")
        cur = np.histogram(values, edges)[0].astype(float)
        labels = [f"{e:.3g}" for e in edges[:-1]]
        return charts.paired_bars(
            labels, list(ref / ref.sum()), list(cur / max(cur.sum(), 1)), summary.name
        )
    if summary.kind == "numeric":
        keys = sorted(summary.counts, key=float)
        cur_counts = pd.Series(numeric_values(current, summary.name)).dropna().value_counts()
        cur_map = {repr(float(str(k))): int(v) for k, v in cur_counts.items()}
    else:
        keys = sorted(summary.counts, key=lambda k: -summary.counts[k])
        cur_map = {str(k): int(v) for k, v in current.dropna().value_counts().items()}
        keys += [k for k in sorted(cur_map, key=lambda k: -cur_map[k]) if k not in summary.counts]
    keys = keys[:TOP_CATEGORIES]
    total_ref = sum(summary.counts.values()) or 1
    total_cur = sum(cur_map.values()) or 1
    return charts.paired_bars(
        keys,
        [summary.counts.get(k, 0) / total_ref for k in keys],
        [cur_map.get(k, 0) / total_cur for k in keys],
        summary.name,
    )


def _drift_section(
    result: DriftResult, detector: DriftDetector | None, current: pd.DataFrame | None
) -> str:
    verdict = "DRIFT" if result.dataset_drift else "no drift"
    parts = [
        f'<h2>Drift check: <span class="{"bad" if result.dataset_drift else "ok"}">{verdict}'
        f"</span></h2><p>{result.number_of_drifted_columns} of {len(result.columns)} columns "
        f"drifted (share {result.drift_share:.2%}; the dataset drifts above "
        f"{result.alert_threshold:.0%}) over {result.n_rows:,} rows.</p>",
        "<table><tr><th>column</th><th>type</th><th>test</th><th>statistic</th><th>p-value</th>"
        "<th>score</th><th>threshold</th><th>drifted</th><th>missing (ref / cur)</th>"
        "<th>note</th></tr>",
    ]
    for c in result.columns.values():
        parts.append(
            f'<tr class="{"bad" if c.drifted else ""}"><td>{_esc(c.column)}</td>'
            f"<td>{c.kind}</td><td>{_esc(c.stattest)}</td><td>{_fmt(c.statistic)}</td>"
            f"<td>{_fmt(c.p_value)}</td><td>{_fmt(c.score)}</td><td>{_fmt(c.threshold)}</td>"
            f"<td>{'yes' if c.drifted else 'no'}</td>"
            f"<td>{c.missing_share_reference:.1%} / {c.missing_share_current:.1%}</td>"
            f"<td>{_esc(c.note or '')}</td></tr>"
        )
    parts.append("</table>")
    if result.multivariate is not None:
        m = result.multivariate
        parts.append(
            f"<p>Domain classifier: ROC AUC {m.auc:.3f} (p={m.p_value:.3g}) - "
            f"{'drift' if m.drifted else 'no drift'}; most telling columns: "
            f"{_esc(', '.join(f'{n} ({a:.2f})' for n, a in m.top_features))}</p>"
        )
    if detector is not None and current is not None:
        parts.append("<h3>Reference vs current</h3><div class='grid'>")
        for summary in detector.reference_:
            if summary.name in current.columns:
                parts.append(f"<div>{distribution_chart(summary, current[summary.name])}</div>")
        parts.append("</div>")
    return "".join(parts)


def _history_sections(results: Sequence[WindowResult], alerts: Sequence[Alert]) -> str:
    drift = [r for r in results if r.kind == "drift"]
    perf = [r for r in results if r.kind == "performance"]
    parts = ["<h2>Drift over time</h2>"]
    threshold = drift[-1].payload.get("alert_threshold") if drift else None
    parts.append(
        charts.lines(
            [r.window_end for r in drift],
            {"drift share": [r.score for r in drift]},
            "drift share per window",
            threshold=threshold,
        )
    )
    parts.append("<h2>Performance over time</h2>")
    names = sorted({k for r in perf for k in r.payload["metrics"]})
    quality = [n for n in names if not n.startswith("latency") and n != "throughput"]
    latency = [n for n in names if n.startswith("latency_")]
    times = [r.window_end for r in perf]
    parts.append(
        charts.lines(
            times,
            {n: [r.payload["metrics"].get(n) for r in perf] for n in quality},
            "quality metrics per window",
        )
    )
    if latency:
        parts.append(
            charts.lines(
                times,
                {n: [r.payload["metrics"].get(n) for r in perf] for n in latency},
                "latency per window (seconds)",
            )
        )
    parts.append(
        "<h2>Alert history</h2><table><tr><th>id</th><th>rule</th><th>severity</th>"
        "<th>status</th><th>since</th><th>resolved</th><th>count</th><th>message</th>"
        "<th>deliveries</th></tr>"
    )
    for a in alerts:
        deliveries = ", ".join(f"{d.channel.split(':')[0]} {d.status}" for d in a.deliveries)
        parts.append(
            f'<tr class="{"bad" if a.status == "firing" else ""}"><td>{a.id}</td>'
            f"<td>{_esc(a.rule)}</td><td>{a.severity}</td><td>{a.status}</td>"
            f"<td>{_when(a.started_at)}</td><td>{_when(a.resolved_at)}</td><td>{a.count}</td>"
            f"<td>{_esc(a.message)}</td><td>{_esc(deliveries)}</td></tr>"
        )
    parts.append("</table>")
    return "".join(parts)


STYLE = """body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1150px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 7px;
font-size:12px;text-align:left}tr.bad td{background:#fde8e8}.bad{color:#c0392b}.ok{color:#27ae60}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:8px}"""


def render(title: str, sections: Sequence[str]) -> str:
    """A complete HTML page around ``sections``."""
    stamp = datetime.now(tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{_esc(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{_esc(title)}</h1>"
        f"<p>Generated {stamp} by mlops.</p>{''.join(sections)}</body></html>"
    )


def generate_report(
    reference_data: Any = None,
    current_data: Any = None,
    *,
    detector: DriftDetector | None = None,
    result: DriftResult | None = None,
    model_version: ModelVersion | str | None = None,
    config: MLOpsConfig | None = None,
    output: str | Path | None = None,
    title: str | None = None,
) -> Report:
    """Build the report; with ``output`` also write it (HTML or JSON by extension).

    Give data (``reference_data`` and ``current_data``, or a ``detector`` and
    ``current_data``) for a drift check with distributions, a ``result`` to show one, and a
    ``model_version`` for its stored history and alerts.
    """
    sections = []
    data: dict[str, Any] = {}
    current = None
    if detector is None and reference_data is not None:
        detector = DriftDetector(reference_data, persist=False)
    if current_data is not None:
        if detector is None:
            from mlops.monitoring.units import InvalidMonitoringInputError

            raise InvalidMonitoringInputError(
                "a report on current_data needs reference_data or a detector to compare with"
            )
        current = as_frame(current_data, "current_data", None)
        result = result or detector.check(current)
    if result is not None:
        sections.append(_drift_section(result, detector, current))
        data["drift"] = result.to_dict()
    if model_version is not None:
        from mlops.monitoring.store import monitoring_store

        store = monitoring_store(config)
        name, version = store.resolve_version(model_version)
        results = store.list_results(model=name, version=version)
        alerts = [
            a
            for a in store.list_alerts(model=name)
            if version is None or a.model_version in (None, version)
        ]
        sections.append(_history_sections(results, alerts))
        data["history"] = [
            {
                "kind": r.kind,
                "monitor": r.monitor,
                "window_start": r.window_start,
                "window_end": r.window_end,
                "flagged": r.flagged,
                "payload": r.payload,
            }
            for r in results
        ]
        data["alerts"] = [
            {
                "id": a.id,
                "rule": a.rule,
                "status": a.status,
                "severity": a.severity,
                "message": a.message,
            }
            for a in alerts
        ]
        title = title or f"Monitoring report: {name}" + (f" v{version}" if version else "")
    report = Report(title or "Drift report", render(title or "Drift report", sections), data)
    if output is not None:
        report.save(output)
    return report
