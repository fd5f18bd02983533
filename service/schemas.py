"""Request and response models of the HTTP API: the contract clients code against."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_QUERY_CHARS = 1000
MAX_SIMILAR_TEXT_CHARS = 20_000

Mode = Literal["dense", "lexical", "hybrid"]
K = Annotated[int, Field(ge=1, le=100, description="How many passages to return (1–100).")]


def _not_blank(value: str, name: str) -> str:
    if not value.strip():
        raise ValueError(f"{name} must contain some text, not only spaces")
    return value


class Span(BaseModel):
    start: int = Field(description="Offset of the first character in the hit's `text`.")
    end: int = Field(description="Offset one past the last character.")
    kind: Literal["term", "answer"] = "term"


class Hit(BaseModel):
    passage_id: str
    doc_id: str
    title: str
    section: str = Field(description="Heading path, outermost first, joined by ' › '.")
    text: str = Field(description="The passage, cleaned, in the document's own script.")
    score: float = Field(description="Ranking score of the mode used (cosine, BM25 or RRF).")
    start: int = Field(description="Offset of the passage in the cleaned document.")
    end: int
    scores: dict[str, float] = Field(
        default_factory=dict, description="Per-retriever scores: dense cosine, lexical BM25."
    )
    highlights: list[Span] = Field(default_factory=list)


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    k: K = 5
    mode: Mode = "hybrid"
    doc_ids: list[str] | None = Field(None, description="Only search these documents.")

    @field_validator("query")
    @classmethod
    def _query_not_blank(cls, v: str) -> str:
        return _not_blank(v, "query")


class SearchResponse(BaseModel):
    query: str
    mode: Mode
    hits: list[Hit]


class BatchSearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queries: list[str] = Field(min_length=1, description="Answered in the order given.")
    k: K = 5
    mode: Mode = "hybrid"
    doc_ids: list[str] | None = None

    @field_validator("queries")
    @classmethod
    def _queries_valid(cls, v: list[str]) -> list[str]:
        for i, q in enumerate(v):
            if not q.strip():
                raise ValueError(f"queries[{i}] must contain some text, not only spaces")
            if len(q) > MAX_QUERY_CHARS:
                raise ValueError(
                    f"queries[{i}] is {len(q)} characters; the limit is {MAX_QUERY_CHARS}"
                )
        return v


class BatchResult(BaseModel):
    query: str
    hits: list[Hit]


class BatchSearchResponse(BaseModel):
    mode: Mode
    results: list[BatchResult]


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    k: K = 5
    mode: Mode = "hybrid"
    doc_ids: list[str] | None = Field(None, description="Only read these documents.")

    @field_validator("question")
    @classmethod
    def _question_not_blank(cls, v: str) -> str:
        return _not_blank(v, "question")


class Answer(BaseModel):
    text: str = Field(description="The answering sentence or clause (at most 200 characters).")
    passage_id: str = Field(
        description="The passage holding the answer: one of `hits`, or for a question asking "
        "who wrote an article, the passage with its byline wherever it is printed."
    )
    start: int = Field(description="Offset of the answer in that passage's `text`.")
    end: int
    score: float


class AskResponse(BaseModel):
    question: str
    answer: Answer | None
    reason: str | None = Field(None, description="Why there is no answer, when `answer` is null.")
    hits: list[Hit]


class SimilarRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    passage_id: str | None = Field(None, description="A stored passage; it is never returned.")
    text: str | None = Field(None, max_length=MAX_SIMILAR_TEXT_CHARS)
    k: K = 5
    include_overlapping: bool = Field(
        False, description="Also return passages that overlap the source passage."
    )

    @model_validator(mode="after")
    def _exactly_one_source(self) -> SimilarRequest:
        if (self.passage_id is None) == (self.text is None):
            raise ValueError("give exactly one of `passage_id` or `text`")
        if self.text is not None:
            _not_blank(self.text, "text")
        if self.passage_id is not None:
            _not_blank(self.passage_id, "passage_id")
        return self


class SimilarResponse(BaseModel):
    passage_id: str | None
    hits: list[Hit]


class Passage(BaseModel):
    passage_id: str
    doc_id: str
    title: str
    section: str
    text: str
    start: int
    end: int
    pages: list[int] = Field(default_factory=list, description="1-based pages, when known.")


class Neighbours(BaseModel):
    passage: Passage
    before: list[Passage] = Field(description="Preceding passages, in reading order.")
    after: list[Passage]


class DocumentInfo(BaseModel):
    doc_id: str
    title: str
    passages: int
    format: str
    source: str
    size: int = Field(description="Size of the original file in bytes.")
    sha256: str = Field(description="Hash of the document's text as received.")
    indexed_at: datetime


class DocumentsResponse(BaseModel):
    documents: list[DocumentInfo]
    total: int = Field(description="Documents in the index.")
    limit: int
    offset: int


class PassageRef(BaseModel):
    passage_id: str
    section: str
    start: int
    end: int
    pages: list[int] = Field(default_factory=list)


class DocumentDetail(BaseModel):
    doc_id: str
    title: str
    format: str
    source: str
    size: int
    sha256: str
    indexed_at: datetime
    passages: list[PassageRef] = Field(description="In reading order.")


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    model: str
    model_ready: bool = Field(
        description="False while the model warms up after a restart: lexical search of "
        "Chinese questions answers already; dense and hybrid requests, and questions without "
        "Chinese (the bridge reads their dense neighbourhood), wait for the model."
    )
    dimension: int
    documents: int
    passages: int


class ErrorResponse(BaseModel):
    error: str = Field(description="What went wrong and how to fix it.")
    detail: list[dict] | None = None


class DocumentIn(BaseModel):
    """A document as JSON text, for clients that have no file."""

    model_config = ConfigDict(extra="forbid")

    doc_id: str | None = Field(None, description="Default: from the title, else the text's hash.")
    title: str | None = Field(None, max_length=500)
    text: str = Field(description="The document's text; cleaned and chunked like a file.")
    source: str | None = Field(None, max_length=2000, description="Where it came from (a URL).")

    @field_validator("text")
    @classmethod
    def _text_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError(
                "text is empty or only white space: send the document's text, or upload a file"
            )
        return v


class DocumentReport(BaseModel):
    doc_id: str
    status: Literal["added", "replaced", "unchanged"] = Field(
        description="`unchanged`: the same text was already indexed; nothing was embedded."
    )
    passages: int
    seconds: float


class UploadResponse(BaseModel):
    documents: list[DocumentReport]


class JobAccepted(BaseModel):
    job_id: str
    state: Literal["queued", "running", "done", "failed"]
    total: int = Field(description="Texts to embed: passages and their answer sentences.")
    status_url: str


class JobStatus(BaseModel):
    job_id: str
    state: Literal["queued", "running", "done", "failed"]
    done: int = Field(description="Texts embedded so far (passages and answer sentences).")
    total: int
    report: UploadResponse | None = None
    error: str | None = None
