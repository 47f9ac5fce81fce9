"""Prompt building on langchain-core templates: numbered passages, a question, a citation rule.

Example YAML::

    prompt:
      type: prompt_builder
      init_parameters: {max_passages: 5}
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from ragloom.component import Component, output_types
from ragloom.errors import ComponentConfigError, Problem
from ragloom.registry import register
from ragloom.types import Hit

DEFAULT_SYSTEM = (
    "You answer questions using only the numbered passages given. Cite the passages you use "
    "as [1], [2], ... right after the statement they support. If the passages do not contain "
    "the answer, say that you do not know."
)
DEFAULT_USER = "Passages:\n{context}\n\nQuestion: {question}\nAnswer:"


def format_passages(hits: list[Hit]) -> str:
    """`[n] text` blocks, numbered from 1 in the order given."""
    return "\n\n".join(f"[{n}] {hit.chunk.text.strip()}" for n, hit in enumerate(hits, start=1))


@register("prompt_builder")
class PromptBuilder(Component):
    """Turns a question and hits into chat messages (and a flat prompt) for a generator."""

    def __init__(
        self,
        system_template: str = DEFAULT_SYSTEM,
        user_template: str = DEFAULT_USER,
        max_passages: Annotated[int, Field(gt=0)] = 5,
    ):
        from langchain_core.prompts import ChatPromptTemplate

        for field, template in (("user_template", user_template),):
            for variable in ("{context}", "{question}"):
                if variable not in template:
                    raise ComponentConfigError(
                        Problem(f"prompt_builder: {field} must contain {variable}", field=field)
                    )
        self.system_template = system_template
        self.user_template = user_template
        self.max_passages = max_passages
        self._template = ChatPromptTemplate.from_messages(
            [("system", system_template), ("human", user_template)]
        )

    @output_types(messages=list[dict[str, str]], prompt=str, hits=list[Hit])
    def run(self, question: str, hits: list[Hit]) -> dict[str, Any]:
        used = hits[: self.max_passages]
        value = self._template.invoke({"question": question, "context": format_passages(used)})
        roles = {"system": "system", "human": "user", "ai": "assistant"}
        messages = [
            {"role": roles.get(m.type, m.type), "content": str(m.content)}
            for m in value.to_messages()
        ]
        return {"messages": messages, "prompt": value.to_string(), "hits": used}
