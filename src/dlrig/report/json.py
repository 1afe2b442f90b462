"""`--format json`: schema dlrig.check/1."""

from __future__ import annotations

import json

from dlrig.model.report import CheckReport


def render(report: CheckReport, *, color: bool = False) -> str:
    return json.dumps(report.to_json_dict(), indent=2, ensure_ascii=False) + "\n"
