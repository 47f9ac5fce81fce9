"""Which chunks of the BM25 catalogue pass a metadata filter: the mask a filtered search uses.

The filter (`ragloom.filters`) becomes one SQL condition over the catalogue's chunk records
(SQLite's JSON functions: `json_type` tells a string from a number from a boolean, as
`ragloom.filters.matches` does), so SQLite selects the allowed rowids without Python touching
each row. What SQL cannot say exactly falls back to `matches` on the parsed metadata: a field
name holding a double quote (a JSON path cannot quote it), an integer beyond SQLite's 64 bits,
and records that are not strict JSON (a NaN or an infinity in the metadata).

Example::

    rows = allowed_rowids(connection, parse_filter({"team": "red", "year": {"$gte": 2020}}))
"""

from __future__ import annotations

import json
import sqlite3

import numpy as np

from ragloom.filters import DOC_ID, RANGE_OPERATORS, Condition, Filter, filter_fields, matches

_SQL_RANGE = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_INT64 = (-(2**63), 2**63 - 1)


class _NotSql(Exception):
    """The filter holds something SQL cannot compare exactly."""


def _param(value: object) -> object:
    if isinstance(value, int) and not _INT64[0] <= value <= _INT64[1]:
        raise _NotSql
    return value


def _equal(field: str, value: object, params: list[object]) -> str:
    """0 or 1: the field holds `value` (same type; ints and floats as numbers)."""
    if field == DOC_ID:
        if not isinstance(value, str):
            return "0"
        params.append(value)
        return "(doc_id = ?)"
    if '"' in field:
        raise _NotSql
    path = f'$.metadata."{field}"'
    if isinstance(value, bool):
        params.extend([path, "true" if value else "false"])
        return "COALESCE(json_type(record, ?) = ?, 0)"
    kinds = "'text'" if isinstance(value, str) else "'integer', 'real'"
    params.extend([path, path, _param(value)])
    return f"COALESCE(json_type(record, ?) IN ({kinds}) AND json_extract(record, ?) = ?, 0)"


def _condition(node: Condition, params: list[object]) -> str:
    op, value = node.op, node.value
    if op in RANGE_OPERATORS:
        if node.field == DOC_ID:
            return "0"
        if '"' in node.field:
            raise _NotSql
        path = f'$.metadata."{node.field}"'
        params.extend([path, path, _param(value)])
        compare = _SQL_RANGE[op]
        return (
            f"COALESCE(json_type(record, ?) IN ('integer', 'real') "
            f"AND json_extract(record, ?) {compare} ?, 0)"
        )
    values = [value] if op in ("$eq", "$ne") else list(value)
    found = "(" + " OR ".join(_equal(node.field, v, params) for v in values) + ")"
    return f"(NOT {found})" if op in ("$ne", "$nin") else found


def to_sql(node: Filter, params: list[object]) -> str:
    """An SQL condition (0 or 1, never NULL) over a `chunks` row equal to `matches`;
    `_NotSql` for what it cannot compare exactly."""
    if isinstance(node, Condition):
        return _condition(node, params)
    if node.op == "$not":
        return f"(NOT {to_sql(node.items[0], params)})"
    joiner = " AND " if node.op == "$and" else " OR "
    return "(" + joiner.join(to_sql(item, params) for item in node.items) + ")"


def _passes(node: Filter, doc_id: str, record: str) -> bool:
    """`matches` over a record's parsed metadata (Python reads NaN, SQLite's JSON does not)."""
    return matches(node, filter_fields(doc_id, json.loads(record).get("metadata") or {}))


def allowed_rowids(connection: sqlite3.Connection, node: Filter) -> np.ndarray:
    """Sorted rowids of the stored chunks that pass `node` (one query over the catalogue)."""
    params: list[object] = []
    try:
        condition = to_sql(node, params)
    except _NotSql:
        query = "SELECT rowid, doc_id, record FROM chunks"
        rows = [r for r, d, record in connection.execute(query) if _passes(node, d, record)]
    else:
        # Rows SQLite cannot parse come back flagged (valid = 0), for `matches` to decide.
        query = (
            "SELECT rowid, json_valid(record), doc_id, "
            "CASE WHEN json_valid(record) THEN NULL ELSE record END FROM chunks WHERE "
            f"CASE WHEN json_valid(record) THEN {condition} ELSE 1 END"
        )
        rows = [
            r
            for r, valid, d, record in connection.execute(query, params)
            if valid or _passes(node, d, record)
        ]
    return np.asarray(sorted(int(r) for r in rows), dtype=np.int64)
