// Ask: one box; the answer sentence (or why there is none) and the ranked passages with their
// heading paths, matched terms and answer span marked. The URL carries the query.

import { allDocuments, api } from "./api.js";
import { errorBox, fmt, h, ht, link, marked, sectionPath, status } from "./dom.js";
import { tx, txAttr } from "./i18n.js";

export const MODES = ["hybrid", "dense", "lexical"];
const DEFAULT_K = 5;

let form = null; // the live form, kept across searches so focus stays put
let results = null;

/** Question, mode, k and documents from the query string, clamped to what the API takes. */
export function readParams(params) {
  const mode = MODES.includes(params.get("mode")) ? params.get("mode") : "hybrid";
  const k = Math.min(100, Math.max(1, parseInt(params.get("k"), 10) || DEFAULT_K));
  return { q: params.get("q") || "", mode, k, docs: params.getAll("doc").filter(Boolean) };
}

export function askUrl({ q, mode, k, docs }) {
  const p = new URLSearchParams({ q, mode, k: String(k) });
  for (const d of docs) p.append("doc", d);
  return `/?${p}`;
}

export function render(main, params, ctx) {
  const state = readParams(params);
  const input = h("input", {
    id: "q",
    name: "q",
    type: "search",
    required: true,
    maxlength: 1000,
    autocomplete: "off",
    enterkeyhint: "search",
  });
  txAttr(input, "placeholder", "ask.placeholder");
  input.value = state.q;

  const modes = h("fieldset", { class: "modes" }, ht("legend", {}, "ask.mode"));
  for (const m of MODES) {
    const radio = h("input", { type: "radio", name: "mode", value: m, checked: m === state.mode });
    modes.append(h("label", { class: "choice" }, radio, ht("span", {}, `mode.${m}`)));
  }
  const k = h("input", { id: "k", name: "k", type: "number", min: 1, max: 100, value: state.k });
  const docs = docFilter(state.docs, ctx);

  form = h(
    "form",
    { class: "ask", role: "search", novalidate: true },
    ht("label", { for: "q", class: "q-label" }, "ask.label"),
    h("div", { class: "ask-row" }, input, ht("button", { type: "submit", class: "primary" }, "ask.submit")),
    h(
      "div",
      { class: "options" },
      modes,
      h("div", { class: "k" }, ht("label", { for: "k" }, "ask.k"), k),
      docs,
    ),
  );
  results = h("div", { class: "results", "aria-live": "polite" });
  main.append(ht("h1", { class: "visually-hidden" }, "ask.heading"), form, results);

  const submit = (e, { replace = false } = {}) => {
    if (e) e.preventDefault();
    const next = {
      q: input.value.trim(),
      mode: form.querySelector("input[name=mode]:checked")?.value || "hybrid",
      k: Math.min(100, Math.max(1, parseInt(k.value, 10) || DEFAULT_K)),
      docs: [...form.querySelectorAll("input[name=doc]:checked")].map((c) => c.value),
    };
    k.value = next.k;
    if (!next.q) {
      results.replaceChildren(ht("p", { class: "error", role: "alert" }, "ask.empty"));
      input.focus();
      return;
    }
    ctx.navigate(askUrl(next), { focus: false, replace });
  };
  form.addEventListener("submit", submit);
  // Changing how to search re-runs a question already asked, in the same history entry.
  form.addEventListener("change", (e) => {
    const asked = new URLSearchParams(location.search).get("q");
    if (e.target !== input && asked && asked === input.value.trim()) submit(null, { replace: true });
    else if (e.target !== input && input.value.trim()) submit();
  });
  if (state.q) run(state, ctx);
  else {
    input.dataset.autofocus = "";
    input.focus();
  }
}

/** Same view, new query string (a search or back/forward): keep the form, rerun. */
export function update(params, ctx) {
  if (!form || !form.isConnected) return false;
  const state = readParams(params);
  form.querySelector("#q").value = state.q;
  for (const r of form.querySelectorAll("input[name=mode]")) r.checked = r.value === state.mode;
  form.querySelector("#k").value = state.k;
  for (const c of form.querySelectorAll("input[name=doc]")) c.checked = state.docs.includes(c.value);
  form.querySelector(".docfilter").dispatchEvent(new Event("refresh"));
  if (state.q) run(state, ctx);
  else results.replaceChildren();
  return true;
}

function docFilter(selected, ctx) {
  const summary = h("summary");
  const list = h("div", { class: "doc-list" }, status("common.loading"));
  const fieldset = h("fieldset", {}, ht("legend", { class: "visually-hidden" }, "ask.docs"), list);
  const clearButton = ht("button", { type: "button", class: "link-button" }, "ask.docs.clear");
  const details = h("details", { class: "docfilter" }, summary, fieldset, clearButton);
  let loaded = false;
  const label = () => {
    const n = loaded ? details.querySelectorAll("input[name=doc]:checked").length : selected.length;
    if (n) tx(summary, "ask.docs.some", { n });
    else tx(summary, "ask.docs.all");
  };
  label();
  details.addEventListener("change", label);
  details.addEventListener("refresh", label);
  clearButton.addEventListener("click", () => {
    for (const c of details.querySelectorAll("input[name=doc]")) c.checked = false;
    label();
    details.dispatchEvent(new Event("change", { bubbles: true }));
  });
  allDocuments(ctx.signal).then(
    (docs) => {
      const known = new Set(docs.map((d) => d.doc_id));
      const rows = [...docs, ...selected.filter((id) => !known.has(id)).map((id) => ({ doc_id: id, title: id }))];
      list.replaceChildren(
        ...rows.map((d) =>
          h(
            "label",
            { class: "choice doc" },
            h("input", { type: "checkbox", name: "doc", value: d.doc_id, checked: selected.includes(d.doc_id) }),
            h("span", {}, d.title || d.doc_id),
          ),
        ),
      );
      loaded = true;
      label();
    },
    (err) => {
      if (err.name !== "AbortError") list.replaceChildren(ht("p", { class: "error" }, "ask.docs.error"));
    },
  );
  return details;
}

async function run(state, ctx) {
  const target = results;
  target.setAttribute("aria-busy", "true");
  target.replaceChildren(status("ask.searching"));
  try {
    const body = await api("/ask", {
      method: "POST",
      body: { question: state.q, k: state.k, mode: state.mode, doc_ids: state.docs.length ? state.docs : null },
      signal: ctx.signal,
    });
    target.replaceChildren(answerCard(body), hitList(body.hits));
  } catch (err) {
    if (err.name === "AbortError") return;
    target.replaceChildren(errorBox(err));
  } finally {
    target.removeAttribute("aria-busy");
  }
}

/** The answer sentence with where it comes from, or the reason there is none, said plainly. */
function answerCard(body) {
  if (!body.answer) {
    return h(
      "section",
      { class: "answer-card none", "aria-labelledby": "answer-h" },
      ht("h2", { id: "answer-h" }, "ask.noanswer"),
      reasonText(body.reason),
    );
  }
  const a = body.answer;
  const hit = body.hits.find((x) => x.passage_id === a.passage_id);
  return h(
    "section",
    { class: "answer-card", "aria-labelledby": "answer-h" },
    ht("h2", { id: "answer-h" }, "ask.answer"),
    h("blockquote", { class: "answer-text" }, h("p", {}, a.text)),
    hit ? h("p", { class: "doc-title" }, hit.title) : null,
    hit ? sectionPath(hit.section) : null,
    link(`/?passage=${encodeURIComponent(a.passage_id)}&mark=${a.start}-${a.end}`, { class: "answer-link" },
      ht("span", {}, "ask.inpassage")),
  );
}

function reasonText(reason) {
  const text = reason || "";
  const weak = text.match(/best score (-?[\d.]+), threshold (-?[\d.]+)/);
  if (weak) return ht("p", { class: "reason" }, "reason.weak", { best: weak[1], threshold: weak[2] });
  if (/no passage matched/.test(text)) return ht("p", { class: "reason" }, "reason.nohits");
  if (/no complete sentence/.test(text)) return ht("p", { class: "reason" }, "reason.nosentence");
  return ht("p", { class: "reason" }, "reason.other", { reason: text });
}

function hitList(hits) {
  const section = h("section", { class: "hits", "aria-labelledby": "hits-h" });
  section.append(
    h("div", { class: "hits-head" },
      ht("h2", { id: "hits-h" }, "ask.results"),
      ht("span", { class: "count" }, "ask.count", { n: hits.length })),
  );
  if (!hits.length) {
    section.append(ht("p", { class: "empty" }, "ask.none"));
    return section;
  }
  section.append(
    h("p", { class: "legend" },
      h("mark", { class: "term" }, ht("span", {}, "ask.legend.term")), " ",
      h("mark", { class: "answer" }, ht("span", {}, "ask.legend.answer"))),
  );
  const ol = h("ol", { class: "hit-list" });
  hits.forEach((hit, i) => ol.append(hitItem(hit, i + 1)));
  section.append(ol);
  return section;
}

export function hitItem(hit, rank) {
  const titleId = `hit-${rank}-title`;
  const parts = [];
  if ("dense" in (hit.scores || {})) parts.push(ht("li", {}, "hit.dense", { v: fmt(hit.scores.dense) }));
  if ("lexical" in (hit.scores || {})) parts.push(ht("li", {}, "hit.lexical", { v: fmt(hit.scores.lexical) }));
  const pid = encodeURIComponent(hit.passage_id);
  return h(
    "li",
    { class: "hit" },
    h(
      "article",
      { "aria-labelledby": titleId },
      h("header", {},
        h("span", { class: "rank", "aria-hidden": "true" }, String(rank)),
        h("h3", { id: titleId }, link(`/?passage=${pid}`, {}, hit.title)),
        sectionPath(hit.section)),
      h("p", { class: "passage-text" }, marked(hit.text, hit.highlights)),
      h("div", { class: "hit-foot" },
        h("details", { class: "scores" },
          ht("summary", {}, "hit.score", { score: fmt(hit.score) }),
          h("ul", {}, parts)),
        link(`/?passage=${pid}`, { class: "read-link" }, ht("span", {}, "hit.read")),
        link(`/?passage=${pid}#similar`, { class: "similar-link" }, ht("span", {}, "hit.similar"))),
    ),
  );
}
