// The HTTP API: JSON in and out, the tab's API key as a header, errors as readable messages.

const KEY_STORE = "zhsearch.apiKey";

export function apiKey() {
  try {
    return sessionStorage.getItem(KEY_STORE) || "";
  } catch {
    return "";
  }
}

export function setApiKey(key) {
  try {
    if (key) sessionStorage.setItem(KEY_STORE, key);
    else sessionStorage.removeItem(KEY_STORE);
  } catch {
    // storage blocked: nothing to keep the key in
  }
}

/** A failed request: `status` 0 when the server was not reached; `detail` is the server's sentence. */
export class ApiError extends Error {
  constructor(status, detail = null, kind = null) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
    this.kind = kind;
  }

  /** [key, params] of the headline in the interface language. */
  headline() {
    if (this.kind === "bad") return ["err.bad", {}];
    if (this.kind === "job") return ["err.job", { detail: this.detail || "" }];
    const s = this.status;
    if (s === 0) return ["err.network", {}];
    if ([400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 503].includes(s)) return [`err.${s}`, {}];
    if (s >= 500) return ["err.5xx", { status: s }];
    return ["err.other", { status: s }];
  }
}

function headers(json) {
  const h = { Accept: "application/json" };
  if (json) h["Content-Type"] = "application/json";
  const key = apiKey();
  if (key) h["X-API-Key"] = key;
  return h;
}

/** The error sentence of an error body, never the raw JSON. */
function errorSentence(text) {
  try {
    const body = JSON.parse(text);
    if (body && typeof body.error === "string") return body.error;
    if (body && typeof body.detail === "string") return body.detail;
  } catch {
    // not JSON (a proxy's HTML page, say): no sentence to show
  }
  return null;
}

/** Parse a response: the JSON body, null for 204, an ApiError for a failure. */
export function readResponse(status, text) {
  if (status < 200 || status >= 300) throw new ApiError(status, errorSentence(text));
  if (status === 204 || !text) return null;
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(status, null, "bad");
  }
}

export async function api(path, { method = "GET", body, signal } = {}) {
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: headers(body !== undefined),
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0);
  }
  return readResponse(res.status, await res.text());
}

/** POST one file as multipart `files`, reporting upload progress (0–1) to `onProgress`. */
export function uploadFile(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/documents");
    for (const [k, v] of Object.entries(headers(false))) xhr.setRequestHeader(k, v);
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    });
    xhr.addEventListener("load", () => {
      try {
        resolve({ status: xhr.status, body: readResponse(xhr.status, xhr.responseText) });
      } catch (err) {
        reject(err);
      }
    });
    xhr.addEventListener("error", () => reject(new ApiError(0)));
    xhr.addEventListener("abort", () => reject(new ApiError(0)));
    const form = new FormData();
    form.append("files", file, file.name);
    xhr.send(form);
  });
}

/** Follow an indexing job until it is done; `onProgress(done, total)` while it runs. */
export async function waitForJob(jobId, onProgress) {
  for (;;) {
    const job = await api(`/jobs/${encodeURIComponent(jobId)}`);
    if (job.state === "done") return job.report;
    if (job.state === "failed") throw new ApiError(200, job.error || "", "job");
    onProgress(job.done ?? 0, job.total ?? 0);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Every document in the index (the list is paged by the server: read all pages). */
export async function allDocuments(signal) {
  const out = [];
  const limit = 100;
  for (let offset = 0; offset < 10_000; offset += limit) {
    const page = await api(`/documents?limit=${limit}&offset=${offset}`, { signal });
    out.push(...page.documents);
    const total = typeof page.total === "number" ? page.total : out.length;
    if (!page.documents.length || out.length >= total) break;
  }
  return out;
}
