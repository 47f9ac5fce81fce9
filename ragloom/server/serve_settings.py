"""The `serve: ray:` block: how `ragloom serve` deploys on Ray Serve (batching, autoscaling).

Resources of each deployment (replicas, num_cpus, num_gpus, memory, resources) come from the
configuration's `executor: stages:` block, as for the Ray executor; this block adds what only
serving has. Example::

    serve:
      executor: ray                 # or `ragloom serve --executor ray`
      ray:
        ingress_num_cpus: 0.25      # the FastAPI ingress, which runs the light stages
        batching: {max_batch_size: 32, batch_wait_timeout_s: 0.005}   # encoder + reranker
        stages:
          query_encoder:
            autoscaling: {min_replicas: 1, max_replicas: 4, target_ongoing_requests: 8}
          reranker:
            batching: {enabled: false}
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PositiveInt


class Batching(BaseModel):
    """`@serve.batch` on a deployment: concurrent requests gathered into one call."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    max_batch_size: PositiveInt = 32
    #: Seconds the first request of a batch waits for more to join it.
    batch_wait_timeout_s: Annotated[float, Field(ge=0)] = 0.005


class Autoscaling(BaseModel):
    """Ray Serve's autoscaling of one deployment (replaces its fixed `replicas`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_replicas: Annotated[int, Field(ge=0)] = 1
    max_replicas: PositiveInt = 1
    #: Requests in flight per replica the autoscaler aims for.
    target_ongoing_requests: Annotated[float, Field(gt=0)] = 2.0
    upscale_delay_s: Annotated[float, Field(ge=0)] | None = None
    downscale_delay_s: Annotated[float, Field(ge=0)] | None = None


class StageServing(BaseModel):
    """Serving settings of one deployed stage (unset: the block-wide value)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    batching: Batching | None = None
    autoscaling: Autoscaling | None = None
    max_ongoing_requests: PositiveInt | None = None


class RayServeSettings(BaseModel):
    """How the app is laid out on Ray Serve: names, the ingress, batching, per-stage options."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The Serve application's name (two apps on one Ray need two names and route prefixes).
    app_name: Annotated[str, Field(min_length=1)] = "ragloom"
    route_prefix: Annotated[str, Field(pattern=r"^/")] = "/"
    #: CPUs the ingress reserves (it runs the light stages: retrievers, fusion, prompts).
    ingress_num_cpus: Annotated[float, Field(ge=0)] = 0.25
    #: Batching of the query-encoder and reranker deployments, unless a stage says otherwise.
    batching: Batching = Field(default_factory=Batching)
    #: Per deployed stage (query encoder, reranker, generator), by stage name.
    stages: dict[str, StageServing] = Field(default_factory=dict)

    def batching_of(self, stage: str) -> Batching:
        """The batching a stage's deployment uses."""
        own = self.stages.get(stage)
        return own.batching if own is not None and own.batching is not None else self.batching
