"""`estimate()` end to end: the guide's worked numbers, time, energy, data rate, warnings."""

from __future__ import annotations

import pytest

from dlrig.catalog.lookup import find_model
from dlrig.errors import DlrigError
from dlrig.estimate import data_rate, estimate
from dlrig.estimate import params as p
from estimate_helpers import job

TWO_WEEKS_H = 14 * 24


def test_guide_four_gpus_for_two_weeks_is_300_to_500_kwh():
    # The guide: 4 GPUs at ~250 W for two weeks ≈ 300–500 kWh.
    est = estimate(find_model("resnet50"), job("GTX Titan X", n_gpus=4, precision="fp32"))
    assert 300 <= est.energy_kwh_per_hour * TWO_WEEKS_H <= 500
    assert est.power_w == 4 * 250


def test_guide_imagenet_batch_of_128_is_about_0_08_gb():
    # 128 float32 224x224 RGB images = 77 MB (the guide rounds to ~0.08 GB / 85 MB).
    m = find_model("resnet50")
    est = estimate(m, job("GTX Titan X", batch_size=128, precision="fp32"))
    rate = est.data_rate
    per_sample_pcie = rate.pcie_gbs * 1e9 / est.throughput.samples_per_s_per_gpu
    assert per_sample_pcie * 128 / 1e9 == pytest.approx(0.077, abs=0.001)


def test_time_and_energy_for_a_token_budget():
    m = find_model("llama-2-7b")
    est = estimate(
        m,
        job(
            "H100 SXM",
            n_gpus=8,
            zero=3,
            tokens=1e9,
            seq_len=2048,
            batch_size=4,
            price_per_gpu_hour=2.0,
            electricity_per_kwh=0.3,
        ),
    )
    hours = 1e9 / est.throughput.tokens_per_s / 3600
    assert est.time_hours == pytest.approx(hours)
    assert est.energy_kwh == pytest.approx(8 * 700 / 0.85 / 1000 * hours)
    assert est.cloud_cost == pytest.approx(2.0 * 8 * hours)
    assert est.electricity_cost == pytest.approx(0.3 * est.energy_kwh)


def test_epochs_of_a_vision_dataset():
    m = find_model("resnet50")
    est = estimate(m, job("A100 80GB SXM", batch_size=256, epochs=90, dataset_size=1_281_167))
    assert est.time_hours == pytest.approx(90 * 1_281_167 / est.throughput.samples_per_s / 3600)
    assert est.tokens_total is None and est.throughput.tokens_per_s is None


def test_without_a_duration_there_is_no_time_or_total_energy():
    est = estimate(find_model("gpt2"), job())
    assert est.time_hours is None and est.energy_kwh is None and est.energy_kwh_per_hour > 0


def test_vision_data_rate_needs_disk_pcie_and_decode_cores():
    m = find_model("resnet50")
    j = job("A100 80GB SXM", batch_size=256, n_gpus=8)
    rate = data_rate.image_rate(m, j, samples_per_s=10_000)
    assert rate.disk_mbs == pytest.approx(10_000 * p.value("imagenet_jpeg_bytes") / 1e6)
    assert rate.cpu_cores == pytest.approx(10_000 / p.value("jpeg_decode_images_per_core_s"))
    assert rate.pcie_gbs == pytest.approx(10_000 / 8 * 3 * 224 * 224 * 4 / 1e9)


def test_serving_a_vision_model_reads_and_decodes_its_images():
    """Inference of a CNN takes images in at its rate (the same pipeline as training's);
    a language model's inference takes prompts in: nothing to read or decode."""
    est = estimate(find_model("resnet50"), job("RTX 4090", task="infer", batch_size=256))
    images_per_s = est.throughput.samples_per_s
    assert est.data_rate.disk_mbs == pytest.approx(
        images_per_s * p.value("imagenet_jpeg_bytes") / 1e6
    )
    assert est.data_rate.cpu_cores == pytest.approx(
        images_per_s / p.value("jpeg_decode_images_per_core_s")
    )
    llm = estimate(find_model("llama-3-8b"), job("RTX 4090", task="infer", quant="q4_k_m"))
    assert llm.data_rate.disk_mbs == 0 and llm.data_rate.cpu_cores is None
    assert "negligible" in llm.data_rate.note


def test_language_model_data_rate_is_tiny():
    est = estimate(find_model("llama-3-8b"), job("H100 SXM", n_gpus=8, seq_len=4096))
    assert est.data_rate.disk_mbs < 10 and est.data_rate.cpu_cores is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"task": "train", "quant": "int4"}, r"--quant int4 with --task train: stores inference"),
        ({"task": "qlora", "quant": "int8"}, r"--quant int8 with --task qlora: .* --base-quant"),
        ({"task": "infer", "lora_rank": 16}, r"--lora-rank 16 with --task infer: applies to LoRA"),
        ({"task": "train", "engine": "vllm"}, r"--engine vllm with --task train: applies to inf"),
        ({"task": "train", "kv_dtype": "fp8"}, r"--kv-dtype fp8 with --task train"),
        ({"task": "infer", "base_quant": "nf4"}, r"--base-quant nf4 with --task infer"),
        ({"task": "infer", "quant": "exl2"}, r"--quant exl2: needs --weight-bits"),
        ({"task": "infer", "grad_accum": 4}, r"--grad-accum 4 with --task infer: applies to tr"),
        ({"tp": 3, "n_gpus": 3}, r"--tp 3 does not divide llama-3-8b's 32 attention heads"),
        ({"ep": 2, "n_gpus": 2}, r"--ep 2: llama-3-8b has no experts"),
        ({"tp": 2, "n_gpus": 3}, r"--tp 2 x --pp 1 x --cp 1 = 2 does not divide --gpus 3"),
        ({"vp": 2}, r"--vp 2 needs --pp above 1"),
        (
            {"network": "ib-ndrr", "nodes": 2, "n_gpus": 16},
            r"--network 'ib-ndrr' is not a network between nodes in networks.csv; did you mean ib-ndr",
        ),
        ({"network": "ib-ndr"}, r"--network ib-ndr with --nodes 1: is the link between nodes"),
    ],
)
def test_impossible_combinations_raise(changes, message):
    with pytest.raises(DlrigError, match=message):
        estimate(find_model("llama-3-8b"), job(**changes))


def test_lora_needs_a_transformer():
    with pytest.raises(DlrigError, match="needs a transformer"):
        estimate(find_model("resnet50"), job(task="lora"))


@pytest.mark.parametrize(
    ("changes", "warning"),
    [
        ({"zero": 3}, "--zero 3 with one data-parallel GPU shards nothing"),
        ({"task": "infer", "zero": 2}, "--zero has no effect on inference"),
        ({"task": "infer", "checkpointing": True}, "--checkpointing has no effect"),
        ({"seq_len": 100_000}, "exceeds llama-3-8b's maximum of 8192"),
        ({"precision": "fp8"}, "no FP8 tensor cores"),
    ],
)
def test_pointless_combinations_warn(changes, warning):
    gpu = "RTX 3090" if changes.get("precision") == "fp8" else "RTX 4090"
    est = estimate(find_model("llama-3-8b"), job(gpu, **changes))
    assert any(warning in w for w in est.warnings), est.warnings


def test_every_default_used_is_stated():
    est = estimate(find_model("llama-3-8b"), job(task="lora"))
    text = " ".join(est.assumptions)
    assert "micro-batch per replica: 1 (not given)" in text
    assert "sequence length 2048 tokens (not given)" in text
    assert any(s.startswith("mfu[") and "calibrate.py" in s for s in est.sources)


def test_json_schema_keys():
    data = estimate(find_model("llama-3-8b"), job(task="lora", tokens=1e8)).model_dump(
        by_alias=True
    )
    assert data["schema"] == "dlrig.estimate/2"
    for key in (
        "weights_gb",
        "gradients_gb",
        "optimizer_gb",
        "activations_gb",
        "logits_gb",
        "kv_cache_gb",
        "overhead_gb",
        "allocated_gb",
        "reserved_gb",
        "nvidia_smi_gb",
        "per_gpu_gb",
        "per_gpu_interval",
        "verdict",
        "fits",
    ):
        assert key in data["memory"]
    for key in ("tokens_per_s", "tokens_per_s_per_gpu", "utilization"):
        assert key in data["throughput"]
    assert data["time_hours"] > 0 and data["energy_kwh"] > 0


def test_assumptions_describe_the_settings_used():
    m = find_model("llama-3-8b")
    sgd = " ".join(estimate(m, job(optimizer="sgd", loss="fused")).assumptions)
    assert "8 B optimizer (fp32 master weights + SGD momentum in fp32)" in sgd
    assert "logits never materialised" in sgd and "all-reduced" not in sgd  # one GPU
    fsdp = " ".join(estimate(m, job("H100 SXM", n_gpus=8, zero=3)).assumptions)
    assert "sharded over 8 GPUs (ZeRO-3)" in fsdp and "all-gathered" in fsdp
    qlora = " ".join(estimate(m, job(task="qlora")).assumptions)
    assert "NF4" in qlora and "per adapter parameter" in qlora
