"""Documents in over HTTP: upload, replace, delete; large uploads as jobs.

A write answers only once it is in the index and durable (read-your-writes): the next
search returns the new content, and after a delete no passage of that document. Bad input
gets a 4xx and changes nothing.
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from embeddings.engine import IndexReport, SearchEngine, UnknownDocumentsError
from embeddings.sources import (
    SUPPORTED_SUFFIXES,
    InvalidDocIdError,
    SourceDocument,
    UnreadableDocumentError,
    UnsupportedFormatError,
    clean_doc_id,
    extract,
    validate_doc_id,
)
from service.deps import EngineDep, SettingsDep
from service.jobs import Jobs
from service.limits import upload_limit
from service.observability import observe_write
from service.schemas import (
    DocumentIn,
    DocumentReport,
    JobAccepted,
    JobStatus,
    UploadResponse,
)
from service.security import WriteAccess
from service.settings import Settings

router = APIRouter(tags=["documents"])

_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}}
                    },
                    "required": ["files"],
                }
            },
            "application/json": {"schema": DocumentIn.model_json_schema()},
        },
    }
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    202: {"model": JobAccepted, "description": "A large upload: follow `status_url`."},
    401: {"description": "No API key (API_KEY is set)."},
    403: {"description": "Wrong API key, or writes from a non-loopback address without API_KEY."},
    413: {"description": "Over MAX_UPLOAD_MB (uploads) or MAX_JSON_BYTES (JSON)."},
    415: {
        "description": "A file type that is not supported, or a body that is neither form nor JSON."
    },
    422: {"description": "Empty, undecodable, encrypted or scanned documents; bad doc_ids."},
}


def _bad(status: int, message: str) -> HTTPException:
    return HTTPException(status, message)


async def read_documents(
    request: Request, settings: Settings, doc_id: str | None
) -> list[SourceDocument]:
    """The documents of an upload (multipart `files`) or of a JSON body; 4xx when unusable."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            body = DocumentIn.model_validate_json(await request.body())
        except ValidationError as exc:
            problems = "; ".join(
                f"`{'.'.join(str(x) for x in e['loc'])}`: {e['msg'].removeprefix('Value error, ')}"
                if e["loc"]
                else e["msg"]
                for e in exc.errors()
            )
            raise _bad(422, f"the JSON document is not usable: {problems}") from None
        name = doc_id or body.doc_id or _title_id(body.title, body.text)
        docs = [
            SourceDocument(
                _doc_id(name),
                body.text,
                body.source or "",
                body.title,
                "txt",
                len(body.text.encode()),
            )
        ]
    elif kind == "multipart/form-data":
        limit = upload_limit(settings)
        form = await request.form(max_files=1000, max_part_size=limit.max_bytes)
        files = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
        if not files:
            raise _bad(422, "no files in the upload: send them in the multipart field `files`")
        if doc_id is not None and len(files) != 1:
            raise _bad(422, f"PUT /documents/{doc_id} takes exactly one file, not {len(files)}")
        docs = []
        for f in files:
            data = await f.read()
            name = f.filename or "upload"
            try:
                docs.append(extract(name, data, _doc_id(doc_id) if doc_id else None))
            except UnsupportedFormatError as exc:
                raise _bad(415, str(exc)) from None
            except (UnreadableDocumentError, InvalidDocIdError) as exc:
                raise _bad(422, str(exc)) from None
    else:
        raise _bad(
            415,
            f"send multipart/form-data with the files in field `files` ({', '.join(SUPPORTED_SUFFIXES)}), "
            f'or application/json with {{"text": …}}; got {kind or "no content type"}',
        )
    seen: dict[str, int] = {}
    for d in docs:
        seen[d.doc_id] = seen.get(d.doc_id, 0) + 1
    twice = [d for d, n in seen.items() if n > 1]
    if twice:
        raise _bad(
            422,
            f"two files in one upload have the same doc_id ({', '.join(twice)}): rename one, "
            "or upload them separately",
        )
    return docs


def _title_id(title: str | None, text: str) -> str:
    """A doc_id for JSON text without one: from the title (a name, not a path), else the hash."""
    if title and title.strip():
        return clean_doc_id(re.sub(r"[\\/]+", " ", title.strip()))
    return "doc-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def _doc_id(value: str) -> str:
    try:
        return validate_doc_id(value)
    except InvalidDocIdError as exc:
        raise _bad(422, str(exc)) from None


def _report(report: IndexReport) -> UploadResponse:
    return UploadResponse(documents=[DocumentReport(**vars(d)) for d in report.documents])


async def _write(
    request: Request,
    engine: SearchEngine,
    settings: Settings,
    docs: list[SourceDocument],
    kind: str,
    status: int,
) -> Response:
    """Small uploads answer when indexed; larger ones become a job (202)."""
    t0 = time.perf_counter()
    prepared = await run_in_threadpool(lambda: [engine.prepare(d) for d in docs])
    passages = sum(len(p.dense_inputs) for p in prepared)
    total = sum(len(p.inputs) for p in prepared)  # passages and their answer sentences
    if passages > settings.sync_passages:
        jobs: Jobs = request.app.state.jobs
        app = request.app

        def work(progress) -> UploadResponse:
            t = time.perf_counter()
            try:
                report = engine.add_documents(prepared, on_progress=progress)
            except Exception:
                observe_write(app, kind, time.perf_counter() - t, ok=False)
                raise
            observe_write(app, kind, time.perf_counter() - t)
            return _report(report)

        job = jobs.submit(work, total)
        body = JobAccepted(
            job_id=job.job_id, state=job.state, total=total, status_url=f"/jobs/{job.job_id}"
        )
        return JSONResponse(
            body.model_dump(), status_code=202, headers={"Location": body.status_url}
        )
    try:
        report = await run_in_threadpool(engine.add_documents, prepared)
    except Exception:
        observe_write(request.app, kind, time.perf_counter() - t0, ok=False)
        raise
    observe_write(request.app, kind, time.perf_counter() - t0)
    return JSONResponse(_report(report).model_dump(), status_code=status)


@router.post(
    "/documents",
    status_code=201,
    response_model=UploadResponse,
    responses=_ERRORS,
    openapi_extra=_BODY,
)
async def upload(
    request: Request, engine: EngineDep, settings: SettingsDep, _: WriteAccess
) -> Response:
    """Add documents: files (.txt .md .html .docx .pdf) in multipart field `files`, or JSON text.

    Each document's report says `added`, `replaced` or `unchanged` (same text: nothing embedded).
    """
    docs = await read_documents(request, settings, None)
    return await _write(request, engine, settings, docs, "upload", 201)


@router.put(
    "/documents/{doc_id}",
    response_model=UploadResponse,
    responses=_ERRORS,
    openapi_extra=_BODY,
)
async def replace(
    doc_id: str, request: Request, engine: EngineDep, settings: SettingsDep, _: WriteAccess
) -> Response:
    """Replace one document (or add it under this id): one file, or JSON text."""
    docs = await read_documents(request, settings, _doc_id(doc_id))
    return await _write(request, engine, settings, docs, "replace", 200)


@router.delete(
    "/documents/{doc_id}", status_code=204, responses={404: {"description": "Unknown doc_id."}}
)
async def delete(doc_id: str, request: Request, engine: EngineDep, _: WriteAccess) -> Response:
    """Delete a document: once this answers, no search returns any of its passages."""
    t0 = time.perf_counter()
    try:
        await run_in_threadpool(engine.delete_documents, [doc_id])
    except UnknownDocumentsError:
        raise _bad(404, f"no document with doc_id {doc_id!r}; GET /documents lists them") from None
    observe_write(request.app, "delete", time.perf_counter() - t0)
    return Response(status_code=204)


@router.get(
    "/jobs/{job_id}", response_model=JobStatus, responses={404: {"description": "Unknown job."}}
)
def job_status(job_id: str, request: Request) -> JobStatus:
    """State and progress of a large upload; `report` once it is done."""
    job = request.app.state.jobs.get(job_id)
    if job is None:
        raise _bad(404, f"no job {job_id!r}: jobs are kept in memory until the service restarts")
    return JobStatus(
        job_id=job.job_id,
        state=job.state,
        done=job.done,
        total=job.total,
        report=job.report,
        error=job.error,
    )
