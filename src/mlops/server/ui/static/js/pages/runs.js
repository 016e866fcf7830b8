// The runs table: one page of runs fetched and drawn at a time, sorted, filtered and paged by the
// server; chosen param/metric/tag columns; selected runs go to the comparison.

import * as api from "../api.js";
import { setParams } from "../app.js";
import {
  card, clear, errorBox, formatDuration, formatMetric, formatNumber, formatTime, h, keyRef, shortId, statusBadge, show,
} from "../dom.js";

const ATTRIBUTES = [
  { id: "run_name", label: "Run", sort: "attributes.run_name" },
  { id: "status", label: "Status", sort: "attributes.status" },
  { id: "start_time", label: "Started", sort: "attributes.start_time" },
  { id: "duration", label: "Duration" },
  { id: "user", label: "User", sort: "attributes.user" },
];
const PAGE_SIZES = [25, 50, 100, 200];
const DEFAULT_METRICS = 6;
const DEFAULT_PARAMS = 4;

function columnsKey(ids) {
  return `mlops.columns.${ids.join(",")}`;
}

function loadColumns(ids, keys) {
  try {
    const saved = JSON.parse(localStorage.getItem(columnsKey(ids)));
    if (saved && Array.isArray(saved.metrics)) return saved;
  } catch {
    // a damaged entry falls back to the default
  }
  return { metrics: keys.metrics.slice(0, DEFAULT_METRICS), params: keys.params.slice(0, DEFAULT_PARAMS), tags: [] };
}

function parseOrder(text) {
  if (!text) return null;
  const m = text.match(/^(.*?)(?:\s+(ASC|DESC))?$/i);
  return { key: m[1], desc: (m[2] || "").toUpperCase() === "DESC" };
}

export async function runsPage(ctx, experimentIds) {
  if (!experimentIds.length) throw new api.ApiError(400, "InvalidInputError", "no experiment chosen: open one from the Experiments page");
  const [experiments, keys] = await Promise.all([
    Promise.all(experimentIds.map((id) => api.get(`/experiments/${encodeURIComponent(id)}`))),
    api.post("/runs/keys", { experiment_ids: experimentIds }),
  ]);
  if (ctx.stale()) return;
  const state = {
    filter: ctx.params.get("filter") || "",
    order: parseOrder(ctx.params.get("order")),
    pageSize: Math.min(Math.max(Number(ctx.params.get("size")) || 50, 1), 1000),
    tokens: [null], // token of each page visited, so Previous goes back
    columns: loadColumns(experimentIds, keys),
    selected: new Map(), // run id -> name, kept across pages
    runs: [],
    count: null, // {filter, count} of the current filter
    requests: 0,
  };
  const title = experiments.length === 1 ? experiments[0].name : `${experiments.length} experiments`;

  const filterInput = h("input.filter", {
    type: "search", value: state.filter, spellcheck: false, "aria-label": "filter",
    placeholder: 'metrics.accuracy > 0.9 and params.model = "forest"',
  });
  const applyFilter = () => {
    state.filter = filterInput.value.trim();
    state.tokens = [null];
    setParams({ filter: state.filter });
    refresh();
  };
  filterInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter") applyFilter();
  });
  const filterError = h("div.filter-error");
  const compareButton = h("button.primary", { disabled: true, onclick: () => compare() }, "Compare");
  const selectedInfo = h("span.muted");
  const summary = h("span.muted.summary");
  const tableHolder = h("div.table-scroll");
  const prev = h("button", { onclick: () => { state.tokens.pop(); refresh(); } }, "← Previous");
  const next = h("button", { onclick: () => { state.tokens.push(state.nextToken); refresh(); } }, "Next →");
  const sizeSelect = h("select", {
    "aria-label": "runs per page",
    onchange: (event) => {
      state.pageSize = Number(event.target.value);
      state.tokens = [null];
      setParams({ size: state.pageSize });
      refresh();
    },
  }, [...new Set([...PAGE_SIZES, state.pageSize])].sort((a, b) => a - b).map((n) => h("option", { value: n, selected: n === state.pageSize }, `${n} per page`)));

  function compare() {
    location.hash = `#/compare?runs=${[...state.selected.keys()].join(",")}`;
  }

  function updateSelection() {
    const n = state.selected.size;
    compareButton.disabled = n < 2;
    selectedInfo.textContent = n ? `${n} selected` : "";
  }

  function sortBy(key, defaultDesc) {
    const desc = state.order && state.order.key === key ? !state.order.desc : defaultDesc;
    state.order = { key, desc };
    state.tokens = [null];
    setParams({ order: `${key} ${desc ? "DESC" : "ASC"}` });
    refresh();
  }

  function header(label, sortKey, { numeric = false, defaultDesc = false, title = null } = {}) {
    const active = state.order && state.order.key === sortKey;
    const arrow = active ? (state.order.desc ? " ▼" : " ▲") : "";
    const th = h(numeric ? "th.num" : "th", { title: title || label, "aria-sort": active ? (state.order.desc ? "descending" : "ascending") : null });
    if (sortKey) th.append(h("button.sort", { onclick: () => sortBy(sortKey, defaultDesc), dataset: { sort: sortKey } }, label, arrow));
    else th.append(label);
    return th;
  }

  function renderTable() {
    const { metrics, params, tags } = state.columns;
    const allOnPage = state.runs.length > 0 && state.runs.every((r) => state.selected.has(r.id));
    const head = h("tr", {},
      h("th.check", {}, h("input", {
        type: "checkbox", checked: allOnPage, "aria-label": "select page",
        onchange: (event) => {
          for (const r of state.runs) {
            if (event.target.checked) state.selected.set(r.id, r.name);
            else state.selected.delete(r.id);
          }
          renderTable();
          updateSelection();
        },
      })),
      header("Run", "attributes.run_name"),
      header("Status", "attributes.status"),
      header("Started", "attributes.start_time", { defaultDesc: true }),
      header("Duration"),
      header("User", "attributes.user"),
      metrics.map((k) => header(k, keyRef("metrics", k), { numeric: true, defaultDesc: true, title: `metric ${k}` })),
      params.map((k) => header(k, keyRef("params", k), { title: `param ${k}` })),
      tags.map((k) => header(k, keyRef("tags", k), { title: `tag ${k}` })),
    );
    const groups = h("tr.groups", {},
      h("th", { colspan: ATTRIBUTES.length + 1 }),
      metrics.length ? h("th.group", { colspan: metrics.length }, "Metrics") : null,
      params.length ? h("th.group", { colspan: params.length }, "Params") : null,
      tags.length ? h("th.group", { colspan: tags.length }, "Tags") : null,
    );
    const rows = state.runs.map((r) => h("tr", { dataset: { runId: r.id } },
      h("td.check", {}, h("input", {
        type: "checkbox", checked: state.selected.has(r.id), "aria-label": `select ${r.name}`,
        onchange: (event) => {
          if (event.target.checked) state.selected.set(r.id, r.name);
          else state.selected.delete(r.id);
          updateSelection();
        },
      })),
      h("td.name", {}, h("a", { href: `#/runs/${r.id}`, title: r.id }, r.name || shortId(r.id)),
        r.parent_run_id ? h("span.muted.child-mark", { title: "nested run" }, " ↳") : null),
      h("td", {}, statusBadge(r.status)),
      h("td.time", {}, formatTime(r.start_time)),
      h("td.num", {}, formatDuration(r.start_time, r.end_time)),
      h("td", {}, r.user),
      metrics.map((k) => h("td.num", { dataset: { metric: k } }, formatMetric(r.metrics[k]))),
      params.map((k) => h("td.param", { dataset: { param: k } }, r.params[k] ?? "")),
      tags.map((k) => h("td.param", {}, r.tags[k] ?? "")),
    ));
    const table = h("table.grid.runs", {}, h("thead", {}, groups, head), h("tbody", {}, rows));
    show(tableHolder, state.runs.length ? table : h("p.muted.empty", {}, state.filter ? "No run matches this filter." : "No runs yet."));
  }

  function columnChooser() {
    const search = h("input", { type: "search", placeholder: "Find a key", "aria-label": "find column" });
    const lists = h("div.chooser-lists");
    const draw = () => {
      const needle = search.value.toLowerCase();
      show(lists, ["metrics", "params", "tags"].map((kind) => h("fieldset", {},
        h("legend", {}, kind[0].toUpperCase() + kind.slice(1), h("span.muted", {}, ` ${keys[kind].length}`)),
        keys[kind].filter((k) => k.toLowerCase().includes(needle)).slice(0, 200).map((k) => h("label", {},
          h("input", {
            type: "checkbox", checked: state.columns[kind].includes(k), dataset: { kind, key: k },
            onchange: (event) => {
              const chosen = state.columns[kind].filter((x) => x !== k);
              if (event.target.checked) chosen.push(k);
              state.columns[kind] = keys[kind].filter((x) => chosen.includes(x));
              localStorage.setItem(columnsKey(experimentIds), JSON.stringify(state.columns));
              renderTable();
            },
          }), k)))));
    };
    search.addEventListener("input", draw);
    draw();
    return h("details.chooser", {}, h("summary.button", {}, "Columns"), h("div.chooser-panel", {}, search, lists));
  }

  async function refresh() {
    const mine = ++state.requests; // a slower, older answer must not overwrite a newer one
    const token = state.tokens[state.tokens.length - 1];
    const body = {
      experiment_ids: experimentIds,
      filter: state.filter || null,
      order_by: state.order ? [`${state.order.key} ${state.order.desc ? "DESC" : "ASC"}`] : null,
      max_results: state.pageSize,
      page_token: token,
    };
    tableHolder.classList.add("busy");
    clear(filterError);
    try {
      // Sorting and paging keep the count: it is asked again only when the filter changes.
      const filter = state.filter;
      const counting = state.count && state.count.filter === filter
        ? state.count
        : api.post("/runs/count", { experiment_ids: experimentIds, filter: filter || null })
          .then((c) => ({ filter, count: c.count }));
      const [page, count] = await Promise.all([api.post("/runs/search", body), counting]);
      if (ctx.stale() || mine !== state.requests) return;
      state.count = count;
      state.runs = page.items;
      state.nextToken = page.next_page_token;
      const first = (state.tokens.length - 1) * state.pageSize;
      summary.textContent = page.items.length
        ? `Runs ${formatNumber(first + 1)}–${formatNumber(first + page.items.length)} of ${formatNumber(count.count)}`
        : `0 of ${formatNumber(count.count)} runs`;
      prev.disabled = state.tokens.length < 2;
      next.disabled = !state.nextToken;
      renderTable();
    } catch (exc) {
      if (ctx.stale() || mine !== state.requests) return;
      state.runs = [];
      state.count = null;
      summary.textContent = "";
      prev.disabled = next.disabled = true;
      filterError.append(errorBox(exc));
      clear(tableHolder);
    } finally {
      tableHolder.classList.remove("busy");
    }
  }

  show(ctx.main,
    h("nav.crumbs", {}, h("a", { href: "#/experiments" }, "Experiments"), " / ", title),
    h("div.page-head", {}, h("h1", {}, title), h("span.muted", {}, experimentIds.length === 1 ? `experiment ${experimentIds[0]}` : "")),
    card(null, [
      h("div.toolbar", {},
        filterInput,
        h("button", { onclick: applyFilter }, "Filter"),
        h("button.link", { onclick: () => { filterInput.value = ""; applyFilter(); } }, "Clear"),
        h("span.spacer"),
        columnChooser()),
      h("p.hint.muted", {}, "Filter with ", h("code", {}, "metrics.NAME"), ", ", h("code", {}, "params.NAME"), ", ",
        h("code", {}, "tags.NAME"), ", ", h("code", {}, "status"), ", ", h("code", {}, "run_name"),
        " and =, !=, <, >, LIKE, IN, IS NULL, AND, OR. Click a column title to sort."),
      filterError,
      h("div.toolbar", {}, summary, h("span.spacer"), selectedInfo, compareButton),
      tableHolder,
      h("div.pager", {}, prev, next, h("span.spacer"), sizeSelect),
    ]),
  );
  await refresh();
}
