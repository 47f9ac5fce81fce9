"""Device and dtype selection shared by every model-loading stage.

`auto` picks CUDA when present, else CPU. Precision defaults to fp32 on CPU (the reference) and
to bf16 on GPUs that support it (fp16 otherwise). `torch.set_num_threads` set by the user (or
OMP_NUM_THREADS, which Ray sets per actor) is left alone.
"""

from __future__ import annotations

from typing import Any, Literal

DType = Literal["auto", "float32", "bfloat16", "float16"]


def pick_device(device: str = "auto") -> str:
    """`auto` means cuda when present, else cpu; anything else is passed through."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(dtype: str, device: str) -> Any:
    """The torch dtype for a setting on a device (`auto`: fp32 on CPU, bf16/fp16 on GPU)."""
    import torch

    if dtype != "auto":
        return getattr(torch, dtype)
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32
