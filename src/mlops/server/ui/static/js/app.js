// The single-page app: routes on the URL fragment, the sign-in form, the signed-in user.

import * as api from "./api.js";
import { clear, errorBox, h, show } from "./dom.js";
import { abtestPage, abtestsPage } from "./pages/abtests.js";
import { comparePage } from "./pages/compare.js";
import { deploymentPage, deploymentsPage } from "./pages/deployments.js";
import { experimentsPage } from "./pages/experiments.js";
import { definitionPage, featuresPage } from "./pages/features.js";
import { modelPage, modelsPage } from "./pages/models.js";
import { monitoredVersionPage, monitoringPage } from "./pages/monitoring.js";
import { runPage } from "./pages/run.js";
import { runsPage } from "./pages/runs.js";

const ROUTES = [
  [/^\/?$/, () => experimentsPage, "experiments"],
  [/^\/experiments$/, () => experimentsPage, "experiments"],
  [/^\/experiments\/([^/]+)\/runs$/, (m) => (ctx) => runsPage(ctx, [m[1]]), "experiments"],
  [/^\/runs$/, () => (ctx) => runsPage(ctx, (ctx.params.get("experiments") || "").split(",").filter(Boolean)), "experiments"],
  [/^\/runs\/([^/]+)$/, (m) => (ctx) => runPage(ctx, m[1]), "experiments"],
  [/^\/compare$/, () => comparePage, "experiments"],
  [/^\/models$/, () => modelsPage, "models"],
  [/^\/models\/([^/]+)$/, (m) => (ctx) => modelPage(ctx, decodeURIComponent(m[1])), "models"],
  [/^\/deployments$/, () => deploymentsPage, "deployments"],
  [/^\/deployments\/([^/]+)$/, (m) => (ctx) => deploymentPage(ctx, decodeURIComponent(m[1])), "deployments"],
  [/^\/monitoring$/, () => monitoringPage, "monitoring"],
  [/^\/monitoring\/([^/]+)\/([^/]+)$/, (m) => (ctx) => monitoredVersionPage(ctx, decodeURIComponent(m[1]), m[2]), "monitoring"],
  [/^\/abtests$/, () => abtestsPage, "abtests"],
  [/^\/abtests\/([^/]+)$/, (m) => (ctx) => abtestPage(ctx, decodeURIComponent(m[1])), "abtests"],
  [/^\/features$/, () => featuresPage, "features"],
  [/^\/features\/([a-z_]+)\/([^/]+)$/, (m) => (ctx) => definitionPage(ctx, m[1], decodeURIComponent(m[2])), "features"],
];

let me = null;
let generation = 0;

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, search = ""] = raw.split("?");
  return { path, params: new URLSearchParams(search) };
}

// Replace the fragment's query (keeping the page) without adding a history entry per keystroke.
export function setParams(updates, { push = false } = {}) {
  const { path, params } = parseHash();
  for (const [k, v] of Object.entries(updates)) {
    if (v === null || v === undefined || v === "") params.delete(k);
    else params.set(k, v);
  }
  const q = params.toString();
  const hash = `#${path}${q ? `?${q}` : ""}`;
  if (push) location.hash = hash;
  else history.replaceState(null, "", hash);
}

function signIn(main, message) {
  show(main,
    h("section.card.signin", {},
      h("h2", {}, "Sign in"),
      message
        ? h("p", {}, message)
        : h("p", {}, "This server requires an API token. Create one with ", h("code", {}, "mlops users tokens create"), " and paste it here."),
      h("form", {
        onsubmit: (event) => {
          event.preventDefault();
          api.setToken(new FormData(event.target).get("token").trim());
          me = null;
          route();
        },
      },
      h("input", { name: "token", type: "password", placeholder: "API token", autocomplete: "off", required: true, size: 48 }),
      h("button.primary", { type: "submit" }, "Sign in"))),
  );
}

function renderWho() {
  const who = clear(document.getElementById("who"));
  if (!me || !me.auth_enabled) return;
  who.append(
    h("span", {}, me.username, me.global_role ? h("span.muted", {}, ` (${me.global_role})`) : null),
    h("button.link", { onclick: () => { api.setToken(null); me = null; route(); } }, "Sign out"),
  );
}

// Draw the page the fragment names; errors (401 included) are shown, never a blank page.
async function route() {
  api.track(+1);
  try {
    await render();
  } finally {
    api.track(-1);
  }
}

async function render() {
  const mine = ++generation;
  const main = document.getElementById("main");
  const { path, params } = parseHash();
  const found = ROUTES.find(([re]) => re.test(path));
  document.querySelectorAll("[data-nav]").forEach((a) => a.classList.toggle("active", found && a.dataset.nav === found[2]));
  if (!found) {
    show(main, errorBox({ type: "Not found", message: `no page at #${path}` }));
    return;
  }
  try {
    if (me === null) me = await api.whoami();
    renderWho();
    const page = found[1](path.match(found[0]));
    const ctx = { params, me, main, stale: () => mine !== generation };
    show(main, h("p.muted.loading", {}, "Loading…"));
    await page(ctx);
  } catch (exc) {
    if (mine !== generation) return;
    if (exc.status === 401) signIn(main, api.token() ? "The token was not accepted. Paste a valid API token." : null);
    else show(main, errorBox(exc));
  }
}

window.addEventListener("hashchange", route);
window.addEventListener("unhandledrejection", (event) => {
  const main = document.getElementById("main");
  main.prepend(errorBox(event.reason));
});
route();
