"""Pydantic models: parts, Build, Finding; TOML loading and validation."""

from typing import Any


def empty_list() -> list[Any]:
    """The default of a list field: `Field(default_factory=empty_list)`. A Python function rather
    than the `list` type, whose signature pydantic reads at class creation through `inspect`'s
    text-signature parser, which compiles the tokenizer's regular expressions on first use (a few
    ms of every `dlrig check`'s start-up, issue 16)."""
    return []
