"""The issue's relations, on the shipped fitted constants (behaviour, not timing: every number
here is the estimator's, nothing is measured)."""

from __future__ import annotations

import pytest

from dlrig.catalog.lookup import find_model
from dlrig.estimate.job import throughput
from estimate_helpers import job

LLAMA = "llama-3.1-8b"
LORA = dict(task="lora", batch_size=2, seq_len=2048, checkpointing=True)


def test_two_gpus_at_a_fixed_global_batch_are_never_slower():
    m = find_model(LLAMA)
    for gpu in ("RTX 5090", "RTX 3090", "RTX 4090"):
        one = throughput(m, job(gpu, grad_accum=16, **LORA))
        two = throughput(m, job(gpu, n_gpus=2, grad_accum=8, **LORA))
        assert two.tokens_per_s >= one.tokens_per_s, gpu
        # Without accumulation the all-reduce is paid every micro-step: never better.
        no_accum = throughput(m, job(gpu, n_gpus=2, grad_accum=1, **LORA))
        assert no_accum.tokens_per_s <= two.tokens_per_s


@pytest.mark.parametrize("engine", ["llama.cpp", "exllamav2"])
def test_two_rtx3090_70b_int4_decode_lands_in_the_published_band(engine):
    # Published: 14-18 tok/s (layers split across the two cards, the engines' default).
    t = throughput(
        find_model("llama-2-70b"),
        job("RTX 3090", task="infer", n_gpus=2, quant="int4", context=512, engine=engine),
    )
    assert "layers split over 2 GPUs" in t.link
    assert t.interval is not None
    assert t.interval.low <= 18 and (t.interval.high is None or t.interval.high >= 14)


def test_tensor_parallel_decode_over_pcie_is_less_than_linear():
    m = find_model("llama-2-70b")
    kw = dict(task="infer", quant="int4", context=512, engine="vllm")
    one = throughput(m, job("A100 80GB PCIe", **kw))
    two = throughput(m, job("A100 80GB PCIe", n_gpus=2, tp=2, interconnect="pcie", **kw))
    assert one.tokens_per_s < two.tokens_per_s < 2 * one.tokens_per_s
    assert two.allreduce_time_s > 0


def test_checkpointing_costs_time_and_bf16_is_faster_than_fp32():
    m = find_model(LLAMA)
    plain = throughput(m, job("RTX 4090", task="lora", batch_size=1, seq_len=1024))
    ckpt = throughput(
        m, job("RTX 4090", task="lora", batch_size=1, seq_len=1024, checkpointing=True)
    )
    assert ckpt.tokens_per_s < plain.tokens_per_s
    fp32 = throughput(find_model("gpt2"), job("RTX 4090", precision="fp32", batch_size=4))
    bf16 = throughput(find_model("gpt2"), job("RTX 4090", precision="bf16", batch_size=4))
    assert bf16.tokens_per_s > fp32.tokens_per_s


def test_rtx4090_over_rtx3090_resnet50_training_matches_lambdas_published_ratio():
    # NCHW, as Lambda's published runs (main.py's default memory format): the layout transposes
    # stream through DRAM, where the RTX 4090 is barely faster than the RTX 3090 (each card at
    # its measured streaming fraction, estimate/stream.py). Lambda's own runs put the pair at
    # 1301/905 = 1.44x in fp16 and 1363/979 = 1.39x in fp32: at the floor of the issue's
    # 1.4-2.0x band, which came from language-model training (the tests below). So ResNet-50
    # is held to the published ratio of the same workload, within 5 %; it reads 1.40x with the
    # streaming table's 12 device-benchmarks rows in (calibrate.py's relations line).
    import csv
    from pathlib import Path

    points = Path(__file__).resolve().parents[2] / "src/dlrig/catalog/data/calibration_points.csv"
    value = {r["id"]: float(r["value"]) for r in csv.DictReader(points.open())}
    published = value["lambda-resnet50-4090x1-fp16"] / value["lambda-resnet50-3090x1-fp16"]
    m = find_model("resnet50")
    kw = dict(precision="fp16", batch_size=256, memory_format="nchw")
    fast = throughput(m, job("RTX 4090", **kw)).samples_per_s
    slow = throughput(m, job("RTX 3090", **kw)).samples_per_s
    assert published == pytest.approx(1.44, abs=0.01)
    assert fast / slow == pytest.approx(published, rel=0.05)


def test_rtx4090_over_rtx3090_training_is_1_4_to_2x():
    """Ada has one training source (Lambda), so it takes its family's efficiency and the ratio
    is physics: 2.17x the measured GEMM roof (catalog/data/matmul_rates.csv; 2.33x the
    datasheet), moderated by what runs at DRAM bandwidth (1.08x): the
    element-wise ops counted op by op (elementwise.py: norms, GELU, residual adds, dropout and
    eager attention's score matrices) and the optimizer step. (benchmarks/calibrate.py prints
    the ratio under "relations".)"""
    for model, kw in (
        # eager attention, as the published (Lambda, DeepLearningExamples run_squad.py) runs
        ("bert-large", dict(precision="fp16", batch_size=28, seq_len=384, attention="eager")),
    ):
        m = find_model(model)
        fast = throughput(m, job("RTX 4090", **kw)).samples_per_s
        slow = throughput(m, job("RTX 3090", **kw)).samples_per_s
        assert 1.4 <= fast / slow <= 2.0, model


def test_no_published_completed_run_is_called_does_not_fit():
    """The issue's relation, over every calibration row: the saved report (which
    tests/test_readme.py keeps equal to a fresh `benchmarks/calibrate.py`) counts none."""
    import re
    from pathlib import Path

    report = Path(__file__).resolve().parents[2] / "benchmarks/results/calibration-after.txt"
    line = re.search(r"published runs said 'does not fit': (\d+) of (\d+)", report.read_text())
    assert line is not None and int(line[2]) > 500
    assert line[1] == "0", line[0]


def test_rtx4090_over_rtx3090_llama_lora_training_is_1_4_to_2x():
    # The ratio is the cards' own: measured GEMM roofs 166 vs 76 TFLOPS, damped by the
    # memory-bound share and the trainer's per-layer host time (the same seconds on both).
    # It read 2.09x while the RTX 3090 alone had an Ampere LoRA constant far below llm/lora's
    # (0.745 against 0.795); since the LoRA host time (train_layer_s) and a fourth Ampere
    # LoRA source the Ampere subgroup passes the split test, at 0.81 against llm/lora's 0.82,
    # which the RTX 4090 (no Ada LoRA source) takes: the constants may differ, not by much.
    m = find_model(LLAMA)
    fast = throughput(m, job("RTX 4090", **LORA))
    slow = throughput(m, job("RTX 3090", **LORA))
    assert 1.4 <= fast.tokens_per_s / slow.tokens_per_s <= 2.0
    from dlrig.estimate import calibration as cal
    from dlrig.estimate import perf

    eff = [
        cal.constants().value("mfu", perf.train_group(m, job(g, **LORA)))
        for g in ("RTX 4090", "RTX 3090")
    ]
    assert abs(eff[0] / eff[1] - 1) < 0.1
