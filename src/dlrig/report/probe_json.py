"""`dlrig probe --format json`: schema dlrig.probe/1."""

from __future__ import annotations

from dlrig.probe.result import ProbeResult
from dlrig.report.json import dumps


def render(result: ProbeResult) -> str:
    return dumps(result.to_json_dict())
