// Deployments: every recorded rollout, and one rollout's page: the new version's share of
// traffic over time, and each step, gate verdict (with what it measured), promotion and
// rollback in order. Read-only: rollouts are run and rolled back by `mlops deploy` and
// `mlops deployments rollback`.

import * as api from "../api.js";
import { lineChart } from "../chart.js";
import { card, formatDuration, formatTime, h, show, shortId } from "../dom.js";

const deploymentHref = (d) => `#/deployments/${encodeURIComponent(d.id)}`;
const modelHref = (name) => `#/models/${encodeURIComponent(name)}`;
const STATUS_CLASS = { succeeded: "finished", rolled_back: "failed", failed: "failed", running: "running" };

function statusBadge(status) {
  return h(`span.badge.status-${STATUS_CLASS[status] || "stopped"}`, {}, status.replace("_", " "));
}

function versionText(d) {
  const now = d.model_version === null ? "?" : `v${d.model_version}`;
  return d.previous_version === null ? now : `v${d.previous_version} → ${now}`;
}

export async function deploymentsPage(ctx) {
  const { items } = await api.get(`/deployments${api.query({ limit: 200 })}`);
  if (ctx.stale()) return;
  const body = items.length
    ? h("table.grid.deployments", {},
      h("thead", {}, h("tr", {}, ["Deployment", "Model", "Version", "Target", "Strategy", "Status", "Started", "Took"]
        .map((t) => h("th", {}, t)))),
      h("tbody", {}, items.map((d) => h("tr", { dataset: { deployment: d.id } },
        h("td", {}, h("a", { href: deploymentHref(d) }, d.name), h("span.muted", {}, ` ${shortId(d.id)}`)),
        h("td", {}, h("a", { href: modelHref(d.model_name) }, d.model_name)),
        h("td", {}, versionText(d)),
        h("td", {}, d.target), h("td", {}, d.strategy), h("td", {}, statusBadge(d.status)),
        h("td.time", {}, formatTime(d.created_at)),
        h("td.time", {}, formatDuration(d.created_at, d.finished_at))))))
    : h("p.muted", {}, "No deployments yet. Roll a version out with ", h("code", {}, "mlops deploy models:/NAME/VERSION"), ".");
  show(ctx.main, h("div.page-head", {}, h("h1", {}, "Deployments"), h("span.muted", {}, `${items.length} shown`)),
    card(null, body));
}

// The new version's traffic share after each event, as a step line from the start.
function trafficChart(d) {
  const start = d.created_at;
  const xs = [];
  const ys = [];
  let share = 0;
  for (const e of d.events) {
    if (e.traffic === null || e.traffic === undefined) continue;
    const seconds = (e.at - start) / 1000;
    xs.push(seconds, seconds);
    ys.push(share, e.traffic);
    share = e.traffic;
  }
  if (!xs.length) return h("p.muted", {}, "No traffic step was recorded.");
  const end = ((d.finished_at || d.updated_at) - start) / 1000;
  xs.push(end);
  ys.push(share);
  return lineChart([{ name: `v${d.model_version} share of traffic (%)`, color: "#4e79a7", xs, ys }],
    { xLabel: "seconds since the deployment started", yLabel: "traffic %", height: 240 });
}

function detailText(detail) {
  const entries = Object.entries(detail || {}).filter(([, v]) => v !== null && v !== undefined);
  return entries.map(([k, v]) => `${k}=${typeof v === "number" ? Number(v.toPrecision(4)) : JSON.stringify(v)}`).join("  ");
}

export async function deploymentPage(ctx, id) {
  const d = await api.get(`/deployments/${encodeURIComponent(id)}`);
  if (ctx.stale()) return;
  const head = h("div.page-head", {}, h("h1", {}, d.name), statusBadge(d.status),
    h("span.muted", {}, ` ${d.strategy} on ${d.target} · `, h("a", { href: modelHref(d.model_name) }, d.model_name),
      ` ${versionText(d)} · started ${formatTime(d.created_at)} by ${d.created_by}`));
  const events = h("table.grid.events", {},
    h("thead", {}, h("tr", {}, ["Time", "Event", "Traffic", "Verdict", "Message", "Measured"].map((t) => h("th", {}, t)))),
    h("tbody", {}, d.events.map((e) => h("tr", { dataset: { kind: e.kind }, class: e.passed === false ? "differs" : "" },
      h("td.time", {}, formatTime(e.at)), h("td", {}, e.kind.replace("_", " ")),
      h("td.num", {}, e.traffic === null ? "" : `${e.traffic}%`),
      h("td", {}, e.passed === null ? "" : h(`span.badge.${e.passed ? "verdict-ok" : "verdict-bad"}`, {}, e.passed ? "passed" : "failed")),
      h("td.wrap", {}, e.message || ""), h("td.muted.wrap", {}, detailText(e.detail))))));
  show(ctx.main, head,
    d.message ? card(null, h("p", {}, d.message)) : null,
    card("Traffic to the new version", trafficChart(d)),
    card(`Events (${d.events.length})`, events));
}
