"""The pipeline DAG: named components, typed connections, declared inputs and outputs.

Example::

    pipe = Pipeline()
    pipe.add("chunker", TokenWindowChunker(chunk_size=128))
    pipe.add("encoder", ChunkEncoder())
    pipe.connect("chunker.chunks", "encoder.chunks")
    pipe.add_input("documents", "chunker.documents")
    result = pipe.run({"documents": docs})

A stage added with `optional=True` (YAML: `optional: true`) may fail without failing the run:
its receivers do without it (a variadic input gets one list fewer, an input with a default
keeps its default) and `PipelineResult.errors` records the failure. A stage that needs it
through a required, non-variadic input must be optional too (checked when validated): it is
then skipped and recorded as well, so marking a whole branch optional drops that branch.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from ragloom.component import Component, InputSocket, OutputSocket
from ragloom.errors import PipelineValidationError, Problem
from ragloom.pipeline.address import Address, Connection
from ragloom.pipeline.executors import Executor, close_executor, executor_for
from ragloom.pipeline.result import PipelineResult
from ragloom.pipeline.serde import pipeline_from_dict, pipeline_to_dict
from ragloom.pipeline.sockets import is_compatible, type_repr

NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
DEFAULT_INDEX_DIR = ".ragloom"
Socket = TypeVar("Socket", InputSocket, OutputSocket)


def _socket(
    addr: Address, sockets: Mapping[str, Socket], kind: Literal["input", "output"]
) -> Socket:
    """The socket `addr` names among a component's inputs or outputs; the error lists them all."""
    if addr.socket not in sockets:
        valid = ", ".join(f"{s.name} ({type_repr(s.type)})" for s in sockets.values())
        raise PipelineValidationError(
            Problem(
                f"{addr.component} has no {kind} {addr.socket!r}; {kind}s are: {valid}",
                component=addr.component,
                field=addr.socket,
            )
        )
    return sockets[addr.socket]


class Pipeline:
    """A DAG of components. Build in Python or from YAML; validated before any model loads."""

    def __init__(self, index_dir: str | Path | None = None, executor: dict[str, Any] | None = None):
        self.components: dict[str, Component] = {}
        self.connections: list[Connection] = []
        self.inputs: dict[str, list[Address]] = {}
        self.outputs: dict[str, Address] = {}
        self.executor: dict[str, Any] = dict(executor or {"type": "local"})
        self.optional: set[str] = set()
        #: Set in Python only: runs this pipeline instead of its `executor:` block (a Ray Serve
        #: ingress runs it on a LocalExecutor whose heavy stages call deployments).
        self.runner: Executor | None = None
        self._warm = False
        self.index_dir = Path(index_dir) if index_dir else None

    @property
    def index_dir(self) -> Path | None:
        """Where stores keep their data (None: ./.ragloom); changing it re-binds on next run."""
        return self._index_dir

    @index_dir.setter
    def index_dir(self, value: str | Path | None) -> None:
        self._index_dir = Path(value) if value is not None else None
        self._warm = False

    # -- building ---------------------------------------------------------------------------

    def add(self, name: str, component: Component, optional: bool = False) -> Pipeline:
        """Add a component under a unique name; `optional=True` lets the run survive its failure."""
        if not isinstance(optional, bool):
            raise PipelineValidationError(
                Problem(
                    f"component {name!r}: optional must be true or false, got {optional!r}",
                    component=name,
                    field="optional",
                )
            )
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise PipelineValidationError(
                Problem(f"invalid component name {name!r}: use letters, digits, '_' or '-'")
            )
        if name in self.components:
            raise PipelineValidationError(Problem(f"component {name!r} is already in the pipeline"))
        if not isinstance(component, Component):
            raise PipelineValidationError(
                Problem(
                    f"component {name!r} must be a ragloom Component, "
                    f"got {type(component).__name__}"
                )
            )
        try:
            type(component).output_sockets()
        except TypeError as exc:
            raise PipelineValidationError(
                Problem(f"component {name!r}: {exc}", component=name)
            ) from None
        self.components[name] = component
        if optional:
            self.optional.add(name)
        self._warm = False
        return self

    def connect(self, sender: str, receiver: str) -> Pipeline:
        """Connect `producer.output` to `consumer.input`, checking names and types now."""
        out_addr, in_addr = Address.parse(sender), Address.parse(receiver)
        out_socket = self._output_socket(out_addr)
        in_socket = self._input_socket(in_addr)
        if not is_compatible(out_socket.type, in_socket.type):
            raise PipelineValidationError(
                Problem(
                    f"type mismatch: {out_addr} is {type_repr(out_socket.type)} but "
                    f"{in_addr} expects {type_repr(in_socket.type)}",
                    component=in_addr.component,
                    field=in_addr.socket,
                )
            )
        if not in_socket.variadic and (
            self._senders_of(in_addr) or any(in_addr in t for t in self.inputs.values())
        ):
            raise PipelineValidationError(
                Problem(f"{in_addr} is already fed; only variadic inputs take several senders")
            )
        self.connections.append(Connection(out_addr, in_addr))
        return self

    def add_input(self, name: str, *targets: str) -> Pipeline:
        """Declare a pipeline input `name` that feeds the given `component.socket` targets."""
        if not targets:
            raise PipelineValidationError(Problem(f"pipeline input {name!r} feeds no socket"))
        addresses = []
        for target in targets:
            addr = Address.parse(target)
            socket = self._input_socket(addr)
            if not socket.variadic and self._senders_of(addr):
                raise PipelineValidationError(
                    Problem(f"{addr} is connected to another stage; it cannot also be an input")
                )
            if not socket.variadic and any(addr in t for t in self.inputs.values()):
                raise PipelineValidationError(
                    Problem(f"{addr} is already fed by another pipeline input")
                )
            addresses.append(addr)
        self.inputs.setdefault(name, []).extend(addresses)
        return self

    def add_output(self, name: str, source: str) -> Pipeline:
        """Expose `component.output` as the pipeline output `name`."""
        addr = Address.parse(source)
        self._output_socket(addr)
        self.outputs[name] = addr
        return self

    # -- introspection ----------------------------------------------------------------------

    def _component(self, name: str) -> Component:
        if name not in self.components:
            known = ", ".join(self.components) or "(none)"
            raise PipelineValidationError(
                Problem(f"no component named {name!r}; components are: {known}", component=name)
            )
        return self.components[name]

    def _output_socket(self, addr: Address) -> OutputSocket:
        return _socket(addr, type(self._component(addr.component)).output_sockets(), "output")

    def _input_socket(self, addr: Address) -> InputSocket:
        return _socket(addr, type(self._component(addr.component)).input_sockets(), "input")

    def _senders_of(self, addr: Address) -> list[Address]:
        return [c.sender for c in self.connections if c.receiver == addr]

    def predecessors(self, name: str) -> set[str]:
        return {c.sender.component for c in self.connections if c.receiver.component == name}

    def topological_order(self) -> list[str]:
        """Components in an order where every sender precedes its receivers; raises on a cycle."""
        indegree = {name: len(self.predecessors(name)) for name in self.components}
        ready = [name for name, degree in indegree.items() if degree == 0]
        order: list[str] = []
        while ready:
            name = ready.pop(0)
            order.append(name)
            for succ in sorted(
                {c.receiver.component for c in self.connections if c.sender.component == name}
            ):
                indegree[succ] -= 1
                if indegree[succ] == 0:
                    ready.append(succ)
        if len(order) != len(self.components):
            cyclic = [n for n in self.components if n not in order and self._reaches(n, n)]
            raise PipelineValidationError(
                Problem(
                    f"the pipeline has a cycle through: {', '.join(cyclic)}", component=cyclic[0]
                )
            )
        return order

    def _reaches(self, start: str, target: str) -> bool:
        """True when `target` can be reached from `start` along one or more connections."""
        seen: set[str] = set()
        frontier = [start]
        while frontier:
            node = frontier.pop()
            for conn in self.connections:
                if conn.sender.component == node:
                    if conn.receiver.component == target:
                        return True
                    if conn.receiver.component not in seen:
                        seen.add(conn.receiver.component)
                        frontier.append(conn.receiver.component)
        return False

    def validate(self) -> None:
        """Check the whole graph: cycles and required inputs that nothing feeds."""
        problems = list(self.problems())
        if problems:
            raise PipelineValidationError(problems)

    def problems(self) -> Iterable[Problem]:
        try:
            self.topological_order()
        except PipelineValidationError as exc:
            yield from exc.problems
        fed = {c.receiver for c in self.connections}
        fed.update(addr for targets in self.inputs.values() for addr in targets)
        for name, component in self.components.items():
            for socket in type(component).input_sockets().values():
                if socket.required and Address(name, socket.name) not in fed:
                    yield Problem(
                        f"component {name!r} ({type(component).label()}): "
                        f"required input {socket.name!r} "
                        f"({type_repr(socket.type)}) is neither connected nor a pipeline input; "
                        f"connect it or list it under `inputs:`",
                        component=name,
                        field=socket.name,
                    )
        yield from self._optional_problems()

    def _optional_problems(self) -> Iterable[Problem]:
        """A non-optional stage cannot need an optional one through a required, single input."""
        for conn in self.connections:
            sender, receiver = conn.sender.component, conn.receiver.component
            if sender not in self.optional or receiver in self.optional:
                continue
            cls = type(self.components[receiver])
            socket = cls.input_sockets()[conn.receiver.socket]
            if socket.required and not socket.variadic:
                yield Problem(
                    f"component {receiver!r} ({cls.label()}): required input {socket.name!r} "
                    f"comes from optional stage {sender!r}, so {receiver!r} could not run if "
                    f"{sender!r} failed; "
                    f"mark {receiver!r} optional too, or {sender!r} not optional",
                    component=receiver,
                    field=socket.name,
                )

    def required_inputs(self) -> set[str]:
        """Pipeline inputs that feed at least one required socket."""
        required = set()
        for name, targets in self.inputs.items():
            for addr in targets:
                if type(self.components[addr.component]).input_sockets()[addr.socket].required:
                    required.add(name)
        return required

    # -- running ----------------------------------------------------------------------------

    def resolved_index_dir(self) -> Path:
        return self.index_dir if self.index_dir is not None else Path(DEFAULT_INDEX_DIR)

    def warm_up(self, skip: Collection[str] = ()) -> None:
        """Bind stores to the index directory and load every model, once; the stages in `skip`
        run elsewhere (Ray Serve deployments) and stay cold here."""
        if self._warm:
            return
        index_dir = self.resolved_index_dir()
        for name, component in self.components.items():
            if name in skip:
                continue
            component.bind_index(index_dir)
            component.warm_up()
        self._warm = True

    def run(self, inputs: dict[str, Any] | None = None) -> PipelineResult:
        """Run the pipeline on named inputs; independent branches run concurrently."""
        return (self.runner or executor_for(self)).run(self, dict(inputs or {}))

    def close(self) -> None:
        """Release the executor's resources (Ray actors); a later run starts them again."""
        close_executor(self)

    # -- serialisation ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return pipeline_to_dict(self)

    @classmethod
    def from_dict(cls, data: Any, source: Any = None) -> Pipeline:
        return pipeline_from_dict(data, source, factory=cls)

    def to_yaml(self, path: str | Path | None = None) -> str:
        """YAML text of the pipeline (written to `path` when given)."""
        from ragloom.pipeline.spec import dump_yaml

        text = dump_yaml(self.to_dict())
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_yaml(cls, path: str | Path) -> Pipeline:
        """Load and validate a pipeline file; errors give the file and line."""
        from ragloom.pipeline.spec import load_yaml_file

        data, source = load_yaml_file(path)
        return cls.from_dict(data, source)

    @classmethod
    def from_yaml_text(cls, text: str) -> Pipeline:
        from ragloom.pipeline.spec import parse_yaml

        data, source = parse_yaml(text)
        return cls.from_dict(data, source)
