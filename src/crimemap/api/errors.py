"""The one table from domain errors to HTTP status codes, and the handlers that apply it.

Domain errors know nothing of HTTP; this module is the only place that maps
them. Unexpected exceptions become a 500 with a generic body: exception text
never reaches the client (it may hold paths or data).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from crimemap.errors import (
    AccessDenied,
    AuthenticationError,
    CrimemapError,
    IngestError,
    InputError,
    InsufficientDataError,
    NotFoundError,
    RateLimited,
)

__all__ = [
    "STATUS",
    "UploadTooLarge",
    "error_response",
    "status_for",
    "install_error_handlers",
]

log = logging.getLogger("crimemap.api")


class UploadTooLarge(InputError):
    """A request body is larger than ``Settings.max_upload_bytes``."""


#: Domain error -> HTTP status. The first matching class (in order) wins.
STATUS: tuple[tuple[type[CrimemapError], int], ...] = (
    (UploadTooLarge, 413),
    (IngestError, 422),
    (InputError, 422),
    (NotFoundError, 404),
    (AuthenticationError, 401),
    (AccessDenied, 403),
    (RateLimited, 429),
    (InsufficientDataError, 409),
)


def status_for(exc: BaseException) -> int:
    """HTTP status of an exception (500 for anything not in :data:`STATUS`)."""
    for cls, code in STATUS:
        if isinstance(exc, cls):
            return code
    return 500


def error_body(exc: CrimemapError, code: int) -> dict[str, Any]:
    """JSON body of a domain error (issues listed for ingest refusals)."""
    body: dict[str, Any] = {"error": type(exc).__name__, "detail": str(exc).split("\n", 1)[0]}
    if isinstance(exc, IngestError):
        body["issues"] = [
            {
                "file": i.file,
                "row": i.row,
                "column": i.column,
                "value": i.value,
                "reason": i.reason,
                "detail": i.detail,
            }
            for i in exc.issues[:1000]
        ]
        body["n_issues"] = len(exc.issues)
    return body


def error_headers(exc: BaseException, code: int) -> dict[str, str] | None:
    """Extra headers of an error response: ``Retry-After`` (whole seconds) on 429,
    ``WWW-Authenticate`` on 401."""
    if code == 429:
        wait = float(getattr(exc, "retry_after", 1.0) or 1.0)
        return {"Retry-After": str(max(1, math.ceil(wait)))}
    if code == 401:
        return {"WWW-Authenticate": 'Bearer realm="crimemap"'}
    return None


def error_response(exc: BaseException, path: str = "") -> JSONResponse:
    """The JSON response of any exception (generic 500 for anything unexpected)."""
    code = status_for(exc)
    if code == 500 or not isinstance(exc, CrimemapError):
        log.error("unhandled %s on %s", type(exc).__name__, path, exc_info=exc)
        return JSONResponse({"error": "internal", "detail": "internal server error"}, 500)
    return JSONResponse(error_body(exc, code), code, headers=error_headers(exc, code))


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    async def domain(request: Request, exc: Exception) -> JSONResponse:
        return error_response(exc, request.url.path)

    app.add_exception_handler(CrimemapError, domain)
    app.add_exception_handler(Exception, domain)
