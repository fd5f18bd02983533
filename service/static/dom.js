// DOM helpers. Text from the API only ever becomes text nodes: nothing here parses HTML.

import { t, tx } from "./i18n.js";

/** An element; `attrs` become attributes (booleans toggle), children strings become text. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** An element whose text is the interface string `key` (retranslated on language change). */
export function ht(tag, attrs, key, params = {}) {
  return tx(h(tag, attrs), key, params);
}

/** An in-page link: real href (new tab works), handled by the router on plain clicks. */
export function link(href, attrs, ...children) {
  return h("a", { href, "data-nav": true, ...attrs }, ...children);
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

/**
 * `text` with its highlight spans marked: answer spans as <mark class="answer">, terms inside
 * or outside them as <mark class="term">. Offsets are code points (Python's), not UTF-16.
 */
export function marked(text, spans = []) {
  const chars = Array.from(text);
  const n = chars.length;
  const flags = new Uint8Array(n);
  for (const s of spans) {
    const bit = s.kind === "answer" ? 2 : 1;
    for (let i = Math.max(0, s.start); i < Math.min(n, s.end); i++) flags[i] |= bit;
  }
  const frag = document.createDocumentFragment();
  const runs = (lo, hi, test) => {
    const out = [];
    let i = lo;
    while (i < hi) {
      let j = i;
      while (j < hi && test(flags[j]) === test(flags[i])) j++;
      out.push([i, j, test(flags[i])]);
      i = j;
    }
    return out;
  };
  const terms = (parent, lo, hi) => {
    for (const [a, b, on] of runs(lo, hi, (f) => (f & 1) === 1)) {
      const s = chars.slice(a, b).join("");
      parent.append(on ? h("mark", { class: "term" }, s) : document.createTextNode(s));
    }
  };
  for (const [a, b, on] of runs(0, n, (f) => (f & 2) === 2)) {
    if (on) {
      const m = h("mark", { class: "answer" });
      terms(m, a, b);
      frag.append(m);
    } else {
      terms(frag, a, b);
    }
  }
  return frag;
}

/** The heading path ("一、… › （一）…") as a list, outermost first. */
export function sectionPath(section) {
  const parts = (section || "").split(" › ").filter(Boolean);
  if (!parts.length) return ht("p", { class: "section none" }, "common.nosection");
  const ol = h("ol", { class: "section" });
  for (const p of parts) ol.append(h("li", {}, p));
  return ol;
}

/** First `n` code points of `text`, with an ellipsis when cut. */
export function snippet(text, n = 90) {
  const chars = Array.from(text.replace(/\s+/g, " ").trim());
  return chars.length > n ? chars.slice(0, n).join("") + "…" : chars.join("");
}

export function fmt(value, digits = 3) {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(digits) : "–";
}

export function fmtSize(bytes) {
  if (typeof bytes !== "number") return "–";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** A readable message for a failed request: a headline in the interface language and the
 *  server's own sentence under it. Never the raw response. */
export function errorBox(err) {
  const box = h("div", { class: "error", role: "alert" });
  if (err && typeof err.headline === "function") {
    const [key, params] = err.headline();
    box.append(ht("p", { class: "headline" }, key, params));
    if (err.detail && err.kind !== "job") {
      box.append(ht("p", { class: "detail" }, "err.detail", { detail: err.detail }));
    }
  } else {
    box.append(ht("p", { class: "headline" }, "err.bad"));
    console.error(err);
  }
  return box;
}

/** A polite status line (loading, counts) that screen readers announce. */
export function status(key, params) {
  return ht("p", { class: "status", role: "status" }, key, params);
}

export { t };
