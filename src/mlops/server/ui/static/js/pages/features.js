// Features: the feature store's definitions (entities, feature views, services, on-demand views)
// and one definition's page with its versions. Read-only: definitions change with
// `mlops features apply`.

import * as api from "../api.js";
import { card, formatTime, h, show } from "../dom.js";

const KINDS = [
  ["feature_view", "Feature views"],
  ["entity", "Entities"],
  ["feature_service", "Feature services"],
  ["on_demand_view", "On-demand views"],
];
const definitionHref = (d) => `#/features/${d.kind}/${encodeURIComponent(d.name)}`;

function ttl(seconds) {
  if (seconds === null || seconds === undefined) return "unlimited";
  if (seconds % 86400 === 0) return `${seconds / 86400}d`;
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  return `${seconds}s`;
}

function details(d) {
  const s = d.spec;
  if (d.kind === "entity") return (s.join_keys || []).map(([k, t]) => h("span.badge", {}, `${k}: ${t}`));
  if (d.kind === "feature_view") {
    return [h("span", {}, `${s.features.length} features of ${s.entities.join(", ")}`),
      h("span.muted", {}, ` · ttl ${ttl(s.ttl_seconds)} · ${s.source.kind} source`)];
  }
  if (d.kind === "feature_service") return `${(s.features || []).length} feature references`;
  return (s.features || []).map((f) => f.name).join(", ");
}

export async function featuresPage(ctx) {
  const { items } = await api.get("/features/definitions");
  if (ctx.stale()) return;
  const sections = KINDS.map(([kind, title]) => {
    const mine = items.filter((d) => d.kind === kind);
    if (!mine.length && kind !== "feature_view") return null;
    const body = mine.length
      ? h("table.grid.definitions", { dataset: { kind } },
        h("thead", {}, h("tr", {}, ["Name", "Version", "Details", "By", "Updated"].map((t) => h(t === "Version" ? "th.num" : "th", {}, t)))),
        h("tbody", {}, mine.map((d) => h("tr", { dataset: { name: d.name } },
          h("td", {}, h("a", { href: definitionHref(d) }, d.name)), h("td.num", {}, `v${d.version}`),
          h("td", {}, details(d)), h("td", {}, d.created_by), h("td.time", {}, formatTime(d.updated_at))))))
      : h("p.muted", {}, "No feature views yet. Declare them in a feature repo and run ", h("code", {}, "mlops features apply"), ".");
    return card(`${title} (${mine.length})`, body);
  });
  show(ctx.main, h("div.page-head", {}, h("h1", {}, "Features"), h("span.muted", {}, `${items.length} definitions`)), sections);
}

export async function definitionPage(ctx, kind, name) {
  const d = await api.get(`/features/definitions/${kind}/${encodeURIComponent(name)}`);
  if (ctx.stale()) return;
  const s = d.spec;
  const features = s.features && s.features.length && typeof s.features[0] === "object"
    ? card("Features", h("table.grid.features", {},
      h("thead", {}, h("tr", {}, ["Name", "Type", "Description"].map((t) => h("th", {}, t)))),
      h("tbody", {}, s.features.map((f) => h("tr", {}, h("td", {}, f.name), h("td", {}, h("code", {}, f.dtype)), h("td.muted", {}, f.description || ""))))))
    : null;
  const versions = card(`Versions (${d.versions.length})`, h("table.grid.versions", {},
    h("thead", {}, h("tr", {}, ["Version", "Schema hash", "By", "Created", "Updated"].map((t) => h(t === "Version" ? "th.num" : "th", {}, t)))),
    h("tbody", {}, [...d.versions].reverse().map((v) => h("tr", { dataset: { version: v.version } },
      h("td.num", {}, `v${v.version}`), h("td", {}, h("code", {}, v.schema_hash.slice(0, 12))), h("td", {}, v.created_by),
      h("td.time", {}, formatTime(v.created_at)), h("td.time", {}, formatTime(v.updated_at)))))));
  show(ctx.main,
    h("nav.crumbs", {}, h("a", { href: "#/features" }, "Features"), " / ", name),
    h("div.page-head", {}, h("h1", {}, name), h("span.badge", {}, kind.replaceAll("_", " ")), h("span.muted", {}, `v${d.version}`)),
    s.description ? h("p", {}, s.description) : null,
    features,
    versions,
    card("Stored definition", h("pre.artifact-text", {}, JSON.stringify(s, null, 2))),
  );
}
