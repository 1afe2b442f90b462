"""A vLLM decode row from before vLLM's CUDA graphs is another engine's run: kept, reported,
never fitted (points.VLLM_CUDA_GRAPHS_DATE)."""

from __future__ import annotations

import csv
from pathlib import Path

from dlrig.estimate import points

TABLE = Path(__file__).resolve().parents[2] / "src/dlrig/catalog/data/calibration_points.csv"


def _row(rid: str) -> dict[str, str]:
    with TABLE.open(newline="") as f:
        return next(r for r in csv.DictReader(f) if r["id"] == rid)


def test_a_vllm_decode_row_before_cuda_graphs_is_not_expressible():
    row = _row("vllm6955-l31-70b-awq-3090ti-tp2-c1")  # 2024-07: CUDA graphs on
    assert points.why_not(row) is None
    reason = points.why_not(dict(row, date="2023-10"))
    assert reason is not None and "CUDA graphs" in reason


def test_the_month_of_the_change_and_other_engines_stay_expressible():
    row = _row("vllm6955-l31-70b-awq-3090ti-tp2-c1")
    assert points.why_not(dict(row, date="2023-12")) is None  # merged mid-month: kept
    llama = _row("mlcbench-l2-70b-q4_0-llamacpp-row-4090x2")  # the same 2023 harness
    assert llama["date"] < points.VLLM_CUDA_GRAPHS_DATE
    assert points.why_not(llama) is None


def test_the_harness_rows_that_ran_eager_vllm_are_reported_not_fitted():
    for rid in ("mlcbench-l2-70b-awq-vllm-4090x2", "mlcbench-cl-34b-awq-vllm-4090x2"):
        assert "CUDA graphs" in (points.why_not(_row(rid)) or "")
