"""Incremental, crash-safe indexing for both executors, and distributed batch indexing on Ray Data.

`RAG.index` runs `index_paths`: the loader runs on the driver, `plan_documents` skips unchanged
documents, and changed ones are written batch by batch, each batch committed to the manifest
(`Journal`) only once every writer holds it.
"""

from ragloom.indexing.journal import Journal
from ragloom.indexing.plan import IndexPlan, plan_documents
from ragloom.indexing.report import IndexReport
from ragloom.indexing.runner import DEFAULT_BATCH_SIZE, index_paths
from ragloom.indexing.shape import IndexingShape, RayDataStages

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "IndexPlan",
    "IndexReport",
    "IndexingShape",
    "Journal",
    "RayDataStages",
    "index_paths",
    "plan_documents",
]
