"""Prompt building on langchain-core templates: a bounded, well-ordered, numbered context.

Passages are merged where they overlap in one document, filtered by `min_score`, fitted into a
token budget (counted with the generator's tokenizer when `tokenizer` is set), ordered so the
strongest sit at the edges of the context, and numbered [1], [2], ... in the order shown; the
`hits` output follows that numbering so citations map back to passages. A question longer than
`max_question_tokens` (default 512) is refused, so it cannot crowd the passages out.

The optional `history` input is the conversation before the question (system, user and
assistant messages, e.g. the earlier messages of a chat request). Its user and assistant turns
go, in order, between the system message and the current turn; its system messages join
ragloom's own system instructions (after them) as the one leading system message. History has
its own budget, `max_history_tokens` (default 1024; 0 ignores history), so it never crowds out
the passages: over it, the oldest turns are dropped first (`ragloom.generation.history`). The
whole prompt is thus bounded by `token_budget` + `max_history_tokens` + the question's limit.
History shapes only the prompt: retrieval sees the current question alone.

Example YAML::

    prompt:
      type: prompt_builder
      init_parameters: {max_passages: 5, token_budget: 1024, tokenizer: smollm2-135m-instruct}
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from ragloom.component import Component, output_types
from ragloom.errors import ComponentConfigError, Problem
from ragloom.generation.base import Message
from ragloom.generation.context import fit_budget, lost_in_the_middle, merge_overlapping
from ragloom.generation.history import check_history, fit_history
from ragloom.models import load_tokenizer
from ragloom.registry import register
from ragloom.types import Hit

# Small local models follow an instruction in the user turn far better than a system prompt
# (measured by hand on SmolLM2-135M: with a system prompt it drifted off the passages).
DEFAULT_SYSTEM = ""
DEFAULT_USER = (
    "Read the passages and answer the question in one or two sentences, using only the "
    "passages. End each sentence with the number of the passage it comes from in brackets, "
    "for example [2]. If the passages do not answer the question, say you do not know.\n\n"
    "{context}\n\nQuestion: {question}"
)
NO_CONTEXT = "(no passage was relevant enough to show)"
MIN_PASSAGE_TOKENS = 16
#: Default bound on a question's length: longer ones are refused before any passage is fitted.
MAX_QUESTION_TOKENS = 512
#: Default budget of the earlier turns of a conversation (the `history` input).
MAX_HISTORY_TOKENS = 1024
TEMPLATE_VARIABLES = {"context", "question"}


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
        token_budget: Annotated[int, Field(gt=0)] | None = None,
        tokenizer: str | None = None,
        order: Literal["lost_in_the_middle", "score"] = "lost_in_the_middle",
        min_score: float | None = None,
        merge_overlaps: bool = True,
        max_question_tokens: Annotated[int, Field(gt=0)] | None = MAX_QUESTION_TOKENS,
        max_history_tokens: Annotated[int, Field(ge=0)] = MAX_HISTORY_TOKENS,
    ):
        from langchain_core.prompts import ChatPromptTemplate, PromptTemplate

        for field, template in (
            ("system_template", system_template),
            ("user_template", user_template),
        ):
            variables = set(PromptTemplate.from_template(template).input_variables)
            unknown = sorted(variables - TEMPLATE_VARIABLES)
            if unknown:
                raise ComponentConfigError(
                    Problem(
                        f"prompt_builder: {field} uses unknown variable(s) {unknown}; only "
                        "{context} and {question} are filled (write literal braces as {{ }})",
                        field=field,
                    )
                )
        for variable in ("{context}", "{question}"):
            if variable not in user_template:
                raise ComponentConfigError(
                    Problem(
                        f"prompt_builder: user_template must contain {variable}",
                        field="user_template",
                    )
                )
        self.system_template = system_template
        self.user_template = user_template
        self.max_passages = max_passages
        self.token_budget = token_budget
        self.tokenizer = tokenizer
        self.order = order
        self.min_score = min_score
        self.merge_overlaps = merge_overlaps
        self.max_question_tokens = max_question_tokens
        self.max_history_tokens = max_history_tokens
        turns = [("system", system_template)] if system_template else []
        self._template = ChatPromptTemplate.from_messages([*turns, ("human", user_template)])

    def warm_up(self) -> None:
        if self.tokenizer is not None:
            load_tokenizer(self.tokenizer)

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` in the configured tokenizer (whitespace words without one)."""
        if self.tokenizer is None:
            return len(text.split())
        return len(load_tokenizer(self.tokenizer)(text, add_special_tokens=False)["input_ids"])

    def check_question(self, question: str) -> None:
        """Refuse a question longer than `max_question_tokens`, naming both lengths."""
        if self.max_question_tokens is None:
            return
        length = self.count_tokens(question)
        if length > self.max_question_tokens:
            raise ValueError(
                f"the question is too long: {length} tokens, the limit is "
                f"{self.max_question_tokens} (prompt_builder max_question_tokens); "
                "shorten the question"
            )

    def _room(self, question: str, budget: int) -> int:
        """Tokens left for passages in `budget` after the template and the question."""
        template = self.count_tokens(
            self._template.invoke({"context": "", "question": ""}).to_string()
        )
        if budget - template < MIN_PASSAGE_TOKENS:
            raise ValueError(
                f"token_budget {budget} leaves {budget - template} tokens "
                f"for passages after the {template}-token prompt template; raise token_budget or "
                "shorten the template"
            )
        frame = self.count_tokens(
            self._template.invoke({"context": "", "question": question}).to_string()
        )
        room = budget - frame
        if room < MIN_PASSAGE_TOKENS:
            raise ValueError(
                f"the question is too long for token_budget {budget}: its {frame - template} "
                f"tokens leave {room} for passages (at least {MIN_PASSAGE_TOKENS} needed); "
                "shorten the question or raise token_budget"
            )
        return room

    def select(self, hits: list[Hit], question: str = "") -> list[Hit]:
        """The passages to show, in the order they will be numbered."""
        self.check_question(question)
        chosen = [h for h in hits if self.min_score is None or h.score >= self.min_score]
        if self.merge_overlaps:
            chosen = merge_overlapping(chosen)
        chosen = chosen[: self.max_passages]
        if self.token_budget is not None:
            chosen = fit_budget(chosen, self._room(question, self.token_budget), self.count_tokens)
        return lost_in_the_middle(chosen) if self.order == "lost_in_the_middle" else chosen

    def with_history(self, messages: list[Message], history: list[Message]) -> list[Message]:
        """`messages` (ragloom's system message, if any, then the current turn) with the
        conversation fitted in: client system texts after ragloom's, earlier turns before the
        current one, the oldest dropped beyond `max_history_tokens`."""
        if not history or self.max_history_tokens == 0:
            return messages
        fitted = fit_history(history, self.max_history_tokens, self.count_tokens)
        *head, turn = messages
        own = [m["content"] for m in head if m["role"] == "system"]
        system = "\n\n".join(text for text in [*own, *fitted.system] if text)
        leading = [{"role": "system", "content": system}] if system else []
        return [*leading, *fitted.turns, turn]

    @output_types(messages=list[dict[str, str]], prompt=str, hits=list[Hit])
    def run(
        self, question: str, hits: list[Hit], history: list[dict[str, str]] | None = None
    ) -> dict[str, Any]:
        from langchain_core.messages import convert_to_messages, get_buffer_string

        earlier = check_history(history) if history is not None else []
        shown = self.select(hits, question)
        context = format_passages(shown) if shown else NO_CONTEXT
        value = self._template.invoke({"question": question, "context": context})
        roles = {"system": "system", "human": "user", "ai": "assistant"}
        messages = [
            {"role": roles.get(m.type, m.type), "content": str(m.content)}
            for m in value.to_messages()
        ]
        messages = self.with_history(messages, earlier)
        prompt = get_buffer_string(convert_to_messages(messages))
        return {"messages": messages, "prompt": prompt, "hits": shown}
