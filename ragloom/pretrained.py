"""A transformers model and its tokenizer on a device, loaded once per process, and the
length-sorted batches the encoders feed it.

`TextEncoder`, `CrossEncoder` and the local chat model subclass `Pretrained`, naming their Auto
class; `Cls.shared(model, device, dtype, backend, quantize, threads)` keeps one copy per process
for each (model, device, concrete dtype, backend, quantize, threads), so a pipeline's chunk and
query encoders share one set of weights and `auto` shares the copy of the dtype it picks.
Loading goes through `ragloom.models.load_pretrained` (bundled alias, local folder or hub id,
with its clear errors).

`forward(batch)` runs a tokenized batch on the chosen backend (`ragloom.backends`): PyTorch
eager, or ONNX Runtime over an export cached once (`ragloom.onnx_export`), and returns the
subclass's `output_name` tensor (token states or logits) as a torch tensor, so the pooling and
scoring code is the same for both.

Example::

    encoder = TextEncoder.shared("minilm", device="cpu")
    with torch.inference_mode():
        for rows, batch in encoder.batches(texts, batch_size=32):
            out[rows] = encoder.forward(batch)[:, 0].numpy()
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Self

from ragloom.backends import Backend, Quantize, TorchRunner, check_backend
from ragloom.devices import DType, pick_device, pick_dtype
from ragloom.models import load_once, load_pretrained

#: The most tokens an encoder feeds its model at once, whatever its position table allows.
MAX_ENCODER_TOKENS = 512


class Pretrained:
    """Tokenizer + a transformers `auto_class` model, on `device` in eval mode (backend `torch`),
    or its cached ONNX export in an ONNX Runtime session (backend `onnx`, CPU) or compiled by
    OpenVINO (backend `openvino`, CPU)."""

    auto_class: ClassVar[str] = "AutoModel"
    #: The model output `forward` returns.
    output_name: ClassVar[str] = "last_hidden_state"

    def __init__(
        self,
        model: str,
        device: str = "auto",
        dtype: DType = "auto",
        backend: Backend = "torch",
        quantize: Quantize = "none",
        threads: int | None = None,
    ):
        import transformers

        check_backend(backend, quantize, dtype)
        self.model_name = model
        self.backend = backend
        self.quantize = quantize
        self.runner: Any
        self.model: Any = None  # the torch module (backend torch only)
        if backend == "onnx":
            from ragloom.onnx_export import onnx_model_file
            from ragloom.onnx_runtime import OnnxRunner, onnx_device, onnx_session

            self.device = onnx_device(device)
            self.tokenizer, self.config = load_pretrained(
                model, transformers.AutoConfig, pick_dtype("float32", self.device)
            )
            path = onnx_model_file(model, self.auto_class, self.output_name, quantize)
            self.runner = OnnxRunner(onnx_session(path, threads), self.output_name)
            return
        if backend == "openvino":
            from ragloom.onnx_export import onnx_model_file
            from ragloom.openvino_runtime import OpenVinoRunner, compile_openvino, openvino_device

            self.device = openvino_device(device)
            self.tokenizer, self.config = load_pretrained(
                model, transformers.AutoConfig, pick_dtype("float32", self.device)
            )
            path = onnx_model_file(model, self.auto_class, self.output_name)
            compiled = compile_openvino(path, threads, dtype)
            self.runner = OpenVinoRunner(compiled, self.output_name)
            return
        self.device = pick_device(device)
        self.tokenizer, self.model = load_pretrained(
            model, getattr(transformers, self.auto_class), pick_dtype(dtype, self.device)
        )
        self.model.to(self.device).eval()
        self.config = self.model.config
        self.runner = TorchRunner(self.model, self.output_name, threads)

    def forward(self, batch: Any) -> Any:
        """The `output_name` tensor of a tokenized batch (call under `torch.inference_mode`)."""
        return self.runner(batch)

    @classmethod
    def shared(
        cls,
        model: str,
        device: str = "auto",
        dtype: DType = "auto",
        backend: Backend = "torch",
        quantize: Quantize = "none",
        threads: int | None = None,
    ) -> Self:
        """The process-wide instance for these settings (loaded once, thread-safe); `threads`:
        its intra-op threads (None: torch's count in this process)."""
        check_backend(backend, quantize, dtype)
        if backend == "onnx":
            from ragloom.onnx_runtime import onnx_device

            device, concrete = onnx_device(device), "float32"
        elif backend == "openvino":
            from ragloom.openvino_runtime import openvino_device

            device, concrete = openvino_device(device), str(dtype)
        else:
            device = pick_device(device)
            concrete = str(pick_dtype(dtype, device)).removeprefix("torch.")
        # Only non-default backend settings are passed on: subclasses such as the chat model
        # take (model, device, dtype) alone.
        options: dict[str, Any] = (
            {} if backend == "torch" else {"backend": backend, "quantize": quantize}
        )
        if threads is not None:
            options["threads"] = threads
        return load_once(
            (cls, model, device, concrete, backend, quantize, threads),
            lambda: cls(model, device=device, dtype=concrete, **options),  # type: ignore[arg-type]
        )


class BatchEncoder(Pretrained):
    """A `Pretrained` that reads texts in length-sorted, padded batches of at most
    `max_length` tokens (the model's positions, capped at `MAX_ENCODER_TOKENS`)."""

    def __init__(
        self,
        model: str,
        device: str = "auto",
        dtype: DType = "auto",
        backend: Backend = "torch",
        quantize: Quantize = "none",
        threads: int | None = None,
    ):
        super().__init__(model, device, dtype, backend, quantize, threads)
        positions = getattr(self.config, "max_position_embeddings", MAX_ENCODER_TOKENS)
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
