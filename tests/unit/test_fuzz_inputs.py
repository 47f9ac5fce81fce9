"""Hypothesis fuzzing of what users hand ragloom: configuration YAML, document files, questions.

The property everywhere: an input is either accepted or refused with one of ragloom's own
errors (RagloomError) carrying a one-line message per problem; no other exception escapes, no
input hangs (pytest-timeout guards each test), and memory stays bounded (inputs are capped and
the process's peak RSS may grow by at most MEMORY_BOUND while a test runs). Example counts keep
the whole module near a minute on a 2-core machine; `deadline=None` because CI machines vary.
"""

from __future__ import annotations

import codecs
import json
import resource
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragloom.config import validate_file
from ragloom.errors import ConfigError, RagloomError
from ragloom.loaders.files import iter_documents
from ragloom.rag import RAG
from ragloom.registry import registered_types

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIGS = sorted(
    [
        *(ROOT / "examples").glob("*.yaml"),
        ROOT / "ragloom" / "defaults" / "default.yaml",
        *(ROOT / "tests" / "integration" / "configs").glob("*.yaml"),
    ]
)
CORPUS = ROOT / "examples" / "corpus"
#: How much the process's peak resident memory may grow during one fuzz test.
MEMORY_BOUND = 512 * 1024 * 1024
#: The hang guard of each test (pytest-timeout): far above its run time, only a hang hits it.
HANG_GUARD_S = 300

FUZZ = settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,  # bounded_memory spans all of a test's examples
    ],
    database=None,  # the same examples on every run: a CI failure reproduces locally
    derandomize=True,
)


def peak_rss_bytes() -> int:
    """The peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@pytest.fixture
def bounded_memory() -> Iterator[None]:
    """Fail the test if the process's peak memory grew by more than MEMORY_BOUND during it."""
    before = peak_rss_bytes()
    yield
    grown = peak_rss_bytes() - before
    assert grown <= MEMORY_BOUND, f"peak memory grew by {grown / 2**20:.0f} MiB"


def check_refusal(exc: RagloomError) -> None:
    """A refusal names its problem on one line (a ConfigError: one line per problem)."""
    problems = [str(p) for p in exc.problems] if isinstance(exc, ConfigError) else [str(exc)]
    assert problems, f"{type(exc).__name__} without a message"
    for problem in problems:
        assert problem.strip(), f"{type(exc).__name__} with an empty message"
        assert "\n" not in problem, f"{type(exc).__name__} message spans lines: {problem!r}"


def accepted_or_refused(call: Callable[[], Any]) -> Any:
    """Run `call`: its result, or None when it raised a well-formed RagloomError."""
    try:
        return call()
    except RagloomError as exc:
        check_refusal(exc)
        return None


# -- configuration YAML -----------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(
        [
            *registered_types(),
            "loader.documents",
            "chunker.chunks",
            "a.b.c",
            ".",
            "..",
            "/abs/path",
            "ray",
            "local",
            "minilm",
            "no-such-model",
            "",
            "0",
            "-1",
            "~",
            "*anchor",
        ]
    )
)
json_like = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(max_size=12) | st.sampled_from(["type", "init_parameters"]), inner, max_size=4
        )
    ),
    max_leaves=20,
)


def key_paths(tree: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a node of a YAML tree (dict keys and list indices), the root included."""
    found = [prefix]
    if isinstance(tree, dict):
        for key, value in tree.items():
            found.extend(key_paths(value, (*prefix, key)))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            found.extend(key_paths(value, (*prefix, index)))
    return found


def mutate(tree: Any, data: st.DataObject) -> Any:
    """One structural change at a random node: replace, delete, add a key, or wrap it."""
    path = data.draw(st.sampled_from(key_paths(tree)))
    value = data.draw(json_like)
    if not path:
        return value
    parent = tree
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    operation = data.draw(st.sampled_from(["replace", "delete", "add", "wrap", "retype"]))
    if operation == "replace":
        parent[last] = value
    elif operation == "delete":
        del parent[last]
    elif operation == "add" and isinstance(parent[last], dict):
        parent[last][data.draw(st.text(max_size=12))] = value
    elif operation == "wrap":
        parent[last] = [parent[last]] if data.draw(st.booleans()) else {"x": parent[last]}
    elif operation == "retype" and isinstance(parent[last], dict):
        parent[last]["type"] = data.draw(st.sampled_from(sorted(registered_types())))
    return tree


def text_mutate(text: str, data: st.DataObject) -> str:
    """One textual change: a line deleted, duplicated or re-indented, text inserted, or a cut."""
    lines = text.splitlines(keepends=True) or [""]
    at = data.draw(st.integers(0, len(lines) - 1))
    operation = data.draw(st.sampled_from(["delete", "duplicate", "indent", "insert", "cut"]))
    if operation == "delete":
        del lines[at]
    elif operation == "duplicate":
        lines.insert(at, lines[at])
    elif operation == "indent":
        lines[at] = " " * data.draw(st.integers(0, 6)) + lines[at].lstrip(" ")
    elif operation == "insert":
        lines[at] = data.draw(st.text(max_size=30)) + lines[at]
    else:
        return text[: data.draw(st.integers(0, len(text)))]
    return "".join(lines)


def validate_text(text: str) -> None:
    """`ragloom validate` on this text: accepted (a config or a pipeline) or refused cleanly."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        kind = accepted_or_refused(lambda: validate_file(path))
        assert kind in (None, "pipeline", "configuration")


def test_every_example_config_is_valid() -> None:
    """The mutations below start from valid configurations."""
    assert len(EXAMPLE_CONFIGS) >= 10
    for path in EXAMPLE_CONFIGS:
        assert validate_file(path) in ("configuration", "pipeline"), path


@pytest.mark.timeout(HANG_GUARD_S)
@FUZZ
@given(text=st.text(max_size=400) | json_like.map(lambda v: yaml.safe_dump(v, allow_unicode=True)))
def test_arbitrary_yaml_is_validated_or_refused(text: str, bounded_memory: None) -> None:
    validate_text(text)


@pytest.mark.timeout(HANG_GUARD_S)
@settings(FUZZ, max_examples=250)
@given(data=st.data())
def test_mutated_example_configs_are_validated_or_refused(
    data: st.DataObject, bounded_memory: None
) -> None:
    path = data.draw(st.sampled_from(EXAMPLE_CONFIGS))
    text = path.read_text(encoding="utf-8")
    if data.draw(st.booleans()):
        tree = yaml.safe_load(text)
        for _ in range(data.draw(st.integers(1, 3))):
            tree = mutate(tree, data)
        text = yaml.safe_dump(tree, allow_unicode=True, sort_keys=False)
    else:
        for _ in range(data.draw(st.integers(1, 3))):
            text = text_mutate(text, data)
    validate_text(text)


# -- document files ---------------------------------------------------------------------------

json_records = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "id": scalars,
                "text": st.text(max_size=40) | scalars,
                "title": scalars,
                "_id": scalars,
                "meta": json_like,
            },
        ).map(lambda r: json.dumps(r, ensure_ascii=False)),
        json_like.map(json.dumps),
        st.sampled_from(
            [
                '{"id": "dup", "text": "one"}',
                '{"id": 1e400, "text": "an infinite id"}',
                '{"text": "x", "text": "duplicated key"}',
                '{"id": "n", "text": "\\u0000 nul inside"}',
                "[1, 2",
                "",
                "   ",
                "\ufeff{}",
            ]
        ),
    ),
    max_size=6,
).map(lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass"))

file_bytes = (
    st.binary(max_size=600)
    | json_records
    | st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass"))
    | st.tuples(
        st.sampled_from(
            [codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE]
        ),
        st.binary(max_size=200),
    ).map(lambda pair: pair[0] + pair[1])
    | st.tuples(st.sampled_from(["utf-16", "utf-32", "latin-1"]), st.text(max_size=100)).map(
        lambda pair: pair[1].encode(pair[0], "replace")
    )
)
file_names = st.sampled_from(
    ["a.txt", "b.md", "c.jsonl", "d.markdown", "corpus.jsonl", "E.TXT", "sub/f.jsonl", "sub/g.md"]
)


@pytest.mark.timeout(HANG_GUARD_S)
@settings(FUZZ, max_examples=300)
@given(files=st.dictionaries(file_names, file_bytes, min_size=1, max_size=4))
def test_arbitrary_files_load_or_are_refused(files: dict[str, bytes], bounded_memory: None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        for name, content in files.items():
            path = Path(folder) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        stream = iter_documents([folder])
        documents = accepted_or_refused(lambda: list(stream))
        for skipped in stream.skipped:
            assert "\n" not in str(skipped), skipped
        if documents is None:
            return
        assert len({d.id for d in documents}) == len(documents)
        for doc in documents:
            assert isinstance(doc.text, str) and doc.text.strip()
            assert isinstance(doc.id, str) and doc.id
            doc.text.encode("utf-8")  # storable: no lone surrogates reach the index
            doc.id.encode("utf-8")


@pytest.mark.parametrize(
    "record",
    [
        '{"id": "s", "text": "lone \\ud800 surrogate"}',
        '{"id": "\\ud83d", "text": "half an emoji as the id"}',
    ],
)
def test_a_jsonl_record_with_a_lone_surrogate_is_listed_failed(tmp_path: Path, record: str) -> None:
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text(record + '\n{"id": "ok", "text": "a fine record"}\n', encoding="utf-8")
    rag = RAG.from_file(ROOT / "examples" / "bm25.yaml", tmp_path / "index")
    report = rag.index([corpus])
    assert report.added == 1  # the fine record
    assert len(report.failed) == 1 and "docs.jsonl:1" in report.failed[0]


# -- questions ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bm25_rag() -> Iterator[RAG]:
    """The example corpus indexed once with examples/bm25.yaml (BM25 only: no model)."""
    with tempfile.TemporaryDirectory() as folder:
        rag = RAG.from_file(ROOT / "examples" / "bm25.yaml", Path(folder) / "index")
        rag.index([CORPUS])
        yield rag
        rag.close()


questions = (
    st.text(max_size=200)
    | st.text(
        st.characters(codec=None, categories=["Cc", "Cf", "Cs", "Zs", "Zl", "Co"]), max_size=50
    )
    | st.sampled_from(["", " ", "\x00", "\n\t", "\ud800", "bm25 \udfff k1", "*" * 1000])
    | st.tuples(st.sampled_from(["bm25 ", "fusion ", "x", "\x00"]), st.integers(1, 200_000)).map(
        lambda pair: pair[0] * pair[1]
    )
)


@pytest.mark.timeout(HANG_GUARD_S)
@settings(FUZZ, max_examples=150)
@given(question=questions, top_k=st.none() | st.integers(-3, 2**40))
def test_arbitrary_questions_are_answered_or_refused(
    bm25_rag: RAG, question: str, top_k: int | None, bounded_memory: None
) -> None:
    result = accepted_or_refused(lambda: bm25_rag.query(question, top_k=top_k))
    if not question.strip():
        assert result is None  # an empty question is refused
    if result is None:
        return
    assert len(result.hits) <= (top_k if top_k is not None else 10)
    assert [h.score for h in result.hits] == sorted((h.score for h in result.hits), reverse=True)
    json.dumps(result.to_dict())  # `ragloom query --json` can print it
