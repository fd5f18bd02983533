// Read: a passage among its document's neighbouring passages, with similar passages beside it;
// and a document's table of passages.

import { api } from "./api.js";
import { errorBox, fmt, fmtSize, h, ht, link, marked, sectionPath, snippet, status } from "./dom.js";
import { currentLang } from "./i18n.js";

export function render(main, params, ctx) {
  if (params.get("passage")) renderPassage(main, params.get("passage"), params.get("mark"), ctx);
  else renderDocument(main, params.get("document"), ctx);
}

function passageHref(id) {
  return `/?passage=${encodeURIComponent(id)}`;
}

/** `mark=start-end` from the answer card: the answer span in code points. */
function markSpans(mark) {
  const m = /^(\d+)-(\d+)$/.exec(mark || "");
  return m ? [{ start: Number(m[1]), end: Number(m[2]), kind: "answer" }] : [];
}

async function renderPassage(main, id, mark, ctx) {
  const reading = h("article", { class: "reading", "aria-busy": "true" }, status("common.loading"));
  const aside = h("aside", { id: "similar", class: "similar", "aria-labelledby": "similar-h" },
    ht("h2", { id: "similar-h" }, "read.similar"), status("common.loading"));
  main.append(h("div", { class: "read-layout" }, reading, aside));

  let passage;
  try {
    passage = await api(`/passages/${encodeURIComponent(id)}`, { signal: ctx.signal });
  } catch (err) {
    if (err.name === "AbortError") return;
    reading.replaceChildren(ht("h1", {}, "read.heading"), errorBox(err));
    reading.removeAttribute("aria-busy");
    aside.remove();
    return;
  }
  const before = h("div", { class: "context before" });
  const after = h("div", { class: "context after" });
  const current = h("section", { class: "current", "aria-labelledby": "current-h" },
    ht("h2", { id: "current-h", class: "visually-hidden" }, "read.current"),
    sectionPath(passage.section),
    h("p", { class: "passage-text" }, marked(passage.text, markSpans(mark))));
  reading.replaceChildren(
    h("h1", { id: "read-h" }, passage.title),
    h("p", { class: "crumbs" }, link(`/?document=${encodeURIComponent(passage.doc_id)}`, {}, ht("span", {}, "read.document"))),
    before, current, after,
  );
  reading.removeAttribute("aria-busy");
  reading.setAttribute("aria-labelledby", "read-h");
  loadNeighbours(passage, before, after, ctx);
  loadSimilar(passage, aside, ctx);
}

async function loadNeighbours(passage, before, after, ctx) {
  before.append(status("common.loading"));
  try {
    const n = await api(`/passages/${encodeURIComponent(passage.passage_id)}/neighbours?n=2`, { signal: ctx.signal });
    const block = (key, list) =>
      list.length
        ? [ht("h2", { class: "context-h" }, key), ...list.map((p) => neighbour(p, passage.section))]
        : [];
    before.replaceChildren(...block("read.before", n.before || []));
    after.replaceChildren(...block("read.after", n.after || []));
    if (!(n.before || []).length && !(n.after || []).length) {
      after.replaceChildren(ht("p", { class: "empty" }, "read.neighbours.none"));
    }
  } catch (err) {
    if (err.name === "AbortError") return;
    // The passage itself loaded, so a 404 here means this server has no neighbours route.
    before.replaceChildren(err.status === 404 ? ht("p", { class: "note" }, "read.neighbours.unavailable") : errorBox(err));
  }
}

function neighbour(p, currentSection) {
  return h("div", { class: "neighbour" },
    p.section !== currentSection ? sectionPath(p.section) : null,
    h("p", { class: "passage-text" }, link(passageHref(p.passage_id), { class: "quiet" }, p.text)));
}

async function loadSimilar(passage, aside, ctx) {
  const heading = aside.querySelector("h2");
  try {
    const body = await api("/similar", { method: "POST", body: { passage_id: passage.passage_id, k: 5 }, signal: ctx.signal });
    const items = body.hits.map((hit) =>
      h("li", {},
        link(passageHref(hit.passage_id), { class: "similar-title" }, hit.title),
        sectionPath(hit.section),
        h("p", { class: "snippet" }, snippet(hit.text)),
        h("p", { class: "score" }, fmt(hit.score))));
    aside.replaceChildren(heading, items.length ? h("ol", { class: "similar-list" }, items) : ht("p", { class: "empty" }, "read.similar.none"));
  } catch (err) {
    if (err.name === "AbortError") return;
    aside.replaceChildren(heading, errorBox(err));
  }
  if (location.hash === "#similar") {
    heading.setAttribute("tabindex", "-1");
    heading.focus();
    aside.scrollIntoView({ block: "start" });
  }
}

async function renderDocument(main, docId, ctx) {
  const box = h("article", { class: "document", "aria-busy": "true" }, status("common.loading"));
  main.append(box);
  try {
    const doc = await api(`/documents/${encodeURIComponent(docId)}`, { signal: ctx.signal });
    const date = doc.indexed_at ? new Date(doc.indexed_at) : null;
    const indexed = date && !Number.isNaN(date.getTime())
      ? new Intl.DateTimeFormat(currentLang(), { dateStyle: "medium", timeStyle: "short" }).format(date)
      : "–";
    const items = (doc.passages || []).map((p) =>
      h("li", {},
        link(passageHref(p.passage_id), {}, p.section || "—"),
        p.pages && p.pages.length ? ht("span", { class: "pages" }, "doc.pages", { pages: p.pages.join("–") }) : null));
    box.replaceChildren(...[
      h("h1", {}, doc.title),
      ht("p", { class: "meta" }, "doc.meta", {
        passages: (doc.passages || []).length, format: doc.format || "–", size: fmtSize(doc.size), indexed,
      }),
      doc.source ? ht("p", { class: "meta source" }, "doc.source", { source: doc.source }) : null,
      h("p", { class: "meta mono" }, doc.doc_id),
      ht("h2", {}, "doc.passages"),
      h("ol", { class: "toc" }, items),
    ].filter(Boolean));
  } catch (err) {
    if (err.name === "AbortError") return;
    box.replaceChildren(ht("h1", {}, "doc.heading"), errorBox(err));
  } finally {
    box.removeAttribute("aria-busy");
  }
}
