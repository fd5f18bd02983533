// Library: the API key for this tab, uploads with progress and a per-file report, the paged
// document list with delete (after a confirmation).

import { api, apiKey, setApiKey, uploadFile, waitForJob } from "./api.js";
import { errorBox, fmt, fmtSize, h, ht, link, status } from "./dom.js";
import { currentLang, tx, txAttr } from "./i18n.js";

const PAGE_SIZE = 20;

export function render(main, params, ctx) {
  const page = Math.max(1, parseInt(params.get("page"), 10) || 1);
  const listBox = h("div", { class: "doc-box" });
  const message = h("div", { class: "lib-message", role: "status" });
  main.append(
    ht("h1", {}, "lib.heading"),
    keySection(),
    uploadSection(() => loadList(listBox, message, page, ctx)),
    h("section", { class: "library", "aria-labelledby": "docs-h" }, ht("h2", { id: "docs-h" }, "lib.list"), message, listBox),
  );
  loadList(listBox, message, page, ctx);
}

function keySection() {
  const section = h("section", { class: "key", "aria-labelledby": "key-h" });
  const draw = () => {
    const heading = ht("h2", { id: "key-h" }, "lib.key");
    if (apiKey()) {
      const forget = ht("button", { type: "button" }, "lib.key.forget");
      forget.addEventListener("click", () => {
        setApiKey("");
        draw();
        section.querySelector("input")?.focus();
      });
      section.replaceChildren(heading, h("div", { class: "key-row" }, ht("p", { class: "key-set" }, "lib.key.set"), forget));
      return;
    }
    const input = h("input", { id: "api-key", type: "password", autocomplete: "off", spellcheck: "false" });
    const form = h("form", { class: "key-row" },
      ht("label", { for: "api-key" }, "lib.key"), input,
      ht("button", { type: "submit" }, "lib.key.save"));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      if (!input.value.trim()) return;
      setApiKey(input.value.trim());
      draw();
      section.querySelector("button")?.focus();
    });
    section.replaceChildren(heading, ht("p", { class: "help" }, "lib.key.help"), form);
  };
  draw();
  return section;
}

function uploadSection(onDone) {
  const input = h("input", { id: "files", type: "file", multiple: true, class: "visually-hidden", tabindex: "-1" });
  txAttr(input, "aria-label", "lib.files");
  const choose = ht("button", { type: "button", class: "primary" }, "lib.choose");
  const zone = h("div", { class: "dropzone" }, ht("span", {}, "lib.drop"), " ", choose, input);
  const list = h("ul", { class: "uploads", "aria-live": "polite" });
  choose.addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    const files = [...input.files];
    input.value = "";
    if (files.length) uploadAll(files, list, onDone);
  });
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (e) => {
      e.preventDefault();
      zone.classList.add("over");
    });
  }
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    const files = [...(e.dataTransfer?.files || [])];
    if (files.length) uploadAll(files, list, onDone);
  });
  return h("section", { class: "upload", "aria-labelledby": "upload-h" }, ht("h2", { id: "upload-h" }, "lib.upload"), zone, list);
}

/** Upload files one request each, so every file has its own progress and report. */
async function uploadAll(files, list, onDone) {
  const rows = files.map((file) => {
    const bar = h("progress", { max: 100, value: 0 });
    const state = ht("span", { class: "state" }, "lib.upload.waiting");
    const li = h("li", { class: "upload-row" },
      h("div", { class: "upload-head" }, h("span", { class: "file-name" }, file.name), h("span", { class: "size" }, fmtSize(file.size))),
      bar, state);
    txAttr(bar, "aria-label", "lib.upload.waiting");
    list.prepend(li);
    return { file, li, bar, state };
  });
  for (const { file, li, bar, state } of rows) {
    try {
      const { status: code, body } = await uploadFile(file, (fraction) => {
        const pct = Math.round(fraction * 100);
        bar.value = pct;
        tx(state, "lib.upload.sending", { pct });
        if (fraction >= 1) {
          bar.removeAttribute("value"); // indeterminate while the server indexes
          tx(state, "lib.upload.indexing");
        }
      });
      let report = body;
      if (code === 202) {
        bar.removeAttribute("value");
        tx(state, "lib.upload.indexing");
        report = await waitForJob(body.job_id, (done, total) => {
          bar.max = Math.max(1, total);
          bar.value = done;
          tx(state, "lib.upload.job", { done, total });
        });
      }
      bar.remove();
      state.remove();
      for (const d of report?.documents || []) {
        const key = ["added", "replaced", "unchanged"].includes(d.status) ? `lib.upload.${d.status}` : "lib.upload.added";
        li.append(h("p", { class: `report ${d.status}` },
          ht("span", {}, key, { passages: d.passages, seconds: fmt(d.seconds, 1) }), " ",
          link(`/?document=${encodeURIComponent(d.doc_id)}`, { class: "mono" }, d.doc_id)));
      }
    } catch (err) {
      bar.remove();
      state.remove();
      li.append(errorBox(err));
    }
  }
  document.dispatchEvent(new CustomEvent("documents-changed"));
  onDone();
}

async function loadList(box, message, page, ctx) {
  box.setAttribute("aria-busy", "true");
  if (!box.childElementCount) box.append(status("common.loading"));
  let docs;
  let total;
  try {
    const body = await api(`/documents?limit=${PAGE_SIZE}&offset=${(page - 1) * PAGE_SIZE}`, { signal: ctx.signal });
    docs = body.documents;
    total = typeof body.total === "number" ? body.total : docs.length;
    if (typeof body.total !== "number") docs = docs.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE);
  } catch (err) {
    if (err.name === "AbortError") return;
    box.replaceChildren(errorBox(err));
    box.removeAttribute("aria-busy");
    return;
  }
  box.removeAttribute("aria-busy");
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  if (!docs.length && page > 1) {
    ctx.navigate(`/?view=library&page=${pages}`, { replace: true, focus: false });
    return;
  }
  if (!total) {
    box.replaceChildren(ht("p", { class: "empty" }, "lib.empty"));
    return;
  }
  const ul = h("ul", { class: "doc-items" });
  for (const d of docs) ul.append(docItem(d, () => remove(d, box, message, page, ctx)));
  const pager = h("nav", { class: "pager" });
  txAttr(pager, "aria-label", "lib.list");
  if (page > 1) pager.append(link(`/?view=library&page=${page - 1}`, { rel: "prev" }, ht("span", {}, "common.prev")));
  pager.append(ht("span", { class: "page" }, "lib.page", { page, pages }));
  if (page < pages) pager.append(link(`/?view=library&page=${page + 1}`, { rel: "next" }, ht("span", {}, "common.next")));
  box.replaceChildren(ht("p", { class: "total" }, "lib.total", { total }), ul, pager);
}

function docItem(d, onDelete) {
  const del = ht("button", { type: "button", class: "danger" }, "lib.delete");
  txAttr(del, "aria-label", "lib.delete.label", { title: d.title });
  del.addEventListener("click", onDelete);
  const meta = [];
  if (typeof d.passages === "number") meta.push(ht("span", {}, "lib.passages", { n: d.passages }));
  if (d.format) meta.push(h("span", {}, d.format));
  if (typeof d.size === "number") meta.push(h("span", {}, fmtSize(d.size)));
  if (d.indexed_at) {
    const date = new Date(d.indexed_at);
    if (!Number.isNaN(date.getTime())) {
      meta.push(h("span", {}, new Intl.DateTimeFormat(currentLang(), { dateStyle: "medium" }).format(date)));
    }
  }
  return h("li", { class: "doc-item" },
    h("div", { class: "doc-main" },
      link(`/?document=${encodeURIComponent(d.doc_id)}`, { class: "doc-title" }, d.title || d.doc_id),
      h("p", { class: "meta" }, meta),
      h("p", { class: "meta mono" }, d.doc_id)),
    del);
}

async function remove(d, box, message, page, ctx) {
  const params = { title: d.title || d.doc_id, passages: d.passages ?? "?" };
  const ok = await ctx.confirm({ title: "lib.delete.title", text: "lib.delete.text", ok: "lib.delete", params });
  if (!ok) return;
  try {
    await api(`/documents/${encodeURIComponent(d.doc_id)}`, { method: "DELETE" });
  } catch (err) {
    message.replaceChildren(errorBox(err));
    return;
  }
  document.dispatchEvent(new CustomEvent("documents-changed"));
  await loadList(box, message, page, ctx);
  message.replaceChildren(ht("p", { class: "ok", tabindex: "-1" }, "lib.deleted", params));
  message.firstChild.focus();
}
