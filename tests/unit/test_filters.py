"""The metadata filter language: parsing (errors name field and operator), the reference
semantics of `matches`, and the translation to Chroma's where."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragloom.filters import (
    Condition,
    FilterError,
    Logical,
    Untranslatable,
    combine,
    combine_specs,
    filter_fields,
    matches,
    parse_filter,
    to_chroma_where,
)
from ragloom.retrievers.bm25_filter import allowed_rowids
from tests.unit.filter_strategies import conditions, filters

RED_2021 = {"team": "red", "year": 2021, "flag": True, "score": 0.5}
#: (filter, fields, expected): the semantics table the README states.
SEMANTICS: list[tuple[dict[str, Any], dict[str, Any], bool]] = [
    ({"team": "red"}, RED_2021, True),
    ({"team": "blue"}, RED_2021, False),
    ({"team": {"$eq": "red"}}, RED_2021, True),
    ({"team": {"$ne": "red"}}, RED_2021, False),
    ({"team": {"$ne": "blue"}}, RED_2021, True),
    ({"year": {"$gt": 2020}}, RED_2021, True),
    ({"year": {"$gte": 2021}}, RED_2021, True),
    ({"year": {"$lt": 2021}}, RED_2021, False),
    ({"year": {"$lte": 2021.0}}, RED_2021, True),
    ({"year": {"$in": [2019, 2021]}}, RED_2021, True),
    ({"year": {"$nin": [2019, 2021]}}, RED_2021, False),
    ({"year": 2021.0}, RED_2021, True),  # ints and floats compare as numbers
    ({"score": {"$in": [0.5, 1]}}, RED_2021, True),
    # missing fields fail everything but $ne / $nin
    ({"owner": "x"}, RED_2021, False),
    ({"owner": {"$ne": "x"}}, RED_2021, True),
    ({"owner": {"$nin": ["x"]}}, RED_2021, True),
    ({"owner": {"$in": ["x"]}}, RED_2021, False),
    ({"owner": {"$gt": 0}}, RED_2021, False),
    # types never mix: bool is not 1, "2021" is not 2021
    ({"flag": 1}, RED_2021, False),
    ({"flag": True}, RED_2021, True),
    ({"flag": {"$ne": 1}}, RED_2021, True),
    ({"flag": {"$gt": 0}}, RED_2021, False),
    ({"year": "2021"}, RED_2021, False),
    ({"team": {"$gt": 0}}, RED_2021, False),
    ({"year": {"$in": ["2021", True]}}, RED_2021, False),
    # lists, objects and null count as missing
    ({"tags": "a"}, {"tags": ["a", "b"]}, False),
    ({"tags": {"$ne": "a"}}, {"tags": ["a", "b"]}, True),
    ({"meta": {"$ne": 1}}, {"meta": {"x": 1}}, True),
    ({"note": {"$nin": ["x"]}}, {"note": None}, True),
    # logic
    ({"team": "red", "year": 2021}, RED_2021, True),
    ({"team": "red", "year": 2020}, RED_2021, False),
    ({"$and": [{"team": "red"}, {"year": {"$gte": 2020}}]}, RED_2021, True),
    ({"$or": [{"team": "blue"}, {"year": 2021}]}, RED_2021, True),
    ({"$or": [{"team": "blue"}, {"year": 2020}]}, RED_2021, False),
    ({"$not": {"team": "red"}}, RED_2021, False),
    ({"$not": {"year": {"$gt": 2021}}}, RED_2021, True),
    ({"$not": {"owner": {"$gt": 0}}}, RED_2021, True),  # negation: missing passes
    ({"year": {"$not": {"$lt": 2020}}}, RED_2021, True),
    ({"year": {"$gte": 2020, "$lt": 2021}}, RED_2021, False),
    ({"doc_id": "d1"}, RED_2021, True),  # the chunk's document
    ({"doc_id": {"$in": ["d2", 1]}}, RED_2021, False),
    ({"doc_id": {"$gt": 0}}, RED_2021, False),
    ({"ratio": float("1e300")}, {"ratio": 1e300}, True),
    ({"ratio": {"$ne": 1}}, {"ratio": float("nan")}, True),  # NaN: a number equal to nothing
    ({"ratio": {"$lt": 1}}, {"ratio": float("nan")}, False),
    ({'odd"name': "x"}, {'odd"name': "x"}, True),  # no JSON path quotes it: Python decides
    ({"big": 2**70}, {"big": 2**70}, True),  # beyond SQLite's integers: Python decides
]


@pytest.mark.parametrize(("spec", "fields", "expected"), SEMANTICS)
def test_matches_follows_the_documented_semantics(
    spec: dict[str, Any], fields: dict[str, Any], expected: bool
) -> None:
    assert matches(parse_filter(spec), filter_fields("d1", fields)) is expected


@pytest.mark.parametrize(
    ("spec", "needles"),
    [
        ({"year": {"$gt": "2020"}}, ["field 'year'", "operator $gt", "numbers"]),
        ({"flag": {"$lte": True}}, ["field 'flag'", "operator $lte", "numbers"]),
        ({"team": {"$in": "red"}}, ["field 'team'", "operator $in", "non-empty list"]),
        ({"team": {"$nin": []}}, ["field 'team'", "operator $nin", "non-empty list"]),
        ({"team": {"$in": [["a"]]}}, ["field 'team'", "operator $in", "string, number"]),
        ({"team": {"$eq": None}}, ["field 'team'", "operator $eq", "NoneType"]),
        ({"team": ["red", "blue"]}, ["field 'team'", "operator $eq", "use $in"]),
        ({"year": {"$gt": float("nan")}}, ["field 'year'", "operator $gt", "finite"]),
        ({"year": {"$gtt": 1}}, ["field 'year'", "'$gtt'", "did you mean $gt"]),
        ({"year": {}}, ["field 'year'", "empty operator object"]),
        ({"$andd": [{"a": 1}]}, ["'$andd'", "did you mean $and"]),
        ({"$gte": 3}, ["'$gte'", "go inside a field"]),
        ({"$or": []}, ["operator $or", "non-empty list"]),
        ({"$and": [{"a": 1}, "b"]}, ["operator $and, item 2", "needs an object"]),
        ({"$not": [{"a": 1}]}, ["operator $not", "needs an object"]),
        ({"start": 0}, ["field 'start'", "cannot be filtered"]),
        ({"": 1}, ["field name"]),
    ],
)
def test_a_bad_filter_names_the_field_and_the_operator(
    spec: dict[str, Any], needles: list[str]
) -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter(spec)
    message = str(caught.value)
    assert message.startswith("filters: ") and "\n" not in message
    for needle in needles:
        assert needle in message, message


def test_no_filter_is_none_and_filters_combine_with_and() -> None:
    assert parse_filter(None) is None and parse_filter({}) is None
    red, recent = parse_filter({"team": "red"}), parse_filter({"year": {"$gte": 2020}})
    assert combine(None, None) is None
    assert combine(red, None) == red
    assert combine(red, recent) == Logical("$and", (red, recent))  # type: ignore[arg-type]
    assert combine_specs({"a": 1}, None, {}) == {"a": 1}
    assert combine_specs({"a": 1}, {"b": 2}) == {"$and": [{"a": 1}, {"b": 2}]}
    assert parse_filter({"team": "red"}) == Condition("team", "$eq", "red")


@pytest.mark.parametrize(
    ("spec", "where"),
    [
        ({"team": "red"}, {"team": {"$eq": "red"}}),
        (
            {"team": "red", "year": {"$gte": 2020}},
            {"$and": [{"team": {"$eq": "red"}}, {"year": {"$gte": 2020}}]},
        ),
        ({"$not": {"team": "red"}}, {"team": {"$ne": "red"}}),
        ({"$not": {"team": {"$in": ["a"]}}}, {"team": {"$nin": ["a"]}}),
        (
            {"$not": {"$or": [{"a": 1}, {"b": {"$nin": [2]}}]}},
            {"$and": [{"a": {"$ne": 1}}, {"b": {"$in": [2]}}]},
        ),
        ({"$not": {"$not": {"a": {"$gt": 1}}}}, {"a": {"$gt": 1}}),
        # Chroma wants one type per $in list (numbers as floats when they mix)
        ({"a": {"$in": [1, 2.5]}}, {"a": {"$in": [1.0, 2.5]}}),
        ({"a": {"$in": [1, "1"]}}, {"$or": [{"a": {"$in": [1]}}, {"a": {"$in": ["1"]}}]}),
        ({"a": {"$nin": [True, "x"]}}, {"$and": [{"a": {"$nin": [True]}}, {"a": {"$nin": ["x"]}}]}),
        ({"$and": [{"a": 1}]}, {"a": {"$eq": 1}}),  # Chroma's $and takes two or more
    ],
)
def test_chroma_where_translation(spec: dict[str, Any], where: dict[str, Any]) -> None:
    assert to_chroma_where(parse_filter(spec)) == where


def test_a_negated_range_is_not_translated_to_chroma() -> None:
    with pytest.raises(Untranslatable):
        to_chroma_where(parse_filter({"$not": {"year": {"$gt": 2020}}}))


# -- the BM25 catalogue's SQL: the same rows as `matches` ------------------------------------

_VALUES = ["red", "", "2020", 0, 1, -1, 2020, 2020.0, 2020.5, True, False, 2**70]
_FIELDS = ["team", "team", "year", 'odd"name', "doc_id", "absent"]
_values = st.sampled_from(_VALUES)
_leaf = st.builds(
    lambda field, condition: {field: condition},
    st.sampled_from(_FIELDS),
    conditions(_VALUES, [0, 2020, 2020.5, -1.5, 2**70]),
)
_filters = filters(_leaf, max_leaves=5)
_metadata = st.dictionaries(
    st.sampled_from(["team", "team", "year", 'odd"name', "doc_id"]),
    st.one_of(_values, st.just(["red"]), st.just(None), st.just(float("nan"))),
)


def _catalogue(rows: list[dict[str, Any]]) -> sqlite3.Connection:
    """A catalogue `chunks` table holding one record per metadata (doc ids d1, d2, d0, ...)."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE chunks(rowid INTEGER PRIMARY KEY, doc_id TEXT, record TEXT)")
    for n, meta in enumerate(rows, 1):
        record = json.dumps({"text": "t", "metadata": meta})  # NaN: not JSON to SQLite
        db.execute("INSERT INTO chunks VALUES (?, ?, ?)", (n, f"d{n % 3}", record))
    return db


@pytest.mark.parametrize(("spec", "fields", "expected"), SEMANTICS)
def test_the_bm25_catalogue_sql_follows_the_semantics_table(
    spec: dict[str, Any], fields: dict[str, Any], expected: bool
) -> None:
    rows = allowed_rowids(_catalogue([fields]), parse_filter(spec)).tolist()
    assert rows == ([1] if expected else [])


@settings(max_examples=500, deadline=None)
@given(rows=st.lists(_metadata, min_size=1, max_size=12), spec=_filters)
def test_the_bm25_catalogue_sql_selects_what_matches_passes(
    rows: list[dict[str, Any]], spec: dict[str, Any]
) -> None:
    db = _catalogue(rows)
    node = parse_filter(spec)
    expected = [
        n for n, meta in enumerate(rows, 1) if matches(node, filter_fields(f"d{n % 3}", meta))
    ]
    assert allowed_rowids(db, node).tolist() == expected
