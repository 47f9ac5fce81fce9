"""BM25 store and stages: parity with rank-bm25 for both backends, `.npy` + JSON persistence
that survives interrupted writes, tokenizer options, idempotent replacing writes."""

from __future__ import annotations

import json
import re
import sqlite3
import sys
import typing
from itertools import islice
from pathlib import Path

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from ragloom.errors import ComponentConfigError, ConfigError
from ragloom.retrievers.bm25 import Backend, BM25Retriever, BM25Writer
from ragloom.retrievers.bm25_scoring import (
    SCORERS,
    BM25Settings,
    BM25sScorer,
    RankBM25Scorer,
    Scorer,
    Tokenizer,
    top_positive,
)
from ragloom.retrievers.bm25_store import TOKENIZER_SETTINGS, BM25Store, tokenize
from ragloom.types import Chunk, Document, Hit

SCIFACT = Path("/work/shared/datasets/scifact")

SMALL_CORPUS = {
    "d01": "The quick brown fox jumps over the lazy dog.",
    "d02": "A fast brown fox leaps over a sleepy dog near the river bank.",
    "d03": "Foxes are small omnivorous mammals of the family Canidae.",
    "d04": "The river bank was flooded after the storm; the dog swam.",
    "d05": "Banks lend money; a river bank holds water, not money.",
    "d06": "Lazy afternoons by the river with a book and a dog.",
    "d07": "Canidae include wolves, dogs, foxes and jackals.",
    "d08": "Storm warnings closed the bank and the river path.",
    "d09": "Foxes are small omnivorous mammals of the family Canidae.",  # tie with d03
    "d10": "Émile\u2019s café serves crème brûlée; CAFÉ opens at 9.",
    "d11": "Nothing relevant here at all.",
    "d12": "Money, money, money: the bank's storm of interest rates.",
}
# BM25Okapi gives a term found in half the corpus or more a floor idf that is negative on tiny
# corpora, so the write tests below add filler documents to keep their terms rare.
FILLER = ["solar wind", "granite rock", "violin music", "tidal pool"]
SMALL_QUERIES = [
    "brown fox",
    "river bank",
    "foxes canidae mammals",
    "lazy dog lazy",
    "café crème",
    "storm bank money",
    "wolves",
    "unmatched zebra",
]


def _reference_tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _whole_chunk(doc_id: str, text: str, **metadata: object) -> Chunk:
    return Chunk.from_span(Document(text=text, id=doc_id, metadata=dict(metadata)), 0, len(text), 0)


def _split_chunks(doc_id: str, text: str, size: int) -> list[Chunk]:
    doc = Document(text=text, id=doc_id)
    spans = [(s, min(s + size, len(text))) for s in range(0, len(text), size)]
    return [Chunk.from_span(doc, s, e, n) for n, (s, e) in enumerate(spans)]


def _reference_scores(chunks: list[Chunk], query: str) -> dict[str, float]:
    """BM25Okapi called directly, on its own tokenization, in the given corpus order."""
    model = BM25Okapi([_reference_tokens(c.text) for c in chunks])
    scores = model.get_scores(_reference_tokens(query))
    return {c.id: float(s) for c, s in zip(chunks, scores, strict=True)}


def _assert_same_ranking(got: list[Hit], reference: dict[str, float], top_k: int) -> None:
    """Tie-aware parity: same scores rank by rank, ids may differ only among tied scores."""
    expected = sorted(
        ((score, cid) for cid, score in reference.items() if score > 0),
        key=lambda pair: (-pair[0], pair[1]),
    )[:top_k]
    assert len(got) == len(expected)
    for hit, (score, cid) in zip(got, expected, strict=True):
        assert hit.score == pytest.approx(score, rel=1e-9, abs=1e-12)
        if hit.chunk.id != cid:
            assert reference[hit.chunk.id] == pytest.approx(score, rel=1e-9, abs=1e-12)
    keys = [(-hit.score, hit.chunk.id) for hit in got]
    assert keys == sorted(keys)
    assert len({hit.chunk.id for hit in got}) == len(got)


def _fillers() -> list[Chunk]:
    return [_whole_chunk(f"filler{n}", text) for n, text in enumerate(FILLER)]


def _small_chunks() -> list[Chunk]:
    return [_whole_chunk(doc_id, text) for doc_id, text in SMALL_CORPUS.items()]


@pytest.fixture
def small_store(tmp_path: Path) -> BM25Store:
    store = BM25Store(tmp_path / "bm25")
    store.write(_small_chunks())
    return store


def _files(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


def _segment_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("*.seg"))


def _results(hits: list[Hit]) -> list[tuple[str, float]]:
    return [(hit.chunk.id, hit.score) for hit in hits]


# -- tokenizer and ranking helpers -----------------------------------------------------------


def test_tokenizer_is_lowercase_unicode_words() -> None:
    assert tokenize("Émile\u2019s CAFÉ, naïve_x 42!") == ["émile", "s", "café", "naïve_x", "42"]
    assert tokenize("  ,.;  ") == []
    assert TOKENIZER_SETTINGS == {"type": "regex", "pattern": r"\w+", "lowercase": True}


def test_top_positive_is_tie_aware_and_drops_non_positive() -> None:
    scores = np.array([1.0, 2.0, 2.0, 2.0, 0.0, -1.0, 3.0])
    keys = ["a", "d", "b", "c", "e", "f", "g"]
    assert top_positive(scores, keys, 3) == [6, 2, 3]
    assert top_positive(scores, keys, 100) == [6, 2, 3, 1, 0]
    assert top_positive(np.zeros(3), ["a", "b", "c"], 2) == []


# -- parity with rank-bm25 -------------------------------------------------------------------


@pytest.mark.parametrize("backend", sorted(SCORERS))
@pytest.mark.parametrize("top_k", [1, 3, 100])
def test_parity_with_rank_bm25_on_small_corpus(tmp_path: Path, backend: str, top_k: int) -> None:
    chunks = _small_chunks()
    store = BM25Store(tmp_path, BM25Settings(backend=backend))
    store.write(chunks)
    for query in SMALL_QUERIES:
        _assert_same_ranking(store.search(query, top_k), _reference_scores(chunks, query), top_k)


def test_ties_break_by_chunk_id(small_store: BM25Store) -> None:
    hits = small_store.search("omnivorous", 10)
    assert [hit.chunk.id for hit in hits] == ["d03#0-57", "d09#0-57"]
    assert hits[0].score == hits[1].score > 0


def test_parity_with_rank_bm25_on_scifact(tmp_path: Path) -> None:
    with open(SCIFACT / "corpus.jsonl", encoding="utf-8") as handle:
        docs = [json.loads(line) for line in islice(handle, 300)]
    chunks = [_whole_chunk(d["_id"], f"{d['title']} {d['text']}") for d in docs]
    with open(SCIFACT / "queries.jsonl", encoding="utf-8") as handle:
        queries = [json.loads(line)["text"] for line in islice(handle, 15)]
    queries += [d["title"] for d in docs[::60]]
    store = BM25Store(tmp_path / "bm25")
    assert store.write(chunks) == 300
    model = BM25Okapi([_reference_tokens(c.text) for c in chunks])
    matched = 0
    for query in queries:
        scores = model.get_scores(_reference_tokens(query))
        reference = {c.id: float(s) for c, s in zip(chunks, scores, strict=True)}
        hits = store.search(query, 10)
        _assert_same_ranking(hits, reference, 10)
        matched += bool(hits)
    assert matched >= len(queries) // 2


# -- persistence -----------------------------------------------------------------------------


def test_round_trip_through_a_new_store(small_store: BM25Store) -> None:
    reopened = BM25Store(small_store.directory)
    assert reopened.chunk_ids() == small_store.chunk_ids()
    for query in SMALL_QUERIES:
        before, after = small_store.search(query, 5), reopened.search(query, 5)
        assert _results(before) == _results(after)
        assert [h.chunk for h in before] == [h.chunk for h in after]


def test_chunk_fields_and_metadata_round_trip_without_embeddings(tmp_path: Path) -> None:
    doc = Document(text="alpha beta gamma delta", id="doc", metadata={"lang": "en"})
    chunk = Chunk.from_span(doc, 6, 16, 1)
    chunk.metadata.update(page=np.int64(3), tags=["x", "ü"])
    chunk.embedding = np.ones(4, dtype=np.float32)
    BM25Store(tmp_path).write([chunk, *_fillers()])
    (stored,) = BM25Store(tmp_path).search("gamma", 1)
    got = stored.chunk
    assert (got.id, got.doc_id, got.text, got.start, got.end, got.position) == (
        "doc#6-16",
        "doc",
        "beta gamma",
        6,
        16,
        1,
    )
    assert got.metadata == {"lang": "en", "page": 3, "tags": ["x", "ü"]}
    assert got.embedding is None
    with sqlite3.connect(tmp_path / "catalogue.sqlite") as db:
        records = [json.loads(r) for (r,) in db.execute("SELECT record FROM chunks")]
    assert records and all("embedding" not in record for record in records)


def test_incompatible_manifest_is_a_clear_error(small_store: BM25Store) -> None:
    path = small_store.directory / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["tokenizer"] = {"type": "whitespace"}
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ConfigError, match="tokenizer"):
        BM25Store(small_store.directory)
    path.unlink()
    with pytest.raises(ConfigError, match="not a ragloom BM25 index"):
        BM25Store(small_store.directory)


# -- writes: idempotent, replacing, deleting -------------------------------------------------


def test_rewriting_the_same_chunks_changes_nothing(small_store: BM25Store) -> None:
    ids, segments = small_store.chunk_ids(), _segment_files(small_store.directory)
    assert small_store.write(_small_chunks()) == len(SMALL_CORPUS)
    assert BM25Store(small_store.directory).write(_small_chunks()) == len(SMALL_CORPUS)
    assert small_store.count() == len(SMALL_CORPUS)
    assert small_store.chunk_ids() == ids
    assert _segment_files(small_store.directory) == segments  # no new segment was written


def test_rewriting_a_document_replaces_its_stale_chunks(tmp_path: Path) -> None:
    store = BM25Store(tmp_path)
    store.write([*_split_chunks("a", "zebra crossing " * 4, 20), _whole_chunk("b", "a zebra")])
    store.write(_fillers())
    assert store.count() == 4 + len(FILLER)
    store.write(_split_chunks("a", "giraffe neck " * 2, 13))
    assert [c for c in store.chunk_ids() if not c.startswith("filler")] == [
        "a#0-13",
        "a#13-26",
        "b#0-7",
    ]
    assert [h.chunk.doc_id for h in store.search("zebra", 10)] == ["b"]
    assert [h.chunk.doc_id for h in BM25Store(tmp_path).search("giraffe", 10)] == ["a", "a"]


def test_delete_documents(small_store: BM25Store) -> None:
    assert small_store.delete_documents(["d03", "d07", "missing"]) == 2
    assert small_store.count() == len(SMALL_CORPUS) - 2
    assert [h.chunk.doc_id for h in small_store.search("canidae", 10)] == ["d09"]
    assert small_store.delete_documents(["missing"]) == 0
    assert BM25Store(small_store.directory).count() == len(SMALL_CORPUS) - 2


def test_delete_on_a_missing_index_creates_nothing(tmp_path: Path) -> None:
    assert BM25Store(tmp_path / "none").delete_documents(["x"]) == 0
    assert not (tmp_path / "none").exists()


def test_empty_index_and_empty_queries(tmp_path: Path) -> None:
    store = BM25Store(tmp_path / "missing")
    assert (store.count(), store.chunk_ids(), store.search("anything", 5)) == (0, [], [])
    assert store.write([]) == 0
    assert not (tmp_path / "missing").exists()
    punctuation = BM25Store(tmp_path / "punct")
    punctuation.write([_whole_chunk("p", "... !!! ,,,"), _whole_chunk("q", "")])
    assert punctuation.count() == 2
    assert punctuation.search("anything", 5) == []
    assert BM25Store(tmp_path / "x").search("   ", 5) == []


def test_a_store_sees_later_writes_from_another_store(tmp_path: Path) -> None:
    reader = BM25Store(tmp_path)
    assert reader.search("fox", 5) == []
    writer = BM25Store(tmp_path)
    writer.write(_small_chunks())
    assert reader.count() == len(SMALL_CORPUS)
    assert _results(reader.search("brown fox", 5)) == _results(writer.search("brown fox", 5))
    writer.delete_documents(["d01", "d02"])
    assert {h.chunk.doc_id for h in reader.search("brown fox", 5)}.isdisjoint({"d01", "d02"})
    writer.write([_whole_chunk("d13", "brown brown fox")])
    assert reader.search("brown fox", 1)[0].chunk.doc_id == "d13"


def test_search_results_do_not_alias_the_stored_chunks(small_store: BM25Store) -> None:
    hit = small_store.search("wolves", 1)[0]
    hit.chunk.metadata["mutated"] = True
    assert "mutated" not in small_store.search("wolves", 1)[0].chunk.metadata


# -- components ------------------------------------------------------------------------------


def test_writer_and_retriever_components(tmp_path: Path) -> None:
    writer = BM25Writer()
    writer.bind_index(tmp_path)
    assert writer.run(chunks=_small_chunks()) == {"written": len(SMALL_CORPUS)}
    assert (tmp_path / "bm25" / "catalogue.sqlite").exists()
    retriever = BM25Retriever(top_k=3, source="sparse")
    retriever.bind_index(tmp_path)
    retriever.warm_up()
    hits = retriever.run(query="river bank")["hits"]
    assert len(hits) == 3
    assert [h.source_ranks for h in hits] == [{"sparse": n} for n in (1, 2, 3)]
    assert all(h.source_scores == {"sparse": h.score} for h in hits)
    reference = _reference_scores(_small_chunks(), "river bank")
    _assert_same_ranking(hits, reference, 3)
    assert len(retriever.run(query="river bank", top_k=5)["hits"]) == 5


def test_components_round_trip_through_dicts() -> None:
    retriever = BM25Retriever(subdir="sparse", top_k=7, source="kw")
    data = retriever.to_dict()
    defaults = {"backend": "bm25s", "k1": 1.5, "b": 0.75, "epsilon": 0.25}
    defaults |= {"stopwords": None, "stemmer": None}
    assert data == {
        "type": "bm25_retriever",
        "init_parameters": {
            "subdir": "sparse",
            "top_k": 7,
            "source": "kw",
            "filters": None,
            **defaults,
        },
    }
    clone = BM25Retriever.from_dict(data)
    assert (clone.subdir, clone.top_k, clone.source) == ("sparse", 7, "kw")
    writer = BM25Writer.from_dict(BM25Writer(subdir="kw", stopwords="en", k1=2).to_dict())
    assert writer.to_dict() == {
        "type": "bm25_writer",
        "init_parameters": {"subdir": "kw", **defaults, "k1": 2.0, "stopwords": "en"},
    }
    assert writer.settings == BM25Settings(k1=2.0, stopwords="en")


@pytest.mark.parametrize(
    "params",
    [
        {"top_k": 0},
        {"top_k": -3},
        {"source": ""},
        {"subdir": "../up"},
        {"subdir": "/abs"},
        {"tok": 1},
        {"backend": "lucene"},
        {"k1": -1},
        {"b": 1.5},
        {"epsilon": -0.1},
        {"stopwords": "fr"},
        {"stemmer": "porter"},
    ],
)
def test_retriever_rejects_bad_parameters(params: dict[str, object]) -> None:
    with pytest.raises(ComponentConfigError):
        BM25Retriever(**params)


def test_unbound_components_fall_back_to_dot_ragloom(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    retriever = BM25Retriever(subdir="kw")
    assert retriever.directory == Path(".ragloom") / "kw"
    BM25Writer(subdir="kw").run(chunks=_small_chunks())
    assert (tmp_path / ".ragloom" / "kw" / "catalogue.sqlite").exists()
    assert retriever.run(query="wolves")["hits"][0].chunk.doc_id == "d07"
    retriever.bind_index(tmp_path / "elsewhere")
    with pytest.raises(ConfigError, match="has no BM25 data in kw/"):  # nothing indexed there
        retriever.run(query="wolves")
    assert not (tmp_path / "elsewhere").exists()  # and a query creates nothing


# -- the bm25s backend: exact top-10 parity on a Zipfian corpus ------------------------------


def _zipf_corpus(n_docs: int, vocab: int, seed: int) -> tuple[list[list[str]], np.ndarray]:
    """Documents of 5-60 words drawn from a Zipfian vocabulary (word t0 is the most common),
    plus the sampling probabilities; every 50th document duplicates its predecessor (ties)."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, vocab + 1) ** 1.1
    p /= p.sum()
    words = np.array([f"t{i}" for i in range(vocab)], dtype=object)
    docs = [words[rng.choice(vocab, rng.integers(5, 60), p=p)].tolist() for _ in range(n_docs)]
    for n in range(50, n_docs, 50):
        docs[n] = list(docs[n - 1])
    return docs, p


def _top10(scorer: Scorer, query: list[str], keys: list[str]) -> tuple[list[str], np.ndarray]:
    scores = scorer.scores(query)
    best = top_positive(scores, keys, 10, scorer.matches(query))
    return [keys[i] for i in best], scores[best]


def _assert_same_top10(
    reference: Scorer, candidate: Scorer, queries: list[list[str]], keys: list[str]
) -> None:
    for query in queries:
        expected_ids, expected_scores = _top10(reference, query, keys)
        got_ids, got_scores = _top10(candidate, query, keys)
        assert got_ids == expected_ids, query
        np.testing.assert_allclose(got_scores, expected_scores, rtol=1e-9, atol=0)


def test_bm25s_top10_equals_rank_bm25_on_a_zipfian_corpus() -> None:
    docs, p = _zipf_corpus(2000, 5000, seed=7)
    keys = [f"doc{n:05d}" for n in range(len(docs))]
    rng = np.random.default_rng(8)
    queries = [
        [f"t{i}" for i in rng.choice(5000, rng.integers(1, 6), p=p)] + ["never_seen"] * (n % 7 == 0)
        for n in range(150)
    ]
    queries += [["t0"], ["t0", "t1", "t2"], ["t1", "t1", "t40"], ["t3", "t4999"], []]
    doc_freq = {word: sum(word in set(d) for d in docs) for word in ("t0", "t1", "t2")}
    assert all(df > len(docs) / 2 for df in doc_freq.values())  # negative idf in BM25Okapi
    reference = RankBM25Scorer(docs)
    assert reference._model.idf["t0"] == reference._model.epsilon * reference._model.average_idf
    _assert_same_top10(reference, BM25sScorer.build(docs), queries, keys)


def test_bm25s_equals_rank_bm25_when_every_document_holds_the_query_term() -> None:
    docs = [["apple", "pie"], ["apple", "apple", "tart"], ["apple"], ["apple", "pie", "pie"]]
    keys = ["d", "c", "b", "a"]
    reference, candidate = RankBM25Scorer(docs), BM25sScorer.build(docs)
    queries = [["apple"], ["pie"], ["apple", "pie"], ["tart", "apple"], ["plum"]]
    _assert_same_top10(reference, candidate, queries, keys)
    ids, scores = _top10(candidate, ["apple"], keys)
    assert len(ids) == 4 and (scores < 0).all()  # all match, all below zero (negative idf)
    np.testing.assert_array_equal(
        candidate.scores(["apple", "pie"]), reference.scores(["apple", "pie"])
    )


@pytest.mark.parametrize("params", [{"k1": 0.9, "b": 0.4}, {"k1": 2.0, "b": 1.0, "epsilon": 0.5}])
def test_bm25s_follows_k1_b_and_epsilon(params: dict[str, float]) -> None:
    docs, _ = _zipf_corpus(300, 800, seed=3)
    keys = [f"doc{n:04d}" for n in range(len(docs))]
    settings = BM25Settings(**params)
    reference = RankBM25Scorer(docs, settings.params)
    candidate = BM25sScorer.build(docs, settings.params)
    queries = [["t0", "t5"], ["t1", "t30", "t2"], ["t7"]]
    _assert_same_top10(reference, candidate, queries, keys)


def test_backend_choices_are_the_registered_scorers() -> None:
    assert set(typing.get_args(Backend)) == set(SCORERS)
    assert BM25Settings().backend == "bm25s"


# -- persistence of the bm25s index ----------------------------------------------------------


# -- crash safety ----------------------------------------------------------------------------


# -- tokenizer options and settings agreement ------------------------------------------------


def test_stopwords_are_removed_at_index_and_query_time(tmp_path: Path) -> None:
    tokenizer = Tokenizer(stopwords="en")
    assert tokenizer("The fox AND the dog, it is") == ["fox", "dog"]
    assert tokenizer.settings()["stopwords"] == "en"
    store = BM25Store(tmp_path, BM25Settings(stopwords="en"))
    store.write(_small_chunks())
    assert store.search("the and of", 5) == []
    assert store.search("the river", 3)[0].chunk.doc_id in {"d02", "d04", "d05", "d06", "d08"}
    manifest = json.loads((tmp_path / "manifest.json").read_text("utf-8"))
    assert manifest["tokenizer"]["stopwords"] == "en"
    assert BM25Store(tmp_path).settings.stopwords == "en"  # adopted from the manifest


def test_stemming_matches_word_forms(tmp_path: Path) -> None:
    pytest.importorskip("Stemmer")
    tokenizer = Tokenizer(stemmer="english")
    assert tokenizer("Running foxes jumped") == ["run", "fox", "jump"]
    store = BM25Store(tmp_path, BM25Settings(stopwords="en", stemmer="english"))
    store.write([*_small_chunks(), *_fillers()])
    assert [h.chunk.doc_id for h in store.search("jackal", 5)] == ["d07"]
    assert {h.chunk.doc_id for h in store.search("flooding", 5)} == {"d04"}


def test_stemming_without_pystemmer_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "Stemmer", None)
    with pytest.raises(ComponentConfigError, match=r"stemmer.*PyStemmer.*ragloom\[stem\]") as err:
        BM25Writer(stemmer="english")
    assert [p.field for p in err.value.problems] == ["stemmer"]
    assert "bm25_writer" in str(err.value)


def test_retriever_settings_must_match_the_index(tmp_path: Path) -> None:
    writer = BM25Writer(stopwords="en", k1=1.2)
    writer.bind_index(tmp_path)
    writer.run(chunks=_small_chunks())
    retriever = BM25Retriever(k1=1.2)
    retriever.bind_index(tmp_path)
    with pytest.raises(ConfigError) as err:
        retriever.warm_up()
    message = str(err.value)
    assert "bm25_retriever: stopwords is None" in message and "stopwords='en'" in message
    assert [p.field for p in err.value.problems] == ["stopwords"]
    agreeing = BM25Retriever(stopwords="en", k1=1.2)
    agreeing.bind_index(tmp_path)
    assert agreeing.run(query="the wolves")["hits"][0].chunk.doc_id == "d07"
    other_writer = BM25Writer(stopwords="en", backend="rank_bm25")
    other_writer.bind_index(tmp_path)
    with pytest.raises(ConfigError, match=r"bm25_writer: backend is 'rank_bm25'.*'bm25s'") as err:
        other_writer.run(chunks=_small_chunks())
    assert {p.field for p in err.value.problems} == {"backend", "k1"}


def test_an_index_written_before_scoring_was_recorded_still_opens(small_store: BM25Store) -> None:
    path = small_store.directory / "manifest.json"
    manifest = json.loads(path.read_text("utf-8"))
    del manifest["scoring"]
    path.write_text(json.dumps(manifest), encoding="utf-8")
    retriever_store = BM25Store(small_store.directory, BM25Settings(backend="rank_bm25"))
    assert retriever_store.search("wolves", 1)[0].chunk.doc_id == "d07"


def test_a_stemmed_index_without_pystemmer_names_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("Stemmer")
    BM25Store(tmp_path, BM25Settings(stemmer="english")).write(_small_chunks())
    monkeypatch.setitem(sys.modules, "Stemmer", None)
    with pytest.raises(ConfigError, match=r"manifest.json: the index's tokenizer: .*PyStemmer"):
        BM25Store(tmp_path)
