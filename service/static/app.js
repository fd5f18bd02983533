// The page: a router over the query string (/?q=…, /?passage=…, /?document=…, /?view=library,
// /?view=eval), the language switch, the health line and the confirmation dialog of the views.

import { api } from "./api.js";
import { applyLang, currentLang, setLang, tx } from "./i18n.js";
import * as ask from "./ask.js";
import * as evaluate from "./evaluate.js";
import * as library from "./library.js";
import * as read from "./read.js";

const main = document.getElementById("main");
let controller = null;
let currentView = null;

function viewFor(params) {
  if (params.get("passage")) return ["ask", read];
  if (params.get("document")) return ["library", read];
  if (params.get("view") === "library") return ["library", library];
  if (params.get("view") === "eval") return ["eval", evaluate];
  return ["ask", ask];
}

function render({ focus = false } = {}) {
  const params = new URLSearchParams(location.search);
  const [section, view] = viewFor(params);
  for (const a of document.querySelectorAll("nav a[data-view]")) {
    if (a.dataset.view === section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (controller) controller.abort();
  controller = new AbortController();
  const ctx = { signal: controller.signal, navigate, confirm: confirmDialog, previous: currentView };
  // A view may update itself in place (the ask view keeps its form and focus).
  if (!(currentView === view && view.update && view.update(params, ctx))) {
    main.replaceChildren();
    view.render(main, params, ctx);
  }
  currentView = view;
  if (focus) {
    // Keyboard and screen-reader users land on the new view: its box, its heading, or main.
    const target = main.querySelector("[data-autofocus]") || main.querySelector("h1") || main;
    if (target.tagName === "H1") target.setAttribute("tabindex", "-1");
    target.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }
}

/** Go to an in-page URL: push it (or replace it) and render its view. */
export function navigate(url, { replace = false, focus = true } = {}) {
  const target = new URL(url, location.href);
  if (replace) history.replaceState(null, "", target);
  else history.pushState(null, "", target);
  render({ focus });
}

function confirmDialog({ title, text, ok, params = {} }) {
  const dialog = document.getElementById("confirm");
  tx(document.getElementById("confirm-title"), title, params);
  tx(document.getElementById("confirm-text"), text, params);
  tx(document.getElementById("confirm-ok"), ok, params);
  const opener = document.activeElement;
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        resolve(dialog.returnValue === "ok");
        if (opener && opener.isConnected) opener.focus();
      },
      { once: true },
    );
    dialog.returnValue = "cancel";
    dialog.showModal();
  });
}

async function showHealth() {
  const line = document.getElementById("health");
  try {
    const hl = await api("/health");
    const key = hl.model_ready ? "health" : "health.warming";
    tx(line, key, { documents: hl.documents, passages: hl.passages, model: hl.model });
  } catch {
    line.replaceChildren(); // reads may need a key; the footer line is not worth an error
  }
}

document.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-nav]");
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) {
    return;
  }
  const url = new URL(a.href);
  if (url.origin !== location.origin || url.pathname !== "/") return;
  e.preventDefault();
  navigate(url);
});

window.addEventListener("popstate", () => render({ focus: true }));

const select = document.getElementById("lang");
select.value = currentLang();
select.addEventListener("change", () => setLang(select.value));
applyLang();
render();
showHealth();
document.addEventListener("documents-changed", showHealth);
