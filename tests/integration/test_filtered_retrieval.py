"""Metadata filters inside every retriever, before its top k (issue 13, part B).

The property: for random metadata and random filters, a filtered retrieval equals the
unfiltered full ranking restricted to the chunks the filter passes (`ragloom.filters.matches`,
the reference semantics), for BM25, dense (Chroma's where, or ragloom's own pass for what
Chroma cannot express) and fused hybrid, at every top k. Then the ways in: YAML, the CLI's
--filter, `RAG.query(filters=...)`, `RagloomRetriever` and the HTTP server.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragloom.chunking.hashing import HashingEncoder, HashingQueryEncoder
from ragloom.errors import ComponentConfigError, ConfigError
from ragloom.filters import FilterError, filter_fields, matches, parse_filter
from ragloom.pipeline.graph import Pipeline
from ragloom.rag import RAG
from ragloom.retrievers.bm25 import BM25Retriever, BM25Writer
from ragloom.retrievers.chroma import ChromaRetriever, ChromaWriter
from ragloom.retrievers.fusion import ReciprocalRankFusion
from ragloom.retrievers.langchain_retriever import RagloomRetriever
from ragloom.server.app import create_app
from ragloom.server.settings import ServerSettings
from ragloom.types import Chunk, Hit
from tests.integration.conftest import ROOT, RunningServer, ragloom_cli
from tests.unit.filter_strategies import conditions, filters

DOCS = 14
WORDS = "river bank money water stone fish bridge boat tree road".split()
QUERY = "river bank fish boat"
DIMENSION = 256
#: Values metadata and filters draw from: strings, ints, floats, booleans that look alike.
VALUES = ["red", "blue", "2020", 0, 1, 2020, 2020.0, 2020.5, 2019, True, False]
NUMBERS = [0, 1, 2019, 2020, 2020.0, 2020.5, 2021.5]
FIELDS = ["team", "year", "flag", "tags", "doc_id", "absent"]


def _texts() -> list[str]:
    """Distinct texts of query words and others (fixed: only the metadata is random)."""
    chooser = random.Random(13)
    return [
        " ".join([f"doc{n}", *chooser.sample(WORDS, chooser.randint(2, 6))]) for n in range(DOCS)
    ]


TEXTS = _texts()

metadata_values = st.one_of(st.none(), st.sampled_from(VALUES))
documents_metadata = st.lists(
    st.fixed_dictionaries(
        {"team": metadata_values, "year": metadata_values, "flag": metadata_values},
        optional={"tags": st.just(["red", "blue"])},  # a list: filters see it as missing
    ).map(lambda meta: {k: v for k, v in meta.items() if v is not None}),
    min_size=DOCS,
    max_size=DOCS,
)


def _leaf(field: str) -> st.SearchStrategy[dict[str, Any]]:
    values = VALUES if field != "doc_id" else ["d1", "d2", "d3", 1]
    return conditions(values, NUMBERS).map(lambda condition: {field: condition})


random_filters = filters(st.sampled_from(FIELDS).flatmap(_leaf))


class FilteredIndex:
    """BM25 and Chroma (hashing embeddings, no model) over the same chunks in one folder."""

    def __init__(self, folder: Path):
        self.bm25_writer, self.dense_writer = BM25Writer(), ChromaWriter()
        self.bm25, self.dense = BM25Retriever(top_k=DOCS), ChromaRetriever(top_k=DOCS)
        self.fusion = ReciprocalRankFusion(top_k=DOCS)
        self.encoder = HashingEncoder(dimension=DIMENSION)
        query_encoder = HashingQueryEncoder(dimension=DIMENSION)
        for stage in (self.bm25_writer, self.dense_writer, self.bm25, self.dense):
            stage.bind_index(folder)
        self.pipeline = (
            Pipeline(index_dir=folder)
            .add("query_encoder", query_encoder)
            .add("bm25", self.bm25)
            .add("dense", self.dense)
            .add("fusion", self.fusion)
            .connect("query_encoder.embedding", "dense.query_embedding")
            .connect("bm25.hits", "fusion.hits")
            .connect("dense.hits", "fusion.hits")
            .add_input("query", "query_encoder.query", "bm25.query")
            .add_input("filters", "bm25.filters", "dense.filters")
            .add_input("retriever_k", "bm25.top_k", "dense.top_k")
            .add_input("top_k", "fusion.top_k")
            .add_output("hits", "fusion.hits")
        )
        self.embedding = query_encoder.run(query=QUERY)["embedding"]

    def write(self, metadata: list[dict[str, Any]]) -> None:
        """Replace every document's chunk with one carrying `metadata` (same ids and texts)."""
        chunks = [
            Chunk(f"d{n}", text, 0, len(text), metadata=meta)
            for n, (text, meta) in enumerate(zip(TEXTS, metadata, strict=True))
        ]
        self.bm25_writer.run(chunks=chunks)
        self.dense_writer.run(chunks=self.encoder.run(chunks=chunks)["chunks"])

    def bm25_hits(self, k: int, where: dict[str, Any] | None = None) -> list[Hit]:
        return list(self.bm25.run(query=QUERY, top_k=k, filters=where)["hits"])

    def dense_hits(self, k: int, where: dict[str, Any] | None = None) -> list[Hit]:
        return list(self.dense.run(query_embedding=self.embedding, top_k=k, filters=where)["hits"])


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> FilteredIndex:
    return FilteredIndex(tmp_path_factory.mktemp("filtered"))


def _restricted(hits: list[Hit], where: dict[str, Any]) -> list[tuple[str, float]]:
    """The full ranking's hits passing `where`, in order."""
    node = parse_filter(where)
    kept = [h for h in hits if matches(node, filter_fields(h.chunk.doc_id, h.chunk.metadata))]
    return _ranked(kept)


def _assert_top_k_of(hits: list[Hit], ranking: list[tuple[str, float]], k: int) -> None:
    """`hits` are the first k of `ranking`; among chunks tied with the k-th score, any may
    make the cut (Chroma's nearest-neighbour cut does not order equal distances by id)."""
    found, expected = _ranked(hits), ranking[:k]
    assert [score for _, score in found] == [score for _, score in expected]
    last = expected[-1][1] if expected else None
    assert [i for i, s in found if s != last] == [i for i, s in expected if s != last]
    assert {i for i, s in found if s == last} <= {i for i, s in ranking if s == last}


def _ranked(hits: list[Hit]) -> list[tuple[str, float]]:
    return [(hit.chunk.id, round(hit.score, 9)) for hit in hits]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    metadata=documents_metadata,
    where=random_filters,
    k=st.integers(1, DOCS),
    fused_k=st.integers(1, 6),
)
def test_filtered_retrieval_is_the_full_ranking_restricted(
    index: FilteredIndex,
    metadata: list[dict[str, Any]],
    where: dict[str, Any],
    k: int,
    fused_k: int,
) -> None:
    index.write(metadata)
    full_bm25, full_dense = index.bm25_hits(DOCS), index.dense_hits(DOCS)
    assert len(full_dense) == DOCS  # every chunk is a dense candidate
    bm25 = index.bm25_hits(k, where)
    dense = index.dense_hits(k, where)
    assert _ranked(bm25) == _restricted(full_bm25, where)[:k]  # BM25 breaks ties by id
    _assert_top_k_of(dense, _restricted(full_dense, where), k)
    # The hybrid pipeline, filters given once as its input: fusion of the restricted lists.
    fused = index.pipeline.run(
        {"query": QUERY, "filters": where, "retriever_k": k, "top_k": fused_k}
    ).outputs["hits"]
    expected = index.fusion.run(hits=[bm25, dense], top_k=fused_k)["hits"]
    assert _ranked(fused) == _ranked(expected)
    node = parse_filter(where)
    assert all(matches(node, filter_fields(h.chunk.doc_id, h.chunk.metadata)) for h in fused)


def test_a_static_filter_holds_with_the_per_call_one(index: FilteredIndex, tmp_path: Path) -> None:
    index.write([{"team": "red" if n % 2 else "blue", "year": 2018 + n} for n in range(DOCS)])
    red = BM25Retriever(top_k=DOCS, filters={"team": "red"})
    red.bind_index(index.bm25.directory.parent)
    teams = {h.chunk.metadata["team"] for h in red.run(query=QUERY)["hits"]}
    assert teams == {"red"}
    hits = red.run(query=QUERY, filters={"year": {"$gte": 2025}})["hits"]
    assert hits and all(
        h.chunk.metadata["team"] == "red" and h.chunk.metadata["year"] >= 2025 for h in hits
    )
    with pytest.raises(ComponentConfigError, match=r"filters.*field 'year', operator \$gt"):
        ChromaRetriever(filters={"year": {"$gt": "new"}})


# -- the ways in: YAML, CLI, SDK, LangChain, HTTP ---------------------------------------------

CONFIG = ROOT / "tests" / "integration" / "configs" / "hashing-hybrid.yaml"
RECORDS = [
    {"id": "red-old", "text": "The river bank floods in spring.", "team": "red", "year": 2018},
    {"id": "red-new", "text": "The river bank was rebuilt in stone.", "team": "red", "year": 2023},
    {"id": "blue-new", "text": "A river bank of fish and boats.", "team": "blue", "year": 2024},
]


@pytest.fixture(scope="module")
def team_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hashing hybrid configuration over three JSONL records with team and year."""
    folder = tmp_path_factory.mktemp("teams")
    corpus = folder / "teams.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in RECORDS), encoding="utf-8")
    RAG.from_file(CONFIG, folder / "index").index([corpus])
    return folder / "index"


def _doc_ids(hits: list[Any]) -> set[str]:
    return {h["doc_id"] if isinstance(h, dict) else h.chunk.doc_id for h in hits}


def test_rag_query_filters_every_retriever(team_index: Path) -> None:
    rag = RAG.from_file(CONFIG, team_index)
    assert _doc_ids(rag.query("river bank").hits) == {"red-old", "red-new", "blue-new"}
    red = rag.query("river bank", filters={"team": "red"})
    assert _doc_ids(red.hits) == {"red-old", "red-new"}
    assert {h.chunk.metadata["team"] for h in red.hits} == {"red"}
    recent = rag.query("river bank", filters={"$and": [{"team": "red"}, {"year": {"$gte": 2020}}]})
    assert _doc_ids(recent.hits) == {"red-new"}
    assert {s for h in recent.hits for s in h.source_scores} == {"bm25", "dense"}
    with pytest.raises(FilterError, match=r"field 'year', operator \$gte"):
        rag.query("river bank", filters={"year": {"$gte": "2020"}})


def test_a_pipeline_without_a_filters_input_refuses_a_filter(team_index: Path) -> None:
    rag = RAG.from_file(CONFIG, team_index)
    del rag.config.query.inputs["filters"]
    with pytest.raises(ConfigError, match="declare a `filters` input"):
        rag.query("river bank", filters={"team": "red"})


def test_cli_query_filter(team_index: Path) -> None:
    args = ["query", "river bank", "-c", str(CONFIG), "--index-dir", str(team_index), "--json"]
    proc = ragloom_cli(*args, "--filter", '{"year": {"$lt": 2020}}')
    assert _doc_ids(json.loads(proc.stdout)["hits"]) == {"red-old"}
    bad = ragloom_cli(*args, "--filter", '{"year": {"$lt": "old"}}', check=False)
    assert bad.returncode != 0
    assert "field 'year', operator $lt" in bad.stderr and "Traceback" not in bad.stderr
    broken = ragloom_cli(*args, "--filter", "{team: red}", check=False)
    assert broken.returncode != 0 and "--filter: not valid JSON" in broken.stderr


def test_langchain_retriever_filters(team_index: Path) -> None:
    retriever = RagloomRetriever.from_config(CONFIG, team_index, filters={"team": "red"})
    docs = retriever.invoke("river bank")
    assert {d.metadata["ragloom_doc_id"] for d in docs} == {"red-old", "red-new"}
    docs = retriever.invoke("river bank", filters={"year": {"$gt": 2020}})
    assert {d.metadata["ragloom_doc_id"] for d in docs} == {"red-new"}
    with pytest.raises(FilterError, match=r"field 'team', operator \$in"):
        RagloomRetriever.from_config(CONFIG, team_index, filters={"team": {"$in": "red"}})


def test_server_retrieve_and_query_take_filters(team_index: Path) -> None:
    rag = RAG.from_file(CONFIG, team_index)
    with RunningServer(create_app(rag, ServerSettings())) as server:
        url = server.base_url
        body = {"query": "river bank", "filters": {"team": {"$ne": "red"}}}
        retrieved = httpx.post(f"{url}/v1/retrieve", json=body, timeout=60)
        assert retrieved.status_code == 200, retrieved.text
        assert _doc_ids(retrieved.json()["hits"]) == {"blue-new"}
        answered = httpx.post(f"{url}/v1/query", json=body, timeout=60)
        assert answered.status_code == 200, answered.text
        assert _doc_ids(answered.json()["hits"]) == {"blue-new"}
        bad = {"query": "river bank", "filters": {"year": {"$gtt": 2020}}}
        refused = httpx.post(f"{url}/v1/retrieve", json=bad, timeout=60)
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert "field 'year'" in error["message"] and "$gtt" in error["message"]
        assert error["param"] == "filters"
        # Chat completions: ragloom's own field (the openai client: extra_body={"filters": ...})
        chat = {"model": "ragloom", "messages": [{"role": "user", "content": "river bank"}]}
        replied = httpx.post(
            f"{url}/v1/chat/completions", json={**chat, "filters": {"year": 2018}}, timeout=60
        )
        assert replied.status_code == 200, replied.text
        assert _doc_ids(replied.json()["ragloom"]["hits"]) == {"red-old"}
        refused = httpx.post(
            f"{url}/v1/chat/completions", json={**chat, "filters": {"$nor": []}}, timeout=60
        )
        assert refused.status_code == 422 and "'$nor'" in refused.json()["error"]["message"]
