"""LangChain's standard retriever suite (langchain-tests `RetrieversIntegrationTests`) against
`RagloomRetriever` over the example corpus, once per shipped retrieval setup: BM25 only, dense
(late chunking), hybrid, and hybrid + a cross-encoder reranker. The number-of-results argument
is `top_k`, in the constructor and per call."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
from langchain_core.retrievers import BaseRetriever
from langchain_tests.integration_tests import RetrieversIntegrationTests

from ragloom.config import RagConfig, load_config
from ragloom.evaluation.runner import ranking_pipeline
from ragloom.pipeline.graph import Pipeline
from ragloom.rag import RAG
from ragloom.retrievers.langchain_retriever import RagloomRetriever
from tests.integration.conftest import CORPUS, ROOT

_INDEXES: dict[str, Path] = {}


@pytest.fixture(scope="module")
def index_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for this module's indexes; each setup's index is built on first use."""
    _INDEXES.clear()
    return tmp_path_factory.mktemp("langchain-standard")


def _indexed(config: RagConfig, name: str, root: Path) -> RAG:
    """The example corpus indexed by `config` (shared by setups with the same indexing)."""
    if name not in _INDEXES:
        RAG(config, root / name).index([CORPUS])
        _INDEXES[name] = root / name
    return RAG(config, _INDEXES[name])


class _Setup:
    """Binds a standard-suite class to one example configuration's ranking pipeline."""

    example: ClassVar[str]
    pipeline: ClassVar[Pipeline]

    @classmethod
    def configure(cls, config: RagConfig, request: pytest.FixtureRequest) -> None:
        """Adjust the loaded configuration before it is used (reranker model, for one)."""

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def _pipeline(cls, request: pytest.FixtureRequest, index_root: Path) -> None:
        config = load_config(ROOT / "examples" / f"{cls.example}.yaml")
        cls.configure(config, request)
        rag = _indexed(config, json_key(config), index_root)
        cls.pipeline = ranking_pipeline(rag.config.query)

    @property
    def retriever_constructor(self) -> type[BaseRetriever]:
        return RagloomRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"pipeline": self.pipeline}

    @property
    def retriever_query_example(self) -> str:
        return "What is reciprocal rank fusion?"

    @property
    def num_results_arg_name(self) -> str:
        return "top_k"


def json_key(config: RagConfig) -> str:
    """Setups whose indexing pipelines are equal share one index."""
    data = json.dumps(config.indexing.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(data.encode()).hexdigest()[:12]


class TestBM25Retriever(_Setup, RetrieversIntegrationTests):
    example = "bm25"


class TestDenseRetriever(_Setup, RetrieversIntegrationTests):
    example = "late-chunking"


class TestHybridRetriever(_Setup, RetrieversIntegrationTests):
    example = "hybrid"


class TestHybridRerankRetriever(_Setup, RetrieversIntegrationTests):
    example = "hybrid-rerank"

    @classmethod
    def configure(cls, config: RagConfig, request: pytest.FixtureRequest) -> None:
        # The shipped config names a SciFact-trained model that is not in the repository: the
        # suite's tiny reranker (trained in seconds from the bundled MiniLM) stands in for it.
        model = request.getfixturevalue("tiny_reranker")
        spec = config.query.to_dict()
        spec["components"]["reranker"]["init_parameters"]["model"] = str(model)
        config.query = Pipeline.from_dict(spec)
