"""Exact token counts of plain-ASCII text for BERT WordPiece tokenizers, without tokenizing it.

A token-window chunker needs only the count of a document that fits one window, yet running the
tokenizer costs about as much as all of BM25 indexing. For a BERT tokenizer (BertNormalizer,
BertPreTokenizer, WordPiece) and ASCII text, the token count is a sum over pre-tokenized words:
each run of letters and digits, and each other visible character, is one word that WordPiece
splits on its own. Each distinct word is counted once by the tokenizer itself and remembered.

Text that could be treated otherwise falls back to the tokenizer (`count` returns None):
non-ASCII text (accents, CJK, Unicode punctuation), control characters (BertNormalizer deletes
them, joining words), and text containing an added token such as "[SEP]" (matched before
normalization). tests/unit/test_token_count.py checks equality with the tokenizer on
adversarial text.

Example::

    counter = WordPieceCounter.of(tokenizer)   # None when the tokenizer is not BERT WordPiece
    counter.count("BM25 ranks documents.")     # 5, or None for text it must not count
"""

from __future__ import annotations

import json
import re
from collections import ChainMap
from collections.abc import Mapping
from typing import Any

#: A pre-tokenized word of ASCII text: a run of letters and digits, or one visible character.
_WORD = re.compile(r"[A-Za-z0-9]+|[!-/:-@\[-`{-~]")
#: ASCII characters BertNormalizer does not keep as they are (controls other than \t \n \r).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: Distinct words remembered at most (about 100 bytes each); later misses are counted unstored.
MAX_WORDS = 1_000_000


class WordPieceCounter:
    """Counts the tokens `tokenizer.encode(text, add_special_tokens=False)` would give."""

    def __init__(self, tokenizer: Any, added_tokens: list[str]):
        self._tokenizer = tokenizer
        self._added = [token for token in added_tokens if token]
        self._counts: dict[str, int] = {}

    @classmethod
    def of(cls, tokenizer: Any) -> WordPieceCounter | None:
        """A counter for a `tokenizers.Tokenizer` of the BERT WordPiece kind, else None."""
        spec = json.loads(tokenizer.to_str())
        normalizer = spec.get("normalizer") or {}
        pre_tokenizer = spec.get("pre_tokenizer") or {}
        model = spec.get("model") or {}
        if (
            normalizer.get("type") != "BertNormalizer"
            or not normalizer.get("clean_text", False)
            or pre_tokenizer.get("type") != "BertPreTokenizer"
            or model.get("type") != "WordPiece"
        ):
            return None
        return cls(tokenizer, [token["content"] for token in spec.get("added_tokens", [])])

    def count(self, text: str) -> int | None:
        """The token count of `text`, or None when only the tokenizer can tell (see module)."""
        return self.count_many([text])[0]

    def count_many(self, texts: list[str]) -> list[int | None]:
        """`count` of each text; the words no text counted before are tokenized in one batch
        (a batch of edited documents brings thousands of new words: one call, not one each)."""
        counts = self._counts
        results: list[int | None] = []
        unknown: dict[int, list[str]] = {}  # texts with words not counted yet
        for n, text in enumerate(texts):
            words = self._words(text)
            if words is None:
                results.append(None)
                continue
            try:
                results.append(sum(map(counts.__getitem__, words)))
            except KeyError:
                results.append(None)
                unknown[n] = words
        if unknown:
            missing = list(
                dict.fromkeys(w for words in unknown.values() for w in words if w not in counts)
            )
            encodings = self._tokenizer.encode_batch(missing, add_special_tokens=False)
            found = {word: len(enc) for word, enc in zip(missing, encodings, strict=True)}
            if len(counts) + len(found) <= MAX_WORDS:
                counts.update(found)
            table: Mapping[str, int] = counts if missing[0] in counts else ChainMap(found, counts)
            for n, words in unknown.items():
                results[n] = sum(map(table.__getitem__, words))
        return results

    def _words(self, text: str) -> list[str] | None:
        """The pre-tokenized words of `text`, or None when the rules do not cover it."""
        if not text.isascii() or _CONTROL.search(text):
            return None
        if any(token in text for token in self._added):
            return None
        return _WORD.findall(text)
