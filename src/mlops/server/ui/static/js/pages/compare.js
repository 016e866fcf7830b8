// Runs side by side: overlaid metric curves by step, a param-vs-metric scatter and a diff table.

import * as api from "../api.js";
import { setParams } from "../app.js";
import { color, lineChart, scatterChart } from "../chart.js";
import { card, errorBox, formatMetric, h, shortId, show } from "../dom.js";

function union(runs, field) {
  return [...new Set(runs.flatMap((r) => Object.keys(r[field])))].sort();
}

function select(label, options, value, onchange) {
  return h("label.inline", {}, `${label} `, h("select", { onchange: (e) => onchange(e.target.value), "aria-label": label },
    options.map((o) => h("option", { value: o, selected: o === value }, o))));
}

function same(values) {
  return values.every((v) => v === values[0]);
}

function diffTable(runs, labels) {
  const onlyDiff = h("input", { type: "checkbox", "aria-label": "only differences" });
  const holder = h("div.table-scroll");
  const rowsFor = (kind, field, format) => union(runs, field).map((key) => {
    const values = runs.map((r) => r[field][key]);
    return { kind, key, values, format, differs: !same(values.map(String)) };
  });
  const all = [...rowsFor("param", "params", (v) => v ?? ""), ...rowsFor("metric", "metrics", formatMetric)];
  const draw = () => {
    const rows = all.filter((r) => !onlyDiff.checked || r.differs);
    show(holder, h("table.grid.diff", {},
      h("thead", {}, h("tr", {}, h("th", {}, ""), h("th", {}, "Key"),
        runs.map((r, i) => h("th", {}, h("span.swatch", { style: `background:${color(i)}` }), h("a", { href: `#/runs/${r.id}` }, labels[i]))))),
      h("tbody", {}, rows.map((r) => h(r.differs ? "tr.differs" : "tr", {},
        h("td.muted", {}, r.kind), h("th", { scope: "row" }, r.key),
        r.values.map((v) => h(r.kind === "metric" ? "td.num" : "td", {}, r.format(v))))))));
  };
  onlyDiff.addEventListener("change", draw);
  draw();
  return card("Parameters and metrics", holder, h("label.inline", {}, onlyDiff, " only differences"));
}

export async function comparePage(ctx) {
  const ids = (ctx.params.get("runs") || "").split(",").filter(Boolean);
  if (ids.length < 2) throw new api.ApiError(400, "InvalidInputError", "choose at least two runs to compare (tick them in a runs table)");
  const { items: runs } = await api.post("/runs/get", { run_ids: ids });
  if (ctx.stale()) return;
  // Names repeat across runs; the short id tells them apart.
  const names = runs.map((r) => r.name || shortId(r.id));
  const labels = names.map((n, i) => (names.indexOf(n) !== names.lastIndexOf(n) ? `${n} (${shortId(runs[i].id)})` : n));
  const metricKeys = union(runs, "metrics");
  const paramKeys = union(runs, "params");
  let metric = ctx.params.get("metric") || metricKeys[0];
  let scatterParam = ctx.params.get("x") || paramKeys[0];
  let scatterMetric = ctx.params.get("y") || metric;

  const curves = h("div.chart-holder");
  async function drawCurves() {
    show(curves, h("p.muted", {}, "Loading histories…"));
    try {
      const { items } = await api.post("/metrics/histories", { run_ids: ids, keys: [metric] });
      const byRun = new Map(items.map((s) => [s.run_id, s]));
      const series = runs.map((r, i) => {
        const s = byRun.get(r.id);
        return s ? { name: labels[i], color: color(i), xs: s.steps, ys: s.values } : null;
      }).filter(Boolean);
      show(curves, series.length ? lineChart(series, { yLabel: metric, width: Math.max(curves.clientWidth, 480), height: 340 }) : h("p.muted", {}, `no run logged ${metric}`));
    } catch (exc) {
      show(curves, errorBox(exc));
    }
  }

  const scatter = h("div.chart-holder");
  function drawScatter() {
    const points = runs.map((r, i) => ({ x: r.params[scatterParam], y: r.metrics[scatterMetric], color: color(i), label: labels[i] }));
    show(scatter, scatterParam && scatterMetric
      ? scatterChart(points, {
        xLabel: `params.${scatterParam}`, yLabel: scatterMetric, width: Math.max(scatter.clientWidth, 480), height: 300,
      })
      : h("p.muted", {}, "The runs need a param and a metric to plot."));
  }

  show(ctx.main,
    h("nav.crumbs", {}, h("a", { href: "#/experiments" }, "Experiments"), " / ", `Compare ${runs.length} runs`),
    h("div.page-head", {}, h("h1", {}, `Comparing ${runs.length} runs`)),
    metricKeys.length
      ? card("Metric by step", curves, select("Metric", metricKeys, metric, (v) => {
        metric = v;
        setParams({ metric: v });
        drawCurves();
      }))
      : card("Metric by step", h("p.muted", {}, "These runs logged no metrics.")),
    card("Parameter vs metric", scatter, [
      select("Param", paramKeys, scatterParam, (v) => { scatterParam = v; setParams({ x: v }); drawScatter(); }),
      select("Metric", metricKeys, scatterMetric, (v) => { scatterMetric = v; setParams({ y: v }); drawScatter(); }),
    ]),
    diffTable(runs, labels),
  );
  drawScatter();
  if (metricKeys.length) await drawCurves();
}
