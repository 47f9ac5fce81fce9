"""Every error the server answers has OpenAI's shape and a one-line message, never a traceback.

Body: `{"error": {"message": ..., "type": ..., "code": ..., "param": ...}}`, what the `openai`
client parses into its `APIStatusError`. FastAPI's own 422 (a list of pydantic errors) becomes
one line naming the field.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)

#: The OpenAI error `type` for each status the server answers.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "server_error",
    504: "timeout_error",
}


class ApiError(Exception):
    """An error answered as `status` with OpenAI's error body."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.headers = headers or {}


def error_body(
    status: int, message: str, code: str | None = None, param: str | None = None
) -> dict:
    """OpenAI's error object."""
    return {
        "error": {
            "message": message,
            "type": ERROR_TYPES.get(
                status, "invalid_request_error" if status < 500 else "server_error"
            ),
            "code": code,
            "param": param,
        }
    }


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(
        error_body(error.status, error.message, error.code, error.param),
        status_code=error.status,
        headers=error.headers,
    )


def _field(loc: tuple[Any, ...]) -> str:
    """`body.messages.0.content` -> `messages[0].content` (the request body is implied)."""
    parts = list(loc[1:] if loc and loc[0] == "body" else loc)
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    """One line for FastAPI's list of errors (the first, and how many more), and the field."""
    errors = list(exc.errors())
    if not errors:
        return "the request is not valid", None
    first = errors[0]
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    if first.get("type") == "json_invalid":
        reason = (first.get("ctx") or {}).get("error", "")
        return f"the request body is not valid JSON: {reason}".rstrip(": "), None
    field = _field(tuple(first.get("loc", ())))
    message = str(first.get("msg", "invalid value"))
    if first.get("type") == "missing":
        return f"{field or 'body'}: required field missing{more}", field or None
    if not field:
        if first.get("type") in ("model_attributes_type", "dict_type"):
            return "the request body must be a JSON object (Content-Type: application/json)", None
        return f"the request body is not valid: {message}{more}", None
    return f"{field}: {message}{more}", field


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error, expected or not, with OpenAI's body and no traceback."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, field = validation_message(exc)
        return error_response(ApiError(422, message, "invalid_request", field))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = str(exc.detail)
        if exc.status_code == 404:
            message = f"no such endpoint: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        headers = dict(exc.headers or {})
        return error_response(ApiError(exc.status_code, message, headers=headers))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("%s %s failed", request.method, request.url.path)
        message = f"internal error: {type(exc).__name__}: {exc}".splitlines()[0]
        return error_response(ApiError(500, message, "internal_error"))
