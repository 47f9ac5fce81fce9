"""A transformers model and its tokenizer on a device, loaded once per process, and the
length-sorted batches the encoders feed it.

`TextEncoder`, `CrossEncoder` and the local chat model subclass `Pretrained`, naming their Auto
class; `Cls.shared(model, device, dtype)` keeps one copy per process for each (model, device,
concrete dtype), so a pipeline's chunk and query encoders share one set of weights and `auto`
shares the copy of the dtype it picks. Loading goes through `ragloom.models.load_pretrained`
(bundled alias, local folder or hub id, with its clear errors).

Example::

    encoder = TextEncoder.shared("minilm", device="cpu")
    with torch.inference_mode():
        for rows, batch in encoder.batches(texts, batch_size=32):
            out[rows] = encoder.model(**batch).last_hidden_state[:, 0].numpy()
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Self

from ragloom.devices import DType, pick_device, pick_dtype
from ragloom.models import load_once, load_pretrained

#: The most tokens an encoder feeds its model at once, whatever its position table allows.
MAX_ENCODER_TOKENS = 512


class Pretrained:
    """Tokenizer + a transformers `auto_class` model, moved to `device` and in eval mode."""

    auto_class: ClassVar[str] = "AutoModel"

    def __init__(self, model: str, device: str = "auto", dtype: DType = "auto"):
        import transformers

        self.model_name = model
        self.device = pick_device(device)
        self.tokenizer, self.model = load_pretrained(
            model, getattr(transformers, self.auto_class), pick_dtype(dtype, self.device)
        )
        self.model.to(self.device).eval()

    @classmethod
    def shared(cls, model: str, device: str = "auto", dtype: DType = "auto") -> Self:
        """The process-wide instance for these settings (loaded once, thread-safe)."""
        device = pick_device(device)
        concrete = str(pick_dtype(dtype, device)).removeprefix("torch.")
        return load_once(
            (cls, model, device, concrete),
            lambda: cls(model, device=device, dtype=concrete),  # type: ignore[arg-type]
        )


class BatchEncoder(Pretrained):
    """A `Pretrained` that reads texts in length-sorted, padded batches of at most
    `max_length` tokens (the model's positions, capped at `MAX_ENCODER_TOKENS`)."""

    def __init__(self, model: str, device: str = "auto", dtype: DType = "auto"):
        super().__init__(model, device, dtype)
        positions = getattr(self.model.config, "max_position_embeddings", MAX_ENCODER_TOKENS)
        self.max_length = min(int(positions), MAX_ENCODER_TOKENS)

    def batches(
        self,
        texts: Sequence[str],
        *,
        batch_size: int,
        max_length: int | None = None,
        query: str | Sequence[str] | None = None,
        progress: Any = None,
    ) -> Iterator[tuple[list[int], Any]]:
        """(rows, tokenized batch on the device) for `texts`, longest first, so each padded
        batch wastes little work; `progress` advances once a batch's rows are used.

        With `query`, each row is the pair (query, text), cut longest first to `max_length`
        tokens, so a long text never pushes the query out; a sequence of queries gives row i
        the pair (query[i], texts[i]) (many questions' pairs in one set of batches).
        """
        limit = min(max_length or self.max_length, self.max_length)
        queries = [query] * len(texts) if isinstance(query, str) else query
        if queries is not None and len(queries) != len(texts):
            raise ValueError(f"{len(queries)} queries for {len(texts)} texts: give one per text")
        lengths = [len(t) + (len(queries[i]) if queries else 0) for i, t in enumerate(texts)]
        for rows in length_batches(lengths, batch_size):
            chosen = [texts[i] for i in rows]
            inputs = (chosen,) if queries is None else ([queries[i] for i in rows], chosen)
            batch = self.tokenizer(
                *inputs,
                padding=True,
                truncation="longest_first",
                max_length=limit,
                return_tensors="pt",
            )
            yield rows, batch.to(self.device)
            if progress is not None:
                progress.update(len(rows))


def length_batches(
    lengths: Sequence[int], batch_size: int, batch_tokens: int | None = None
) -> Iterator[list[int]]:
    """Indices grouped longest first (ties in input order): at most `batch_size` a group and,
    with `batch_tokens`, at most that many padded tokens (rows x the group's longest)."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__, reverse=True)
    batch: list[int] = []
    for i in order:
        width = lengths[batch[0]] if batch else lengths[i]
        full = len(batch) >= batch_size
        if batch and (
            full or (batch_tokens is not None and (len(batch) + 1) * width > batch_tokens)
        ):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch
