"""Read a TOML build file into a validated `BuildFile`, or raise one clear `BuildFileError`."""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from dlrig.errors import BuildFileError
from dlrig.model.build import BuildFile

# Largest build file we read: real ones are a few KB; this stops a mistaken `dlrig check big.bin`.
MAX_FILE_BYTES = 1_000_000


def read_build_file(path: str | Path) -> BuildFile:
    """Parse and validate `path`; every failure is a `BuildFileError` naming file and key."""
    shown = str(path)
    text = _read_text(Path(path), shown)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BuildFileError(shown, "", f"not valid TOML: {exc}") from None
    return parse_build(data, shown)


def parse_build(data: dict[str, Any], shown: str = "<build>") -> BuildFile:
    """Validate an already-parsed TOML document."""
    if not data:
        raise BuildFileError(shown, "", _EMPTY)
    if set(data) <= {"name"}:
        raise BuildFileError(shown, "", _EMPTY)
    try:
        return BuildFile.model_validate(data)
    except ValidationError as exc:
        raise _to_build_error(exc, shown) from None


_EMPTY = (
    "no build sections; expected at least one of [cpu], [memory], [[gpus]], [motherboard], "
    "[psu], [[storage]], [case], [power], [workload]"
)


def _read_text(path: Path, shown: str) -> str:
    if not path.exists():
        raise BuildFileError(shown, "", "file not found")
    if path.is_dir():
        raise BuildFileError(shown, "", "is a directory; expected a TOML build file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BuildFileError(shown, "", f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise BuildFileError(shown, "", f"{len(raw)} bytes is too large for a build file")
    if b"\x00" in raw:
        raise BuildFileError(shown, "", "binary content; expected a UTF-8 TOML text file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BuildFileError(
            shown, "", f"not UTF-8 text (byte {exc.start}); expected a UTF-8 TOML file"
        ) from None


def _key(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The pydantic model that owns the last key of `loc` (for 'did you mean' on unknown keys)."""
    model: type[BaseModel] = BuildFile
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        sub = _find_model(field.annotation)
        if sub is None:
            return None
        model = sub
    return model


def _find_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) is not None or get_args(annotation):
        for arg in get_args(annotation):
            found = _find_model(arg)
            if found is not None:
                return found
    return None


def _describe(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required key is missing"
    msg = str(error["msg"])
    msg = msg.replace("Input should be", "expected").replace("Input should have", "expected")
    got = error.get("input")
    if isinstance(got, dict):
        return f"{msg}, got a table"
    if isinstance(got, list):
        return f"{msg}, got an array"
    return f"{msg}, got {got!r}"


def _to_build_error(exc: ValidationError, shown: str) -> BuildFileError:
    errors = exc.errors()
    first = errors[0]
    loc = tuple(first["loc"])
    key = _key(loc)
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    extra = more if len(errors) > 1 else ""
    if first["type"] == "extra_forbidden":
        owner = _model_at(loc)
        known = sorted(owner.model_fields) if owner else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=3, cutoff=0.5)
        expected = f"; expected one of: {', '.join(known)}" if known and not close else ""
        return BuildFileError(shown, key, f"unknown key{expected}{extra}", close)
    return BuildFileError(shown, key, _describe(first) + extra)
