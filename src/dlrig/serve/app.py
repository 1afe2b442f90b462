"""The web application of `dlrig serve`: one page (serve/static/) and a small JSON API under
/api/ whose answers are the command line's `--format json` (serve/api.py).

Safe by default (issue 19):
- Host header: only the bound address and loopback names are served (Starlette's
  TrustedHostMiddleware), so a page on another site whose name is rebound to 127.0.0.1 (DNS
  rebinding) gets 400, not the API.
- POST bodies: JSON only (`Content-Type: application/json`, which a cross-site form cannot send
  without a CORS preflight this server never answers), at most MAX_BODY_BYTES, strict JSON
  (no NaN/Infinity), and an `Origin`, when the browser sends one, must be this server's.
- Every answer carries a Content-Security-Policy that allows nothing from outside the machine.
- Bad input is a 400 with `{"error": <the command line's one line>, "key": <the field>}`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dlrig.errors import BuildFileError, DlrigError
from dlrig.model.text import safe_line
from dlrig.serve import api

# A build file is a few KB (the reader refuses over 256 KiB: model/load.py MAX_FILE_BYTES); the
# JSON of one, or of a request's options, is of the same size. Anything larger is refused
# before it is read.
MAX_BODY_BYTES = 256 * 1024
# Nothing from outside the machine: scripts, styles, fonts and fetches from this server only.
# Inline styles: matplotlib's SVG charts carry `style` attributes and a <style> element.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")
# "--seq-len: expected ..." names the option "seq_len" for the page.
_FLAG = re.compile(r"^--([a-z0-9-]+)[: ]")


class BodyLimit:
    """Refuse request bodies over `limit` bytes: by their Content-Length at once, and while
    they stream in (a chunked body has none). A body within the limit is read here whole
    (they are small: a build file's JSON) and handed on to the application."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _too_large(self.limit)(scope, receive, send)
            return
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                await _too_large(self.limit)(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect

        await self.app(scope, replay, send)


def _too_large(limit: int) -> Response:
    return JSONResponse(
        {"error": f"request body larger than {limit // 1024} KiB; not a build or options"},
        status_code=413,
    )


def error_body(exc: DlrigError) -> dict[str, str]:
    """The one line of a DlrigError (control characters escaped) and the key it is about."""
    line = safe_line(exc.one_line())
    key = ""
    if isinstance(exc, BuildFileError):
        key = exc.key
    elif (flag := _FLAG.match(line)) is not None:
        key = flag.group(1).replace("-", "_")
    return {"error": line, "key": safe_line(key)}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


async def _json_body(request: Request) -> Any:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise DlrigError(f"request: expected Content-Type application/json, got {kind or 'none'}")
    raw = await request.body()
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise DlrigError(f"request: not valid JSON: {str(exc)[:120]}") from None


def create_app(*, allowed_hosts: list[str], initial_build: dict[str, Any] | None = None) -> Any:
    """The ASGI application. `allowed_hosts`: the names the Host header may carry;
    `initial_build`: the build file given on the command line, shown first."""
    app = FastAPI(
        title="dlrig serve",
        summary="The build, its findings and its charts; the JSON API of dlrig check, "
        "estimate, recommend and parts.",
        # FastAPI's docs pages load scripts from a CDN: none here (docs/serve.md documents the
        # API, and /api/openapi.json describes it).
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )

    @app.exception_handler(DlrigError)
    async def _bad_input(_: Request, exc: DlrigError) -> JSONResponse:
        return JSONResponse(error_body(exc), status_code=400)

    @app.exception_handler(RequestValidationError)
    async def _bad_query(_: Request, exc: RequestValidationError) -> JSONResponse:
        error = exc.errors()[0]
        key = str(error["loc"][-1]) if error.get("loc") else ""
        msg = str(error.get("msg", "invalid")).replace("Input should be", "expected")
        line = f"request: {key}: {msg}, got {error.get('input')!r}"
        return JSONResponse({"error": safe_line(line), "key": safe_line(key)}, status_code=400)

    @app.exception_handler(Exception)
    async def _internal(_: Request, exc: Exception) -> JSONResponse:
        name = type(exc).__name__
        return JSONResponse({"error": f"internal error ({name})", "key": ""}, status_code=500)

    @app.middleware("http")
    async def _headers(request: Request, call_next: Callable[[Request], Awaitable[Any]]) -> Any:
        origin = request.headers.get("origin")
        if request.method not in ("GET", "HEAD") and origin is not None:
            host = request.headers.get("host", "")
            if origin != f"http://{host}":
                return JSONResponse(
                    {"error": f"request: origin {safe_line(origin)[:100]} is not this server"},
                    status_code=403,
                )
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    def post(path: str, fn: Callable[[Any], Any], kind: str = "json", **doc: Any) -> None:
        media = doc.pop("media", "text/plain; charset=utf-8")

        async def route(request: Request) -> Response:
            data = await _json_body(request)
            out = await run_in_threadpool(fn, data)
            if kind == "charts":
                return JSONResponse({"charts": out})
            if kind == "text":
                return PlainTextResponse(out, media_type=media)
            if kind == "object":
                return JSONResponse(out)
            return Response(out, media_type="application/json")

        route.__name__ = path.strip("/").replace("/", "_")
        app.post(path, **doc)(route)

    post("/api/check", api.check_json, summary="dlrig check --format json (dlrig.check/1)")
    post("/api/check/charts", api.check_charts, "charts", summary="the check's charts (SVG)")
    post(
        "/api/check/markdown",
        api.check_markdown,
        "text",
        summary="dlrig check --format markdown",
        media="text/markdown; charset=utf-8",
    )
    post("/api/estimate", api.estimate_json, summary="dlrig estimate --format json")
    post("/api/estimate/charts", api.estimate_charts, "charts", summary="the estimate's charts")
    post("/api/recommend", api.recommend_json, summary="dlrig recommend --format json")
    post("/api/recommend/charts", api.recommend_charts, "charts", summary="recommend's charts")
    post(
        "/api/toml",
        api.build_toml,
        "text",
        summary="the build (JSON) as a TOML build file",
        media="application/toml; charset=utf-8",
    )
    post("/api/parse", lambda d: api.parse_toml(_field(d, "toml")), "object", summary="TOML→JSON")

    @app.get("/api/parts/{name}", summary="dlrig parts NAME --format json")
    async def parts(
        name: str, currency: str | None = None, region: str | None = None, vat: float | None = None
    ) -> Response:
        text = await run_in_threadpool(api.parts_json, name, currency, region, vat)
        return Response(text, media_type="application/json")

    @app.get("/api/choices", summary="allowed values of the build-file keys the page offers")
    async def choices() -> JSONResponse:
        return JSONResponse(api.choices())

    @app.get("/api/workload-keys", summary="the [workload] keys the estimate reads")
    async def workload_keys() -> JSONResponse:
        return JSONResponse(api.workload_estimate_keys())

    @app.get("/api/build", summary="the build file given to 'dlrig serve', as JSON")
    async def initial() -> JSONResponse:
        return JSONResponse({"build": initial_build})

    static = resources.files("dlrig.serve") / "static"
    app.mount("/", StaticFiles(directory=str(static), html=True), name="page")
    guarded = TrustedHostMiddleware(app, allowed_hosts=allowed_hosts)
    return BodyLimit(guarded, MAX_BODY_BYTES)


def _field(data: Any, name: str) -> Any:
    if not isinstance(data, dict) or set(data) != {name}:
        raise DlrigError(f'request: expected {{"{name}": ...}}')
    return data[name]
