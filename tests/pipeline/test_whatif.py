"""The verdict and the what-if model on hand-computable numbers."""

from __future__ import annotations

import pytest

from dlrig.model.thresholds import INPUT_BOUND_FRACTION, MODERATE_INPUT_BOUND_FRACTION
from dlrig.pipeline.whatif import (
    Loop,
    Stages,
    Verdict,
    bottleneck,
    classify,
    disagreement,
    model_step_s,
    predict_decode,
    predict_pinned,
    predict_prefetch,
    predict_storage,
    predict_workers,
    predictions,
    top,
)

approx = pytest.approx


@pytest.mark.parametrize(
    ("fraction", "verdict"),
    [
        (0.0, Verdict.COMPUTE_BOUND),
        (0.049, Verdict.COMPUTE_BOUND),
        (0.05, Verdict.MODERATELY_INPUT_BOUND),
        (0.199, Verdict.MODERATELY_INPUT_BOUND),
        (0.20, Verdict.INPUT_BOUND),
        (1.0, Verdict.INPUT_BOUND),
    ],
)
def test_classify_uses_the_tf_profiler_thresholds(fraction, verdict):
    assert (MODERATE_INPUT_BOUND_FRACTION, INPUT_BOUND_FRACTION) == (0.05, 0.20)
    assert classify(fraction) == verdict


def test_loops():
    s = Stages(load_s=0.02, compute_s=0.03, h2d_s=0.005)
    assert model_step_s(s) == approx(0.055)  # serial: sum
    assert model_step_s(Stages(0.02, 0.03, 0.005, loop=Loop.ASYNC_LOAD)) == approx(0.035)
    assert model_step_s(Stages(0.02, 0.03, 0.005, loop=Loop.PREFETCHED)) == approx(0.03)


def test_prefetch_turns_the_sum_into_the_max():
    p = predict_prefetch(Stages(load_s=0.02, compute_s=0.03))
    assert p.applicable and p.step_s == approx(0.03) and p.gain == approx(0.05 / 0.03)
    assert len(p.assumptions) == 1  # no copy on the CPU: nothing said about pinned memory
    gpu = predict_prefetch(Stages(load_s=0.01, compute_s=0.02, h2d_s=0.01, h2d_pinned_s=0.004))
    assert gpu.step_s == approx(0.02) and gpu.gain == approx(2.0)
    assert any("pinned" in a for a in gpu.assumptions)
    done = predict_prefetch(Stages(0.02, 0.03, loop=Loop.PREFETCHED))
    assert not done.applicable and "already" in done.reason


def test_more_workers_scale_the_per_core_rate_up_to_the_cores():
    s = Stages(load_s=0.04, compute_s=0.01, workers=1, loop=Loop.ASYNC_LOAD, cores_available=5)
    p = predict_workers(s)
    # 4 workers (5 cores - 1 for training): 0.04 s per batch per worker / 4 = 0.01 s
    assert p.applicable and p.step_s == approx(0.01) and p.gain == approx(4.0)
    assert any("4 worker(s)" in a for a in p.assumptions)
    assert not predict_workers(Stages(0.04, 0.01, workers=4, cores_available=5)).applicable
    assert "unknown" in predict_workers(Stages(0.04, 0.01)).reason


def test_serial_loop_gets_background_loading_from_its_first_worker():
    p = predict_workers(Stages(load_s=0.02, compute_s=0.03, workers=0, cores_available=2))
    assert p.step_s == approx(0.03)  # 1 worker: max(0.02, 0.03)


def disk_stages(**kw) -> Stages:
    # 20 MB per batch at 500 MB/s = 0.04 s of reading; 2 workers take 0.05 s per batch in all,
    # so one worker spends 2 x 0.05 - 0.04 = 0.06 s preparing.
    base = dict(
        load_s=0.05,
        compute_s=0.01,
        workers=2,
        loop=Loop.ASYNC_LOAD,
        cores_available=9,
        bytes_per_batch=20e6,
        disk_read_mbs=500,
        dataset_bytes=10e9,
        available_ram_bytes=20e9,
    )
    return Stages(**{**base, **kw})


def test_disk_arithmetic():
    s = disk_stages()
    assert s.read_s == approx(0.04) and s.prep1_s == approx(0.06)
    assert model_step_s(s) == approx(0.05)
    assert bottleneck(s) == "loader"
    assert bottleneck(disk_stages(load_s=0.04, workers=4)) == "disk"


def test_workers_are_capped_by_the_disk():
    p = predict_workers(disk_stages())
    # 8 workers: max((0.06 + 0.04) / 8, 0.04) = 0.04
    assert p.step_s == approx(0.04) and p.gain == approx(1.25)
    assert any("disk" in a for a in p.assumptions)


def test_cache_in_ram_when_the_dataset_fits():
    p = predict_storage(disk_stages())
    # no reads: 0.06 / 2 workers = 0.03 s per batch
    assert p.fix == "cache" and p.step_s == approx(0.03) and p.gain == approx(0.05 / 0.03)
    assert "fits" in p.assumptions[0]


def test_faster_disk_when_the_dataset_does_not_fit():
    assert not predict_storage(disk_stages(dataset_bytes=30e9)).applicable
    assert "does not fit" in predict_storage(disk_stages(dataset_bytes=30e9)).reason
    p = predict_storage(disk_stages(dataset_bytes=30e9, faster_disk_read_mbs=2000))
    # 20 MB at 2000 MB/s = 0.01 s; (0.06 + 0.01) / 2 = 0.035 s
    assert p.fix == "faster-disk" and p.step_s == approx(0.035)
    assert not predict_storage(Stages(0.05, 0.01)).applicable
    assert "unknown" in predict_storage(disk_stages(dataset_bytes=None)).reason


def test_cheaper_decode():
    p = predict_decode(disk_stages())
    # all 0.06 s of preparation is decode, halved: (0.03 + 0.04) / 2 = 0.035 s
    assert p.step_s == approx(0.035)
    assert any("not measured" in a for a in p.assumptions)
    half = predict_decode(disk_stages(decode_share=0.5))
    # 0.06 x (0.5 + 0.25) = 0.045; (0.045 + 0.04) / 2 = 0.0425
    assert half.step_s == approx(0.0425)


def test_pinned_memory():
    p = predict_pinned(Stages(load_s=0.01, compute_s=0.02, h2d_s=0.01, h2d_pinned_s=0.004))
    assert p.step_s == approx(0.034) and p.gain == approx(0.04 / 0.034)
    assert not predict_pinned(Stages(0.01, 0.02)).applicable  # CPU: no copy
    assert not predict_pinned(Stages(0.01, 0.02, h2d_s=0.004, h2d_pinned_s=0.004)).applicable


def test_top_is_the_largest_applicable_gain():
    s = Stages(load_s=0.01, compute_s=0.02, h2d_s=0.01, h2d_pinned_s=0.004, cores_available=2)
    preds = predictions(s)
    assert [p.fix for p in preds] == ["prefetch", "workers", "pinned", "cache", "decode"]
    best = top(preds)
    assert best is not None and best.fix == "prefetch" and best.gain == approx(2.0)
    assert top([p for p in preds if not p.applicable]) is None


@pytest.mark.parametrize(
    ("verdict", "expected"),
    [
        (Verdict.INPUT_BOUND, "loader"),
        (Verdict.MODERATELY_INPUT_BOUND, "loader"),
        (Verdict.COMPUTE_BOUND, "compute"),
    ],
)
def test_bottleneck_agrees_with_the_measured_verdict(verdict, expected):
    """Issue 16: a run printed "input-bound" then "bottleneck: compute". Timed alone, the loader
    (20 ms with 2 workers) beats compute (30 ms); in the loop, input waited anyway."""
    s = Stages(load_s=0.02, compute_s=0.03, loop=Loop.ASYNC_LOAD, workers=2)
    assert bottleneck(s) == "compute"  # the stages alone
    assert bottleneck(s, verdict) == expected
    note = disagreement(s, verdict)
    assert (note is None) == (verdict == Verdict.COMPUTE_BOUND)
    if note:
        assert "input side" in note


def test_rendered_profile_names_one_verdict():
    from dataclasses import replace

    from dlrig.pipeline.result import PipelineReport
    from dlrig.report.pipeline import render_profile

    s = Stages(load_s=0.02, compute_s=0.03, loop=Loop.ASYNC_LOAD, workers=2)
    verdict = classify(0.4)
    report = PipelineReport(
        device="cpu", loop="async-load", steps=10, step_s=0.05, wait_s=0.02, wait_p95_s=0.02,
        h2d_s=0.0, compute_s=0.03, input_fraction=0.4, verdict=verdict, stages=s,
        bottleneck=bottleneck(s, verdict), notes=[n for n in [disagreement(s, verdict)] if n],
    )  # fmt: skip
    text = render_profile(report)
    assert "input-bound" in text and "bottleneck: loader" in text
    assert "bottleneck: compute" not in text
    assert "compute-bound" not in render_profile(replace(report, notes=[]))
