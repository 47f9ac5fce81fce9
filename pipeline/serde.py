"""Pipeline <-> plain data (the Haystack-shaped YAML), collecting every problem with its line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ragloom.errors import ConfigError, PipelineValidationError, Problem
from ragloom.pipeline.spec import Source
from ragloom.registry import get_component_class

if TYPE_CHECKING:
    from ragloom.pipeline.graph import Pipeline

PIPELINE_KEYS = ("components", "connections", "inputs", "outputs", "index_dir", "executor")
EXECUTOR_TYPES = ("local",)


def pipeline_to_dict(pipeline: Pipeline) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if pipeline.index_dir is not None:
        data["index_dir"] = str(pipeline.index_dir)
    if pipeline.executor != {"type": "local"}:
        data["executor"] = dict(pipeline.executor)
    data["components"] = {name: c.to_dict() for name, c in pipeline.components.items()}
    data["connections"] = [
        {"sender": str(c.sender), "receiver": str(c.receiver)} for c in pipeline.connections
    ]
    if pipeline.inputs:
        data["inputs"] = {name: [str(a) for a in addrs] for name, addrs in pipeline.inputs.items()}
    if pipeline.outputs:
        data["outputs"] = {name: str(addr) for name, addr in pipeline.outputs.items()}
    return data


def _relocate(problems: list[Problem], src: Source, *path: str | int, component: str) -> list[Problem]:
    """Attach file/line (of the offending field where known) and the component name."""
    located = []
    for p in problems:
        field_path = (*path, p.field) if p.field else path
        message = p.message if p.message.startswith(component) else f"{component}: {p.message}"
        located.append(src.problem(message, *field_path, component=component, field=p.field))
    return located


def pipeline_from_dict(data: Any, source: Source | None = None) -> Pipeline:
    """Build and validate a pipeline; raises one PipelineValidationError listing every problem."""
    from ragloom.pipeline.graph import Pipeline

    src = source or Source()
    if not isinstance(data, dict):
        raise PipelineValidationError(src.problem("a pipeline must be a mapping with `components:`"))
    problems: list[Problem] = []
    for key in data:
        if key not in PIPELINE_KEYS:
            problems.append(src.problem(f"unknown key {key!r}; expected one of {', '.join(PIPELINE_KEYS)}", key))

    executor = data.get("executor") or {"type": "local"}
    if not isinstance(executor, dict) or executor.get("type", "local") not in EXECUTOR_TYPES:
        problems.append(
            src.problem(f"executor: type must be one of {', '.join(EXECUTOR_TYPES)}, got {executor!r}", "executor")
        )
        executor = {"type": "local"}
    pipeline = Pipeline(index_dir=data.get("index_dir"), executor=executor)

    components = data.get("components")
    if not isinstance(components, dict) or not components:
        problems.append(src.problem("`components:` must be a non-empty mapping of name -> {type, init_parameters}", "components"))
        components = {}
    broken: set[str] = set()
    for name, spec in components.items():
        problems.extend(_add_component(pipeline, str(name), spec, src))
        if str(name) not in pipeline.components:
            broken.add(str(name))

    def declared(address: Any) -> bool:
        return not (isinstance(address, str) and address.split(".")[0] in broken)

    connections = data.get("connections") or []
    if not isinstance(connections, list):
        problems.append(src.problem("`connections:` must be a list of {sender, receiver}", "connections"))
        connections = []
    for index, conn in enumerate(connections):
        if not isinstance(conn, dict) or set(conn) != {"sender", "receiver"}:
            problems.append(src.problem("a connection needs exactly `sender` and `receiver`", "connections", index))
            continue
        if not (declared(conn["sender"]) and declared(conn["receiver"])):
            continue
        try:
            pipeline.connect(conn["sender"], conn["receiver"])
        except PipelineValidationError as exc:
            for p in exc.problems:
                key = "sender" if p.component == str(conn["sender"]).split(".")[0] else "receiver"
                problems.append(src.problem(p.message, "connections", index, key, component=p.component, field=p.field))

    inputs = data.get("inputs") or {}
    if not isinstance(inputs, dict):
        problems.append(src.problem("`inputs:` must map input names to component.socket targets", "inputs"))
        inputs = {}
    for name, targets in inputs.items():
        targets = [targets] if isinstance(targets, str) else targets
        if not isinstance(targets, list) or not all(declared(t) for t in targets):
            continue
        try:
            pipeline.add_input(str(name), *targets)
        except PipelineValidationError as exc:
            problems.extend(src.problem(p.message, "inputs", name) for p in exc.problems)

    outputs = data.get("outputs") or {}
    if not isinstance(outputs, dict):
        problems.append(src.problem("`outputs:` must map output names to component.socket", "outputs"))
        outputs = {}
    for name, address in outputs.items():
        if not declared(address):
            continue
        try:
            pipeline.add_output(str(name), address)
        except PipelineValidationError as exc:
            problems.extend(src.problem(p.message, "outputs", name) for p in exc.problems)

    if not broken:
        for p in pipeline.problems():
            path = ("components", p.component) if p.component in pipeline.components else ()
            problems.append(src.problem(p.message, *path, component=p.component, field=p.field))
    if problems:
        raise PipelineValidationError(problems)
    return pipeline


def _add_component(pipeline: Pipeline, name: str, spec: Any, src: Source) -> list[Problem]:
    path = ("components", name)
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        return [src.problem(f"component {name!r} needs a `type:` naming a registered component", *path)]
    extra = set(spec) - {"type", "init_parameters"}
    if extra:
        return [src.problem(f"component {name!r}: unknown key(s) {sorted(extra)}; expected type, init_parameters", *path)]
    try:
        cls = get_component_class(spec["type"])
    except KeyError as exc:
        return [src.problem(f"component {name!r}: {exc.args[0]}", *path, "type", component=name, field="type")]
    try:
        component = cls.from_dict(spec)
    except ConfigError as exc:
        return _relocate(exc.problems, src, *path, "init_parameters", component=name)
    pipeline.add(name, component)
    return []
