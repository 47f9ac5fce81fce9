"""Prompt building and answer generation (extractive now; local LLMs and endpoints plug in)."""

from ragloom.generation.base import TextGenerator
from ragloom.generation.extractive import ExtractiveAnswerer
from ragloom.generation.prompt import PromptBuilder

__all__ = ["ExtractiveAnswerer", "PromptBuilder", "TextGenerator"]
