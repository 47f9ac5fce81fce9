"""Request and response bodies of the OpenAI-compatible and ragloom endpoints (pydantic).

Chat requests accept the fields OpenAI clients send; ones that do not apply to a RAG pipeline
(temperature, max_tokens, tools, ...) are accepted and ignored, so `openai` and LangChain's
`ChatOpenAI` work unchanged. The declared fields are checked strictly: a wrong type is a 422
naming the field.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

Scalar = StrictStr | StrictBool | StrictInt | StrictFloat


class TextPart(BaseModel):
    """A content part; only text parts carry meaning for retrieval."""

    model_config = ConfigDict(extra="allow")

    type: StrictStr
    text: StrictStr | None = None


class ChatMessage(BaseModel):
    """One message of the conversation."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: StrictStr | list[TextPart] | None = None

    def text(self) -> str:
        """The message's text (text parts joined; other parts, such as images, left out)."""
        if isinstance(self.content, list):
            return "".join(part.text or "" for part in self.content if part.type == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    """`POST /v1/chat/completions`: the last user message is the question."""

    model_config = ConfigDict(extra="allow")

    model: StrictStr
    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    stream: StrictBool = False
    #: ragloom's own: passages to retrieve (the pipeline needs a `top_k` input).
    top_k: Annotated[StrictInt, Field(gt=0)] | None = None
    n: Annotated[StrictInt, Field(ge=1, le=1)] | None = None
    #: ragloom's own: a metadata filter (`ragloom.filters`; the pipeline needs a `filters`
    #: input). The openai client sends it with `extra_body={"filters": {...}}`.
    filters: dict[str, Any] | None = None


class QueryRequest(BaseModel):
    """`POST /v1/query` and `POST /v1/retrieve`."""

    model_config = ConfigDict(extra="forbid")

    query: Annotated[StrictStr, Field(min_length=1)]
    top_k: Annotated[StrictInt, Field(gt=0)] | None = None
    #: A metadata filter, e.g. `{"team": "red"}` (`ragloom.filters`).
    filters: dict[str, Any] | None = None


class DocumentIn(BaseModel):
    """A document to index: its id, text, and flat metadata (scalar values only)."""

    model_config = ConfigDict(extra="forbid")

    id: Annotated[StrictStr, Field(min_length=1, max_length=1024)]
    text: Annotated[StrictStr, Field(min_length=1)]
    metadata: dict[str, Scalar] = Field(default_factory=dict)


class DocumentsRequest(BaseModel):
    """`POST /v1/documents`: documents added, or replaced when their id is indexed."""

    model_config = ConfigDict(extra="forbid")

    documents: Annotated[list[DocumentIn], Field(min_length=1)]


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def completion(
    id_: str, model: str, text: str, extension: dict[str, Any], created: int | None = None
) -> dict[str, Any]:
    """A `chat.completion` object with ragloom's extension field."""
    return {
        "id": id_,
        "object": "chat.completion",
        "created": created or int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": None,
        "ragloom": extension,
    }


def chunk(
    id_: str,
    model: str,
    created: int,
    delta: dict[str, Any],
    finish_reason: str | None = None,
    extension: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A `chat.completion.chunk` object (the final one carries ragloom's extension)."""
    body: dict[str, Any] = {
        "id": id_,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
    }
    if extension is not None:
        body["ragloom"] = extension
    return body
