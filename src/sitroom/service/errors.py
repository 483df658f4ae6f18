"""Errors at the server's edge: one JSON shape for every error it answers, its own and the
framework's (a validation error, an unknown route or method), and the status of each.

    {"error": {"type": "not_found", "message": "no track 'us-irn' ...", "what": "track", ...}}

It is the CLI's ``--json`` error minus the hint and exit code (:mod:`sitroom.cli.errors`).
Anything not raised on purpose is a 500 saying nothing but that: its traceback goes to the
log, never into a response.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException
from starlette.routing import Match

from sitroom.errors import (
    AccessDenied,
    AlreadyExists,
    AuthError,
    LogError,
    NotFound,
    NotWriter,
    Rejected,
    SitroomError,
    SourceError,
    UserInputError,
    WorkspaceError,
)
from sitroom.service.hub import TooLarge, TooMany

log = logging.getLogger("sitroom.service")

# The first class an error is an instance of wins.
STATUS: tuple[tuple[type[SitroomError], int], ...] = (
    (AuthError, 401),
    (AccessDenied, 403),
    (NotFound, 404),
    (AlreadyExists, 409),
    (TooMany, 429),
    (TooLarge, 413),
    (UserInputError, 422),
    (SourceError, 422),
    (Rejected, 422),
    (WorkspaceError, 503),
    (LogError, 503),
)
INTERNAL = "the server failed to answer; the failure is in its log"
# What the framework's own refusals are called, by status.
HTTP_TYPES = {404: "not_found", 405: "method_not_allowed", 400: "bad_request"}


class ErrorDetail(BaseModel):
    """What went wrong: ``type`` for scripts, ``message`` for people, and the error's fields
    (``what`` and ``id`` of something not found, ``user`` and ``action`` refused...)."""

    model_config = ConfigDict(extra="allow")
    type: str
    message: str


class ErrorBody(BaseModel):
    """Every error the server answers."""

    error: ErrorDetail


DESCRIPTIONS = {
    400: "The request cannot be read.",
    401: "No token, or one that proves nothing (wrong, expired, revoked).",
    403: "The user's role or clearances do not allow it: refused, and recorded.",
    404: "No such thing (or one the user may not see).",
    405: "The path does not take this method.",
    409: "It exists already.",
    413: "The body is larger than the server takes (serve_upload_max_bytes).",
    422: "A value is missing, malformed or does not fit.",
    429: "Too many failed logins: wait (Retry-After).",
    503: "The room's log or workspace cannot serve this now.",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The error answers an operation declares, with the one error shape."""
    return {c: {"model": ErrorBody, "description": DESCRIPTIONS[c]} for c in codes}


def status_of(e: SitroomError) -> int:
    return next((code for kind, code in STATUS if isinstance(e, kind)), 500)


def body(type_: str, message: str, **fields: Any) -> dict[str, Any]:
    return {"error": {"type": type_, "message": message, **fields}}


def answer(e: SitroomError) -> JSONResponse:
    status = status_of(e)
    if status == 500:  # a SecureError of the server's own keys, say: not for the caller
        log.error("sitroom error answered as 500", exc_info=e)
        return JSONResponse(body("internal", INTERNAL), status_code=500)
    headers = {}
    if isinstance(e, AuthError):
        headers["WWW-Authenticate"] = 'Bearer realm="sitroom"'
    if isinstance(e, TooMany):
        headers["Retry-After"] = str(e.retry_after_s)
    if isinstance(e, NotWriter):  # a reader's: the request goes to the writer (forward.py)
        headers["X-Sitroom-Not-Writer"] = "1"
    return JSONResponse({"error": e.to_json()}, status_code=status, headers=headers)


def allowed(request: Request) -> set[str]:
    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return methods


def install(app: FastAPI) -> None:
    """Answer every error in the one shape."""

    @app.exception_handler(SitroomError)
    async def sitroom_error(request: Request, e: SitroomError) -> JSONResponse:
        return answer(e)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError) -> JSONResponse:
        problems = [
            {"at": ".".join(str(p) for p in err.get("loc", ())), "problem": err.get("msg", "")}
            for err in e.errors()
        ]
        said = "; ".join(f"{p['at']}: {p['problem']}" for p in problems[:3])
        return JSONResponse(
            body("invalid", f"the request does not fit: {said}", problems=problems),
            status_code=422,
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, e: HTTPException) -> JSONResponse:
        kind = HTTP_TYPES.get(e.status_code, "http_error")
        headers = dict(e.headers or {})
        if e.status_code == 405:  # every method the path takes, not the first route's
            headers["Allow"] = ", ".join(sorted(allowed(request)))
        message = {
            404: f"no such path: {request.url.path}",
            405: f"{request.url.path} does not take {request.method}",
        }.get(e.status_code, str(e.detail))
        return JSONResponse(body(kind, message), status_code=e.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def failed(request: Request, e: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=e)
        return JSONResponse(body("internal", INTERNAL), status_code=500)
