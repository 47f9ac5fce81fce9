"""ragloom's own endpoints: query, retrieve, and documents (incremental indexing).

`POST /v1/query` answers with the object `ragloom query --json` prints; `POST /v1/retrieve`
runs only the retrieval stages and answers `{"hits": [...], "timings": {...}}`. Both take
`filters`, a metadata filter (`ragloom.filters`) every retriever applies; a bad one is a 422
naming the field and the operator.
`POST /v1/documents` adds or replaces documents and `DELETE /v1/documents/{doc_id}` removes
one, through the indexing pipeline with the same batches, commits and writer lock as
`ragloom index` (both answer the index report, `ragloom index --json`'s object).
"""

from __future__ import annotations

import functools
from collections import Counter
from typing import Any

from fastapi import APIRouter, Depends

from ragloom.server.chat import check_filters, check_query
from ragloom.server.errors import ApiError
from ragloom.server.openai_schema import DocumentsRequest, QueryRequest
from ragloom.server.service import RagService
from ragloom.types import Document


def ragloom_router(service: RagService, auth: Any) -> APIRouter:
    """The query, retrieve and documents routes, behind `auth`."""
    router = APIRouter(prefix="/v1", tags=["ragloom"], dependencies=[Depends(auth)])

    @router.post("/query", summary="Answer a question: answer, hits, citations, timings")
    async def query(request: QueryRequest) -> dict[str, Any]:
        question, top_k = check_query(service, request.query, request.top_k)
        ask = functools.partial(service.query, filters=check_filters(request.filters))
        result = await service.call(ask, question, top_k)
        return result.to_dict()

    @router.post("/retrieve", summary="Retrieve passages only (no generation)")
    async def retrieve(request: QueryRequest) -> dict[str, Any]:
        question, top_k = check_query(service, request.query, request.top_k)
        filters = check_filters(request.filters)
        result = await service.call(service.retrieve, question, top_k, filters)
        return {"hits": [hit.to_dict() for hit in result.hits], "timings": result.timings}

    @router.post("/documents", summary="Add or replace documents (incremental indexing)")
    async def add_documents(request: DocumentsRequest) -> dict[str, Any]:
        limit = service.settings.max_documents
        if len(request.documents) > limit:
            raise ApiError(
                413,
                f"too many documents: {len(request.documents)}, the limit is {limit} per "
                f"request (the server's max_documents)",
                "too_many_documents",
                "documents",
            )
        counts = Counter(doc.id for doc in request.documents)
        twice = sorted(doc_id for doc_id, n in counts.items() if n > 1)
        if twice:
            raise ApiError(
                422, f"documents: id {twice[0]!r} is given twice", "invalid_request", "documents"
            )
        documents = [
            Document(text=doc.text, id=doc.id, metadata=dict(doc.metadata))
            for doc in request.documents
        ]
        report = await service.call(service.write, documents, [], writer=True)
        return report.to_dict()

    @router.delete("/documents/{doc_id:path}", summary="Delete a document from the index")
    async def delete_document(doc_id: str) -> dict[str, Any]:
        report = await service.call(service.write, [], [doc_id], writer=True)
        if not report.deleted:
            raise ApiError(404, f"no document {doc_id!r} in the index", "document_not_found")
        return report.to_dict()

    return router
