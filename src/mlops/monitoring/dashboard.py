"""``MonitoringDashboard``: the monitoring views as HTML pages, and the Grafana dashboard.

Pages are rendered from the store (the same sections as ``generate_report``), so the server's
web UI can serve them as they are; the Grafana dashboard (shipped in ``grafana/``) charts the
Prometheus metrics of ``prometheus.py``.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.monitoring import reports

if TYPE_CHECKING:
    from mlops.config import MLOpsConfig

GRAFANA_FILE = "mlops-monitoring.json"


class MonitoringDashboard:
    """Views of every monitored model (``index``) and of one model version (``model_page``)."""

    def __init__(self, config: MLOpsConfig | None = None):
        self.config = config

    def index(self) -> str:
        """One row per monitor: model, kind, newest window and its verdict, open alerts."""
        from mlops.monitoring.store import monitoring_store

        store = monitoring_store(self.config)
        newest: dict[tuple[str, str], Any] = {}
        for r in store.list_results(limit=5000):
            newest[(r.monitor, r.kind)] = r
        open_alerts = store.list_alerts(status=["pending", "firing", "acknowledged"])
        rows = [
            "<table><tr><th>model</th><th>version</th><th>monitor</th><th>kind</th>"
            "<th>newest window</th><th>rows</th><th>status</th></tr>"
        ]
        for (monitor, kind), r in sorted(newest.items()):
            status = "flagged" if r.flagged else "ok"
            rows.append(
                f'<tr class="{"bad" if r.flagged else ""}"><td>{reports._esc(r.model_name)}</td>'
                f"<td>{r.model_version or '-'}</td><td>{reports._esc(monitor)}</td><td>{kind}</td>"
                f"<td>{reports._when(r.window_end)}</td><td>{r.n_rows:,}</td><td>{status}</td></tr>"
            )
        rows.append("</table>")
        summary = f"<p>{len(open_alerts)} open alert(s).</p>"
        return reports.render("Model monitoring", [summary, "".join(rows)])

    def model_page(self, model_version: str) -> str:
        """Drift and performance over time and the alert history of one model version."""
        return reports.generate_report(model_version=model_version, config=self.config).html

    @staticmethod
    def grafana_dashboard() -> dict[str, Any]:
        """The Grafana dashboard JSON for the monitoring metrics (import it in Grafana)."""
        text = resources.files("mlops.monitoring").joinpath("grafana", GRAFANA_FILE).read_text()
        data: dict[str, Any] = json.loads(text)
        return data

    def save(self, folder: str | Path) -> list[Path]:
        """Write ``index.html``, one page per monitored model version and the Grafana JSON."""
        from mlops.monitoring.store import monitoring_store

        target = Path(folder)
        target.mkdir(parents=True, exist_ok=True)
        written = [target / "index.html"]
        written[0].write_text(self.index(), encoding="utf-8")
        seen = set()
        for r in monitoring_store(self.config).list_results(limit=5000):
            if r.model_name is None:
                continue
            ref = r.model_name + (f"/{r.model_version}" if r.model_version else "")
            if ref in seen:
                continue
            seen.add(ref)
            page = target / f"{ref.replace('/', '-v')}.html"
            page.write_text(self.model_page(ref), encoding="utf-8")
            written.append(page)
        grafana = target / GRAFANA_FILE
        grafana.write_text(json.dumps(self.grafana_dashboard(), indent=2), encoding="utf-8")
        written.append(grafana)
        return written
