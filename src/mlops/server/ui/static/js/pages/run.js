// One run: params, latest metrics with a history chart, tags, datasets, artifacts with preview,
// and its parent and child runs.

import * as api from "../api.js";
import { color, lineChart } from "../chart.js";
import {
  card, errorBox, formatBytes, formatDuration, formatMetric, formatNumber, formatTime, h, kvTable, shortId, statusBadge,
  show,
} from "../dom.js";

const TEXT = /\.(txt|log|json|jsonl|csv|tsv|ya?ml|md|py|toml|ini|cfg|xml|html?|js|sql|sh|r|out|err)$/i;
const IMAGE = { png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", gif: "image/gif", webp: "image/webp", svg: "image/svg+xml" };
const PREVIEW_BYTES = 256 * 1024;

function imageType(path) {
  const ext = path.split(".").pop().toLowerCase();
  return IMAGE[ext] || null;
}

// The artifact's path under the server's artifact root, which the artifacts API takes.
function storePath(record, root, run) {
  if (record.uri.startsWith(`${root}/`)) return record.uri.slice(root.length + 1);
  const base = run.artifact_uri.startsWith(`${root}/`) ? run.artifact_uri.slice(root.length + 1) : run.artifact_uri;
  return `${base}/${record.path}`;
}

async function download(path, name) {
  const { blob } = await api.artifactBlob(path);
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: name.split("/").pop() });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

async function preview(holder, record, path) {
  show(holder, h("p.muted", {}, `Loading ${record.path}…`));
  try {
    const type = imageType(record.path);
    if (type) {
      const { blob } = await api.artifactBlob(path, { type });
      const img = h("img.artifact-image", { alt: record.path, src: URL.createObjectURL(blob) });
      img.addEventListener("load", () => {
        // Small plots (a confusion matrix of a few pixels a cell) are scaled up, kept sharp.
        if (img.naturalWidth < 240) {
          img.style.width = `${img.naturalWidth * Math.floor(240 / img.naturalWidth)}px`;
          img.style.imageRendering = "pixelated";
        }
      });
      show(holder, h("h3", {}, record.path), img);
    } else if (TEXT.test(record.path) || record.size < 4096) {
      const { blob, truncated } = await api.artifactBlob(path, { limit: PREVIEW_BYTES });
      const text = await blob.text();
      show(holder,
        h("h3", {}, record.path),
        h("pre.artifact-text", {}, text),
        truncated ? h("p.muted", {}, `Showing the first ${formatBytes(PREVIEW_BYTES)} of ${formatBytes(record.size)}.`) : null,
      );
    } else {
      show(holder, h("p.muted", {}, `No preview for ${record.path}; download it instead.`));
    }
  } catch (exc) {
    show(holder, errorBox(exc));
  }
}

function artifactsCard(run, records, root) {
  const holder = h("div.preview");
  if (!records.length) return card("Artifacts", h("p.muted", {}, "none"));
  const sorted = [...records].sort((a, b) => a.path.localeCompare(b.path));
  const table = h("table.grid.artifacts", {},
    h("thead", {}, h("tr", {}, h("th", {}, "Path"), h("th.num", {}, "Size"), h("th", {}, ""))),
    h("tbody", {}, sorted.map((r) => {
      const path = storePath(r, root, run);
      return h("tr", {},
        h("td", {}, h("button.link", { onclick: () => preview(holder, r, path), dataset: { artifact: r.path } }, r.path)),
        h("td.num", {}, formatBytes(r.size)),
        h("td.actions", {}, h("button.small", {
          onclick: (event) => download(path, r.path).catch((exc) => event.target.closest("td").append(errorBox(exc))),
        }, "Download")));
    })));
  return card("Artifacts", h("div.artifacts-layout", {}, table, holder));
}

function datasetsCard(run) {
  if (!run.inputs.length) return card("Datasets", h("p.muted", {}, "none"));
  return card("Datasets", h("table.grid", {},
    h("thead", {}, h("tr", {}, ["Name", "Context", "Rows", "Columns", "Digest", "Source"].map((t) => h(t === "Rows" || t === "Columns" ? "th.num" : "th", {}, t)))),
    h("tbody", {}, run.inputs.map((i) => h("tr", {},
      h("td", {}, i.dataset.name),
      h("td", {}, h("span.badge", {}, i.context)),
      h("td.num", {}, formatNumber(i.dataset.num_rows)),
      h("td.num", { title: i.dataset.schema.map((c) => `${c.name}: ${c.type}`).join("\n") }, i.dataset.schema.length),
      h("td.mono", {}, i.dataset.digest.slice(0, 12)),
      h("td.muted.wrap", {}, i.dataset.source))))));
}

function metricsCard(run) {
  const keys = Object.keys(run.metrics).sort();
  if (!keys.length) return card("Metrics", h("p.muted", {}, "none"));
  const chartHolder = h("div.chart-holder");
  let active = null;
  const rows = new Map();
  async function plot(key) {
    active = key;
    rows.forEach((tr, k) => tr.classList.toggle("selected", k === key));
    show(chartHolder, h("p.muted", {}, "Loading history…"));
    try {
      const { items } = await api.post("/metrics/histories", { run_ids: [run.id], keys: [key] });
      if (active !== key) return;
      const s = items[0];
      show(chartHolder,
        s
          ? lineChart([{ name: key, color: color(0), xs: s.steps, ys: s.values }], {
            yLabel: key, width: Math.max(chartHolder.clientWidth, 480), height: 300,
          })
          : h("p.muted", {}, "no points"),
        s && s.count > s.steps.length ? h("p.muted", {}, `${formatNumber(s.count)} points, ${formatNumber(s.steps.length)} drawn`) : null,
      );
    } catch (exc) {
      show(chartHolder, errorBox(exc));
    }
  }
  const table = h("table.kv.metrics", {}, h("tbody", {}, keys.map((k) => {
    const tr = h("tr.clickable", { onclick: () => plot(k), dataset: { metric: k }, title: "show history" },
      h("th", { scope: "row" }, k), h("td.num", {}, formatMetric(run.metrics[k])));
    rows.set(k, tr);
    return tr;
  })));
  plot(keys[0]);
  return card("Metrics", h("div.metrics-layout", {}, table, chartHolder));
}

function relatedCard(run, parent, children) {
  if (!parent && !children.length) return null;
  return card("Related runs", [
    parent ? h("p", {}, "Parent: ", h("a", { href: `#/runs/${parent.id}` }, parent.name || shortId(parent.id))) : null,
    children.length
      ? h("div", {}, h("p", {}, `Children (${children.length}):`), h("ul.plain", {}, children.map((c) =>
        h("li", {}, h("a", { href: `#/runs/${c.id}` }, c.name || shortId(c.id)), " ", statusBadge(c.status)))))
      : null,
  ]);
}

export async function runPage(ctx, runId) {
  const run = await api.get(`/runs/${encodeURIComponent(runId)}`);
  const [experiment, children, artifacts, root, parent] = await Promise.all([
    api.get(`/experiments/${run.experiment_id}`),
    api.get(`/runs/${run.id}/children`),
    api.get(`/runs/${run.id}/artifacts`),
    api.get("/artifacts/root"),
    // A parent deleted since still gets its link (by id), whatever the error was.
    run.parent_run_id ? api.get(`/runs/${run.parent_run_id}`).catch(() => ({ id: run.parent_run_id, name: null })) : null,
  ]);
  if (ctx.stale()) return;
  const facts = [
    ["Run ID", h("code", {}, run.id)],
    ["User", run.user],
    ["Started", formatTime(run.start_time)],
    ["Ended", formatTime(run.end_time)],
    ["Duration", formatDuration(run.start_time, run.end_time)],
  ];
  show(ctx.main,
    h("nav.crumbs", {}, h("a", { href: "#/experiments" }, "Experiments"), " / ",
      h("a", { href: `#/experiments/${experiment.id}/runs` }, experiment.name), " / ", run.name || shortId(run.id)),
    h("div.page-head", {}, h("h1", {}, run.name || run.id), statusBadge(run.status)),
    h("dl.facts", {}, facts.map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v)))),
    run.error ? card("Error", h("pre.artifact-text", {}, run.error)) : null,
    h("div.columns", {},
      card("Parameters", kvTable(Object.entries(run.params).sort(([a], [b]) => a.localeCompare(b)))),
      card("Tags", kvTable(Object.entries(run.tags).sort(([a], [b]) => a.localeCompare(b))))),
    metricsCard(run),
    artifactsCard(run, artifacts.items, root.root_uri),
    datasetsCard(run),
    relatedCard(run, parent, children.items),
  );
}
