"""`ragloom serve` on Ray Serve, without starting Ray: the `serve: ray:` block and which stages
become deployments."""

from __future__ import annotations

import pytest

from ragloom.chunking.encoders import QueryEncoder
from ragloom.chunking.hashing import HashingQueryEncoder
from ragloom.errors import ConfigError
from ragloom.generation.extractive import ExtractiveAnswerer
from ragloom.generation.generator import LLMGenerator
from ragloom.pipeline.graph import Pipeline
from ragloom.rerank.reranker import CrossEncoderReranker
from ragloom.retrievers.bm25 import BM25Retriever
from ragloom.server.settings import settings_from


def test_the_ray_block_with_per_stage_batching_and_autoscaling() -> None:
    settings = settings_from(
        {
            "executor": "ray",
            "ray": {
                "batching": {"max_batch_size": 16, "batch_wait_timeout_s": 0.01},
                "stages": {
                    "reranker": {"batching": {"enabled": False}},
                    "encoder": {"autoscaling": {"min_replicas": 1, "max_replicas": 4}},
                },
            },
        },
        {},
    )
    assert settings.executor == "ray"
    assert settings.ray.batching_of("encoder").max_batch_size == 16
    assert not settings.ray.batching_of("reranker").enabled
    autoscaling = settings.ray.stages["encoder"].autoscaling
    assert autoscaling is not None and autoscaling.max_replicas == 4


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (
            {"ray": {"batching": {"max_batch": 8}}},
            "serve.ray.batching.max_batch: Extra inputs are not permitted (valid: enabled, "
            "max_batch_size, batch_wait_timeout_s)",
        ),
        (
            {"ray": {"stages": {"encoder": {"autoscale": {}}}}},
            "serve.ray.stages.encoder.autoscale: Extra inputs are not permitted (valid: batching, "
            "autoscaling, max_ongoing_requests)",
        ),
        ({"ray": {"batching": {"max_batch_size": 0}}}, "serve.ray.batching.max_batch_size:"),
        ({"executor": "dask"}, "serve.executor: Input should be 'local' or 'ray'"),
    ],
)
def test_mistakes_name_the_key_and_the_valid_ones(block: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from(block, {})
    assert message in str(caught.value)


def test_the_heavy_stages_are_deployed_each_called_its_way() -> None:
    from ragloom.server.ray_serve import deployed_stages

    pipe = Pipeline()
    pipe.add("encoder", QueryEncoder())
    pipe.add("hashing", HashingQueryEncoder(dimension=16))
    pipe.add("bm25", BM25Retriever())
    pipe.add("reranker", CrossEncoderReranker(model="some/reranker"))
    pipe.add("generator", LLMGenerator())
    pipe.add("answerer", ExtractiveAnswerer())
    assert deployed_stages(pipe) == {
        "encoder": "batched",
        "hashing": "batched",
        "reranker": "batched",
        "generator": "stream",
    }


def test_serving_settings_for_a_stage_that_is_not_deployed_are_refused() -> None:
    from ragloom.rag import RAG
    from ragloom.server.ray_serve import build_app

    settings = settings_from({"ray": {"stages": {"bm25": {"max_ongoing_requests": 4}}}}, {})
    with pytest.raises(ConfigError) as caught:
        build_app(RAG.from_file("examples/hashing-dense.yaml"), settings)
    assert "serve: ray: stages: 'bm25' is not a deployed stage; the deployed stages" in str(
        caught.value
    )
    assert "query_encoder" in str(caught.value)
