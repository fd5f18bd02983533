// Evaluate: a JSONL question file run through /search/batch in the chosen modes, scored as the
// eval CLI scores it (service/evaluation.py), with a bar chart and the questions not ranked first.

import { api } from "./api.js";
import { errorBox, fmt, h, ht, link, status } from "./dom.js";
import { t, tx } from "./i18n.js";
import { MODES } from "./ask.js";

const DEPTH = 10; // ranks scored, as the CLI's default --k
const LABELS = ["answers", "relevant_docs", "relevant_passages"];
let last = null; // the last result, kept while the tab is open

/** Questions from JSONL text, or {errors} with line numbers (the CLI's rules). */
export function parseQuestions(text) {
  const questions = [];
  const errors = [];
  const seen = new Set();
  text.replace(/^\uFEFF/, "").split(/\r?\n/).forEach((line, i) => {
    const n = i + 1;
    if (!line.trim()) return;
    let obj;
    try {
      obj = JSON.parse(line);
    } catch {
      errors.push(["eval.error.json", { line: n }]);
      return;
    }
    if (!obj || typeof obj !== "object" || Array.isArray(obj)) {
      errors.push(["eval.error.object", { line: n }]);
      return;
    }
    const id = obj.id;
    if (!(typeof id === "string" || Number.isInteger(id)) || String(id) === "") {
      errors.push(["eval.error.id", { line: n }]);
      return;
    }
    if (typeof obj.question !== "string" || !obj.question.trim()) {
      errors.push(["eval.error.question", { line: n }]);
      return;
    }
    const q = { id: String(id), question: obj.question.trim() };
    for (const key of LABELS) {
      let value = obj[key] ?? [];
      if (typeof value === "string") value = [value];
      if (!Array.isArray(value) || !value.every((v) => typeof v === "string" && v.trim())) {
        errors.push(["eval.error.list", { line: n, key }]);
        return;
      }
      q[key] = value;
    }
    if (!LABELS.some((key) => q[key].length)) {
      errors.push(["eval.error.labels", { line: n }]);
      return;
    }
    if (seen.has(q.id)) {
      errors.push(["eval.error.duplicate", { line: n, id: q.id }]);
      return;
    }
    seen.add(q.id);
    questions.push(q);
  });
  if (!errors.length && !questions.length) errors.push(["eval.error.empty", {}]);
  return { questions, errors };
}

let t2s = null;
/** The server's character map Traditional → Simplified (empty if it cannot be had). */
async function loadT2s() {
  if (t2s) return t2s;
  t2s = new Map();
  try {
    const body = await api("/static/t2s.json");
    const from = Array.from(body.from);
    const to = Array.from(body.to);
    from.forEach((c, i) => t2s.set(c, to[i]));
  } catch {
    // matching stays white-space and width insensitive only
  }
  return t2s;
}

/** The form answer strings are matched in: width, case, script and white space ignored. */
export function compact(text, map = t2s || new Map()) {
  return Array.from(text.normalize("NFKC").toLowerCase(), (c) => map.get(c) ?? c)
    .join("")
    .replace(/\s+/gu, "");
}

/** Is `hit` relevant to `q`? The CLI's rule (service/evaluation.py `qrels_for`). */
export function isRelevant(hit, q) {
  if (q.relevant_passages.includes(hit.passage_id)) return true;
  if (!q.answers.length && !q.relevant_docs.length) return false;
  if (q.relevant_docs.length && !q.relevant_docs.includes(hit.doc_id)) return false;
  if (!q.answers.length) return true;
  const text = compact(hit.text);
  return q.answers.some((a) => text.includes(compact(a)));
}

export function metrics(ranks) {
  const n = ranks.length || 1;
  const sum = (f) => ranks.reduce((s, r) => s + f(r), 0) / n;
  return {
    "hit@1": sum((r) => (r === 1 ? 1 : 0)),
    "hit@5": sum((r) => (r !== null && r <= 5 ? 1 : 0)),
    "mrr@10": sum((r) => (r !== null && r <= DEPTH ? 1 / r : 0)),
    n: ranks.length,
  };
}

export function render(main, params, ctx) {
  const file = h("input", { id: "qfile", type: "file", accept: ".jsonl,.json,.txt,application/json,text/plain" });
  const modes = h("fieldset", { class: "modes" }, ht("legend", {}, "eval.modes"));
  for (const m of MODES) {
    modes.append(h("label", { class: "choice" },
      h("input", { type: "checkbox", name: "emode", value: m, checked: true }), ht("span", {}, `mode.${m}`)));
  }
  const runButton = ht("button", { type: "submit", class: "primary", disabled: true }, "eval.run");
  const parsed = h("div", { class: "parsed", "aria-live": "polite" });
  const out = h("div", { class: "eval-out", "aria-live": "polite" });
  const form = h("form", { class: "eval-form" },
    h("div", { class: "field" }, ht("label", { for: "qfile" }, "eval.file"), file),
    modes, parsed, runButton);
  main.append(ht("h1", {}, "eval.heading"), ht("p", { class: "help" }, "eval.help"), form, out);

  let questions = [];
  file.addEventListener("change", async () => {
    questions = [];
    runButton.disabled = true;
    const f = file.files[0];
    if (!f) {
      parsed.replaceChildren();
      return;
    }
    const result = parseQuestions(await f.text());
    if (result.errors.length) {
      const ul = h("ul", {}, result.errors.slice(0, 20).map(([key, p]) => ht("li", {}, key, p)));
      parsed.replaceChildren(h("div", { class: "error", role: "alert" }, ht("p", { class: "headline" }, "eval.errors"), ul));
      return;
    }
    questions = result.questions;
    parsed.replaceChildren(ht("p", { class: "ok" }, "eval.parsed", { n: questions.length }));
    runButton.disabled = false;
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const chosen = [...form.querySelectorAll("input[name=emode]:checked")].map((c) => c.value);
    if (!chosen.length) {
      out.replaceChildren(ht("p", { class: "error", role: "alert" }, "eval.error.nomode"));
      return;
    }
    runButton.disabled = true;
    try {
      last = await evaluate(questions, chosen, out, ctx);
      out.replaceChildren(results(last));
    } catch (err) {
      if (err.name !== "AbortError") out.replaceChildren(errorBox(err));
    } finally {
      runButton.disabled = false;
    }
  });
  if (last) out.append(results(last));
}

async function evaluate(questions, modes, out, ctx) {
  await loadT2s();
  const bar = h("progress", { max: questions.length * modes.length, value: 0 });
  const line = status("eval.progress", { mode: "", done: 0, total: questions.length });
  out.replaceChildren(bar, line);
  const ranks = {};
  const tops = {};
  let batch = 32;
  let finished = 0;
  for (const mode of modes) {
    ranks[mode] = [];
    tops[mode] = [];
    for (let i = 0; i < questions.length; ) {
      const chunk = questions.slice(i, i + batch);
      let body;
      try {
        body = await api("/search/batch", {
          method: "POST",
          body: { queries: chunk.map((q) => q.question), k: DEPTH, mode },
          signal: ctx.signal,
        });
      } catch (err) {
        if (err.status === 413 && batch > 1) {
          batch = Math.max(1, Math.floor(batch / 2)); // the server's batch limit is lower
          continue;
        }
        throw err;
      }
      body.results.forEach((res, j) => {
        const q = chunk[j];
        const at = res.hits.findIndex((hit) => isRelevant(hit, q));
        ranks[mode].push(at < 0 ? null : at + 1);
        tops[mode].push(res.hits[0] || null);
      });
      i += chunk.length;
      finished += chunk.length;
      bar.value = finished;
      tx(line, "eval.progress", { mode: t(`mode.${mode}`), done: i, total: questions.length });
    }
  }
  return { questions, modes, ranks, tops, scores: Object.fromEntries(modes.map((m) => [m, metrics(ranks[m])])) };
}

const METRICS = ["hit@1", "hit@5", "mrr@10"];
const METRIC_NAMES = { "hit@1": "hit@1", "hit@5": "hit@5", "mrr@10": "MRR@10" };

function results(r) {
  const head = h("tr", {}, ht("th", { scope: "col" }, "eval.mode"),
    METRICS.map((m) => h("th", { scope: "col" }, METRIC_NAMES[m])), h("th", { scope: "col" }, "n"));
  const rows = r.modes.map((mode) =>
    h("tr", {}, ht("th", { scope: "row" }, `mode.${mode}`),
      METRICS.map((m) => h("td", {}, fmt(r.scores[mode][m]))), h("td", {}, String(r.scores[mode].n))));
  const table = h("table", { class: "scores-table" },
    ht("caption", {}, "eval.table"), h("thead", {}, head), h("tbody", {}, rows));
  const legend = h("ul", { class: "chart-legend" },
    r.modes.map((mode) => h("li", {}, h("span", { class: `swatch ${mode}`, "aria-hidden": "true" }), ht("span", {}, `mode.${mode}`))));
  return h("section", { class: "eval-results", "aria-labelledby": "eval-res-h" },
    ht("h2", { id: "eval-res-h" }, "eval.results"),
    h("div", { class: "table-wrap" }, table),
    chart(r), legend,
    missed(r));
}

const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** Grouped bars, one group per metric, one bar per mode: inline SVG, nothing fetched. */
function chart(r) {
  const W = 600;
  const H = 260;
  const left = 44;
  const right = 8;
  const top = 16;
  const bottom = 32;
  const plotH = H - top - bottom;
  const groupW = (W - left - right) / METRICS.length;
  const barW = (groupW * 0.75) / r.modes.length;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-labelledby": "chart-title" });
  svg.append(tx(s("title", { id: "chart-title" }), "eval.chart"));
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    const y = top + plotH * (1 - v);
    svg.append(s("line", { x1: left, x2: W - right, y1: y, y2: y, class: v === 0 ? "axis" : "grid" }));
    svg.append(s("text", { x: left - 6, y: y + 4, class: "tick", "text-anchor": "end" }, v.toFixed(2)));
  }
  METRICS.forEach((m, g) => {
    const x0 = left + g * groupW + groupW * 0.125;
    r.modes.forEach((mode, b) => {
      const v = r.scores[mode][m];
      const bh = plotH * v;
      const x = x0 + b * barW;
      const bar = s("rect", { x: x + 2, y: top + plotH - bh, width: barW - 4, height: Math.max(bh, 0.5), class: `bar ${mode}` });
      bar.append(s("title", {}, `${mode} ${METRIC_NAMES[m]} ${fmt(v)}`));
      svg.append(bar, s("text", { x: x + barW / 2, y: top + plotH - bh - 4, class: "value", "text-anchor": "middle" }, fmt(v, 2)));
    });
    svg.append(s("text", { x: left + g * groupW + groupW / 2, y: H - 10, class: "label", "text-anchor": "middle" }, METRIC_NAMES[m]));
  });
  return h("figure", { class: "chart-box" }, svg);
}

/** Questions not ranked first in some mode, with where their answer ranked in each. */
function missed(r) {
  const section = h("section", { class: "missed", "aria-labelledby": "missed-h" }, ht("h3", { id: "missed-h" }, "eval.missed"));
  const items = [];
  r.questions.forEach((q, i) => {
    const ranks = r.modes.map((m) => r.ranks[m][i]);
    if (ranks.every((x) => x === 1)) return;
    const top = r.tops[r.modes[0]][i];
    items.push(h("li", {},
      h("p", { class: "q" }, h("span", { class: "mono qid" }, q.id), " ", q.question),
      h("ul", { class: "ranks" }, r.modes.map((m, j) => ranks[j] === null
        ? ht("li", { class: "miss" }, "eval.rank.none", { mode: t(`mode.${m}`) })
        : ht("li", {}, "eval.rank", { mode: t(`mode.${m}`), rank: ranks[j] }))),
      top ? h("p", { class: "top-hit" }, link(`/?passage=${encodeURIComponent(top.passage_id)}`, {},
        ht("span", {}, "eval.top", { title: top.title, section: top.section || "—" }))) : null));
  });
  section.append(items.length ? h("ol", { class: "missed-list" }, items) : ht("p", { class: "empty" }, "eval.missed.none"));
  return section;
}
