"""One loader and one tokenizer cache for every model-loading stage; length-sorted batches."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ragloom.chunking.fast_tokenizer import load_backend_tokenizer
from ragloom.chunking.text_encoder import TextEncoder, load_encoder
from ragloom.errors import ModelNotFoundError
from ragloom.generation.local import LocalChatModel
from ragloom.generation.prompt import PromptBuilder
from ragloom.models import load_tokenizer
from ragloom.pretrained import length_batches
from ragloom.rerank.cross_encoder import CrossEncoder, load_cross_encoder


def _failure(load: Callable[[], object]) -> str:
    """The message of the ModelNotFoundError that `load()` raises."""
    with pytest.raises(ModelNotFoundError) as info:
        load()
    return str(info.value)


@pytest.mark.parametrize(
    "model",
    ["/no/such/model", "someone/not-a-model"],
    ids=["missing-path", "unknown-hub-id-offline"],
)
def test_encoder_cross_encoder_and_generator_fail_alike(model: str) -> None:
    """All three load through `load_pretrained`, so a bad model setting reads the same."""
    messages = {
        _failure(lambda: TextEncoder(model, device="cpu")),
        _failure(lambda: load_encoder(model, device="cpu")),
        _failure(lambda: CrossEncoder(model, device="cpu")),
        _failure(lambda: load_cross_encoder(model, device="cpu")),
        _failure(lambda: LocalChatModel(model, device="cpu").load()),
        _failure(lambda: load_tokenizer(model)),
    }
    assert len(messages) == 1
    assert repr(model) in messages.pop()


def test_folder_without_config_fails_alike_everywhere(tmp_path: Path) -> None:
    messages = {
        _failure(lambda: load_encoder(str(tmp_path), device="cpu")),
        _failure(lambda: load_cross_encoder(str(tmp_path), device="cpu")),
        _failure(lambda: LocalChatModel(str(tmp_path), device="cpu").load()),
        _failure(lambda: load_tokenizer(str(tmp_path))),
    }
    assert len(messages) == 1
    assert "config.json" in messages.pop()


def test_tokenizer_cache_returns_one_object_per_model() -> None:
    tokenizer = load_tokenizer("minilm")
    assert load_tokenizer("minilm") is tokenizer
    assert tokenizer.is_fast
    ids = tokenizer("late chunking", add_special_tokens=False)["input_ids"]
    backend = load_backend_tokenizer("minilm")  # the chunkers' copy, built from the cached one
    backend.no_padding()
    assert backend.encode("late chunking", add_special_tokens=False).ids == ids
    assert PromptBuilder(tokenizer="minilm").count_tokens("late chunking") == len(ids)


def test_length_batches_run_longest_first_within_both_limits() -> None:
    lengths = [3, 9, 1, 9, 5, 2, 7]
    assert list(length_batches(lengths, 3)) == [[1, 3, 6], [4, 0, 5], [2]]
    assert list(length_batches(lengths, 3, batch_tokens=18)) == [[1, 3], [6, 4], [0, 5, 2]]
    assert list(length_batches([40, 2], 8, batch_tokens=10)) == [[0], [1]]  # one row always fits
    assert list(length_batches([], 4)) == []
