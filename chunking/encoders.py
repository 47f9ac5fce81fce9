"""Encoder stages: embed chunks for the index and queries for retrieval, with the same model.

Both stages take the same settings, and the index manifest records them, so a query is always
encoded like its index. Prompted models need their prefixes on both stages:

| model family | query_prefix | passage_prefix | pooling |
|---|---|---|---|
| E5 (`intfloat/e5-*`) | `"query: "` | `"passage: "` | mean |
| nomic-embed-text | `"search_query: "` | `"search_document: "` | mean |
| BGE v1.5 (en) | `"Represent this sentence for searching relevant passages: "` | `""` | cls |

`truncate_dim` keeps the first N dimensions (Matryoshka models such as nomic v1.5), then
normalises.

`backend: onnx` runs the model with ONNX Runtime on the CPU (exported once into the model cache;
float32 matches torch to cosine 0.9999), `quantize: int8` on top of it uses dynamic int8
weights (faster still, at a measured cost: cosine to float32 about 0.99, min 0.98 on SciFact;
benchmarks/README.md). `backend: openvino` compiles the same export with OpenVINO (bfloat16
where the CPU has it unless `dtype: float32`). Both stages should use the same backend and
quantize. `threads` sets the model's intra-op threads for this stage alone (default: torch's
count in the process, the cores or `OMP_NUM_THREADS`); one thread keeps a query encoder fast
while other stages or requests use the other cores (README, "Threads per stage").

Example YAML::

    encoder:
      type: chunk_encoder
      init_parameters: {model: minilm, batch_size: 32, backend: onnx}
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pydantic import NonNegativeInt, PositiveInt

from ragloom.backends import Backend, Quantize, refuse_backend
from ragloom.chunking.query_cache import QueryCache
from ragloom.chunking.text_encoder import DType, Pooling, TextEncoder, load_encoder
from ragloom.component import Component, output_types
from ragloom.models import DEFAULT_ENCODER
from ragloom.progress import progress_bar
from ragloom.registry import register
from ragloom.types import Chunk


class EncoderStage(Component):
    """Base of the chunk, query and late-chunking encoders: shared settings, so all embed alike."""

    def __init__(
        self,
        model: str = DEFAULT_ENCODER,
        pooling: Pooling = "mean",
        normalize: bool = True,
        batch_size: PositiveInt = 32,
        max_length: PositiveInt | None = None,
        device: str = "auto",
        dtype: DType = "auto",
        query_prefix: str = "",
        passage_prefix: str = "",
        truncate_dim: PositiveInt | None = None,
        backend: Backend = "torch",
        quantize: Quantize = "none",
        threads: PositiveInt | None = None,
    ):
        refuse_backend(self.registered_name(), backend, quantize, dtype)
        self.model = model
        self.pooling = pooling
        self.normalize = normalize
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device
        self.dtype = dtype
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.truncate_dim = truncate_dim
        self.backend = backend
        self.quantize = quantize
        self.threads = threads
        self._encoder: TextEncoder | None = None

    def warm_up(self) -> None:
        if self._encoder is None:
            encoder = load_encoder(
                self.model, self.device, self.dtype, self.backend, self.quantize, self.threads
            )
            encoder.output_dimension(self.truncate_dim)  # fail now on a too-large truncate_dim
            self._encoder = encoder

    @property
    def encoder(self) -> TextEncoder:
        self.warm_up()
        assert self._encoder is not None
        return self._encoder

    def _encode(self, texts: list[str], progress: Any = None, prefix: str = "") -> Any:
        return self.encoder.encode(
            texts,
            batch_size=self.batch_size,
            pooling=self.pooling,
            normalize=self.normalize,
            max_length=self.max_length,
            progress=progress,
            prefix=prefix,
            truncate_dim=self.truncate_dim,
        )


@register("chunk_encoder")
class ChunkEncoder(EncoderStage):
    """Embeds each chunk on its own ("naive" chunk encoding) with a transformers model."""

    @output_types(chunks=list[Chunk])
    def run(self, chunks: list[Chunk]) -> dict[str, Any]:
        with progress_bar(total=len(chunks), desc="encoding", unit="chunk") as bar:
            vectors = self._encode([c.text for c in chunks], bar, self.passage_prefix)
        return {"chunks": [replace(c, embedding=v) for c, v in zip(chunks, vectors, strict=True)]}


@register("query_encoder")
class QueryEncoder(EncoderStage):
    """Embeds a query with the same model and pooling as the index."""

    def __init__(self, cache_size: NonNegativeInt = 1024, **inherited: Any):
        """`cache_size`: how many recent questions' embeddings to keep (0: none); takes the
        settings of every encoder stage too."""
        super().__init__(**inherited)
        self.cache_size = cache_size
        self.cache = QueryCache(cache_size)

    @output_types(embedding=list[float])
    def run(self, query: str) -> dict[str, Any]:
        return self.run_batch([{"query": query}])[0]

    def run_batch(self, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Many queries in one forward pass per `batch_size` (`ragloom.roles.BatchRunner`;
        Ray Serve batches concurrent requests with it); cached questions skip the model."""
        queries = [call["query"] for call in calls]
        vectors = {q: v for q in set(queries) if (v := self.cache.get(q)) is not None}
        missing = sorted(set(queries) - set(vectors))
        if missing:
            encoded = self._encode(missing, prefix=self.query_prefix)
            for query, vector in zip(missing, encoded, strict=True):
                self.cache.put(query, vector)
                vectors[query] = vector
        return [{"embedding": vectors[q].tolist()} for q in queries]
