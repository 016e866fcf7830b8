"""Every failure as ``{"error": {"type": ..., "message": ...}}``, never a bare 500.

``MLOpsError`` subclasses carry their HTTP status; the client looks the ``type`` up in
``mlops.errors`` and raises the same class. Request validation errors, unknown routes and the
database errors a store let through are mapped onto the nearest ``mlops.errors`` kind.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from mlops import errors
from mlops.server.schemas import ERROR_TYPES_BY_STATUS

log = logging.getLogger(__name__)


def error_response(status: int, kind: str, message: str) -> JSONResponse:
    """The one error body of the API (a 401 also names the scheme to authenticate with)."""
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        {"error": {"type": kind, "message": message}}, status_code=status, headers=headers
    )


def install_error_handlers(app: FastAPI) -> None:
    """Render every failure of ``app`` as an error body with the right status."""

    @app.exception_handler(errors.MLOpsError)
    async def _mlops(_request: Request, exc: errors.MLOpsError) -> JSONResponse:
        if exc.status_code >= 500:
            log.error("request failed: %s", exc, exc_info=exc)
        return error_response(exc.status_code, type(exc).__name__, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = exc.errors()
        status = 400 if any(p.get("type") == "json_invalid" for p in problems) else 422
        return error_response(status, "InvalidInputError", describe_validation(problems))

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException) -> JSONResponse:
        kind = ERROR_TYPES_BY_STATUS.get(exc.status_code, errors.MLOpsError).__name__
        return error_response(exc.status_code, kind, str(exc.detail))

    @app.exception_handler(IntegrityError)
    async def _integrity(_request: Request, exc: IntegrityError) -> JSONResponse:
        # A store checks what it can; a foreign key the database caught means an unknown id.
        if "foreign key" in str(exc.orig).lower():
            return error_response(
                404,
                "NotFoundError",
                f"the request refers to something that does not exist: {exc.orig}",
            )
        return error_response(409, "InvalidStateError", f"the request conflicts: {exc.orig}")

    @app.exception_handler(DataError)
    async def _data(_request: Request, exc: DataError) -> JSONResponse:
        # PostgreSQL's word for a value it cannot store: a number out of range, a NUL byte in
        # text, a string over a column's length.
        return error_response(
            400, "InvalidInputError", f"a value cannot be stored as given: {exc.orig}"
        )

    @app.exception_handler(ClientDisconnect)
    async def _gone(_request: Request, _exc: ClientDisconnect) -> JSONResponse:
        # The client hung up mid-upload; the store discarded the partial file. Nobody is
        # listening for this answer, so it is only logged.
        log.info("client disconnected before its request body was complete")
        return error_response(400, "InvalidInputError", "the request body was cut short")

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error", exc_info=exc)
        return error_response(500, "MLOpsError", f"internal server error: {type(exc).__name__}")


def describe_validation(problems: object) -> str:
    """Pydantic's error list as one readable line: ``body.name: Field required; ...``."""
    parts = []
    for problem in problems if isinstance(problems, list | tuple) else []:
        where = ".".join(str(p) for p in problem.get("loc", ()))
        parts.append(f"{where}: {problem.get('msg', 'invalid')}" if where else problem["msg"])
    return "invalid request: " + ("; ".join(parts) or "malformed")
