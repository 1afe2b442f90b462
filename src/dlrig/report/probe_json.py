"""`dlrig probe --format json`: schema dlrig.probe/1."""

from __future__ import annotations

import json

from dlrig.probe.result import ProbeResult


def render(result: ProbeResult) -> str:
    return json.dumps(result.to_json_dict(), indent=2, ensure_ascii=False) + "\n"
