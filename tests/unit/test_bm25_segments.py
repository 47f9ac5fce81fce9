"""BM25 segments: O(batch) commits, tombstones, tiered merges, parity with one BM25Okapi over
the live chunks whatever the segment layout, interrupted writes and merges, format-1 migration."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from ragloom.errors import ConfigError
from ragloom.retrievers import bm25_catalog, bm25_manifest, bm25_merge, bm25_store
from ragloom.retrievers.bm25_merge import pick_merge, tier
from ragloom.retrievers.bm25_prepare import dumps, prepare_segment
from ragloom.retrievers.bm25_scoring import BM25Settings
from ragloom.retrievers.bm25_segments import build_segment, merge_segments, open_segment
from ragloom.retrievers.bm25_store import BM25Store
from ragloom.types import Chunk, Document, chunk_to_record


def _chunk(doc_id: str, text: str) -> Chunk:
    return Chunk.from_span(Document(text=text, id=doc_id), 0, len(text), 0)


class Corpus:
    """A seeded Zipfian corpus kept in step with a store: the live texts by document id."""

    def __init__(self, seed: int, vocab: int = 400):
        self.rng = np.random.default_rng(seed)
        p = 1.0 / np.arange(1, vocab + 1) ** 1.1
        self.p = p / p.sum()
        self.vocab = vocab
        self.texts: dict[str, str] = {}

    def text(self) -> str:
        words = self.rng.choice(self.vocab, int(self.rng.integers(1, 30)), p=self.p)
        return " ".join(f"t{w}" for w in words)

    def batch(self, size: int, id_space: int) -> list[Chunk]:
        picked: dict[str, str] = {}
        for _ in range(size):
            doc_id = f"d{int(self.rng.integers(0, id_space)):05d}"
            picked[doc_id] = self.texts[doc_id] = self.text()
        return [_chunk(doc_id, text) for doc_id, text in picked.items()]

    def delete(self, count: int, id_space: int) -> list[str]:
        doomed = [f"d{int(i):05d}" for i in self.rng.integers(0, id_space, count)]
        for doc_id in doomed:
            self.texts.pop(doc_id, None)
        return doomed

    def queries(self, count: int) -> list[str]:
        return [
            " ".join(f"t{w}" for w in self.rng.choice(self.vocab, int(n), p=self.p))
            for n in self.rng.integers(1, 5, count)
        ]


def _assert_parity(store: BM25Store, corpus: Corpus, queries: list[str]) -> None:
    """Top-10 equal to rank-bm25's over the live chunks, tie-aware: the same score at every
    rank (to 1e-9), and where the ids differ, rank-bm25 scores ours the same (a tie that the
    last bit of its own float sums broke)."""
    ids = sorted(corpus.texts)
    tokens = [re.findall(r"\w+", corpus.texts[i].lower()) for i in ids]
    model = BM25Okapi(tokens)
    chunk_ids = [_chunk(i, corpus.texts[i]).id for i in ids]
    for query in queries:
        words = query.split()
        scores = model.get_scores(words)
        reference = {
            chunk_ids[n]: scores[n] for n, doc in enumerate(tokens) if set(words) & set(doc)
        }
        expected = sorted((-score, cid) for cid, score in reference.items())[:10]
        got = [(-hit.score, hit.chunk.id) for hit in store.search(query, 10)]
        assert len(got) == len(expected), query
        np.testing.assert_allclose([s for s, _ in got], [s for s, _ in expected], rtol=1e-9)
        for (score, cid), (_, wanted) in zip(got, expected, strict=True):
            assert cid == wanted or reference[cid] == pytest.approx(-score, rel=1e-9), query
        assert got == sorted(got)


def test_many_commits_with_updates_and_deletes_rank_like_one_bm25okapi(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bm25_merge, "FLOOR_DOCS", 50)  # merges at this small size
    corpus = Corpus(seed=3)
    store = BM25Store(tmp_path / "bm25")
    for n in range(40):
        store.write(corpus.batch(40, id_space=900))
        if n % 5 == 2:
            store.delete_documents(corpus.delete(30, id_space=900))
    assert store.count() == len(corpus.texts)
    assert store.doc_ids() == sorted(corpus.texts)
    assert 1 < store.segment_count < 12  # merged, not one per commit
    queries = [*corpus.queries(120), "t0", "t0 t1 t2", "t1 t1 t399", "zzz"]
    _assert_parity(store, corpus, queries)
    _assert_parity(BM25Store(tmp_path / "bm25"), corpus, queries)  # a fresh reader agrees


def test_a_commit_writes_one_segment_of_its_own_chunks_only(tmp_path: Path) -> None:
    corpus = Corpus(seed=4)
    store = BM25Store(tmp_path)
    store.write(corpus.batch(30, id_space=10_000))
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.seg")}
    batch = corpus.batch(5, id_space=10_000)
    store.write(batch)
    after = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.seg")}
    assert {k: v for k, v in after.items() if k in before} == before  # never rewritten
    (new,) = set(after) - set(before)
    assert open_segment(tmp_path / new).size == len(batch)


def test_deletes_are_tombstones_until_a_merge_reclaims_them(tmp_path: Path) -> None:
    corpus = Corpus(seed=5)
    store = BM25Store(tmp_path)
    store.write(corpus.batch(50, id_space=100_000))
    store.write(corpus.batch(50, id_space=100_000))
    victims = sorted(corpus.texts)[:3]
    store.delete_documents(victims)
    for doc_id in victims:
        corpus.texts.pop(doc_id)
    with sqlite3.connect(tmp_path / "catalogue.sqlite") as db:
        assert db.execute("SELECT count(*) FROM tombstones").fetchone()[0] == 3
    _assert_parity(store, corpus, corpus.queries(40))
    # Deleting most of a segment rewrites it without the dead documents.
    first = sorted(corpus.texts)[:40]
    store.delete_documents(first)
    for doc_id in first:
        corpus.texts.pop(doc_id)
    _assert_parity(store, corpus, corpus.queries(40))
    assert sum(open_segment(p).size for p in tmp_path.glob("*.seg")) < 100 - 3


def test_merge_keeps_live_documents_in_rowid_order() -> None:
    a = build_segment("a", [["x", "y"], ["y"], ["z", "z"]], [1, 2, 3])
    b = build_segment("b", [["y", "w"], ["x"]], [4, 5])
    merged = merge_segments("m", [(a, np.array([True, False, True])), (b, None)])
    assert merged.rowids.tolist() == [1, 3, 4, 5]
    assert merged.lengths.tolist() == [2, 2, 2, 1]
    docs = {term: merged.postings_of(term) for term in merged.terms}
    assert sorted(merged.terms) == ["w", "x", "y", "z"]
    assert docs["x"][0].tolist() == [0, 3] and docs["z"][1].tolist() == [2]
    assert docs["y"][0].tolist() == [0, 2]  # the deleted document's posting is gone


def test_merging_only_deleted_documents_gives_an_empty_segment() -> None:
    a = build_segment("a", [["x", "y"], ["y"]], [1, 2])
    b = build_segment("b", [["y", "w"]], [4])
    merged = merge_segments("m", [(a, np.array([False, False])), (b, np.array([False]))])
    assert merged.size == 0 and merged.terms == []
    alone = merge_segments("m", [(a, np.array([False, False]))])
    assert alone.size == 0 and alone.terms == []


def test_updating_every_document_of_a_segment_drops_it(tmp_path: Path) -> None:
    # Re-indexing a corpus under a new source rewrites each document: the first segment ends
    # with no live document, and the merge that removes it must not fail.
    corpus = Corpus(seed=6)
    store = BM25Store(tmp_path)
    first = corpus.batch(60, id_space=100_000)
    store.write(first)
    store.delete_documents(sorted({c.doc_id for c in first}))
    for chunk in first:
        corpus.texts.pop(chunk.doc_id, None)
    store.write(corpus.batch(30, id_space=100_000))
    _assert_parity(store, corpus, corpus.queries(20))
    assert store.count() == len(corpus.texts) and store.segment_count == 1


def test_tiered_policy() -> None:
    assert tier(10) == tier(999) == 0 and tier(1000 * 10) == 1 and tier(10**6) == 3
    small = [(f"s{n}", 100, 0) for n in range(9)]
    assert pick_merge(small) == []
    assert pick_merge([*small, ("s9", 100, 0)]) == [f"s{n}" for n in range(10)]
    assert pick_merge([("big", 100_000, 0), *small]) == []
    assert pick_merge([("holey", 100, 40), *small]) == ["holey"]  # > 30 % deleted
    assert pick_merge([("empty", 5, 5)]) == ["empty"]


def test_a_write_interrupted_before_its_commit_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = Corpus(seed=6)
    store = BM25Store(tmp_path)
    store.write(corpus.batch(30, id_space=1000))
    queries = corpus.queries(30)
    expected = {q: [(h.chunk.id, h.score) for h in store.search(q, 5)] for q in queries}

    def killed(*args: object) -> None:
        raise OSError("killed")

    with monkeypatch.context() as patch:
        patch.setattr(bm25_catalog, "insert_rows", killed)  # after the segment file is saved
        with pytest.raises(OSError, match="killed"):
            store.write([_chunk("d00001", "brand new words")])
    reader = BM25Store(tmp_path)
    assert {q: [(h.chunk.id, h.score) for h in reader.search(q, 5)] for q in queries} == expected
    orphans = len(list(tmp_path.glob("*.seg")))
    assert orphans == 2  # the committed segment and the one never registered
    reader.write([_chunk("zz", "another document")])  # the next writer removes the orphan
    assert len(list(tmp_path.glob("*.seg"))) == 2
    assert reader.search("brand", 5) == []


def test_a_merge_interrupted_before_its_commit_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bm25_merge, "FLOOR_DOCS", 10)
    corpus = Corpus(seed=7)
    store = BM25Store(tmp_path)
    for _ in range(9):
        store.write(corpus.batch(5, id_space=10**6))
    assert store.segment_count == 9

    def killed(*args: object) -> None:
        raise OSError("killed during the merge")

    with monkeypatch.context() as patch:
        patch.setattr(bm25_catalog, "forget_tombstones", killed)
        with pytest.raises(OSError, match="killed during the merge"):
            store.write(corpus.batch(5, id_space=10**6))  # the 10th segment triggers a merge
    reader = BM25Store(tmp_path)
    assert reader.segment_count == 10  # the batch committed, the merge did not
    assert reader.count() == len(corpus.texts)
    _assert_parity(reader, corpus, corpus.queries(30))
    reader.write(corpus.batch(5, id_space=10**6))  # merges now; clears the half merge's file
    assert reader.segment_count == 2
    assert len(list(tmp_path.glob("*.seg"))) == 2
    _assert_parity(reader, corpus, corpus.queries(30))


def test_a_damaged_segment_is_a_clear_error(tmp_path: Path) -> None:
    store = BM25Store(tmp_path / "bm25")
    store.write([_chunk("a", "river bank"), _chunk("b", "money bank")])
    (segment,) = (tmp_path / "bm25").glob("*.seg")
    segment.write_bytes(segment.read_bytes()[:90])
    with pytest.raises(ConfigError, match=r"damaged BM25 segment.*ragloom index"):
        BM25Store(tmp_path / "bm25").search("bank", 1)


def test_only_sqlite_json_and_raw_arrays_are_written_never_pickle(tmp_path: Path) -> None:
    store = BM25Store(tmp_path)
    store.write([_chunk("a", "river bank"), _chunk("b", "money bank")])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert {n for n in names if not n.endswith(".seg")} <= {
        ".lock",
        "catalogue.sqlite",
        "catalogue.sqlite-wal",
        "catalogue.sqlite-shm",
        "manifest.json",
        "incoming",
    }
    assert not list((tmp_path / "incoming").iterdir())  # every prepared segment registered
    for path in tmp_path.glob("*.seg"):
        assert path.read_bytes().startswith(b"RLSEG001")
        assert isinstance(open_segment(path).postings, np.memmap)
    manifest = json.loads((tmp_path / "manifest.json").read_text("utf-8"))
    assert manifest["format_version"] == 2


def test_opening_never_creates_files(tmp_path: Path) -> None:
    store = BM25Store(tmp_path / "none")
    assert store.search("anything", 3) == [] and store.count() == 0
    assert not (tmp_path / "none").exists()


def test_a_format_1_index_is_migrated_on_first_open(tmp_path: Path) -> None:
    """Format 1: one chunks.jsonl plus a bm25s folder; opened, it becomes segments."""
    directory = tmp_path / "bm25"
    directory.mkdir()
    chunks = [_chunk("a", "river bank flood"), _chunk("b", "money bank"), _chunk("c", "fox")]
    lines = [dumps(chunk_to_record(c)) for c in chunks]
    (directory / "chunks.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (directory / "index-0123456789abcdef").mkdir()
    (directory / "index-0123456789abcdef" / "params.index.json").write_text("{}", "utf-8")
    settings = bm25_manifest.describe(BM25Settings())
    manifest = {"format": "ragloom-bm25", "format_version": 1, "chunks_file": "chunks.jsonl"}
    (directory / "manifest.json").write_text(json.dumps({**manifest, **settings}), "utf-8")
    store = BM25Store(directory)
    assert [h.chunk.doc_id for h in store.search("bank flood", 5)] == ["a", "b"]
    assert store.count() == 3
    assert not (directory / "chunks.jsonl").exists()
    assert not list(directory.glob("index-*"))
    assert json.loads((directory / "manifest.json").read_text("utf-8"))["format_version"] == 2


def test_segments_prepared_elsewhere_register_like_a_write(tmp_path: Path) -> None:
    """What Ray Data's encoder actors do: prepare segments in parallel, one writer registers."""
    corpus = Corpus(seed=8)
    batches = [corpus.batch(25, id_space=60) for _ in range(4)]
    direct = BM25Store(tmp_path / "direct")
    for batch in batches:
        direct.write(batch)
    store = BM25Store(tmp_path / "prepared")
    settings = store.settings
    for batch in batches:
        prepared = [prepare_segment(settings, batch[:10], store.directory)]
        prepared.append(prepare_segment(settings, batch[10:], store.directory))
        assert store.register(prepared, delete_documents=[c.doc_id for c in batch]) == len(batch)
    assert store.chunk_ids() == direct.chunk_ids()
    for query in corpus.queries(40):
        got = [(h.chunk.id, h.score) for h in store.search(query, 10)]
        assert got == [(h.chunk.id, h.score) for h in direct.search(query, 10)]
    _assert_parity(store, corpus, corpus.queries(20))


def test_segments_prepared_by_an_interrupted_run_are_removed(tmp_path: Path) -> None:
    store = BM25Store(tmp_path)
    store.write([_chunk("a", "kept words")])
    stale = prepare_segment(store.settings, [_chunk("b", "never registered")], tmp_path)
    old = time.time() - 60
    os.utime(tmp_path / "incoming" / stale.file_name, (old, old))
    fresh = BM25Store(tmp_path)
    # Prepared right after the store opened: the coarse file clock may date it a few ms
    # earlier, which must not make it stale.
    just_before = time.time() - 0.01
    early = prepare_segment(fresh.settings, [_chunk("e", "early bird")], tmp_path)
    os.utime(tmp_path / "incoming" / early.file_name, (just_before, just_before))
    in_flight = prepare_segment(fresh.settings, [_chunk("c", "in flight")], tmp_path)
    fresh.write([_chunk("d", "another")])
    waiting = sorted(p.name for p in (tmp_path / "incoming").iterdir())
    assert waiting == sorted([in_flight.file_name, early.file_name])
    fresh.register([in_flight, early])
    assert sorted(h.chunk.doc_id for h in fresh.search("flight never kept", 5)) == ["a", "c"]


@pytest.mark.parametrize(
    "settings",
    [BM25Settings(), BM25Settings(stopwords="en"), BM25Settings(stopwords="en", stemmer="english")],
)
def test_corpus_tokenization_equals_text_by_text(settings: BM25Settings) -> None:
    texts = [
        "The quick brown foxes JUMPED over the lazy dogs.",
        "",
        "ΟΔΟΣ ΟΔΟΣ: final sigma, Σ alone; ΣΑΣ",
        "Émile\u2019s café, crème brûlée — CAFÉ at 9:30; naïve coöperation",
        "İstanbul ǅemal ß straße ﬁne",
        "the of and",
        "under_score snake_case 42 4.2 x\u0301y",
        "with a \x00 NUL inside",
    ]
    for batch in (texts[:-1], texts):  # the second cannot be joined: text by text
        terms, ids, docs = settings.tokenizer.tokenize_corpus(batch)
        rebuilt: list[list[str]] = [[] for _ in batch]
        for term_id, doc in zip(ids.tolist(), docs.tolist(), strict=True):
            rebuilt[doc].append(terms[term_id])
        assert rebuilt == [settings.tokenizer(text) for text in batch]


def test_cached_term_scores_change_nothing_and_follow_new_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bm25_store, "TERM_CACHE_MIN_POSTINGS", 1)
    monkeypatch.setattr(bm25_store, "TERM_CACHE_BYTES", 4000)  # a few entries: evictions too
    corpus = Corpus(seed=9)
    writer = BM25Store(tmp_path)
    writer.write(corpus.batch(200, id_space=400))
    reader = BM25Store(tmp_path)
    queries = corpus.queries(30)
    for _ in range(2):  # cold, then from the cache
        _assert_parity(reader, corpus, queries)
    assert 0 < reader._term_cache_bytes <= 4000
    writer.write(corpus.batch(100, id_space=400))  # new statistics: cached scores are stale
    writer.delete_documents(corpus.delete(20, id_space=400))
    _assert_parity(reader, corpus, queries)


def test_two_writers_taking_turns_see_each_others_tombstones(tmp_path: Path) -> None:
    # Each store keeps the tombstones of its own commits in memory; a commit by the other
    # one in between must make it read them again, or a deleted chunk would score.
    corpus = Corpus(seed=8)
    first, second = BM25Store(tmp_path), BM25Store(tmp_path)
    for turn in range(6):
        store = first if turn % 2 else second
        store.write(corpus.batch(40, id_space=120))
        store.delete_documents(corpus.delete(15, id_space=120))
    for reader in (first, second, BM25Store(tmp_path)):
        _assert_parity(reader, corpus, corpus.queries(20))
