// Experiments: name, id, run count, created; each leads to its runs table.

import * as api from "../api.js";
import { card, formatNumber, formatTime, h, show } from "../dom.js";

export async function experimentsPage(ctx) {
  const items = [];
  let token = null;
  do {
    const page = await api.get(`/experiments${api.query({ limit: 1000, page_token: token })}`);
    items.push(...page.items);
    token = page.next_page_token;
  } while (token && items.length < 10000);
  const counts = items.length
    ? (await api.post("/runs/counts", { experiment_ids: items.map((e) => e.id) })).counts
    : {};
  if (ctx.stale()) return;
  const selected = new Set();
  const openSelected = h("button", {
    disabled: true,
    onclick: () => { location.hash = `#/runs?experiments=${[...selected].join(",")}`; },
  }, "Runs of selected");
  const body = items.length
    ? h("table.grid", {},
      h("thead", {}, h("tr", {}, h("th.check", {}), h("th", {}, "Name"), h("th.num", {}, "ID"), h("th.num", {}, "Runs"),
        h("th", {}, "Description"), h("th", {}, "Created"))),
      h("tbody", {}, items.map((e) => h("tr", {},
        h("td.check", {}, h("input", {
          type: "checkbox", "aria-label": `select ${e.name}`,
          onchange: (ev) => {
            if (ev.target.checked) selected.add(e.id);
            else selected.delete(e.id);
            openSelected.disabled = selected.size === 0;
          },
        })),
        h("td", {}, h("a", { href: `#/experiments/${e.id}/runs` }, e.name)),
        h("td.num", {}, e.id),
        h("td.num", {}, formatNumber(counts[e.id] ?? 0)),
        h("td.muted", {}, e.description || ""),
        h("td.time", {}, formatTime(e.created_at))))))
    : h("p.muted", {}, "No experiments yet. Start one from Python: ", h("code", {}, 'mlops.start_experiment("name")'));
  show(ctx.main,
    h("div.page-head", {}, h("h1", {}, "Experiments"), h("span.muted", {}, `${items.length} experiments`),
      h("span.spacer"), items.length ? openSelected : null),
    card(null, body),
  );
}
