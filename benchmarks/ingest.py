"""Ingestion throughput per format, and one 300-passage upload end to end: `make bench-ingest`.

The five seed documents are written as .txt, .md, .html, .docx and .pdf (each run marks every
paragraph with a fresh tag, so nothing comes from the embedding cache) and uploaded over HTTP
to a real server on an empty index; documents/s and passages/s per format. Then one document
of about 300 passages is uploaded: a job (202), polled until done.

    .venv/bin/python benchmarks/ingest.py
"""

from __future__ import annotations

import io
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from html import escape
from pathlib import Path

import httpx
from common import RESULTS  # noqa: I001
from serverproc import ServerProcess, scratch_data_dir

from embeddings.sources import read_source

ROOT = Path(__file__).resolve().parent.parent


def paragraphs(path: Path, tag: str) -> tuple[str, list[str]]:
    text = read_source(path).text
    paras = [p.strip() for p in text.split("\n") if p.strip()]
    return paras[0], [f"{p}（{tag}）" for p in paras[1:]]


def as_txt(title: str, paras: list[str]) -> bytes:
    return "\n\n".join([title, *paras]).encode()


def as_md(title: str, paras: list[str]) -> bytes:
    return "\n\n".join([f"# {title}", *paras]).encode()


def as_html(title: str, paras: list[str]) -> bytes:
    body = "".join(f"<p>{escape(p)}</p>" for p in paras)
    return (
        f"<html><head><title>{escape(title)}</title></head><body>"
        f"<nav><a href='/'>首页</a> <a href='/news'>新闻</a></nav>"
        f"<article><h1>{escape(title)}</h1>{body}</article>"
        f"<footer>版权所有 © 2026 分享到微信</footer></body></html>"
    ).encode()


def as_docx(title: str, paras: list[str]) -> bytes:
    import docx

    d = docx.Document()
    d.add_heading(title, level=1)
    for p in paras:
        d.add_paragraph(p)
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


def as_pdf(title: str, paras: list[str]) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    style = ParagraphStyle("zh", fontName="STSong-Light", fontSize=11, leading=16, wordWrap="CJK")
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=A4).build(
        [Paragraph(escape(title), style), *(Paragraph(escape(p), style) for p in paras)]
    )
    return out.getvalue()


FORMATS: dict[str, Callable[[str, list[str]], bytes]] = {
    ".txt": as_txt,
    ".md": as_md,
    ".html": as_html,
    ".docx": as_docx,
    ".pdf": as_pdf,
}


def wait_job(client: httpx.Client, url: str) -> dict:
    while True:
        job = client.get(url).json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.2)


def main() -> int:
    seeds = sorted((ROOT / "seeds").glob("*.txt"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = scratch_data_dir(Path(tmp), Path(os.environ.get("DATA_DIR", ROOT / "data")))
        empty = Path(tmp) / "no-seeds"
        empty.mkdir()
        server = ServerProcess(data, Path(tmp) / "index", empty, Path(tmp) / "server.log")
        with server, httpx.Client(base_url=server.url, timeout=600) as client:
            server.start()
            server.wait_ready(model=True)
            for suffix, write in FORMATS.items():
                try:
                    files = []
                    for path in seeds:
                        title, paras = paragraphs(path, uuid.uuid4().hex[:8])
                        files.append(("files", (f"{path.stem}{suffix}", write(title, paras))))
                except ImportError as exc:
                    print(f"{suffix}: skipped ({exc})")
                    continue
                t0 = time.perf_counter()
                r = client.post("/documents", files=files)
                body = r.json()
                if r.status_code == 202:
                    body = wait_job(client, body["status_url"])["report"]
                elif r.status_code != 201:
                    raise RuntimeError(f"{suffix}: {r.status_code} {r.text}")
                seconds = time.perf_counter() - t0
                passages = sum(d["passages"] for d in body["documents"])
                rows.append((suffix, len(files), passages, seconds))
                print(f"{suffix:6} {len(files)} docs {passages:4} passages {seconds:6.1f}s")
            # one long document: the seeds with fresh tags, repeated until ~300 passages
            parts = []
            for _ in range(4):
                for path in seeds:
                    title, paras = paragraphs(path, uuid.uuid4().hex[:8])
                    parts.append("\n\n".join([title, *paras]))
            t0 = time.perf_counter()
            r = client.post("/documents", json={"doc_id": "long", "text": "\n\n".join(parts)})
            if r.status_code == 202:
                job = wait_job(client, r.json()["status_url"])
                long_passages = job["report"]["documents"][0]["passages"]
            else:
                long_passages = r.json()["documents"][0]["passages"]
            long_seconds = time.perf_counter() - t0
    md = [
        "# Ingestion",
        "",
        f"Made by `make bench-ingest` ({platform.machine()}, {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d')}): the five seed documents in each format uploaded in one "
        "request to a real server on an empty index, nothing from the embedding cache.",
        "",
        "| format | documents | passages | seconds | documents/s | passages/s |",
        "|---|---|---|---|---|---|",
        *[f"| {s} | {n} | {p} | {t:.1f} | {n / t:.2f} | {p / t:.1f} |" for s, n, p, t in rows],
        "",
        f"One document of {long_passages} passages, uploaded as JSON (a job: 202, then polled): "
        f"{long_seconds:.1f} s end to end ({long_passages / long_seconds:.1f} passages/s).",
    ]
    (RESULTS / "ingest.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
