"""The OpenAI-compatible endpoints: `GET /v1/models` and `POST /v1/chat/completions`.

The last message must be the user's question; it alone drives retrieval (as written: it is
not rewritten with the conversation, so a follow-up question retrieves best when it names what
it asks about). Earlier messages are the conversation, passed to the generator as the query
pipeline's `history` input (`RAG.query`): user and assistant turns go, in order, before the
question with the retrieved passages, the oldest dropped first beyond the prompt builder's
`max_history_tokens`; system and developer messages join ragloom's own system instructions,
after them. Tool and function messages, and messages without text, are left out (ragloom makes
no tool calls). A pipeline without a `history` input answers from the question alone. Each
answer carries ragloom's
extension field `ragloom`: the citations (doc_id, chunk_id, start, end), the hits, the numbered
passages and the timings, the shapes of `ragloom query --json`. Streamed, it comes in the last
chunk before `data: [DONE]`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from ragloom.filters import FilterError, parse_filter
from ragloom.generation.base import Message
from ragloom.rag import QueryResult
from ragloom.server.errors import ApiError
from ragloom.server.openai_schema import ChatRequest, chunk, completion, completion_id
from ragloom.server.service import RagService, as_api_error
from ragloom.server.streaming import QueryStream, sse, sse_error

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def extension(result: QueryResult) -> dict[str, Any]:
    """ragloom's extension field: everything `ragloom query --json` prints but the answer."""
    body = result.to_dict()
    body.pop("answer", None)
    return body


def answer_text(result: QueryResult) -> str:
    return result.answer.text if result.answer is not None else ""


def check_question(service: RagService, request: ChatRequest) -> tuple[str, int | None]:
    """The question and top_k of a chat request, or a 4xx saying what is wrong."""
    settings = service.settings
    if request.model != settings.model_name:
        raise ApiError(
            404,
            f"model {request.model!r} does not exist: this server serves "
            f"{settings.model_name!r} (see GET /v1/models)",
            "model_not_found",
            "model",
        )
    if len(request.messages) > settings.max_messages:
        raise ApiError(
            413,
            f"too many messages: {len(request.messages)}, the limit is "
            f"{settings.max_messages} (the server's max_messages)",
            "too_many_messages",
            "messages",
        )
    last = request.messages[-1]
    question = last.text().strip()
    if last.role != "user" or not question:
        raise ApiError(
            422,
            "the last message must be a user message holding the question "
            f"(got role {last.role!r}{'' if question else ' with no text'})",
            "invalid_request",
            "messages",
        )
    return check_query(service, question, request.top_k)


#: How the roles of a chat request's earlier messages enter the conversation (others: left out).
HISTORY_ROLES = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
}


def conversation(request: ChatRequest) -> list[Message]:
    """The messages before the question, as the pipeline's `history` input (see above)."""
    history: list[Message] = []
    for message in request.messages[:-1]:
        role, text = HISTORY_ROLES.get(message.role), message.text()
        if role is not None and text.strip():
            history.append({"role": role, "content": text})
    return history


def check_filters(filters: dict[str, Any] | None) -> dict[str, Any] | None:
    """A request's metadata filter if it is in the filter language; else a 422 naming the
    field and the operator."""
    try:
        parse_filter(filters)
    except FilterError as exc:
        raise ApiError(422, str(exc), "invalid_request", "filters") from None
    return filters or None


def check_query(service: RagService, question: str, top_k: int | None) -> tuple[str, int | None]:
    """Bounds shared by every endpoint that takes a question."""
    settings = service.settings
    if len(question) > settings.max_question_chars:
        raise ApiError(
            413,
            f"the question is too long: {len(question)} characters, the limit is "
            f"{settings.max_question_chars} (the server's max_question_chars)",
            "question_too_long",
        )
    if top_k is not None and top_k > settings.max_top_k:
        raise ApiError(
            422,
            f"top_k: {top_k} is over the limit of {settings.max_top_k} (the server's max_top_k)",
            "invalid_request",
            "top_k",
        )
    return question, top_k


async def stream_answer(
    run: QueryStream, first: tuple[str, Any], model: str
) -> AsyncIterator[bytes]:
    """`chat.completion.chunk` events: the role, the text pieces, the final chunk, [DONE]."""
    id_, created = completion_id(), int(time.time())
    yield sse(chunk(id_, model, created, {"role": "assistant", "content": ""}))
    streamed = False
    kind, value = first
    while True:
        if kind == "piece":
            streamed = True
            yield sse(chunk(id_, model, created, {"content": value}))
        elif kind == "error":
            yield sse_error(as_api_error(value))
            return
        else:
            text = answer_text(value)
            if not streamed and text:  # e.g. an extractive answer, or an answer from Ray
                yield sse(chunk(id_, model, created, {"content": text}))
            yield sse(chunk(id_, model, created, {}, "stop", extension(value)))
            yield sse("[DONE]")
            return
        try:
            kind, value = await run.next()
        except ApiError as exc:
            yield sse_error(exc)
            return


def chat_router(service: RagService, auth: Any) -> APIRouter:
    """The OpenAI-compatible routes, behind `auth`."""
    router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"], dependencies=[Depends(auth)])
    model = service.settings.model_name

    @router.get("/models", summary="The served model (one: the RAG pipeline)")
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": model, "object": "model", "created": 0, "owned_by": "ragloom"}],
        }

    @router.post(
        "/chat/completions",
        summary="Answer the last user message from the index, with citations",
        response_model=None,
    )
    async def chat_completions(request: ChatRequest) -> Any:
        question, top_k = check_question(service, request)
        history = conversation(request)
        filters = check_filters(request.filters)
        if not request.stream:
            ask = functools.partial(service.query, filters=filters)
            result = await service.call(ask, question, top_k, history)
            return completion(completion_id(), model, answer_text(result), extension(result))
        run = QueryStream(service, question, top_k, history, filters=filters)
        run.start()
        # Wait for the first event: an error before any text is still an HTTP status.
        first = await run.next()
        if first[0] == "error":
            raise as_api_error(first[1])
        return StreamingResponse(
            stream_answer(run, first, model), media_type="text/event-stream", headers=SSE_HEADERS
        )

    return router
