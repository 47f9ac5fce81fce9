"""`ragloom serve` settings: one pydantic model, filled from a config's `serve:` block and flags.

Example YAML (beside `indexing:` and `query:` in a RAG configuration)::

    serve:
      port: 8080
      max_in_flight: 32
      api_keys_file: /etc/ragloom/keys

Command-line flags override the file; the file overrides the defaults below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ragloom.errors import ConfigError, Problem
from ragloom.server.serve_settings import RayServeSettings

#: The environment variable read for API keys (comma-separated) unless `api_keys_env` says.
DEFAULT_KEYS_ENV = "RAGLOOM_API_KEYS"


class ServerSettings(BaseModel):
    """How `ragloom serve` listens, whom it lets in, and how much work it takes at once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8000
    #: The model id clients name in chat requests (`GET /v1/models` lists it).
    model_name: Annotated[str, Field(min_length=1)] = "ragloom"
    #: Environment variable holding accepted bearer tokens, comma-separated.
    api_keys_env: Annotated[str, Field(min_length=1)] = DEFAULT_KEYS_ENV
    #: A file of accepted bearer tokens, one a line (`#` starts a comment).
    api_keys_file: Path | None = None
    #: Request bodies larger than this are refused with 413.
    max_body_bytes: Annotated[int, Field(gt=0)] = 1_048_576
    #: Questions longer than this (characters) are refused with 413.
    max_question_chars: Annotated[int, Field(gt=0)] = 4_000
    #: Chat requests with more messages than this are refused with 413.
    max_messages: Annotated[int, Field(gt=0)] = 100
    #: Documents per POST /v1/documents at most.
    max_documents: Annotated[int, Field(gt=0)] = 1_000
    #: Largest top_k a request may ask for.
    max_top_k: Annotated[int, Field(gt=0)] = 100
    #: Seconds a request may take before it is answered 504 (its worker finishes in the
    #: background: Python cannot stop a thread).
    request_timeout_s: Annotated[float, Field(gt=0)] = 60.0
    #: Requests in flight (all /v1 endpoints); beyond it, 429 with Retry-After.
    max_in_flight: Annotated[int, Field(gt=0)] = 64
    #: The Retry-After header's seconds on a 429 or a 503.
    retry_after_s: Annotated[int, Field(ge=0)] = 1
    #: Threads running pipelines (queries wait for a free one; documents have their own).
    workers: Annotated[int, Field(gt=0)] = 4
    #: Server processes on the port, each with its own pipelines (`ragloom.server.processes`);
    #: more than one only reads the index (documents are added with `ragloom index`).
    processes: Annotated[int, Field(gt=0)] = 1
    #: Concurrent requests' calls of a batch-capable stage (a query encoder) joined into one
    #: run at most (`ragloom.pipeline.coalesce`; no added wait); 1: each call runs alone.
    max_batch: Annotated[int, Field(gt=0)] = 32
    #: Seconds an idle keep-alive connection stays open. Long enough that a connection is not
    #: closed under a client about to reuse it while a busy server's event loop lags
    #: (uvicorn's 5 s default dropped such requests under overload: client-side ReadErrors).
    keep_alive_s: Annotated[float, Field(gt=0)] = 60.0
    #: Seconds SIGTERM waits for in-flight requests before closing them.
    shutdown_timeout_s: Annotated[float, Field(gt=0)] = 30.0
    #: Where pipelines run: `ray` serves on Ray Serve (an ingress plus a deployment per heavy
    #: stage); unset: as the configuration's `executor:` says (`--executor` overrides both).
    executor: Literal["local", "ray"] | None = None
    #: Ray Serve's layout: batching, autoscaling, the ingress (`ragloom.server.serve_settings`).
    ray: RayServeSettings = Field(default_factory=RayServeSettings)


def _keys_at(path: tuple[Any, ...]) -> list[str]:
    """The keys valid in the mapping at `path` of a `serve:` block (e.g. `ray.batching`)."""
    model: type[BaseModel] = ServerSettings
    for part in path:
        field = model.model_fields.get(str(part))
        if field is None:  # a key of a mapping of settings (a stage's name)
            continue
        inner = [t for t in _types_in(field.annotation) if issubclass(t, BaseModel)]
        if not inner:
            break
        model = inner[0]
    return list(model.model_fields)


def _types_in(annotation: Any) -> list[type]:
    """The classes an annotation names (inside Optional, dict[...], Annotated, ...)."""
    if isinstance(annotation, type):
        return [annotation]
    return [t for arg in get_args(annotation) for t in _types_in(arg)]


def settings_from(block: Any, overrides: dict[str, Any], where: str = "serve") -> ServerSettings:
    """Settings from a `serve:` mapping (or None) with `overrides` (flags; None = not given)."""
    if block is None:
        block = {}
    if not isinstance(block, dict):
        raise ConfigError(f"{where}: must be a mapping of settings, got {type(block).__name__}")
    values = {**block, **{k: v for k, v in overrides.items() if v is not None}}
    try:
        return ServerSettings(**values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"])
            valid = ", ".join(_keys_at(error["loc"][:-1]))
            hint = f" (valid: {valid})" if error["type"] == "extra_forbidden" else ""
            problems.append(Problem(f"{where}.{field}: {error['msg']}{hint}", field=field))
        raise ConfigError(problems) from None
