"""Answer quality for QA data: exact match, token F1 (SQuAD conventions) and citation precision.

A QA file is JSONL, one `{"question": str, "answers": [str, ...]}` per line (an `id` is
optional). Exact match and F1 take the best over the reference answers after normalising case,
punctuation, articles and whitespace. Citation precision is the share of cited passages that
contain a reference answer (normalised), over the questions whose answer cites anything.
"""

from __future__ import annotations

import re
import statistics
import string
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragloom.errors import ConfigError
from ragloom.jsonl import get_field, read_jsonl
from ragloom.progress import progress_bar
from ragloom.rag import RAG
from ragloom.types import Answer

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


@dataclass(frozen=True)
class QAItem:
    """One question with its acceptable answers."""

    id: str
    question: str
    answers: tuple[str, ...]


def normalise(text: str) -> str:
    """Lower-case, drop punctuation and articles, collapse whitespace (SQuAD's rule)."""
    text = _ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION))
    return " ".join(text.split())


def exact_match(prediction: str, answers: tuple[str, ...]) -> float:
    """1.0 when the normalised prediction equals a normalised reference."""
    return float(any(normalise(prediction) == normalise(a) for a in answers))


def token_f1(prediction: str, answers: tuple[str, ...]) -> float:
    """Best token-overlap F1 between the prediction and any reference."""
    predicted = normalise(prediction).split()
    best = 0.0
    for answer in answers:
        reference = normalise(answer).split()
        common = sum((Counter(predicted) & Counter(reference)).values())
        if not predicted or not reference or common == 0:
            best = max(best, float(predicted == reference))
            continue
        precision, recall = common / len(predicted), common / len(reference)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


def citation_precision(answer: Answer, answers: tuple[str, ...]) -> float | None:
    """Share of cited passages that contain a reference answer; None when nothing is cited."""
    cited = answer.cited_hits
    if not cited:
        return None
    wanted = [normalise(a) for a in answers if normalise(a)]
    good = sum(any(w in normalise(hit.chunk.text) for w in wanted) for hit in cited)
    return good / len(cited)


def read_qa(path: str | Path) -> list[QAItem]:
    """Read a QA JSONL file; a bad line is an error naming the file, line and field."""
    items = []
    for number, where, record in read_jsonl(path):
        question = get_field(record, "question", "text", where)
        if isinstance(record.get("answers"), str):  # one answer may be a plain string
            record["answers"] = [record["answers"]]
        answers = get_field(record, "answers", "strings", where)
        items.append(QAItem(str(record.get("id", number)), question, tuple(answers)))
    if not items:
        raise ConfigError(f"{path}: no questions")
    return items


@dataclass
class AnswerReport:
    """Mean answer metrics over a QA set, with latency."""

    questions: int
    exact_match: float
    f1: float
    citation_precision: float | None
    cited_share: float
    seconds_per_question: float
    per_question: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "questions": self.questions,
            "exact_match": self.exact_match,
            "f1": self.f1,
            "citation_precision": self.citation_precision,
            "cited_share": self.cited_share,
            "seconds_per_question": self.seconds_per_question,
        }


def evaluate_answers(
    rag: RAG, items: list[QAItem], log: Callable[[str], None] | None = None
) -> AnswerReport:
    """Answer every question with the query pipeline and score the answers."""
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()
    with progress_bar(total=len(items), desc="answering", unit="q") as bar:
        for item in items:
            result = rag.query(item.question)
            if result.answer is None:
                raise ConfigError(
                    "answer evaluation needs a query pipeline with an `answer` output"
                )
            text = result.answer.text
            rows.append(
                {
                    "id": item.id,
                    "answer": text,
                    "exact_match": exact_match(text, item.answers),
                    "f1": token_f1(text, item.answers),
                    "citation_precision": citation_precision(result.answer, item.answers),
                }
            )
            bar.update(1)
    elapsed = time.perf_counter() - start
    cited = [r["citation_precision"] for r in rows if r["citation_precision"] is not None]
    report = AnswerReport(
        questions=len(rows),
        exact_match=statistics.fmean(r["exact_match"] for r in rows),
        f1=statistics.fmean(r["f1"] for r in rows),
        citation_precision=statistics.fmean(cited) if cited else None,
        cited_share=len(cited) / len(rows),
        seconds_per_question=elapsed / len(rows),
        per_question=rows,
    )
    if log is not None:
        log(f"answered {len(rows)} questions in {elapsed:.1f} s")
    return report


def evaluate_qa_file(
    rag: RAG,
    qa_path: str | Path,
    corpus: Sequence[str | Path] | None = None,
    limit: int | None = None,
    log: Callable[[str], None] | None = None,
) -> AnswerReport:
    """Index `corpus` (if given; unchanged files add nothing), then score answers to the QA file."""
    items = read_qa(qa_path)[:limit]
    if corpus:
        report = rag.index(list(corpus))
        if log is not None:
            log(f"indexed {report.documents} document(s) into {rag.index_dir}")
    return evaluate_answers(rag, items, log)
