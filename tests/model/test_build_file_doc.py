"""docs/build-file.md documents every key the build file accepts, and its examples parse."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel

from dlrig.model.build import BuildFile

DOC = Path(__file__).resolve().parents[2] / "docs" / "build-file.md"


def _models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models(arg)]


def _keys(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[str]:
    out: set[str] = set()
    for name, field in model.model_fields.items():
        out.add(name)
        for sub in _models(field.annotation):
            if sub not in seen:
                seen.add(sub)
                out |= _keys(sub, seen)
    return out


def test_every_build_file_key_is_documented():
    text = DOC.read_text()
    documented = set(re.findall(r"`([a-z_0-9]+)`", text)) | set(
        re.findall(r"^\s*([a-z_0-9]+)\s*=", text, re.M)
    )
    documented |= set(re.findall(r"\{ ?([a-z_0-9]+) =", text))
    documented |= set(re.findall(r", ([a-z_0-9]+) =", text))
    documented |= set(re.findall(r"`\[\[?([a-z_0-9]+)\]?\]`", text))
    missing = _keys(BuildFile, set()) - documented
    assert not missing, f"undocumented build-file keys: {sorted(missing)}"


def test_the_docs_toml_blocks_are_valid_toml():
    blocks = re.findall(r"```toml\n(.*?)```", DOC.read_text(), re.S)
    assert blocks
    for block in blocks:
        tomllib.loads(block)
