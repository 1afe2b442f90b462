"""Renderers: golden output for the guide's build, and structure for every example.

Regenerate the golden files after an intended change with:
    DLRIG_UPDATE_GOLDEN=1 python -m pytest tests/report -q
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from dlrig.catalog.resolve import resolve
from dlrig.model.load import read_build_file
from dlrig.model.report import CHECK_SCHEMA, CheckReport
from dlrig.report.interface import renderer
from dlrig.rules import check
from helpers import EXAMPLES

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def report_for(path: Path) -> CheckReport:
    return check(resolve(read_build_file(path), path.name))


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("DLRIG_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed; see module docstring"


@pytest.mark.parametrize(
    ("fmt", "suffix"), [("terminal", "txt"), ("markdown", "md"), ("json", "json")]
)
def test_guide_build_golden(fmt, suffix):
    text = renderer(fmt)(report_for(EXAMPLES / "guide-2015-4gpu.toml"), color=False)
    assert_golden(f"guide-2015-4gpu.{suffix}", text)


@pytest.mark.parametrize(
    "example",
    sorted(
        p for p in EXAMPLES.glob("*.toml") if not p.name.startswith("cluster-")
    ),  # tests/cluster
    ids=lambda p: p.stem,
)
def test_every_finding_and_skip_appears_in_every_format(example):
    report = report_for(example)
    terminal = renderer("terminal")(report, color=False)
    markdown = renderer("markdown")(report)
    data = json.loads(renderer("json")(report))
    for f in report.findings:
        assert f.id in terminal and f.message.split(".")[0][:40] in terminal.replace("\n", " ")
        assert f"`{f.id}`" in markdown and f.message in markdown
    for s in report.skipped:
        assert s.rule in terminal and s.rule in markdown
    assert data["schema"] == CHECK_SCHEMA
    assert len(data["findings"]) == len(report.findings)
    assert data["summary"]["errors"] == report.summary().errors
    assert [s["rule"] for s in data["summary"]["skipped"]] == [s.rule for s in report.skipped]


def test_json_findings_carry_every_field_and_numbers_with_units():
    data = json.loads(renderer("json")(report_for(EXAMPLES / "guide-2015-4gpu.toml")))
    for f in data["findings"]:
        assert {"id", "severity", "title", "message", "why", "fix", "numbers", "source"} <= set(f)
        for q in f["numbers"].values():
            assert set(q) == {"value", "unit"}
    disk = next(f for f in data["findings"] if f["id"] == "disk-throughput")
    assert disk["numbers"]["required_mbs"] == {"value": 187.7333, "unit": "MB/s"}
    # The build comes back resolved, with the catalog's values.
    gpu = data["build"]["gpus"][0]
    assert gpu["spec"]["name"] == "GeForce GTX Titan X" and gpu["power_w"] == 250


def test_json_orders_findings_errors_first():
    data = json.loads(renderer("json")(report_for(EXAMPLES / "guide-2015-4gpu.toml")))
    ranks = {"error": 0, "warning": 1, "info": 2, "ok": 3}
    order = [ranks[f["severity"]] for f in data["findings"]]
    assert order == sorted(order)


def test_terminal_colour_is_only_added_when_asked():
    report = report_for(EXAMPLES / "guide-2015-4gpu.toml")
    plain = renderer("terminal")(report, color=False)
    coloured = renderer("terminal")(report, color=True)
    assert "\x1b[" not in plain and "\x1b[" in coloured
    assert ANSI.sub("", coloured).split() == plain.split()


def test_terminal_ends_with_the_summary_line():
    text = renderer("terminal")(report_for(EXAMPLES / "guide-2015-4gpu.toml"), color=False)
    assert text.rstrip().splitlines()[-1] == "1 error, 3 warnings, 8 info, 10 ok, 11 skipped"
