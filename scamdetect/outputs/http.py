"""HTTP API over the detector: a FastAPI app factory for platform and ministry systems.

    scamdetect serve --model models/scamdetect-tfidf --port 8000        # or:
    uvicorn --factory scamdetect.outputs.http:create_app

Routes: ``POST /v1/score``, ``POST /v1/report``, ``GET /v1/model``, ``GET /health``; OpenAPI docs
at ``/docs``. Scored items carry the same fields as ``Detector.predict`` and ``scamdetect score``.
Settings come from the environment when the app is built (never at import), so every worker
process of ``serve --workers N`` reads the same ones. Needs the ``api`` extra (FastAPI, uvicorn).
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import logging
import os
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields
from typing import Any, AsyncIterator, Mapping, TypeVar

import anyio
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..detector import MAX_CHARS, Detector, load
from .http_schema import ErrorBody, Health, ModelInfo, ReportRequest, ReportResponse, ScoreRequest, ScoreResponse
from .microbatch import MicroBatcher

log = logging.getLogger("scamdetect.http")

API_KEY_HEADER = "X-API-Key"
_ENV = "SCAMDETECT_"


@dataclass(frozen=True)
class Settings:
    """Server settings; ``from_env`` reads them from ``SCAMDETECT_*`` environment variables."""

    model: str | None = None          # SCAMDETECT_MODEL: model directory (None = the shipped model)
    api_key: str | None = None        # SCAMDETECT_API_KEY: required in the X-API-Key header when set
    max_posts: int = 256              # SCAMDETECT_API_MAX_POSTS: posts per /v1/score request
    max_chars: int = MAX_CHARS        # SCAMDETECT_API_MAX_CHARS: characters per post
    max_records: int = 10_000         # SCAMDETECT_API_MAX_RECORDS: scored records per /v1/report request
    max_body_bytes: int = 16 << 20    # SCAMDETECT_API_MAX_BODY_BYTES: request body
    max_batch: int = 64               # SCAMDETECT_API_MAX_BATCH: posts of concurrent requests scored together
    gc_freeze_seconds: int = 10       # SCAMDETECT_API_GC_FREEZE_SECONDS: see _freeze_gc (0: never)

    def __post_init__(self) -> None:
        for f in ("max_posts", "max_chars", "max_records", "max_body_bytes", "max_batch", "gc_freeze_seconds"):
            low = 0 if f == "gc_freeze_seconds" else 1
            if not isinstance(getattr(self, f), int) or getattr(self, f) < low:
                raise ValueError(f"setting {f} must be an integer of at least {low}, got {getattr(self, f)!r}")
        if self.max_chars > MAX_CHARS:  # the detector would silently cut longer posts
            raise ValueError(f"setting max_chars cannot exceed {MAX_CHARS}, the detector's limit per post")
        if self.api_key is not None and not self.api_key.strip():
            raise ValueError("setting api_key is empty: unset SCAMDETECT_API_KEY to run without a key")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``environ`` (default ``os.environ``); ``overrides`` win over both."""
        env = os.environ if environ is None else environ
        names = {"model": "MODEL", "api_key": "API_KEY"}
        values: dict[str, Any] = {}
        for f in fields(cls):
            var = _ENV + names.get(f.name, "API_" + f.name.upper())
            raw = env.get(var)
            if raw is None or raw == "":
                continue
            if f.name in names:
                values[f.name] = raw
            else:
                try:
                    values[f.name] = int(raw.replace("_", ""))
                except ValueError:
                    raise ValueError(f"{var}={raw!r} is not an integer") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


# -- errors: a JSON body with a code and a message; never a traceback --------------------------

class APIError(Exception):
    """An error the client can fix, sent as ``{"error": {"code", "message", ...}}``."""

    def __init__(self, status: int, code: str, message: str, limit: int | None = None,
                 details: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.limit, self.details = status, code, message, limit, details


def _error_response(status: int, code: str, message: str, limit: int | None = None,
                    details: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None) -> Response:
    err: dict[str, Any] = {"code": code, "message": message}
    if limit is not None:
        err["limit"] = limit
    if details is not None:
        err["details"] = details
    return Response(orjson.dumps({"error": err}), status_code=status, media_type="application/json", headers=headers)


_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
               413: "body_too_large", 415: "unsupported_media_type"}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> Response:
        return _error_response(exc.status, exc.code, exc.message, exc.limit, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        # only where and what: pydantic's "input" and "ctx" can echo the payload or an exception
        errors = exc.errors()
        if errors and errors[0].get("type") == "json_invalid":  # the parser's words: where, not what was sent
            why = str(errors[0].get("msg", "")).removeprefix("Invalid JSON: ")
            return _error_response(422, "invalid_json", f"request body is not valid JSON ({why})")
        if errors and tuple(errors[0].get("loc", ())) == ("body",):
            return _error_response(422, "invalid_request", "the request body must be a JSON object")
        details = [{"loc": [p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
                    "msg": str(e.get("msg", "invalid")).removeprefix("Value error, ")} for e in errors]
        first = details[0] if details else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"] if p != "body")
        more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
        return _error_response(422, "invalid_request", (f"{where}: {first['msg']}" if where else first["msg"]) + more,
                               details=details)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return _error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error_response(500, "internal_error", "internal error: the server could not complete the request")


class BodyLimit:
    """ASGI middleware: refuses a request body over ``max_bytes`` with 413 before parsing it,
    whether it has a Content-Length or arrives chunked."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._refuse(send, 400, "bad_request", "Content-Length is not a number")
                    return
                if declared > self.max_bytes:
                    await self._too_large(send, f"{declared:,}")
                    return
        chunks, size = [], 0
        while True:
            msg = await receive()
            if msg["type"] != "http.request":  # the client went away
                return
            chunk = msg.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(send, f"over {self.max_bytes:,}")
                return
            chunks.append(chunk)
            if not msg.get("more_body", False):
                break
        body, sent = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send, size: str) -> None:
        await self._refuse(send, 413, "body_too_large",
                           f"request body is {size} bytes; the limit is {self.max_bytes:,} bytes", self.max_bytes)

    @staticmethod
    async def _refuse(send: Send, status: int, code: str, message: str, limit: int | None = None) -> None:
        resp = _error_response(status, code, message, limit, headers={"Connection": "close"})
        await resp({"type": "http"}, _no_receive, send)


class APIKeyGuard:
    """ASGI middleware: requests under ``prefix`` need ``key`` in the X-API-Key header (401 if not)."""

    def __init__(self, app: ASGIApp, key: str, prefix: str):
        self.app, self.prefix = app, prefix
        self.key = key.encode("utf-8", "surrogateescape")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            given = next((v for k, v in scope["headers"] if k == b"x-api-key"), None)
            # compare_digest on bytes: constant time whatever the input, no TypeError on non-ASCII
            if given is None or not hmac.compare_digest(given, self.key):
                resp = _error_response(401, "unauthorized", f"missing or wrong API key (header {API_KEY_HEADER})",
                                       headers={"WWW-Authenticate": API_KEY_HEADER})
                await resp(scope, receive, send)
                return
        await self.app(scope, receive, send)


_Body = TypeVar("_Body", bound=BaseModel)
_JSON_TYPES = ("", "application/json")


async def _parse(request: Request, model: type[_Body]) -> _Body:
    """The request body, parsed and validated in one pass of pydantic's JSON parser: a fifth less
    work per request than FastAPI's body parameters (stdlib JSON, then validation)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in _JSON_TYPES and not ctype.endswith("+json"):  # also keeps out cross-site form posts
        raise APIError(415, "unsupported_media_type", f"the body must be JSON (Content-Type: application/json), "
                       f"not {ctype[:100]}")
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None


def _json_body(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI requestBody of a route that parses ``model`` itself (see _openapi)."""
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}


def _openapi(app: FastAPI, bodies: tuple[type[BaseModel], ...], key: bool) -> None:
    """Complete the OpenAPI schema with what FastAPI cannot see: request bodies that routes parse
    themselves, and the API key (checked by middleware, not a dependency)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            comps = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in bodies:
                s = model.model_json_schema(ref_template="#/components/schemas/{model}")
                comps.update(s.pop("$defs", {}))
                comps[model.__name__] = s
            if key:
                schema["components"]["securitySchemes"] = {
                    "APIKey": {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}}
                for path, ops in schema["paths"].items():
                    if path.startswith("/v1/"):
                        for op in ops.values():
                            op["security"] = [{"APIKey": []}]
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def _json(content: Any) -> Response:
    return Response(orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json")


_ERRORS = {status: {"model": ErrorBody} for status in (401, 413, 415, 422, 500)}


def create_app(settings: Settings | None = None, *, detector: Detector | None = None) -> FastAPI:
    """The API app. ``settings`` default to ``Settings.from_env()``; the model (``detector``, or
    ``settings.model`` loaded at start-up) is loaded once and shared by every request."""
    cfg = settings if settings is not None else Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        det = detector if detector is not None else await anyio.to_thread.run_sync(load, cfg.model)
        app.state.detector = det
        # one scoring thread per process, off the event loop, merging concurrent requests
        app.state.scorer = MicroBatcher(det, cfg.max_batch)
        log.info("model %s loaded; limits: %d posts, %d chars, %d bytes", det.model_id, cfg.max_posts,
                 cfg.max_chars, cfg.max_body_bytes)
        freezer = asyncio.create_task(_freeze_gc(cfg.gc_freeze_seconds)) if cfg.gc_freeze_seconds else None
        try:
            yield
        finally:
            if freezer is not None:
                freezer.cancel()
            app.state.scorer.close()

    app = FastAPI(
        title="scamdetect", version=__version__, lifespan=lifespan,
        description="Flags recruitment-scam posts in Indonesian social-media text and says why. "
                    f"Limits: {cfg.max_posts} posts per /v1/score request, {cfg.max_chars:,} characters per "
                    f"post, {cfg.max_records:,} records per /v1/report request, {cfg.max_body_bytes:,} bytes "
                    "per request body. A flag is a reason for a person to review a post, not a verdict.")
    app.state.settings = cfg
    _install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=cfg.max_body_bytes)
    if cfg.api_key:  # added last, so it runs first: no body is read for a caller without the key
        app.add_middleware(APIKeyGuard, key=cfg.api_key, prefix="/v1/")
    _openapi(app, (ScoreRequest, ReportRequest), key=bool(cfg.api_key))

    @app.get("/health", response_model=Health, tags=["service"], summary="Liveness and the model in use")
    async def health(request: Request) -> Response:
        return _json({"status": "ok", "model_id": request.app.state.detector.model_id, "version": __version__})

    @app.get("/v1/model", response_model=ModelInfo, responses=_ERRORS, tags=["model"],
             summary="The model's manifest")
    async def model_info(request: Request) -> Response:
        return _json(request.app.state.detector.manifest)

    @app.post("/v1/score", response_model=ScoreResponse, responses=_ERRORS, tags=["score"],
              summary="Score 1 to max_posts posts", openapi_extra=_json_body(ScoreRequest))
    async def score(request: Request) -> Response:
        """Score, label, reasons (rule hits with spans), mitigating signs, the words that weighed
        most (flagged posts) and extracted entities for each post, in the order given."""
        body = await _parse(request, ScoreRequest)
        if len(body.posts) > cfg.max_posts:
            raise APIError(422, "too_many_posts", f"too many posts: {len(body.posts)} in this request; "
                           f"the limit is {cfg.max_posts} per request", cfg.max_posts)
        for i, p in enumerate(body.posts):
            if len(p.text) > cfg.max_chars:
                raise APIError(422, "text_too_long", f"posts.{i}.text is {len(p.text):,} characters; the limit is "
                               f"{cfg.max_chars:,} characters per post", cfg.max_chars)
        preds = await request.app.state.scorer.predict([p.text for p in body.posts], body.top_terms)
        results = [{"id": p.id, "metadata": p.metadata, **pred.to_row()} for p, pred in zip(body.posts, preds)]
        return _json({"model_id": request.app.state.detector.model_id, "results": results})

    @app.post("/v1/report", response_model=ReportResponse, responses=_ERRORS, tags=["report"],
              summary="Takedown-report rows and campaigns from scored records", openapi_extra=_json_body(ReportRequest))
    async def report(request: Request) -> Response:
        """Keeps the posts flagged at the model's threshold (or ``min_score``), minus those a
        reviewer rejected in ``decisions``, and groups them by account and campaign."""
        body = await _parse(request, ReportRequest)
        if len(body.records) > cfg.max_records:
            raise APIError(422, "too_many_records", f"too many records: {len(body.records)} in this request; "
                           f"the limit is {cfg.max_records:,} per request", cfg.max_records)
        return await anyio.to_thread.run_sync(_report, body, _report_models(request.app))

    return app


async def _freeze_gc(seconds: int) -> None:
    """Move what survived so far (modules, the model, the detector's caches) out of the garbage
    collector's sight, at start-up and then every ``seconds``.

    A full collection walks every object the process holds; on the 2-core development machine
    that paused the server for 35 ms (up to 140 ms before the first freeze) a few times per 8,000
    requests, which alone breaks a 50 ms p99. Frozen objects are still freed when their last
    reference goes; only cyclic garbage that is frozen stays. Serving makes about one such object
    per 3 requests, all of it collected in the youngest generation (none reached the oldest in
    the measurements), and the young generations are collected before each freeze.
    """
    gc.collect()
    while True:
        gc.freeze()
        await asyncio.sleep(seconds)
        gc.collect(1)  # young generations only: a few milliseconds, not a full pass


def _report_models(app: FastAPI) -> list[dict[str, Any]]:
    """Manifests a record may be scored by: the served model and those under models/ (read once)."""
    if getattr(app.state, "report_models", None) is None:
        from .report import ReportInputError, known_models

        served = app.state.detector.manifest
        try:
            app.state.report_models = [served, *known_models()]
        except ReportInputError as exc:  # a broken model directory beside the served one
            log.warning("reports accept only the served model: %s", exc)
            app.state.report_models = [served]
    return app.state.report_models


def _report(body: ReportRequest, models: list[dict[str, Any]]) -> Response:
    from .report import ReportInputError, build_report  # the report library loads on first use

    # /v1/score nests the caller's fields under "metadata"; report rows read them at the top level
    records = [{**r["metadata"], **{k: v for k, v in r.items() if k != "metadata"}}
               if isinstance(r.get("metadata"), dict) else r for r in body.records]
    try:
        rep = build_report(records, min_score=body.min_score, decisions=body.decisions, models=models)
    except ReportInputError as exc:  # names the record and the field: meant for the client
        raise APIError(422, "invalid_records", str(exc)) from None
    return _json(rep.to_dict())
