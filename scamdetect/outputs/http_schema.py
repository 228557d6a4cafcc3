"""Request and response bodies of the HTTP API: pydantic models, which are also its OpenAPI schema."""

from __future__ import annotations

from typing import Annotated, Any, Union

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator


# ids are returned as JSON, which holds integers of at most 64 bits
PostId = Union[StrictStr, Annotated[StrictInt, Field(ge=-(2**63), lt=2**64)], None]


class Post(BaseModel):
    """One post to score."""

    model_config = ConfigDict(extra="forbid")
    id: PostId = Field(None, description="your id for the post (string or integer), returned as given")
    text: StrictStr = Field(..., description="the post text", examples=[
        "Loker CS 🇰🇭 gaji $1200, tiket+visa ditanggung, WA 0812-3456-7890"])
    metadata: Union[dict[str, Any], None] = Field(
        None, description="any JSON object (platform, url, account, ...), returned as given")

    @field_validator("id", mode="before")
    @classmethod
    def _id_type(cls, v: Any) -> Any:
        # one clear message, instead of one per member of the union
        if v is not None and (isinstance(v, bool) or not isinstance(v, (str, int))
                              or (isinstance(v, int) and not -(2**63) <= v < 2**64)):
            raise ValueError("id must be a string or a 64-bit integer")
        return v

    @field_validator("text")
    @classmethod
    def _text_is_unicode(cls, v: str) -> str:
        _check_unicode(v)
        if not v.strip():
            raise ValueError("empty text")
        return v

    @field_validator("metadata")
    @classmethod
    def _metadata_is_json(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is not None:
            try:  # it goes back out as JSON: refuse now what could not be written then
                orjson.dumps(v)
            except TypeError:
                raise ValueError("metadata cannot be returned as JSON (a lone surrogate escape in a string, "
                                 "or an integer beyond 64 bits)") from None
        return v


class ScoreRequest(BaseModel):
    """Posts to score (1 to the server's max_posts)."""

    model_config = ConfigDict(extra="forbid")
    posts: list[Post] = Field(..., min_length=1, description="the posts, 1 to max_posts of them")
    top_terms: int = Field(5, ge=0, le=50, description="words that weighed most, listed for flagged posts")


class Span(BaseModel):
    start: int
    end: int
    text: str


class Reason(BaseModel):
    rule: str = Field(..., description="rule id")
    weight: float
    id: str = Field(..., description="description in Indonesian")
    en: str = Field(..., description="description in English")
    spans: list[Span]


class Term(BaseModel):
    term: str
    weight: float


class Entity(BaseModel):
    model_config = ConfigDict(extra="allow")  # kind-specific fields (currency, period, place, ...)
    kind: str
    value: str
    text: str
    start: int
    end: int


class ScoredPost(BaseModel):
    """A post's id and metadata as given, and the fields the library and ``scamdetect score`` add."""

    id: Union[str, int, None]
    metadata: Union[dict[str, Any], None]
    score: float = Field(..., description="calibrated probability that the post is a recruitment scam")
    label: str = Field(..., description="'scam' when score >= threshold, else 'not_scam'")
    threshold: float
    model_id: str
    red_flags: list[str] = Field(..., description="ids of the red-flag rules that matched")
    reasons: list[Reason]
    mitigating: list[Reason]
    terms: list[Term]
    entities: list[Entity]


class ScoreResponse(BaseModel):
    model_id: str
    results: list[ScoredPost]


class ReportRequest(BaseModel):
    """Scored records: ``/v1/score`` results with their ``text`` added (``metadata`` fields such as
    url, account, platform, captured_at are read as the row's own), or rows of ``scamdetect score``."""

    model_config = ConfigDict(extra="forbid")
    records: list[dict[str, Any]] = Field(..., min_length=1, description="scored records, 1 to max_records")
    min_score: Union[float, None] = Field(None, ge=0, le=1, description="keep posts at or above this score "
                                          "(default: each record's model threshold)")
    decisions: Union[dict[str, str], None] = Field(
        None, description="review decisions by post id: confirmed, rejected (left out of the report) or pending")


class ReportResponse(BaseModel):
    """The report as ``scamdetect report -o report.json`` writes it."""

    model_config = ConfigDict(extra="allow")  # Report.to_dict() may grow

    report: dict[str, Any] = Field(..., description="title, selection, models, counts, categories, legal basis")
    campaigns: list[dict[str, Any]]
    rows: list[dict[str, Any]] = Field(..., description="one takedown-report row per flagged post")


class ModelInfo(BaseModel):
    """The model's manifest (format, kind, threshold, metrics, training data hash, file checksums)."""

    model_config = ConfigDict(extra="allow")
    format_version: int
    kind: str
    model_id: Union[str, None] = None
    threshold: Union[float, None] = None


class Health(BaseModel):
    status: str
    model_id: str
    version: str


class ErrorDetail(BaseModel):
    loc: list[Union[str, int]]
    msg: str


class ErrorInfo(BaseModel):
    code: str = Field(..., description="machine-readable: invalid_request, invalid_json, too_many_posts, "
                      "text_too_long, too_many_records, invalid_records, body_too_large, unauthorized, not_found, internal_error, ...")
    message: str
    limit: Union[int, None] = None
    details: Union[list[ErrorDetail], None] = None


class ErrorBody(BaseModel):
    error: ErrorInfo


def _check_unicode(text: str) -> None:
    try:  # JSON "\ud800" escapes decode to lone surrogates, which no output can hold
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text is not valid Unicode (lone surrogate escape)") from None
