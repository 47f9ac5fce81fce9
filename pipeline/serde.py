"""Pipeline <-> plain data (the Haystack-shaped YAML), collecting every problem with its line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ragloom.errors import ConfigError, PipelineValidationError, Problem
from ragloom.pipeline.address import Address
from ragloom.pipeline.executor_config import DEFAULT_EXECUTOR, executor_problems
from ragloom.pipeline.spec import Source
from ragloom.registry import get_component_class

if TYPE_CHECKING:
    from ragloom.pipeline.graph import Pipeline

PIPELINE_KEYS = ("components", "connections", "inputs", "outputs", "index_dir", "executor")


def pipeline_to_dict(pipeline: Pipeline) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if pipeline.index_dir is not None:
        data["index_dir"] = str(pipeline.index_dir)
    if pipeline.executor != {"type": DEFAULT_EXECUTOR}:
        data["executor"] = dict(pipeline.executor)
    data["components"] = {
        name: {**c.to_dict(), **({"optional": True} if name in pipeline.optional else {})}
        for name, c in pipeline.components.items()
    }
    data["connections"] = [
        {"sender": str(c.sender), "receiver": str(c.receiver)} for c in pipeline.connections
    ]
    if pipeline.inputs:
        data["inputs"] = {name: [str(a) for a in addrs] for name, addrs in pipeline.inputs.items()}
    if pipeline.outputs:
        data["outputs"] = {name: str(addr) for name, addr in pipeline.outputs.items()}
    return data


def located_executor_problems(block: Any, stages: list[str] | None, src: Source) -> list[Problem]:
    """`executor_problems` of a block at `executor:` in `src`, each with its file and line."""
    return [
        src.problem(p.message, "executor", *path, component=p.component, field=p.field)
        for path, p in executor_problems(block, stages)
    ]


def _relocate(
    problems: list[Problem], src: Source, *path: str | int, component: str, type_name: str
) -> list[Problem]:
    """Attach file/line (of the offending field where known) and the component's name."""
    located = []
    for p in problems:
        field_path = (*path, p.field) if p.field else path
        detail = p.message.removeprefix(f"{type_name}: ")
        message = f"component {component!r} ({type_name}): {detail}"
        located.append(src.problem(message, *field_path, component=component, field=p.field))
    return located


def pipeline_from_dict(data: Any, source: Source | None, factory: type[Pipeline]) -> Pipeline:
    """Build and validate a pipeline; raises one PipelineValidationError listing every problem.

    `factory` is the Pipeline class (`Pipeline.from_dict` passes its own): graph.py imports this
    module, so this one does not import graph.py back.
    """
    src = source or Source()
    if not isinstance(data, dict):
        raise PipelineValidationError(
            src.problem("a pipeline must be a mapping with `components:`")
        )
    problems = [
        src.problem(f"unknown key {key!r}; expected one of {', '.join(PIPELINE_KEYS)}", key)
        for key in data
        if key not in PIPELINE_KEYS
    ]
    executor = data.get("executor") or {"type": DEFAULT_EXECUTOR}
    declared = data.get("components")
    names = [str(name) for name in declared] if isinstance(declared, dict) else None
    found = located_executor_problems(executor, names, src)
    problems.extend(found)
    if found:
        executor = {"type": DEFAULT_EXECUTOR}
    index_dir = data.get("index_dir")
    if index_dir is not None and not isinstance(index_dir, str):
        problems.append(
            src.problem(f"index_dir must be a path string, got {index_dir!r}", "index_dir")
        )
        index_dir = None
    pipeline = factory(index_dir=index_dir, executor=executor)

    components = data.get("components")
    if not isinstance(components, dict) or not components:
        problems.append(
            src.problem(
                "`components:` must be a non-empty mapping of name -> {type, init_parameters}",
                "components",
            )
        )
        components = {}
    for name, spec in components.items():
        problems.extend(_add_component(pipeline, str(name), spec, src))
    unknown = {str(name) for name in components if str(name) not in pipeline.components}

    failed: set[tuple[str | None, str | None]] = set()
    problems.extend(_add_connections(pipeline, data.get("connections"), src, unknown, failed))
    problems.extend(_add_inputs(pipeline, data.get("inputs"), src, unknown))
    problems.extend(_add_outputs(pipeline, data.get("outputs"), src, unknown))
    if not unknown:
        for p in pipeline.problems():
            if (p.component, p.field) in failed:
                continue  # already reported as the failed connection that should feed it
            path = ("components", p.component) if p.component in pipeline.components else ()
            problems.append(src.problem(p.message, *path, component=p.component, field=p.field))
    if problems:
        raise PipelineValidationError(problems)
    return pipeline


def _refers_to(address: Any, names: set[str]) -> bool:
    return isinstance(address, str) and address.split(".")[0] in names


def _add_connections(
    pipeline: Pipeline, connections: Any, src: Source, unknown: set[str], failed: set[Any]
) -> list[Problem]:
    if connections is None:
        return []
    if not isinstance(connections, list):
        return [src.problem("`connections:` must be a list of {sender, receiver}", "connections")]
    problems = []
    for index, conn in enumerate(connections):
        if not isinstance(conn, dict) or set(conn) != {"sender", "receiver"}:
            problems.append(
                src.problem(
                    "a connection needs exactly `sender` and `receiver`", "connections", index
                )
            )
            continue
        if _refers_to(conn["sender"], unknown) or _refers_to(conn["receiver"], unknown):
            continue
        bad_address = False
        for key in ("sender", "receiver"):
            try:
                Address.parse(conn[key])
            except PipelineValidationError as exc:
                bad_address = True
                problems.extend(
                    src.problem(p.message, "connections", index, key) for p in exc.problems
                )
        if bad_address:
            continue
        try:
            pipeline.connect(conn["sender"], conn["receiver"])
        except PipelineValidationError as exc:
            receiver = Address.parse(conn["receiver"])
            failed.add((receiver.component, receiver.socket))
            for p in exc.problems:
                key = (
                    "sender"
                    if p.component == Address.parse(conn["sender"]).component
                    else "receiver"
                )
                problems.append(
                    src.problem(
                        p.message, "connections", index, key, component=p.component, field=p.field
                    )
                )
    return problems


def _add_inputs(pipeline: Pipeline, inputs: Any, src: Source, unknown: set[str]) -> list[Problem]:
    if inputs is None:
        return []
    if not isinstance(inputs, dict):
        return [src.problem("`inputs:` must map input names to component.socket targets", "inputs")]
    problems = []
    for name, targets in inputs.items():
        targets = [targets] if isinstance(targets, str) else targets
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            problems.append(
                src.problem(
                    f"input {name!r} must name a component.socket or a list of them, "
                    f"got {targets!r}",
                    "inputs",
                    name,
                )
            )
            continue
        if any(_refers_to(t, unknown) for t in targets):
            continue
        try:
            pipeline.add_input(str(name), *targets)
        except PipelineValidationError as exc:
            problems.extend(src.problem(p.message, "inputs", name) for p in exc.problems)
    return problems


def _add_outputs(pipeline: Pipeline, outputs: Any, src: Source, unknown: set[str]) -> list[Problem]:
    if outputs is None:
        return []
    if not isinstance(outputs, dict):
        return [src.problem("`outputs:` must map output names to component.socket", "outputs")]
    problems: list[Problem] = []
    for name, address in outputs.items():
        if _refers_to(address, unknown):
            continue
        try:
            pipeline.add_output(str(name), address)
        except PipelineValidationError as exc:
            problems.extend(src.problem(p.message, "outputs", name) for p in exc.problems)
    return problems


def _add_component(pipeline: Pipeline, name: str, spec: Any, src: Source) -> list[Problem]:
    path = ("components", name)
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        return [
            src.problem(f"component {name!r} needs a `type:` naming a registered component", *path)
        ]
    extra = set(spec) - {"type", "init_parameters", "optional"}
    if extra:
        return [
            src.problem(
                f"component {name!r}: unknown key(s) {sorted(extra)}; "
                "expected type, init_parameters, optional",
                *path,
            )
        ]
    problems: list[Problem] = []
    optional = spec.get("optional", False)
    if not isinstance(optional, bool):
        problems.append(
            src.problem(
                f"component {name!r}: optional must be true or false, got {optional!r}",
                *path,
                "optional",
                component=name,
                field="optional",
            )
        )
        optional = False
    try:
        cls = get_component_class(spec["type"])
    except KeyError as exc:
        return [
            *problems,
            src.problem(
                f"component {name!r}: {exc.args[0]}", *path, "type", component=name, field="type"
            ),
        ]
    try:
        component = cls.from_dict(spec)
    except ConfigError as exc:
        # A stand-in without config lets the connection checks still run for this component;
        # the pipeline is rejected anyway, so the stand-in never runs.
        pipeline.add(name, cls.__new__(cls), optional=optional)  # type: ignore[call-overload]
        return problems + _relocate(
            exc.problems, src, *path, "init_parameters", component=name, type_name=spec["type"]
        )
    try:
        pipeline.add(name, component, optional=optional)
    except PipelineValidationError as exc:
        problems.extend(src.problem(p.message, *path, component=name) for p in exc.problems)
    return problems
