"""Every error is ``{"error": "..."}``; these are the statuses the OpenAPI document names."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from zepix_core.contract.errors import describe
from zepix_core.contract.logs import fields

log = logging.getLogger("zepix.api")


class Error(BaseModel):
    error: str


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Error, "description": "a parameter or the body is invalid"},
    401: {"model": Error, "description": "missing or wrong bearer token"},
    404: {"model": Error, "description": "no such plugin or path"},
    409: {"model": Error, "description": "the request conflicts with the host's state"},
    413: {"model": Error, "description": "request body too large"},
}


def install(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _crash)


async def _crash(request: Request, exc: Exception) -> JSONResponse:
    log.error("api request failed", exc_info=exc,
              extra=fields(method=request.method, path=request.url.path, error=describe(exc)))
    return JSONResponse({"error": "internal error; the host's log has the traceback"},
                        status_code=500)


async def _http(request: Request, exc: HTTPException) -> JSONResponse:
    return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code,
                        headers=getattr(exc, "headers", None))


async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    return JSONResponse({"error": f"{where}: {first.get('msg', 'invalid')}"}, status_code=400)
