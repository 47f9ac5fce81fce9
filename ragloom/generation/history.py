"""The conversation before the current question, checked and fitted into a token budget.

A chat client sends earlier turns (user and assistant messages) and system messages with its
question. `fit_history` keeps every system message and the most recent turns that fit the
budget: when the conversation is over it, the oldest turns are dropped first (whole turns,
never a part of one), so the prompt stays bounded however long the conversation grows.

Example::

    history = check_history([{"role": "user", "content": "What is BM25?"},
                             {"role": "assistant", "content": "A ranking function [1]."}])
    fitted = fit_history(history, budget=512, count=lambda text: len(text.split()))
    fitted.system, fitted.turns, fitted.dropped   # [], both turns, 0
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ragloom.generation.base import Message

ROLES = ("system", "user", "assistant")
#: Tokens a chat template adds around each message (role markers), counted with its content.
PER_MESSAGE_OVERHEAD = 4


def check_history(history: Any) -> list[Message]:
    """`history` as a list of {role, content} messages, or a ValueError naming the bad item."""
    if not isinstance(history, list):
        raise ValueError(f"history must be a list of messages, got {type(history).__name__}")
    checked: list[Message] = []
    for n, message in enumerate(history):
        if not isinstance(message, dict):
            raise ValueError(
                f"history[{n}] must be a {{role, content}} mapping, got {type(message).__name__}"
            )
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise ValueError(f"history[{n}]: role {role!r} is not one of {', '.join(ROLES)}")
        if not isinstance(content, str):
            raise ValueError(f"history[{n}]: content must be text, got {type(content).__name__}")
        checked.append({"role": role, "content": content})
    return checked


@dataclass(frozen=True)
class FittedHistory:
    """What of a conversation goes into the prompt: system texts, the kept turns, and how
    many of the oldest turns were dropped to fit the budget."""

    system: list[str]
    turns: list[Message]
    dropped: int


def fit_history(
    history: Sequence[Message], budget: int, count: Callable[[str], int]
) -> FittedHistory:
    """Every system message, then the newest user/assistant turns within `budget` tokens.

    System messages are the client's instructions: they are kept whole and counted first; if
    they alone exceed `budget`, that is a ValueError (shorten them or raise the budget). The
    turns are walked newest first and kept until one does not fit; it and all older turns are
    dropped, so the kept turns are always the most recent stretch of the conversation, and it
    never opens with an assistant turn (the reply to a question no longer shown is dropped).
    """
    system = [m["content"] for m in history if m["role"] == "system" and m["content"].strip()]
    used = sum(count(text) + PER_MESSAGE_OVERHEAD for text in system)
    if used > budget:
        raise ValueError(
            f"the system messages are too long: {used} tokens, the limit is {budget} "
            "(prompt_builder max_history_tokens); shorten them"
        )
    turns = [m for m in history if m["role"] != "system"]
    kept: list[Message] = []
    for message in reversed(turns):
        cost = count(message["content"]) + PER_MESSAGE_OVERHEAD
        if used + cost > budget:
            break
        kept.append(message)
        used += cost
    while kept and kept[-1]["role"] == "assistant":
        kept.pop()
    return FittedHistory(system, kept[::-1], len(turns) - len(kept))
