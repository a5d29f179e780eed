"""The JSON HTTP API (`/api/v1`), served beside the web chat by the same server.

`POST /ask` answers with the answer record exactly as `articlebot ask --json` prints it, or,
with `Accept: text/event-stream`, streams the answer's events as server-sent events:
`retrieved`, any number of `delta`, then one `answer` (or one `error`). `GET /articles`,
`GET /articles/{id}` and `POST /articles` list, show and add articles. Errors are JSON
`{"error": code, "detail": one line}` with a 4xx status; nothing else (no stack trace) ever
reaches a client. Bodies are capped before they are read whole, and answering shares one
concurrency limit, like the chat's queue.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

# FastAPI reads the routes' annotations at run time: these names must be real here.
from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import Response

from bot.answer_records import ALL_ARTICLES
from bot.events import Event, Final
from bot.ui.conversation import Conversation
from core.errors import (
    ArticlebotError,
    ArticleError,
    ArticleNotFoundError,
    ArticleTooLargeError,
    FetchError,
    QuestionError,
    StoreBusyError,
)

if TYPE_CHECKING:
    from bot.engine import Engine
    from bot.settings import Settings
    from core.records import Article

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
DOCS_ASSETS = "/docs-assets"  # Swagger UI's files, for /docs
_DOCS_FILES = frozenset({"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"})
ASK_BODY_LIMIT = 256_000  # a question, an article id and a conversation history
SSE = "text/event-stream"


class Message(BaseModel):
    """One earlier turn of the conversation."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: str = Field(max_length=100_000)


class AskRequest(BaseModel):
    """`POST /ask`: a question about an article (an id; "all": every indexed article;
    null: the default one)."""

    model_config = ConfigDict(extra="forbid")
    question: str
    article: str | None = Field(default=None, max_length=200)
    history: list[Message] | None = Field(default=None, max_length=200)


class ArticleRequest(BaseModel):
    """`POST /articles`: an article as text (with an optional headline), as a web page's
    HTML, or as a link to fetch: exactly one of `text`, `html`, `url`."""

    model_config = ConfigDict(extra="forbid")
    text: str | None = None
    html: str | None = None
    url: str | None = Field(default=None, max_length=2000)
    title: str | None = Field(default=None, max_length=300)


class ApiError(Exception):
    """A request the API refuses: its status, code and one-line detail."""

    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, " ".join(detail.split())[:300]
        self.headers = headers


def _error_response(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> Response:
    from starlette.responses import JSONResponse

    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


async def read_json(request: Request, limit: int) -> Any:
    """The request's JSON body, read up to `limit` bytes (413 beyond, 400 if malformed)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "too_large", f"the body is larger than {limit} bytes")
    data = bytearray()
    async for piece in request.stream():
        data += piece
        if len(data) > limit:
            raise ApiError(413, "too_large", f"the body is larger than {limit} bytes")
    try:
        return json.loads(bytes(data).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(400, "malformed", "the body is not valid UTF-8 JSON") from None


def _validated(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "body"
        raise ApiError(422, "invalid", f"{where}: {err['msg']}") from None


def _conversation(request: AskRequest) -> Conversation:
    """The conversation the request's optional history gives (empty without one)."""
    return Conversation.from_messages([m.model_dump() for m in request.history or []])


def _sse(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


_EVENT_NAMES = {"Retrieved": "retrieved", "Delta": "delta", "Final": "answer"}


def mount_api(app: FastAPI, engine: Engine, settings: Settings, default_article: str) -> None:
    """Add the `/api/v1` routes, the OpenAPI schema (`/openapi.json`) and its docs (`/docs`)
    to `app`, behind the chat's password when one is set."""
    from fastapi import Depends
    from fastapi.exceptions import RequestValidationError
    from fastapi.openapi.docs import get_swagger_ui_html
    from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
    from starlette.exceptions import HTTPException as StarletteHTTPException
    from starlette.responses import HTMLResponse, JSONResponse, StreamingResponse

    slots = asyncio.Semaphore(settings.concurrency_limit)
    waiting = {"n": 0}
    auth = settings.auth.get_secret_value() if settings.auth else None

    def authorised(request: Request) -> None:
        if auth is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        try:
            given = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            given = ""
        if scheme.lower() != "basic" or not secrets.compare_digest(given.encode(), auth.encode()):
            raise ApiError(401, "unauthorized", "give the chat's USER:PASSWORD as HTTP Basic")

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        headers = dict(exc.headers or {})
        if exc.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="articlebot"'
        return _error_response(exc.status, exc.code, exc.detail, headers or None)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        err = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(x) for x in err.get("loc", ())) or "request"
        return _error_response(422, "invalid", f"{where}: {err.get('msg', 'invalid')}")

    def article_of(request: AskRequest) -> str:
        return request.article or default_article

    async def answer_slot() -> None:
        if waiting["n"] >= settings.queue_max_size:
            raise ApiError(503, "busy", "too many questions are waiting; try again shortly")
        waiting["n"] += 1
        try:
            await slots.acquire()
        finally:
            waiting["n"] -= 1

    @app.post(
        f"{PREFIX}/ask",
        dependencies=[Depends(authorised)],
        tags=["answers"],
        summary="Answer a question with cited sentences",
    )
    async def ask(request: Request) -> Response:
        body = _validated(AskRequest, await read_json(request, ASK_BODY_LIMIT))
        article = article_of(body)
        query = _conversation(body).query_for(body.question)
        try:
            events: Iterator[Event] = engine.events(body.question, article, query=query)
        except QuestionError as exc:
            raise ApiError(422, "invalid", f"question: {exc}") from None
        known = {a.id for a in engine.answerable_articles()}
        if article not in known and not (article == ALL_ARTICLES and known):
            raise ApiError(404, "not_found", f"no indexed article {article!r}")
        await answer_slot()
        if SSE in request.headers.get("accept", ""):
            return StreamingResponse(
                _stream(events), media_type=SSE, headers={"Cache-Control": "no-store"}
            )
        try:
            final = await run_in_threadpool(_final, events)
        except ArticlebotError as exc:
            log.warning("could not answer: %s", exc)
            raise ApiError(503, "unavailable", "the answer could not be computed") from None
        finally:
            slots.release()
        return JSONResponse(final.to_record())

    async def _stream(events: Iterator[Event]) -> AsyncIterator[str]:
        try:
            async for event in iterate_in_threadpool(events):
                yield _sse(_EVENT_NAMES[type(event).__name__], event.to_record())
        except Exception as exc:  # the client sees a code and a line; details go to the log
            log.warning("streaming an answer failed: %s", exc, exc_info=True)
            yield _sse(
                "error", {"error": "unavailable", "detail": "the answer could not be computed"}
            )
        finally:
            slots.release()

    @app.get(
        f"{PREFIX}/articles",
        dependencies=[Depends(authorised)],
        tags=["articles"],
        summary="The articles that can be asked about",
    )
    async def articles() -> list[dict[str, Any]]:
        rows = await run_in_threadpool(engine.answerable_articles)
        return [
            {
                "id": a.id,
                "title": a.title,
                "sentences": a.sentences,
                "embedder": engine.embedder_spec,
            }
            for a in rows
        ]

    @app.get(
        f"{PREFIX}/articles/{{article_id}}",
        dependencies=[Depends(authorised)],
        tags=["articles"],
        summary="An article's text and sentences with offsets",
    )
    async def article(article_id: str) -> dict[str, Any]:
        try:
            stored = await run_in_threadpool(engine.article, article_id)
            sentences = await run_in_threadpool(engine.sentences, article_id)
        except ArticleNotFoundError:
            raise ApiError(404, "not_found", f"no indexed article {article_id!r}") from None
        if not sentences:
            raise ApiError(
                404, "not_found", f"article {article_id!r} has no index for {engine.embedder_spec}"
            )
        return {
            **_described(stored),
            "text": stored.text,
            "sentences": [
                {"sentence_id": s.id, "n": s.n, "kind": s.kind, "start": s.start, "end": s.end}
                for s in sentences
            ],
        }

    @app.post(
        f"{PREFIX}/articles",
        dependencies=[Depends(authorised)],
        tags=["articles"],
        status_code=201,
        summary="Add an article: text, a web page's HTML, or a link (at most the upload limit)",
    )
    async def add_article(request: Request) -> Response:
        limit = settings.max_upload_bytes
        # JSON escapes can make a body up to six times its text; the text is checked below
        body = _validated(ArticleRequest, await read_json(request, limit * 6 + 4096))
        given = [f for f in ("text", "html", "url") if getattr(body, f) is not None]
        if len(given) != 1:
            raise ApiError(422, "invalid", "body: give exactly one of text, html and url")
        field = given[0]
        try:
            if field == "url":
                from index.fetch import is_url

                if not is_url(body.url or ""):
                    raise ApiError(422, "invalid", "url: must be an http:// or https:// link")
                result = await run_in_threadpool(engine.index_link, body.url or "")
            else:
                data, name = _article_upload(body, field, limit)
                result = await run_in_threadpool(engine.add_upload, data, name)
        except ApiError:
            raise
        except FetchError as exc:
            raise ApiError(
                413 if exc.code == "too_large" else 422, exc.code, f"url: {exc}"
            ) from None
        except ArticleError as exc:
            detail = str(exc).replace(str(settings.uploads_dir), "uploads")
            if isinstance(exc, ArticleTooLargeError):
                raise ApiError(413, "too_large", f"{field}: {detail}") from None
            raise ApiError(422, "invalid", f"{field}: {detail}") from None
        except StoreBusyError as exc:
            raise ApiError(
                503,
                "busy",
                str(exc).replace(str(settings.store), "the store"),
                headers={"Retry-After": "5"},
            ) from None
        except ArticlebotError as exc:
            log.warning("could not add an article: %s", exc)
            raise ApiError(503, "unavailable", "the article could not be indexed") from None
        except Exception:  # the client sees a code and a line; details go to the log
            log.exception("adding an article failed")
            raise ApiError(500, "internal", "the article could not be indexed") from None
        return JSONResponse(
            _entry(result.article, result.manifest.sentence_count, engine.embedder_spec),
            status_code=201,
        )

    @app.get(
        f"{PREFIX}/health",
        tags=["service"],
        summary="Liveness, for container health "
        "checks (open without the password; it tells nothing about the articles)",
    )
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(authorised)])
    async def openapi() -> Response:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=[Depends(authorised)])
    async def docs() -> HTMLResponse:
        # Swagger UI's script and styles from this server, so the page works offline and
        # asks no CDN for anything
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="articlebot API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )

    @app.get(f"{DOCS_ASSETS}/{{name}}", include_in_schema=False, dependencies=[Depends(authorised)])
    async def docs_asset(name: str) -> Response:
        from starlette.responses import FileResponse
        from swagger_ui_bundle import swagger_ui_path

        if name not in _DOCS_FILES:
            raise ApiError(404, "not_found", f"no file {name[:80]!r}")
        return FileResponse(
            Path(swagger_ui_path) / name, headers={"Cache-Control": "public, max-age=86400"}
        )

    @app.api_route(
        f"{PREFIX}/{{rest:path}}",
        include_in_schema=False,
        methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    )
    async def unknown(request: Request, rest: str) -> Response:
        # registered last: only requests no route above matches (else Gradio's 404 answers)
        from starlette.routing import Match, Route

        allowed = sorted(
            {
                m
                for r in app.routes
                if isinstance(r, Route)
                and r.methods
                and r.path != f"{PREFIX}/{{rest:path}}"
                and r.matches({**request.scope, "method": "GET"})[0] != Match.NONE
                for m in r.methods
            }
        )
        if allowed:
            raise ApiError(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed here",
                headers={"Allow": ", ".join(allowed)},
            )
        raise ApiError(404, "not_found", f"no API route /{rest[:80]}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        codes = {404: "not_found", 405: "method_not_allowed"}
        return _error_response(
            exc.status_code,
            codes.get(exc.status_code, "error"),
            str(exc.detail),
            dict(exc.headers or {}) or None,
        )


def _article_upload(body: ArticleRequest, field: str, limit: int) -> tuple[bytes, str]:
    """The bytes and file name of an article given as `text` or `html` (413 beyond
    `limit` bytes, 422 for text that is not valid Unicode)."""
    if field == "html":
        text = body.html or ""
        first = (body.title or "page")[:80]
        name = (first.replace("/", " ").replace("\\", " ").strip(" .") or "page") + ".html"
    else:
        text = body.text or "" if not body.title else f"{body.title.strip()}\n\n{body.text}"
        first = (body.title or text.strip().split("\n", 1)[0] or "article")[:80]
        # the file's name, not a path: a "/" in the first line (a URL) is no directory
        name = (first.replace("/", " ").replace("\\", " ").strip(" .") or "article") + ".txt"
    if any("\ud800" <= c <= "\udfff" for c in text):
        raise ApiError(422, "invalid", f"{field}: holds a lone surrogate, not valid Unicode")
    data = text.encode("utf-8")
    if len(data) > limit:
        raise ApiError(413, "too_large", f"the article is larger than {limit} bytes")
    return data, name


def _described(article: Article) -> dict[str, Any]:
    """What the API says of an article besides its text: id, title, byline, published,
    site, and source (a link, or the file's name: never a path on the server)."""
    from index.fetch import is_url

    source = article.source if is_url(article.source) else Path(article.source).name
    return {
        "id": article.id,
        "title": article.title,
        "byline": article.byline,
        "published": article.published,
        "site": article.site,
        "source": source,
    }


def _entry(article: Article, sentences: int, embedder: str) -> dict[str, Any]:
    return {**_described(article), "sentences": sentences, "embedder": embedder}


def _final(events: Iterator[Event]) -> Any:
    from bot.events import final_answer

    answer = final_answer(events)
    return Final(answer)
