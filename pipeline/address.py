"""`component.socket` addresses and the connections between them.

Below pipeline/graph.py so that pipeline/serde.py reads addresses without importing the graph
(graph imports serde for Pipeline.to_dict/from_dict).
"""

from __future__ import annotations

from dataclasses import dataclass

from ragloom.errors import PipelineValidationError, Problem


@dataclass(frozen=True)
class Address:
    """`component.socket`."""

    component: str
    socket: str

    @classmethod
    def parse(cls, text: str) -> Address:
        if not isinstance(text, str) or text.count(".") != 1:
            raise PipelineValidationError(
                Problem(f"{text!r} is not of the form 'component.socket'")
            )
        component, socket = text.split(".")
        return cls(component, socket)

    def __str__(self) -> str:
        return f"{self.component}.{self.socket}"


@dataclass(frozen=True)
class Connection:
    sender: Address
    receiver: Address
