// Registered models and one model's page: versions, stages, aliases, lineage to the source run,
// pending approval requests, history, and the stage / rollback / approval buttons a role allows.

import * as api from "../api.js";
import {
  card, errorBox, formatBytes, formatTime, h, shortId, stageBadge, show,
} from "../dom.js";
import { canDecide, canEditModel, canMoveStage, canRollback } from "../roles.js";

const STAGES = ["none", "staging", "production", "archived"];
// The move offered first: the usual next step of a version's life.
const NEXT = { none: "staging", staging: "production", production: "archived", archived: "staging" };
const modelHref = (name) => `#/models/${encodeURIComponent(name)}`;

export async function modelsPage(ctx) {
  const { items } = await api.get("/models");
  if (ctx.stale()) return;
  const body = items.length
    ? h("table.grid", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th.num", {}, "Latest"), h("th", {}, "Production"),
        h("th", {}, "Staging"), h("th", {}, "Aliases"), h("th", {}, "Updated"))),
      h("tbody", {}, items.map((m) => h("tr", {},
        h("td", {}, h("a", { href: modelHref(m.name) }, m.name)),
        h("td.num", {}, m.latest_version ?? ""),
        h("td", {}, m.stages.production ? `v${m.stages.production}` : h("span.muted", {}, "—")),
        h("td", {}, m.stages.staging ? `v${m.stages.staging}` : h("span.muted", {}, "—")),
        h("td", {}, Object.entries(m.aliases).map(([a, v]) => h("span.badge.alias", {}, `@${a} → v${v}`))),
        h("td.time", {}, formatTime(m.updated_at))))))
    : h("p.muted", {}, "No registered models yet. Register one with ", h("code", {}, "mlops.register_model(name, model)"), ".");
  show(ctx.main, h("div.page-head", {}, h("h1", {}, "Models"), h("span.muted", {}, `${items.length} models`)), card(null, body));
}

function outcomeText(outcome, what) {
  if (outcome.request) return `Request #${outcome.request.id} (${what}) is waiting for another user's approval.`;
  if (what.startsWith("alias")) return `Done: ${what}.`;
  const v = outcome.version;
  return `Version ${v.version} is now in ${v.stage}.`;
}

export async function modelPage(ctx, name, flash = null) {
  const path = `/models/${encodeURIComponent(name)}`;
  const [model, versions, requests, events] = await Promise.all([
    api.get(path),
    api.get(`${path}/versions`),
    api.get("/requests?status=pending"),
    api.get(`${path}/events`),
  ]);
  const runIds = [...new Set(versions.items.map((v) => v.run_id).filter(Boolean))];
  const runs = new Map();
  if (runIds.length) {
    try {
      for (const r of (await api.post("/runs/get", { run_ids: runIds })).items) runs.set(r.id, r);
    } catch (exc) {
      if (exc.status !== 404) throw exc; // a source run purged since: lineage shows its id only
    }
  }
  if (ctx.stale()) return;
  const me = ctx.me;
  const canEdit = canEditModel(me, name);
  const pending = requests.items.filter((r) => r.name === name);
  const message = h("div.flash", { role: "status" }, flash ? h("p", {}, flash) : null);

  async function act(what, call) {
    show(message, h("p.muted", {}, "Working…"));
    try {
      const outcome = await call();
      await modelPage(ctx, name, outcomeText(outcome, what));
    } catch (exc) {
      show(message, errorBox(exc));
    }
  }

  function stageControl(v) {
    const targets = STAGES.filter((s) => s !== v.stage && canMoveStage(me, name, v.stage, s));
    if (!targets.length) return null;
    const chooser = h("select", { "aria-label": `new stage for version ${v.version}` },
      targets.map((s) => h("option", { value: s, selected: s === NEXT[v.stage] }, s)));
    return h("span.stage-control", {}, chooser, h("button.small", {
      dataset: { promote: v.version },
      onclick: () => act(`version ${v.version} → ${chooser.value}`, () =>
        api.post(`${path}/versions/${v.version}/promote`, { stage: chooser.value, archive_existing: true })),
    }, "Move"));
  }

  function lineage(v) {
    if (!v.run_id) return h("span.muted", {}, "—");
    const run = runs.get(v.run_id);
    return h("span", {},
      h("a", { href: `#/runs/${v.run_id}` }, run ? run.name : shortId(v.run_id)),
      run && run.inputs.length ? h("span.muted", {}, ` · ${run.inputs.map((i) => i.dataset.name).join(", ")}`) : null);
  }

  const versionsTable = h("table.grid.versions", {},
    h("thead", {}, h("tr", {}, ["Version", "Stage", "Aliases", "Source run · datasets", "Flavor", "Size", "Created by", "Created", ""]
      .map((t) => h(t === "Version" || t === "Size" ? "th.num" : "th", {}, t)))),
    h("tbody", {}, versions.items.map((v) => h("tr", { dataset: { version: v.version } },
      h("td.num", {}, `v${v.version}`),
      h("td", {}, stageBadge(v.stage)),
      h("td", {}, v.aliases.map((a) => h("span.badge.alias", {}, `@${a}`, canEdit
        ? h("button.remove", {
          title: `remove alias ${a}`, "aria-label": `remove alias ${a}`,
          onclick: () => act(`alias @${a} removed`, () => api.post(`${path}/aliases/${encodeURIComponent(a)}/remove`, {})),
        }, "×")
        : null))),
      h("td", {}, lineage(v)),
      h("td", {}, `${v.flavor}`),
      h("td.num", {}, formatBytes(v.size)),
      h("td", {}, v.created_by),
      h("td.time", {}, formatTime(v.created_at)),
      h("td.actions", {}, stageControl(v))))));

  const aliasName = h("input", { placeholder: "alias, e.g. champion", "aria-label": "alias", size: 18 });
  const aliasVersion = h("select", { "aria-label": "alias version" },
    versions.items.map((v) => h("option", { value: v.version }, `v${v.version}`)));
  const aliasForm = canEdit && versions.items.length
    ? h("form.inline-form", {
      onsubmit: (event) => {
        event.preventDefault();
        const alias = aliasName.value.trim();
        act(`alias @${alias} → v${aliasVersion.value}`, () =>
          api.post(`${path}/versions/${aliasVersion.value}/alias`, { alias }));
      },
    }, aliasName, aliasVersion, h("button", { type: "submit" }, "Set alias"))
    : null;

  const requestsBody = pending.length
    ? h("table.grid.requests", {},
      h("thead", {}, h("tr", {}, ["#", "Version", "Action", "Target", "Requested by", "When", "Comment", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, pending.map((r) => h("tr", { dataset: { request: r.id } },
        h("td.num", {}, r.id), h("td", {}, `v${r.version}`), h("td", {}, r.action), h("td", {}, r.target),
        h("td", {}, r.requested_by), h("td.time", {}, formatTime(r.requested_at)), h("td.muted", {}, r.comment || ""),
        h("td.actions", {}, canDecide(me, name)
          ? [
            h("button.small.primary", { onclick: () => act(`request #${r.id}`, () => api.post(`/requests/${r.id}/approve`, {})) }, "Approve"),
            h("button.small.danger", { onclick: () => act(`request #${r.id}`, () => api.post(`/requests/${r.id}/reject`, {})) }, "Reject"),
          ]
          : h("span.muted", {}, "needs an admin"))))))
    : h("p.muted", {}, "No pending requests.");

  const historyBody = h("table.grid.history", {},
    h("thead", {}, h("tr", {}, ["When", "Version", "Change", "From", "To", "By", "Comment"].map((t) => h("th", {}, t)))),
    h("tbody", {}, [...events.items].reverse().slice(0, 100).map((e) => h("tr", {},
      h("td.time", {}, formatTime(e.created_at)), h("td", {}, e.version ? `v${e.version}` : ""), h("td", {}, e.kind),
      h("td", {}, e.from_value || ""), h("td", {}, e.to_value || ""), h("td", {}, e.user), h("td.muted", {}, e.comment || "")))));

  const rollback = model.stages.production && canRollback(me, name)
    ? h("button.danger", {
      onclick: () => {
        if (window.confirm(`Put the previous production version of ${name} back in production?`)) {
          act("rollback", () => api.post(`${path}/rollback`, {}));
        }
      },
    }, "Roll back production")
    : null;

  show(ctx.main,
    h("nav.crumbs", {}, h("a", { href: "#/models" }, "Models"), " / ", name),
    h("div.page-head", {}, h("h1", {}, name),
      model.stages.production ? h("span", {}, "production: ", h("b", {}, `v${model.stages.production}`)) : null),
    model.description ? h("p", {}, model.description) : null,
    message,
    card("Versions", h("div.table-scroll", {}, versionsTable), [aliasForm, rollback]),
    card(`Pending approval requests (${pending.length})`, requestsBody),
    card("History", historyBody),
  );
}
