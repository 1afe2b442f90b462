"""`--format json`: schema dlrig.check/1; and `dumps`, the one JSON writer every JSON output uses.

Strict JSON only (RFC 8259): `NaN`, `Infinity` and `-Infinity` are not JSON, and `jq`, browsers
and most parsers reject them. A non-finite number becomes `null`, and the object holding it gets
the reason under `"unavailable"` (the probe's convention: field name -> why), so a consumer can
tell "unknown" from "zero". Control characters and invisible format characters inside strings
are written as `\\uXXXX` escapes (json escapes C0 itself; C1 and bidi controls it would pass).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from dlrig.model.report import CheckReport
from dlrig.model.text import UNSAFE_CHARS

_UNSAFE = re.compile(f"[{UNSAFE_CHARS}]")


def _finite(value: Any) -> Any:
    """`value` with every NaN/inf replaced by None (and said in the enclosing object)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        reasons: dict[str, str] = {}
        for k, v in value.items():
            if isinstance(v, float) and not math.isfinite(v):
                reasons[str(k)] = f"not a finite number ({v!r}): no meaningful value"
            out[k] = _finite(v)
        if reasons:
            previous = out.get("unavailable")
            if previous is None or isinstance(previous, dict):
                out["unavailable"] = {**reasons, **(previous or {})}
        return out
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def dumps(data: Any, *, indent: int | None = 2) -> str:
    """`data` as strict JSON text ending in a newline (see the module docstring)."""
    text = json.dumps(_finite(data), indent=indent, ensure_ascii=False, allow_nan=False)
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"


def render(report: CheckReport, *, color: bool = False) -> str:
    return dumps(report.to_json_dict())
