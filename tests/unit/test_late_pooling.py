"""Late chunking's pure parts: macro-window plans, chunk token spans, text reassembly, config."""

from __future__ import annotations

from itertools import pairwise

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from ragloom.chunking.encoders import EncoderStage
from ragloom.chunking.late import LateChunkingEncoder, reassemble
from ragloom.chunking.pooling import Window, add_span_sums, plan_windows, token_span
from ragloom.config import ENCODER_KEYS
from ragloom.errors import ComponentConfigError, PipelineValidationError
from ragloom.pipeline.graph import Pipeline
from ragloom.types import Chunk, Document


@given(n=st.integers(0, 3000), capacity=st.integers(2, 600), overlap=st.integers(0, 300))
def test_kept_token_ranges_tile_the_document(n: int, capacity: int, overlap: int) -> None:
    if overlap >= capacity:
        with pytest.raises(ValueError, match="overlap"):
            plan_windows(n, capacity, overlap)
        return
    windows = plan_windows(n, capacity, overlap)
    kept = [i for w in windows for i in range(w.keep, w.end)]
    assert kept == list(range(n))
    for w in windows:
        assert 0 <= w.begin <= w.keep < w.end <= n and w.end - w.begin <= capacity
    for previous, w in pairwise(windows):
        assert w.keep - w.begin == overlap and w.begin == previous.end - overlap


def test_a_document_that_fits_is_one_window() -> None:
    assert plan_windows(300, 510, 128) == [Window(0, 0, 300)]
    assert plan_windows(0, 510, 128) == []


def test_chunk_token_spans_take_every_token_a_chunk_touches() -> None:
    # "ab cd|ef gh": tokens ab, cd, ef, gh; a chunk boundary inside "cdef"-like tokens counts.
    starts, ends = [0, 3, 6, 9], [2, 5, 8, 11]
    assert token_span(starts, ends, 0, 3) == (0, 1)  # "ab " holds token 0 only
    assert token_span(starts, ends, 3, 11) == (1, 4)
    assert token_span(starts, ends, 4, 7) == (1, 3)  # cuts cd and ef: both count
    assert token_span(starts, ends, 2, 3) == (1, 1)  # whitespace only: no token


def test_span_sums_use_only_the_kept_part_of_a_window() -> None:
    states = torch.arange(10, dtype=torch.float32).unsqueeze(-1)  # tokens 20..29, value = index
    sums, counts = torch.zeros((2, 1)), torch.zeros(2)
    window = Window(begin=20, keep=23, end=30)
    add_span_sums(states, window, [(18, 25), (25, 40)], [0, 1], sums, counts)
    assert counts.tolist() == [2, 5]  # tokens 23, 24 | 25..29
    assert sums.flatten().tolist() == [3 + 4, 5 + 6 + 7 + 8 + 9]


def test_reassembly_rebuilds_covered_text_and_fills_gaps_with_spaces() -> None:
    doc = Document(text="alpha beta\ngamma delta", id="d")
    spans = [(0, 11), (6, 17), (17, 22)]  # overlapping, then tiling
    chunks = [Chunk.from_span(doc, a, b, n) for n, (a, b) in enumerate(spans)]
    assert reassemble(chunks) == doc.text
    gapped = [chunks[0], chunks[2]]
    assert reassemble(gapped) == "alpha beta\n      delta"


def test_late_encoder_settings_are_checked_before_any_model_loads() -> None:
    with pytest.raises(ComponentConfigError, match="parameter 'pooling': must be 'mean'"):
        LateChunkingEncoder(pooling="cls")
    with pytest.raises(ComponentConfigError, match="window_overlap"):
        LateChunkingEncoder(window_size=64, window_overlap=64)
    with pytest.raises(ComponentConfigError, match="late_weight"):
        LateChunkingEncoder(late_weight=1.5)
    encoder = LateChunkingEncoder(late_weight=0.5, passage_prefix="passage: ")
    assert encoder.to_dict()["type"] == "late_chunking_encoder"
    assert set(ENCODER_KEYS) <= set(encoder.init_parameters)
    assert "documents" in LateChunkingEncoder.input_sockets()
    assert not LateChunkingEncoder.input_sockets()["documents"].required


def test_late_encoder_inherits_the_encoder_parameters_and_their_checks() -> None:
    """Declared once in EncoderStage: the late encoder takes them, checked the same way."""
    own = {"pooling", "window_size", "window_overlap", "late_weight", "batch_tokens"}
    inherited = set(EncoderStage.init_parameter_specs())
    assert set(LateChunkingEncoder.init_parameter_specs()) == inherited | own
    yaml = (
        "components:\n"
        "  encoder:\n"
        "    type: late_chunking_encoder\n"
        "    init_parameters: {model: minilm, batch_size: 0, truncate_dim: '8'}\n"
        "inputs: {chunks: [encoder.chunks]}\n"
    )
    with pytest.raises(PipelineValidationError) as info:
        Pipeline.from_yaml_text(yaml)
    messages = sorted(p.message for p in info.value.problems)
    assert messages == [
        "component 'encoder' (late_chunking_encoder): parameter 'batch_size': "
        "Input should be greater than 0 (got 0)",
        "component 'encoder' (late_chunking_encoder): parameter 'truncate_dim': "
        "Input should be a valid integer (got '8')",
    ]
    assert {p.field for p in info.value.problems} == {"batch_size", "truncate_dim"}
    encoder = LateChunkingEncoder(model="minilm", batch_size=4, late_weight=0.5)
    assert (encoder.model, encoder.batch_size, encoder.late_weight) == ("minilm", 4, 0.5)
