"""Record keys: fingerprints of raw JSONL records, so re-indexing skips unchanged ones unparsed.

A record key is the 128-bit xxh3 hash of one raw line, seeded by everything else that decides
the document read from it: the file's id, the format, the encoding, the loader's field names
and this scheme's version. Equal keys mean equal documents (the same bytes read the same way), so a
loader handed the keys of an index's committed documents (`journal.record_keys`) reports those
lines as unchanged without parsing them or building their documents: at a million records that
is most of a re-index.

Records whose id comes from their position (`file:line`, no id field) get no key: moving the
line changes the document's id, not its bytes.

xxh3 is not a cryptographic hash: records crafted to collide could make a changed record look
unchanged. Only whoever writes the corpus could do that, to their own index; accidental
collisions at 128 bits are out of reach (5.5 x 10^-20 for a billion records).
"""

from __future__ import annotations

import hashlib

import xxhash

#: Bump when the way a record becomes a Document changes: every key then misses once.
SCHEME = "ragloom-record-1"


def record_seed(source: str, fmt: str, text_field: str, id_field: str, encoding: str) -> int:
    """The hash seed for the records of one file read with these settings."""
    settings = "\0".join((SCHEME, source, fmt, text_field, id_field, encoding)).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(settings, digest_size=8).digest(), "little")


def record_key_of(seed: int, line: str | bytes) -> bytes:
    """The key of one raw record: a JSONL line's bytes as in the file, or (UTF-16/32 files,
    read as text) its text in UTF-8; the two agree on a UTF-8 file."""
    if isinstance(line, str):
        line = line.encode("utf-8", "surrogatepass")
    return xxhash.xxh3_128_digest(line, seed)
