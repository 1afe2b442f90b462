"""Golden terminal and JSON output for the profiler report and the bench, from fixed numbers.

Regenerate after an intended change: DLRIG_UPDATE_GOLDEN=1 python -m pytest tests/pipeline
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from dlrig.pipeline.bench import BenchParams, BenchResult, Check
from dlrig.pipeline.result import PipelineReport
from dlrig.pipeline.whatif import Loop, Stages, bottleneck, classify, model_step_s, predictions
from dlrig.report.pipeline import bench_json, render_bench, render_profile

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("DLRIG_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed; see module docstring"


def fixed_report() -> PipelineReport:
    stages = Stages(
        load_s=0.05,
        compute_s=0.03,
        h2d_s=0.01,
        h2d_pinned_s=0.004,
        loop=Loop.ASYNC_LOAD,
        workers=2,
        cores_available=8,
        bytes_per_batch=20e6,
        disk_read_mbs=1000,
        dataset_bytes=50e9,
        available_ram_bytes=100e9,
    )
    fraction = 0.02 / 0.05
    return PipelineReport(
        device="cuda:0",
        loop=str(stages.loop),
        steps=200,
        step_s=0.05,
        wait_s=0.01,
        wait_p95_s=0.02,
        h2d_s=0.01,
        compute_s=0.03,
        input_fraction=fraction,
        verdict=classify(fraction),
        gpu_util_pct=61.5,
        stages=stages,
        model_step_s=model_step_s(stages),
        bottleneck=bottleneck(stages, classify(fraction)),
        predictions=predictions(stages),
    )


def test_profile_table_golden():
    text = render_profile(fixed_report())
    assert_golden("pipeline-profile.txt", text)
    assert "verdict: input-bound — 40.0% of each step waits on input (>= 20 %)" in text


def test_bench_table_and_json_golden():
    result = BenchResult(
        params=BenchParams(load_ms=20, compute_ms=30, steps=100),
        plain_step_s=0.0505,
        prefetched_step_s=0.0302,
        profile=fixed_report(),
        checks=[Check("prefetch", "Prefetch (load and copy beside compute)", 0.03, 0.0302)],
    )
    assert_golden("pipeline-bench.txt", render_bench(result))
    text = bench_json(result)
    assert_golden("pipeline-bench.json", text)
    d = json.loads(text)
    assert d["ratios"]["prefetched_vs_ideal"] == 0.03 / 0.0302
    assert d["checks"][0]["error"] == 0.0302 / 0.03 - 1
