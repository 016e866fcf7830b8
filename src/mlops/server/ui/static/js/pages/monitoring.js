// Monitoring: every monitored model version with its newest verdicts, and one version's page:
// the latest window of each monitor, its drifted columns, drift share over the windows, and the
// open alerts (with an Acknowledge button for editors of the model).

import * as api from "../api.js";
import { lineChart } from "../chart.js";
import { card, errorBox, formatNumber, h, show } from "../dom.js";
import { canEditModel } from "../roles.js";

const NO_VERSION = "-";
const versionHref = (model, version) =>
  `#/monitoring/${encodeURIComponent(model)}/${version ?? NO_VERSION}`;

// Window bounds are epoch seconds.
function formatWindow(start, end) {
  const d = (s) => new Date(s * 1000).toISOString().slice(0, 16).replace("T", " ");
  return `${d(start)} → ${d(end).slice(11)}`;
}

function verdict(result) {
  const bad = result.flagged;
  const word = result.kind === "drift" ? (bad ? "drift" : "no drift") : (bad ? "breached" : "ok");
  return h(`span.badge.${bad ? "verdict-bad" : "verdict-ok"}`, {}, word);
}

export async function monitoringPage(ctx) {
  const { items } = await api.get("/monitoring/models");
  if (ctx.stale()) return;
  const body = items.length
    ? h("table.grid.monitored", {},
      h("thead", {}, h("tr", {}, ["Model", "Version", "Monitors", "Newest window", "Open alerts"].map((t) => h("th", {}, t)))),
      h("tbody", {}, items.map((m) => h("tr", { dataset: { model: m.model, version: m.version ?? NO_VERSION } },
        h("td", {}, h("a", { href: versionHref(m.model, m.version) }, m.model)),
        h("td", {}, m.version === null ? h("span.muted", {}, "—") : `v${m.version}`),
        h("td", {}, m.monitors.map((r) => h("span.monitor", {}, `${r.monitor} `, verdict(r)))),
        h("td.time", {}, m.monitors.length ? formatWindow(...newestBounds(m.monitors)) : ""),
        h("td.num", {}, m.open_alerts ? h("b.alert-count", {}, m.open_alerts) : "0")))))
    : h("p.muted", {}, "Nothing is monitored yet. Attach a ", h("code", {}, "DriftDetector"),
      " or a ", h("code", {}, "PerformanceMonitor"), " to a registered model version.");
  show(ctx.main, h("div.page-head", {}, h("h1", {}, "Monitoring"), h("span.muted", {}, `${items.length} model versions`)),
    card(null, body));
}

function newestBounds(monitors) {
  const newest = monitors.reduce((a, b) => (b.window_end > a.window_end ? b : a));
  return [newest.window_start, newest.window_end];
}

function driftChart(results) {
  const drift = results.filter((r) => r.kind === "drift").reverse(); // oldest first
  if (drift.length < 2) return h("p.muted", {}, "The chart needs two drift windows or more.");
  const monitors = [...new Set(drift.map((r) => r.monitor))];
  const series = monitors.map((name, i) => {
    const mine = drift.filter((r) => r.monitor === name);
    return {
      name,
      color: ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2"][i % 4],
      xs: mine.map((r) => (r.window_end - drift[0].window_end) / 3600),
      ys: mine.map((r) => r.score),
    };
  });
  return lineChart(series, { xLabel: "hours since the first window shown", yLabel: "drift share", height: 260 });
}

function latestTable(results) {
  const latest = new Map();
  for (const r of results) if (!latest.has(`${r.monitor}/${r.kind}`)) latest.set(`${r.monitor}/${r.kind}`, r);
  return h("table.grid.latest", {},
    h("thead", {}, h("tr", {}, ["Monitor", "Kind", "Window", "Rows", "Verdict", "Drift share", "Drifted columns"].map((t) => h("th", {}, t)))),
    h("tbody", {}, [...latest.values()].map((r) => h("tr", { dataset: { monitor: r.monitor } },
      h("td", {}, r.monitor), h("td", {}, r.kind), h("td.time", {}, formatWindow(r.window_start, r.window_end)),
      h("td.num", {}, formatNumber(r.n_rows)), h("td", {}, verdict(r)),
      h("td.num", {}, r.score === null ? "" : formatNumber(r.score)),
      h("td.drifted", {}, (r.payload.drifted_columns || []).map((c) => h("span.badge.verdict-bad", {}, c)))))));
}

function columnsTable(result) {
  const columns = Object.values(result.payload.columns || {});
  return h("table.grid.columns-drift", {},
    h("thead", {}, h("tr", {}, ["Column", "Test", "Score", "Threshold", "Verdict", "Note"].map((t) => h("th", {}, t)))),
    h("tbody", {}, columns.map((c) => h("tr", { class: c.drifted ? "differs" : "" },
      h("td", {}, c.column), h("td", {}, c.stattest), h("td.num", {}, formatNumber(c.score)),
      h("td.num", {}, formatNumber(c.threshold)),
      h("td", {}, h(`span.badge.${c.drifted ? "verdict-bad" : "verdict-ok"}`, {}, c.drifted ? "drifted" : "stable")),
      h("td.muted", {}, c.note || "")))));
}

export async function monitoredVersionPage(ctx, model, versionText, flash = null) {
  const version = versionText === NO_VERSION ? null : versionText;
  const path = `/monitoring/models/${encodeURIComponent(model)}/results`;
  const [results, alerts] = await Promise.all([
    api.get(`${path}${api.query({ version, limit: 200 })}`),
    api.get(`/monitoring/alerts${api.query({ model, status: "open" })}`),
  ]);
  if (ctx.stale()) return;
  const items = results.items;
  const mine = alerts.items.filter((a) => version === null || String(a.model_version) === version);
  const message = h("div.flash", { role: "status" }, flash ? h("p", {}, flash) : null);
  const canAck = canEditModel(ctx.me, model);

  async function act(what, call) {
    show(message, h("p.muted", {}, "Working…"));
    try {
      await call();
      await monitoredVersionPage(ctx, model, versionText, what);
    } catch (exc) {
      show(message, errorBox(exc));
    }
  }

  const alertsBody = mine.length
    ? h("table.grid.alerts", {},
      h("thead", {}, h("tr", {}, ["#", "Rule", "Severity", "Status", "Message", "Seen", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, mine.map((a) => h("tr", { dataset: { alert: a.id } },
        h("td.num", {}, a.id), h("td", {}, a.rule), h("td", {}, h(`span.badge.severity-${a.severity}`, {}, a.severity)),
        h("td", {}, a.status, a.acked_by ? h("span.muted", {}, ` by ${a.acked_by}`) : null),
        h("td.wrap", {}, a.message), h("td.num", {}, `${a.count}×`),
        h("td.actions", {}, canAck && a.status !== "acknowledged"
          ? h("button.small", {
            onclick: () => act(`Alert #${a.id} acknowledged.`, () => api.post(`/monitoring/alerts/${a.id}/acknowledge`, {})),
          }, "Acknowledge")
          : null)))))
    : h("p.muted", {}, "No open alerts.");

  const newestDrift = items.find((r) => r.kind === "drift");
  show(ctx.main,
    h("nav.crumbs", {}, h("a", { href: "#/monitoring" }, "Monitoring"), " / ", model, version === null ? "" : ` / v${version}`),
    h("div.page-head", {}, h("h1", {}, version === null ? model : `${model} v${version}`),
      h("span.muted", {}, `${items.length} windows shown`),
      h("span.spacer"), h("a", { href: `#/models/${encodeURIComponent(model)}` }, "Model page")),
    message,
    items.length ? null : h("p.muted", {}, "No closed windows for this version yet."),
    items.length ? card("Latest windows", h("div.table-scroll", {}, latestTable(items))) : null,
    card("Drift share over windows", driftChart(items)),
    newestDrift ? card("Columns of the newest drift window", h("div.table-scroll", {}, columnsTable(newestDrift))) : null,
    card(`Open alerts (${mine.length})`, alertsBody),
  );
}
