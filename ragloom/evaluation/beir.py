"""Read a BEIR dataset's queries and relevance judgements (qrels) for one split.

A BEIR folder holds `corpus.jsonl`, `queries.jsonl` (`{"_id", "text"}`) and
`qrels/<split>.tsv` (`query-id<TAB>corpus-id<TAB>score`, with a header line).

Example::

    queries, qrels = load_split("../shared/datasets/scifact", "test")
"""

from __future__ import annotations

from pathlib import Path

from ragloom.jsonl import JsonlError, get_field, read_jsonl
from ragloom.loaders.files import LoaderError

Qrels = dict[str, dict[str, int]]


def check_beir_dir(path: str | Path) -> Path:
    """The dataset folder, or a LoaderError saying which BEIR file is missing."""
    folder = Path(path)
    if not folder.is_dir():
        raise LoaderError(f"{folder}: not a folder (expected a BEIR dataset folder)")
    for name in ("corpus.jsonl", "queries.jsonl"):
        if not (folder / name).is_file():
            raise LoaderError(f"{folder}: no {name}; not a BEIR dataset folder")
    return folder


def splits(path: str | Path) -> list[str]:
    """The splits a BEIR folder has judgements for (names of `qrels/*.tsv`)."""
    return sorted(p.stem for p in (Path(path) / "qrels").glob("*.tsv"))


def load_queries(path: str | Path) -> dict[str, str]:
    """Query id -> text from `queries.jsonl`; a LoaderError names the line of a bad record."""
    try:
        return {
            str(get_field(record, "_id", "id", where)): get_field(record, "text", "string", where)
            for _, where, record in read_jsonl(Path(path) / "queries.jsonl")
        }
    except JsonlError as exc:
        raise LoaderError(str(exc)) from None


def load_qrels(path: str | Path, split: str = "test") -> Qrels:
    """Query id -> {document id: relevance} from `qrels/<split>.tsv`."""
    file = Path(path) / "qrels" / f"{split}.tsv"
    if not file.is_file():
        available = ", ".join(splits(path)) or "none"
        raise LoaderError(f"{file}: no such split {split!r} (available: {available})")
    qrels: Qrels = {}
    for line_no, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.strip().split("\t")
        if not line.strip() or (line_no == 1 and fields[0] == "query-id"):
            continue
        if len(fields) < 3:
            raise LoaderError(f"{file}:{line_no}: expected query-id, corpus-id, score")
        try:
            score = int(float(fields[2]))
        except ValueError:
            raise LoaderError(f"{file}:{line_no}: score {fields[2]!r} is not a number") from None
        qrels.setdefault(fields[0], {})[fields[1]] = score
    return qrels


def load_split(
    path: str | Path, split: str = "test", limit: int | None = None
) -> tuple[dict[str, str], Qrels]:
    """The judged queries of a split (the first `limit` of them) and their qrels."""
    folder = check_beir_dir(path)
    qrels = load_qrels(folder, split)
    queries = load_queries(folder)
    unknown = [qid for qid in qrels if qid not in queries]
    if unknown:
        raise LoaderError(f"{folder}: qrels name queries not in queries.jsonl: {unknown[:5]}")
    judged = [qid for qid in qrels if any(rel > 0 for rel in qrels[qid].values())]
    if limit is not None:
        judged = judged[:limit]
    return {qid: queries[qid] for qid in judged}, {qid: qrels[qid] for qid in judged}
