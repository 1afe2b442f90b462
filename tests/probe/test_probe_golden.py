"""Golden output of the probe renderers for a fixed result (the x4-link scenario on a fixed
host), and of the build file written from it.

Regenerate after an intended change with:
    DLRIG_UPDATE_GOLDEN=1 python -m pytest tests/probe -q
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from dlrig.probe.findings import probe_findings
from dlrig.probe.models import PROBE_SCHEMA
from dlrig.probe.result import ProbeResult
from dlrig.probe.to_build import to_build_toml
from dlrig.report import probe_json, probe_terminal
from probe_helpers import result_for

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def fixed_result() -> ProbeResult:
    r = result_for("x4-link")
    r.findings = probe_findings(r)
    r.duration_s = 2.5
    return r


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("DLRIG_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed; see module docstring"


def test_terminal_golden():
    assert_golden(
        "probe-x4-link.txt", probe_terminal.render(fixed_result(), color=False, host="box")
    )


def test_json_golden():
    text = probe_json.render(fixed_result())
    assert json.loads(text)["schema"] == PROBE_SCHEMA
    assert_golden("probe-x4-link.json", text)


def test_build_file_golden():
    assert_golden("probe-x4-link.toml", to_build_toml(fixed_result(), host="box"))
