"""The dependency arrow: the core never imports UI, hardware or ML libraries."""

from __future__ import annotations

import subprocess
import sys

CORE = [
    "dlrig.model.load",
    "dlrig.catalog.resolve",
    "dlrig.rules",
    "dlrig.estimate",
    "dlrig.estimate.request",
    "dlrig.model.architecture",
    "dlrig.report.json",
    "dlrig.report.markdown",
]
FORBIDDEN = ["typer", "rich", "pynvml", "psutil", "torch", "click"]


def test_core_imports_no_ui_hardware_or_ml_library():
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in CORE)
        + f"bad = [m for m in {FORBIDDEN!r} if m in sys.modules]\n"
        + "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_estimate_and_rules_import_in_either_order():
    # rules.workload uses the estimator and the estimator uses rules.thresholds: no cycle.
    for first in ("dlrig.estimate", "dlrig.rules", "dlrig.estimate.job", "dlrig.rules.workload"):
        code = f"import {first}\nimport dlrig.estimate, dlrig.rules\nprint('ok')"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert out.stdout.strip() == "ok", out.stderr
