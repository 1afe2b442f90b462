"""Test helpers: build a resolved Build from a plain dict, find findings by id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dlrig.catalog.resolve import resolve
from dlrig.model.build import Build
from dlrig.model.finding import Finding
from dlrig.model.load import parse_build
from dlrig.model.report import CheckReport
from dlrig.rules import check

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def make_build(data: dict[str, Any]) -> Build:
    return resolve(parse_build(data, "test.toml"), "test.toml")


def run_check(data: dict[str, Any]) -> CheckReport:
    return check(make_build(data))


def findings(report: CheckReport, rule_id: str) -> list[Finding]:
    return [f for f in report.findings if f.id == rule_id]


def one(report: CheckReport, rule_id: str) -> Finding:
    found = findings(report, rule_id)
    assert len(found) == 1, f"{rule_id}: {found}"
    return found[0]


def skipped(report: CheckReport) -> set[str]:
    return {s.rule for s in report.skipped}
