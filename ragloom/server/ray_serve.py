"""`ragloom serve` on Ray Serve: the FastAPI ingress plus one deployment per heavy stage.

The ingress serves the same app as uvicorn does (`create_app`: every route, limit and error)
and runs the query pipeline's `ExecutionPlan` itself on a LocalExecutor; the light stages
(retrievers, fusion, prompts) run inline, the heavy ones on their own deployments
(`ragloom.server.serve_stages`): query encoders and rerankers with `@serve.batch` across
concurrent requests, generators streamed piece by piece, so a streamed chat answer arrives
token by token. Replicas, num_cpus, num_gpus, memory and resources of each deployment come from
the configuration's `executor: stages:` block (as for the Ray executor); batching, autoscaling
and the ingress from `serve: ray:` (`ragloom.server.serve_settings`). The ingress has one
replica: it is the index's only writer (POST /v1/documents).

Example::

    rag = RAG.from_file("examples/hybrid-rerank.yaml", index_dir="idx")
    serve_on_ray(rag, ServerSettings(port=8000))   # until SIGTERM or Ctrl-C

    # or, on a running Ray (a benchmark starts two variants side by side):
    start_serve(ServerSettings(port=8000))
    deploy(rag, settings)                          # waits until every replica is up
    serve.shutdown()
"""

from __future__ import annotations

import copy
import logging
import signal
import threading
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from ray import serve

from ragloom.config import RagConfig
from ragloom.errors import ConfigError, Problem
from ragloom.pipeline.graph import Pipeline
from ragloom.pipeline.local import LocalExecutor, StageRunner
from ragloom.pipeline.ray_config import (
    RayExecutorConfig,
    StagePlan,
    parse_ray_executor,
)
from ragloom.pipeline.ray_resources import check_resources, ensure_ray
from ragloom.rag import RAG
from ragloom.roles import BatchRunner, IndexReader
from ragloom.server.app import create_app
from ragloom.server.serve_settings import StageServing
from ragloom.server.serve_stages import Mode, StageDeployment, remote_runner
from ragloom.server.service import RagService
from ragloom.server.settings import ServerSettings

logger = logging.getLogger(__name__)

#: The ingress deployment's name (a stage deployment takes its stage's name).
INGRESS = "ragloom_ingress"
#: Requests the ingress admits past `max_in_flight`, each answered 429 by the app straight away.
INGRESS_OVERFLOW = 1024


def deployed_stages(pipeline: Pipeline) -> dict[str, Mode]:
    """The heavy stages of a query pipeline, each with how it is called: generators streamed;
    model stages that run many calls in one pass (query encoders, rerankers: `BatchRunner`s)
    batched, so a batch of concurrent requests is one forward pass. A retriever that batches
    (`IndexReader`) stays in the ingress, beside the index it reads."""
    from ragloom.generation.generator import LLMGenerator

    modes: dict[str, Mode] = {}
    for name, component in pipeline.components.items():
        if isinstance(component, LLMGenerator):
            modes[name] = "stream"
        elif isinstance(component, BatchRunner) and not isinstance(component, IndexReader):
            modes[name] = "batched"
    return modes


def stage_resources(pipeline: Pipeline) -> RayExecutorConfig:
    """The `executor:` block's Ray settings (its `stages:`), or the defaults under a local one."""
    block = pipeline.executor
    return parse_ray_executor(block) if block.get("type") == "ray" else RayExecutorConfig()


class ServeRagService(RagService):
    """The ingress's RagService: the same pipelines, their heavy stages run by deployments."""

    def __init__(self, rag: RAG, settings: ServerSettings, remote: Mapping[str, StageRunner]):
        super().__init__(rag, settings)
        self.remote = dict(remote)
        for pipeline in self.pipelines():
            # Deployed stages call their deployment; the ingress's own batch-capable stages
            # (retrievers) keep the coalescers RagService gave them.
            mine: dict[str, StageRunner] = {
                name: run for name, run in self.coalescers.items() if name in pipeline.components
            }
            mine.update((n, run) for n, run in self.remote.items() if n in pipeline.components)
            pipeline.runner = LocalExecutor(remote=mine)

    def pipelines(self) -> tuple[Pipeline, ...]:
        return (self.rag.config.query, self.retriever.config.query)

    def start_pipelines(self) -> None:
        """Open the stores and load the light stages here; the heavy ones are deployed."""
        for pipeline in self.pipelines():
            pipeline.warm_up(skip=self.remote.keys())


@serve.ingress()
class Ingress:
    """The FastAPI app of `ragloom serve`, built in its replica around a ServeRagService."""

    def __init__(
        self,
        config: RagConfig,
        settings: ServerSettings,
        handles: dict[str, Any],
        modes: dict[str, Mode],
    ):
        # A copy: Serve reads the init arguments again after this (they must still pickle).
        # The plan runs here, on a local executor; the heavy stages are remote.
        rag = RAG(copy.deepcopy(config), executor="local")
        timeout = settings.request_timeout_s
        runners = {name: remote_runner(handles[name], modes[name], timeout) for name in modes}
        self.service = ServeRagService(rag, settings, runners)
        self.settings = settings
        self.service.warm()  # the replica is up once the index is open (serve.run waits)

    def __serve_build_asgi_app__(self) -> FastAPI:
        return create_app(self.service.rag, self.settings, self.service)


def _stage_names_problems(settings: ServerSettings, modes: Mapping[str, Mode]) -> list[Problem]:
    deployed = ", ".join(sorted(modes)) or "(none)"
    return [
        Problem(
            f"serve: ray: stages: {name!r} is not a deployed stage; the deployed stages "
            f"(query encoders, rerankers, generators) are: {deployed}",
            component=name,
            field="stages",
        )
        for name in settings.ray.stages
        if name not in modes
    ]


def build_app(rag: RAG, settings: ServerSettings) -> tuple[Any, dict[str, StagePlan]]:
    """The Serve application of `rag` and what each of its deployments reserves (a replica)."""
    query = rag.config.query
    modes = deployed_stages(query)
    problems = _stage_names_problems(settings, modes)
    if problems:
        raise ConfigError(problems)
    resources = stage_resources(query)
    rag.config.set_index_dir(rag.index_dir.resolve())  # replicas may run elsewhere
    index_dir = str(rag.index_dir)
    plans = {INGRESS: StagePlan(num_cpus=settings.ray.ingress_num_cpus)}
    handles: dict[str, Any] = {}
    for name, mode in modes.items():
        plan = resources.stage(name)
        batching = settings.ray.batching_of(name)
        if mode == "batched" and not batching.enabled:
            modes[name] = "plain"
        serving = settings.ray.stages.get(name, StageServing())
        options: dict[str, Any] = {"name": name, "ray_actor_options": _actor_options(plan)}
        if serving.autoscaling is not None:
            options["autoscaling_config"] = serving.autoscaling.model_dump(exclude_none=True)
            plan = plan.model_copy(update={"replicas": max(1, serving.autoscaling.min_replicas)})
        else:
            options["num_replicas"] = plan.replicas
        if serving.max_ongoing_requests is not None:
            options["max_ongoing_requests"] = serving.max_ongoing_requests
        elif modes[name] == "batched":  # a batch can only fill with this many in flight
            options["max_ongoing_requests"] = 2 * batching.max_batch_size
        component = query.components[name]
        deployment: Any = serve.deployment(StageDeployment)
        deployment = deployment.options(**options)
        handles[name] = deployment.bind(
            name, type(component), component.to_dict(), index_dir, batching
        )
        plans[name] = plan
    ingress: Any = serve.deployment(Ingress)
    ingress = ingress.options(
        name=INGRESS,
        num_replicas=1,
        ray_actor_options={"num_cpus": settings.ray.ingress_num_cpus},
        # Requests beyond the app's own bound must reach it to get their 429 at once: with
        # room for only one more, Serve's proxy queued the rest (256 clients: p50 25 s).
        max_ongoing_requests=settings.max_in_flight + INGRESS_OVERFLOW,
    )
    return ingress.bind(rag.config, settings, handles, dict(modes)), plans


def _actor_options(plan: StagePlan) -> dict[str, Any]:
    """The executor stage settings a Serve replica takes (Serve restarts replicas itself)."""
    options = plan.actor_options()
    return {
        key: options[key]
        for key in ("num_cpus", "num_gpus", "memory", "resources")
        if key in options
    }


def start_serve(settings: ServerSettings) -> None:
    """Start Ray Serve's HTTP proxy on `settings.host:settings.port` (Ray must be running)."""
    serve.start(http_options={"host": settings.host, "port": settings.port})


def deploy(rag: RAG, settings: ServerSettings, check: bool = True) -> Any:
    """Deploy `rag` as the app `settings.ray.app_name` on the running Serve; returns once every
    replica is up. With `check`, first refuse (ConfigError) what the cluster cannot place,
    instead of waiting forever for it."""
    app, plans = build_app(rag, settings)
    if check:
        check_resources(plans)
    try:
        return serve.run(app, name=settings.ray.app_name, route_prefix=settings.ray.route_prefix)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"Ray Serve could not deploy the app: {first}") from exc


def serve_on_ray(rag: RAG, settings: ServerSettings) -> None:
    """Start (or join) Ray, serve `rag` on Ray Serve until SIGTERM or Ctrl-C, then shut down."""
    import ray

    resources = stage_resources(rag.config.query)
    ensure_ray(resources)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        start_serve(settings)
        deploy(rag, settings, check=resources.check_resources)
        logger.warning(
            "ragloom serve: on Ray Serve at http://%s:%d%s",
            settings.host,
            settings.port,
            settings.ray.route_prefix,
        )
        stop.wait()
    finally:
        serve.shutdown()
        ray.shutdown()
