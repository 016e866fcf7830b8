// Small helpers for building the page: an element factory and value formatting.

// h("a.link", {href: "#/x"}, "text", child...) -> an element. Attributes starting with "on" are
// listeners; `class` may also come from ".a.b" after the tag name; null/false children vanish.
export function h(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const el = document.createElement(tag || "div");
  if (classes.length) el.className = classes.join(" ");
  if (attrs === null || typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs)) {
    children.unshift(attrs);
    attrs = {};
  }
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.classList.add(...String(value).split(" ").filter(Boolean));
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key in el && key !== "list" && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// Replace el's content (null children vanish, unlike the DOM's own append).
export function show(el, ...children) {
  clear(el);
  return append(el, children);
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) el.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) {
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return el;
}

export function formatNumber(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value; // "NaN", "Infinity" as JSON carries them
  if (Number.isInteger(value) && Math.abs(value) < 1e15) return value.toLocaleString("en-US");
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(3);
  return Number(value.toPrecision(5)).toString();
}

// A metric value for a column of them: a fixed 4 decimals lines the points up.
export function formatMetric(value) {
  if (typeof value !== "number" || Number.isInteger(value)) return formatNumber(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(3);
  return value.toFixed(4);
}

export function formatTime(ms) {
  if (!ms) return "";
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function formatDuration(start, end) {
  if (!start || !end) return "";
  let s = Math.round((end - start) / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  s %= 60;
  if (m < 60) return `${m}m ${s}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i += 1;
  } while (v >= 1024 && i < units.length - 1);
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function shortId(id) {
  return id ? id.slice(0, 8) : "";
}

export function statusBadge(status) {
  return h(`span.badge.status-${String(status).toLowerCase()}`, {}, status);
}

export function stageBadge(stage) {
  return h(`span.badge.stage-${stage}`, {}, stage);
}

// A titled box; `actions` go on the right of the title.
export function card(title, body, actions = null) {
  return h(
    "section.card",
    {},
    title || actions
      ? h("header.card-head", {}, title ? h("h2", {}, title) : h("span"), actions ? h("div.actions", {}, actions) : null)
      : null,
    h("div.card-body", {}, body),
  );
}

// A key/value table for params, tags and the like.
export function kvTable(entries, { numeric = false, empty = "none" } = {}) {
  if (!entries.length) return h("p.muted", {}, empty);
  return h(
    "table.kv",
    {},
    h(
      "tbody",
      {},
      entries.map(([k, v]) =>
        h("tr", {}, h("th", { scope: "row" }, k), h(numeric ? "td.num" : "td", {}, numeric ? formatMetric(v) : v)),
      ),
    ),
  );
}

export function errorBox(error) {
  const message = error && error.message ? error.message : String(error);
  return h("div.error", { role: "alert" }, h("strong", {}, error && error.type ? `${error.type}: ` : "Error: "), h("pre", {}, message));
}

export function loading() {
  return h("p.muted.loading", {}, "Loading…");
}

// The identifier a filter or order-by clause uses for a key: bare when the grammar allows it.
export function keyRef(kind, key) {
  const bare = /^[A-Za-z0-9_/]+$/.test(key);
  return `${kind}.${bare ? key : "`" + key.replaceAll("`", "") + "`"}`;
}
