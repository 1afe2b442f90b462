"""Read a TOML build file into a validated `BuildFile`, or raise one clear `BuildFileError`."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dlrig.errors import BuildFileError
from dlrig.model.build import BuildFile
from dlrig.model.files import read_bounded
from dlrig.model.messages import toml_problem, validation_error
from dlrig.model.thresholds import (
    MAX_GPU_ENTRIES,
    MAX_GPU_SLOTS,
    MAX_GPUS_PER_NODE,
    MAX_STORAGE_ENTRIES,
    MAX_TABLE_ENTRIES,
)

# Largest build or prices file we read: real ones are a few KB (the guide's 2015 build: 1.3 KB;
# a prices file for the whole catalog: under 20 KB). 256 KiB is 100x that, and bounds the TOML
# parse (pure Python, ~0.2 s per MB) so a mistaken `dlrig check big.bin` or a file of 33 000
# [[gpus]] tables is refused at once.
MAX_FILE_BYTES = 256 * 1024


def read_build_file(path: str | Path) -> BuildFile:
    """Parse and validate `path`; every failure is a `BuildFileError` naming file and key."""
    return parse_build(read_toml(path, "a TOML build file"), str(path))


def read_toml(path: str | Path, kind: str) -> dict[str, Any]:
    """A small TOML file (a build file, a prices file) as a dict, or one `BuildFileError`."""
    shown = str(path)
    return parse_toml_text(_read_text(Path(path), shown, kind), shown)


def parse_toml_text(text: str, shown: str) -> dict[str, Any]:
    """TOML text (a file's, or one pasted into `dlrig serve`'s page) as a bounded dict."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise BuildFileError(
            shown, "", f"larger than {MAX_FILE_BYTES // 1024} KiB; not a build file"
        )
    if "\x00" in text:
        raise BuildFileError(shown, "", "binary content; expected a UTF-8 TOML text file")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BuildFileError(shown, "", toml_problem(str(exc), text)) from None
    except RecursionError:
        raise BuildFileError(shown, "", "not valid TOML: nested too deeply") from None
    _list_bounds(data, shown)  # first: a cheap len() each, before any walk over the data
    _bounded(data, shown, "")
    _no_control_characters(data, shown, "")
    return data


def parse_build(data: dict[str, Any], shown: str = "<build>") -> BuildFile:
    """Validate an already-parsed TOML document."""
    if not data:
        raise BuildFileError(shown, "", _EMPTY)
    if set(data) <= {"name"}:
        raise BuildFileError(shown, "", _EMPTY)
    _list_bounds(data, shown)
    _bounded(data, shown, "")
    _no_control_characters(data, shown, "")
    try:
        return BuildFile.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, shown) from None


# Lists a build file may hold, bounded by what one machine can hold (model/thresholds.py):
# checked before validation so oversized input is refused at once, whatever it contains.
_LIST_BOUNDS = {
    "gpus": MAX_GPU_ENTRIES,
    "storage": MAX_STORAGE_ENTRIES,
    "motherboard.gpu_slot_lanes": MAX_GPU_SLOTS,
}
_LIST_WHAT = {
    "gpus": f"[[gpus]] tables (one node holds at most {MAX_GPUS_PER_NODE} GPUs)",
    "storage": "[[storage]] tables (drives one chassis holds)",
    "motherboard.gpu_slot_lanes": "slots (a board's expansion slots)",
}


def _list_bounds(data: dict[str, Any], shown: str) -> None:
    for key, bound in _LIST_BOUNDS.items():
        section, _, field = key.partition(".")
        value = data.get(section)
        if field and isinstance(value, dict):
            value = value.get(field)
        if isinstance(value, list) and len(value) > bound:
            raise BuildFileError(
                shown, key, f"expected at most {bound} {_LIST_WHAT[key]}, got {len(value)}"
            )


def _bounded(value: Any, shown: str, key: str) -> None:
    """No table or array in an input file longer than `MAX_TABLE_ENTRIES`."""
    if isinstance(value, dict | list):
        precise = isinstance(value, list) and key in _LIST_BOUNDS  # parse_build says more
        if len(value) > MAX_TABLE_ENTRIES and not precise:
            what = "keys" if isinstance(value, dict) else "entries"
            raise BuildFileError(
                shown, key, f"expected at most {MAX_TABLE_ENTRIES} {what}, got {len(value)}"
            )
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for k, v in items:
            if isinstance(v, dict | list):
                sub = (
                    f"{key}[{k}]" if isinstance(value, list) else (f"{key}.{k}" if key else str(k))
                )
                _bounded(v, shown, sub)


def _no_control_characters(value: Any, shown: str, key: str) -> None:
    """Names end up in terminal reports: an escape sequence in one could rewrite the screen."""
    if isinstance(value, str):
        bad = next((ch for ch in value if not ch.isprintable()), None)
        if bad is not None:
            code = bad.encode("unicode_escape").decode()
            raise BuildFileError(shown, key, f"control character {code} in a string; expected text")
    elif isinstance(value, dict):
        for k, v in value.items():
            _no_control_characters(v, shown, f"{key}.{k}" if key else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _no_control_characters(v, shown, f"{key}[{i}]")


_EMPTY = (
    "no build sections; expected at least one of [cpu], [memory], [[gpus]], [motherboard], "
    "[psu], [[storage]], [case], [power], [workload]"
)


def _read_text(path: Path, shown: str, kind: str) -> str:
    raw = read_bounded(path, shown, MAX_FILE_BYTES, kind)
    if b"\x00" in raw:
        raise BuildFileError(shown, "", "binary content; expected a UTF-8 TOML text file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BuildFileError(
            shown, "", f"not UTF-8 text (byte {exc.start}); expected a UTF-8 TOML file"
        ) from None
    return text.removeprefix("\ufeff")  # editors on Windows may start the file with a BOM
