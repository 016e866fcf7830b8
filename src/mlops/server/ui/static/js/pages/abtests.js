// A/B tests: every test with its status and stored verdict, and one test's page: the verdict,
// per-variant values, each metric's comparison with its confidence interval drawn against zero,
// the sample-ratio check, and the sequential test's z-values against their boundaries. Editors
// can analyze again (which stores the new result) and stop a running test.

import * as api from "../api.js";
import { color, lineChart } from "../chart.js";
import { card, errorBox, formatMetric, formatNumber, formatTime, h, show, svg } from "../dom.js";
import { canEditGlobal } from "../roles.js";

const testHref = (name) => `#/abtests/${encodeURIComponent(name)}`;
const pct = (share) => `${Math.round(share * 1000) / 10}%`;

function verdictBadge(verdict) {
  if (!verdict) return h("span.badge", {}, "not analyzed");
  const bad = verdict.status === "srm_mismatch";
  const good = verdict.status === "winner";
  return h(`span.badge.verdict-${bad ? "bad" : good ? "ok" : "none"}`, {},
    good ? `winner: ${verdict.winner}` : verdict.status);
}

export async function abtestsPage(ctx) {
  const { items } = await api.get("/abtests");
  if (ctx.stale()) return;
  const body = items.length
    ? h("table.grid.abtests", {},
      h("thead", {}, h("tr", {}, ["Test", "Status", "Split", "Metrics", "Verdict", "Created"].map((t) => h("th", {}, t)))),
      h("tbody", {}, items.map((t) => h("tr", { dataset: { test: t.name } },
        h("td", {}, h("a", { href: testHref(t.name) }, t.name)),
        h("td", {}, h(`span.badge.status-${t.status}`, {}, t.status)),
        h("td", {}, Object.entries(t.variants).map(([v, s]) => h("span.badge", {}, `${v} ${pct(s)}`))),
        h("td", {}, t.metrics.join(", ")),
        h("td", {}, verdictBadge(t.result && t.result.verdict)),
        h("td.time", {}, formatTime(t.created_at))))))
    : h("p.muted", {}, "No A/B tests yet. Create one with ", h("code", {}, "mlops abtest create"),
      " or ", h("code", {}, "ABTestFramework(...)"), ".");
  show(ctx.main, h("div.page-head", {}, h("h1", {}, "A/B tests"), h("span.muted", {}, `${items.length} tests`)),
    card(null, body));
}

function variantsTable(result) {
  const variants = Object.values(result.variants);
  const metrics = [...new Set(variants.flatMap((v) => Object.keys(v.metrics)))];
  return h("table.grid.variants", {},
    h("thead", {}, h("tr", {}, ["Variant", "Units", ...metrics].map((t) => h("th", {}, t)))),
    h("tbody", {}, variants.map((v) => h("tr", { dataset: { variant: v.name } },
      h("td", {}, v.name, v.name === result.control_variant ? h("span.muted", {}, " (control)") : null),
      h("td.num", {}, formatNumber(v.units)),
      metrics.map((m) => h("td.num", {}, formatMetric(v.metrics[m])))))));
}

// One comparison's interval against zero, on its own scale (metrics have different units).
function intervalPlot(c, width = 220, height = 22) {
  const lo = Math.min(c.ci_low, 0);
  const hi = Math.max(c.ci_high, 0);
  const span = hi - lo || 1;
  const x = (v) => 8 + ((v - lo) / span) * (width - 16);
  const better = c.higher_is_better ? c.difference > 0 : c.difference < 0;
  const stroke = c.significant ? (better ? "#1d7a3a" : "#b42626") : "#6b7280";
  return svg("svg", { class: "interval", width, height, viewBox: `0 0 ${width} ${height}` },
    svg("line", { x1: x(0), x2: x(0), y1: 2, y2: height - 2, stroke: "#c0c4cc", "stroke-dasharray": "3 2" }),
    svg("line", { x1: x(c.ci_low), x2: x(c.ci_high), y1: height / 2, y2: height / 2, stroke, "stroke-width": 3 }),
    svg("circle", { cx: x(c.difference), cy: height / 2, r: 4, fill: stroke }),
    svg("title", {}, `${formatMetric(c.difference)} [${formatMetric(c.ci_low)}, ${formatMetric(c.ci_high)}]`));
}

function comparisonsTable(result) {
  return h("table.grid.comparisons", {},
    h("thead", {}, h("tr", {}, ["Metric", "Treatment", "Test", "Difference", "95% interval (0 dashed)", "p", "Adjusted p",
      "P(beats control)", ""].map((t) => h("th", {}, t)))),
    h("tbody", {}, result.comparisons.map((c) => h("tr", { dataset: { metric: c.metric, treatment: c.treatment } },
      h("td", {}, c.metric, c.metric === result.primary_metric ? h("span.muted", {}, " (primary)") : null),
      h("td", {}, c.treatment), h("td", {}, c.test),
      h("td.num", {}, formatMetric(c.difference)),
      h("td", {}, intervalPlot(c)),
      h("td.num", {}, formatNumber(c.p_value)), h("td.num", {}, formatNumber(c.adjusted_p_value)),
      h("td.num", {}, c.prob_beat === null ? "" : pct(c.prob_beat)),
      h("td", {}, c.significant ? h("span.badge.verdict-ok", {}, "significant") : h("span.muted", {}, "–"))))));
}

function srmCard(srm) {
  if (!srm) return null;
  const rows = Object.keys(srm.observed).map((v) => [v, srm.observed[v], srm.expected[v]]);
  return card("Sample ratio", [
    h("p", {}, srm.mismatch
      ? h("span.badge.verdict-bad", {}, "mismatch: the verdict is blocked")
      : h("span.badge.verdict-ok", {}, "consistent with the split"),
    h("span.muted", {}, ` χ² = ${formatNumber(srm.statistic)}, p = ${formatNumber(srm.p_value)}`)),
    h("table.grid.srm", {},
      h("thead", {}, h("tr", {}, ["Variant", "Observed units", "Expected"].map((t) => h("th", {}, t)))),
      h("tbody", {}, rows.map(([v, o, e]) => h("tr", {}, h("td", {}, v), h("td.num", {}, formatNumber(o)),
        h("td.num", {}, formatNumber(Math.round(e))))))),
  ]);
}

function sequentialCard(sequential) {
  const looked = (sequential || []).filter((s) => s.z_values.length);
  if (!looked.length) {
    return card("Sequential test", h("p.muted", {}, "No daily look yet: the first comes after one day of outcomes."));
  }
  const series = looked.flatMap((s, i) => [
    { name: `${s.treatment}: |z|`, color: color(i), xs: s.fractions, ys: s.z_values.map(Math.abs) },
    { name: `${s.treatment}: boundary (${s.method})`, color: "#9ca3af", xs: s.fractions, ys: s.bounds },
  ]);
  const crossed = looked.filter((s) => s.crossed_at !== null && s.crossed_at !== undefined);
  return card("Sequential test", [
    h("p.muted", {}, crossed.length
      ? `Crossed a boundary: ${crossed.map((s) => `${s.treatment} at look ${s.crossed_at + 1}`).join(", ")}.`
      : "No boundary crossed yet."),
    lineChart(series, { xLabel: "information fraction (share of the planned duration)", yLabel: "|z|", height: 260 }),
  ]);
}

export async function abtestPage(ctx, name, flash = null) {
  const test = await api.get(`/abtests/${encodeURIComponent(name)}`);
  if (ctx.stale()) return;
  const message = h("div.flash", { role: "status" }, flash ? h("p", {}, flash) : null);
  const editor = canEditGlobal(ctx.me);

  async function act(what, call) {
    show(message, h("p.muted", {}, "Working…"));
    try {
      await call();
      await abtestPage(ctx, name, what);
    } catch (exc) {
      show(message, errorBox(exc));
    }
  }

  const path = `/abtests/${encodeURIComponent(name)}`;
  const actions = editor
    ? [h("button.small.analyze", { onclick: () => act("Analyzed.", () => api.post(`${path}/analyze`)) }, "Analyze now"),
      test.status === "running"
        ? h("button.small.stop", { onclick: () => act("Stopped.", () => api.post(`${path}/stop`)) }, "Stop")
        : null]
    : null;
  const result = test.result;
  const head = h("div.page-head", {}, h("h1", {}, test.name),
    h(`span.badge.status-${test.status}`, {}, test.status),
    h("span.muted", {}, ` ${test.duration_days} days planned · created ${formatTime(test.created_at)} by ${test.created_by}`));
  const plan = card("Plan", h("table.kv", {}, h("tbody", {},
    h("tr", {}, h("th", {}, "Split"), h("td", {}, Object.entries(test.variants).map(([v, s]) =>
      h("span.badge", {}, `${v} ${pct(s)}`, test.models[v] ? h("span.muted", {}, ` ${test.models[v]}`) : null)))),
    h("tr", {}, h("th", {}, "Metrics"), h("td", {}, test.metrics.join(", "))),
    test.description ? h("tr", {}, h("th", {}, "Description"), h("td", {}, test.description)) : null)), actions);
  if (!result) {
    show(ctx.main, head, message, plan, card("Result", h("p.muted", {}, "Not analyzed yet.")));
    return;
  }
  const verdict = card("Verdict", [
    h("p", {}, verdictBadge(result.verdict), " ", result.verdict.reason),
    h("p.muted", {}, `Analyzed ${formatTime(result.analyzed_at)} · alpha ${result.alpha} · ${result.correction} correction · ${result.mode}`),
  ]);
  show(ctx.main, head, message, plan, verdict,
    card("Variants", variantsTable(result)),
    card("Metrics", comparisonsTable(result)),
    srmCard(result.srm),
    sequentialCard(result.sequential));
}
