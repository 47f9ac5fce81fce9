"""benchmarks/index_flops.py's pure parts: late-chunking windows and padded batch widths, against
hand counts (the FLOPs of indexing are `roofline.model_flops` over these widths)."""

from __future__ import annotations

from benchmarks.index_flops import padded_widths, window_lengths


def test_a_long_document_runs_as_overlapping_wrapped_windows() -> None:
    # capacity 510, overlap 128: tokens [0, 510), [382, 892), [764, 1000), each + [CLS], [SEP]
    assert window_lengths(1000, 510, 128, 2) == [512, 512, 238]
    assert window_lengths(300, 510, 128, 2) == [302]
    assert window_lengths(0, 510, 128, 2) == []


def test_windows_batch_by_count_and_by_padded_tokens() -> None:
    lengths = [5, 300, 40, 512, 512]
    # Longest first: 512, 512 and 300 fill 3 x 512 = 1,536 tokens; 40 and 5 pad to 40.
    assert padded_widths(lengths, lengths, 32, 1536) == [40, 512, 40, 512, 512]
    # Two a batch, no token cap: (512, 512), (300, 40) padded to 300, (5).
    assert padded_widths(lengths, lengths, 2) == [5, 300, 300, 512, 512]


def test_texts_sort_by_characters_and_pad_to_their_widest_in_tokens() -> None:
    # `TextEncoder.batches` orders by characters (50, 30, 10); the first pair pads to 12 tokens.
    assert padded_widths([10, 50, 30], [4, 9, 12], 2) == [4, 12, 12]
