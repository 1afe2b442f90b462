"""The load-time peak of a quantised LoRA base (estimate/load_peak.py) and offloaded activation
checkpointing (Unsloth's), on a 2-layer toy counted by hand, then through the CLI, a build file
and the calibration row reader."""

from __future__ import annotations

import json
import re

import pytest

from dlrig.catalog.lookup import find_model
from dlrig.estimate import load_peak as lp
from dlrig.estimate import memory as mem
from dlrig.estimate import points
from dlrig.estimate.job import memory, throughput
from dlrig.estimate.shape import derive
from dlrig.model.workload import ModelSpec
from estimate_helpers import job, toy_decoder

GB = 1e9


def toy() -> ModelSpec:
    """2 layers, h 8, 2 heads of 4, one KV head, gated MLP of 16: the largest matrix is the
    MLP's 8 x 16 = 128 weights."""
    return toy_decoder(
        params_total=1352, hidden=8, heads=2, kv_heads=1, head_dim=4, vocab=10, ffn=16
    )


def shape(m=None, **kw):
    kw.setdefault("task", "qlora")
    return derive(m or toy(), job("RTX 4090", **kw))


# Bytes to quantise the toy's 128-weight matrix, by hand from each loader's code:
# transformers: fp16 copy 2·128, 4-bit codes 64, one fp32 absmax per 64 weights 8;
# litgpt: the 16-bit layer 256 more; torchtune: 16-bit weight and its scaled copy 2·2·128,
# uint8 codes 128 then packed 64, distances (value - nf4) and abs: 2·16·2·128 = 8192 (the
# whole matrix is under one chunk); torchao 0.1: the same without the codes.
TOY_TRANSIENT = {
    "transformers": 328,
    "litgpt": 584,
    "torchtune": 512 + 192 + 8192,
    "torchtune-torchao0.1": 512 + 8192,
}


@pytest.mark.parametrize(("loader", "transient"), TOY_TRANSIENT.items())
def test_toy_load_peak_by_hand(loader, transient):
    s = shape(framework=loader)
    assert lp.largest_matrix(s) == 128
    peak = lp.load_peak(s)
    assert peak is not None
    assert peak.transient == transient
    assert peak.allocated == mem.weights_bytes(s) + transient
    assert peak.reserved >= peak.allocated and peak.nvidia_smi > peak.reserved


def test_toy_int8_base_is_the_fp16_copy_and_two_int8_copies():
    s = shape(task="lora", base_quant="int8")
    assert lp.transient_bytes(s) == 2 * 128 + 2 * 128


@pytest.mark.parametrize(
    ("kw", "why"),
    [
        ({"task": "lora"}, "16-bit LoRA base"),
        ({"task": "lora", "base_quant": "gptq"}, "quantised before download"),
        ({"task": "train"}, "no quantised base"),
        ({"task": "qlora", "n_gpus": 2, "zero": 3}, "sharded"),
    ],
)
def test_no_load_peak_where_nothing_is_quantised_on_one_gpu(kw, why):
    s = shape(**kw)
    assert lp.load_peak(s) is None and why in (lp.why_not(s) or "")


def test_torchao01_quantises_llama2_7b_mlp_through_three_gigabytes():
    # 11008 x 4096 weights, (2 + 32) x 2 bytes each: the 16-bit matrix, its scaled copy and the
    # 16-wide distance tensor twice (value - nf4, then its absolute value).
    s = shape(find_model("llama-2-7b"), framework="torchtune-torchao0.1", seq_len=512)
    assert lp.transient_bytes(s) == 68 * 11008 * 4096 == 3_066_036_224


def test_fit_uses_the_larger_of_load_and_step():
    m = find_model("llama-2-7b")
    small = dict(task="qlora", seq_len=16, batch_size=1, checkpointing=True)
    old = memory(m, job("RTX 4090", framework="torchtune-torchao0.1", **small))
    assert old.peak_at == "load" and old.load_peak_gb is not None
    assert old.per_gpu_gb == old.load_peak_gb > old.nvidia_smi_gb
    assert old.headroom_gb == pytest.approx(old.capacity_gb - old.load_peak_gb)
    for loader in ("transformers", "litgpt", "torchtune"):
        est = memory(m, job("RTX 4090", framework=loader, **small))
        assert est.per_gpu_gb == max(est.nvidia_smi_gb, est.load_peak_gb or 0)
        assert est.load_peak_gb < old.load_peak_gb
    lora = memory(m, job("RTX 4090", task="lora", seq_len=16, batch_size=1))
    assert lora.load_peak_gb is None and lora.per_gpu_gb == lora.nvidia_smi_gb


def test_litgpt_and_torchtune_keep_adapters_in_16_bit():
    """PEFT's adapters are fp32 (4 B weight, 4 B gradient, 2 x 4 B AdamW states); LitGPT's
    bf16-true and torchtune's bf16 build them in bf16 and AdamW keeps its states in the
    parameter's dtype: 2 + 2 + 2 x 2 bytes per adapter parameter."""
    kw = dict(task="lora", lora_rank=2, seq_len=4, batch_size=1)
    peft = shape(**kw)
    n = peft.params_trainable
    assert n == 2 * 2 * (8 + 8 + 8 + 4 + 8 + 4 + 8 + 8 + 3 * (8 + 16))  # q k v o gate up down
    for framework in ("litgpt", "torchtune"):
        half = shape(framework=framework, **kw)
        assert mem.weights_bytes(peft) - mem.weights_bytes(half) == 2 * n
        assert (mem.gradient_bytes(peft), mem.gradient_bytes(half)) == (4 * n, 2 * n)
        assert (mem.optimizer_bytes(peft), mem.optimizer_bytes(half)) == (8 * n, 4 * n)


def test_bitsandbytes_keeps_every_quantised_linears_input():
    """bitsandbytes' MatMul4Bit stores its input for backward (ctx.tensors = (A, B)); torchao's
    NF4 linear stores only the weight. With LoRA on q and v and no checkpointing, a
    bitsandbytes QLoRA block keeps what full training keeps; a torchtune one what 16-bit LoRA
    keeps."""
    kw = dict(lora_targets="qv", seq_len=4, batch_size=1)
    bnb = mem.activation_bytes(shape(task="qlora", **kw))
    ao = mem.activation_bytes(shape(task="qlora", framework="torchtune", **kw))
    lora = mem.activation_bytes(shape(task="lora", **kw))
    full = mem.activation_bytes(shape(task="train", seq_len=4, batch_size=1))
    assert bnb == full and ao == lora < bnb


# --------------------------------------------------------------------------- activation offload


def test_toy_offloaded_checkpointing_keeps_one_block_input():
    """Full checkpointing keeps both layers' inputs (2·s·b·h bytes each) plus the recomputed
    layer; offloaded keeps only the input of the layer being recomputed: one e·s·b·h less, and
    every layer's input (2 layers x 2·4·1·8 = 128 bytes) crosses PCIe each way."""
    kw = dict(task="train", seq_len=4, batch_size=1)
    full = mem.activation_bytes(shape(checkpointing=True, **kw))
    off = shape(checkpointing_mode="offload", **kw)
    assert off.job.checkpointing and off.job.offloaded_checkpointing
    assert full - mem.activation_bytes(off) == 2 * 4 * 1 * 8
    assert mem.activation_offload_bytes(off) == 2 * 2 * 4 * 1 * 8
    assert mem.activation_offload_bytes(shape(checkpointing=True, **kw)) == 0


def test_offload_costs_step_time_only_when_the_link_cannot_keep_up():
    m = find_model("llama-3.1-8b")
    kw = dict(task="lora", seq_len=8192, batch_size=4)
    full = throughput(m, job("RTX 4090", checkpointing=True, **kw))
    fast = throughput(m, job("RTX 4090", checkpointing_mode="offload", **kw))
    slow = throughput(m, job("RTX 4090", checkpointing_mode="offload", host_link_gbs=0.5, **kw))
    assert fast.step_time_s == pytest.approx(full.step_time_s)  # hidden behind the passes
    assert slow.step_time_s > full.step_time_s
    assert slow.step_parts_s["offload not hidden"] > 0


# --------------------------------------------------------------------------- inputs


def run_json(line: str, capsys) -> tuple[int, dict | str]:
    import shlex

    from dlrig.cli import run

    rc = run(shlex.split(line))
    out = capsys.readouterr()
    return rc, json.loads(out.out) if rc == 0 else out.err


BASE = "estimate --model llama-2-7b --gpu 'RTX 4090' --seq-len 16 --batch-size 1 -f json"


def test_cli_loader_changes_the_load_peak(capsys):
    rc, default = run_json(f"{BASE} --task qlora", capsys)
    assert rc == 0
    rc, old = run_json(f"{BASE} --task qlora --framework torchtune-torchao0.1", capsys)
    assert rc == 0
    assert old["memory"]["load_peak_gb"] > default["memory"]["load_peak_gb"] + 2.5
    assert "torchao 0.1" in old["memory"]["load_path"]
    assert any("--framework torchtune-torchao0.1" in a for a in old["assumptions"])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("--task qlora --framework torchtitan", r"--framework torchtitan with --task qlora: is a "),
        ("--task lora --framework llm-foundry", r"full-training framework in dlrig"),
        ("--task infer --framework torchtune", r"--framework torchtune with --task infer"),
        ("--task qlora --framework bogus", r"'bogus' is not one of"),
        ("--task infer --checkpointing-mode offload", r"applies to training only"),
    ],
)
def test_cli_refuses_a_loader_or_offload_that_does_not_apply(extra, message, capsys):
    # --seq-len with --task infer is refused on its own (a generation's length is --context)
    base = BASE.replace(" --seq-len 16", "") if "--task infer" in extra else BASE
    rc, err = run_json(f"{base} {extra}", capsys)
    assert rc == 2 and re.search(message, str(err)) and len(str(err).strip().splitlines()) == 1


def test_build_file_takes_loader_and_offload_words():
    from dlrig.rules import check
    from helpers import make_build, one

    def per_gpu(**w):
        data = {"gpus": [{"model": "RTX 4090"}], "workload": {"model": "llama-2-7b"} | w}
        f = one(check(make_build(data)), "gpu-memory")
        return f

    qlora = dict(task="qlora", seq_len=16, batch_size=1)
    old = per_gpu(framework="torchtune-torchao0.1", **qlora).numbers["per_gpu_gb"].value
    new = per_gpu(framework="torchtune", **qlora).numbers["per_gpu_gb"].value
    assert old > new + 2.5
    bad = per_gpu(task="lora", framework="torchtitan")
    assert bad.severity == "error" and 'framework = "torchtitan" with task = "lora"' in bad.message
    # a full-training run names its framework (its efficiency factor): judged on memory alone
    named = per_gpu(task="train", framework="litgpt", seq_len=16, batch_size=1)
    assert "framework" not in named.message and "per_gpu_gb" in named.numbers
    train = dict(task="lora", seq_len=8192, batch_size=2)
    full = per_gpu(checkpointing="full", **train).numbers["per_gpu_gb"].value
    off = per_gpu(checkpointing="offload", **train).numbers["per_gpu_gb"].value
    assert off < full


def test_rows_read_their_loader_and_offload():
    row = {
        "id": "t",
        "category": "memory",
        "task": "qlora",
        "model": "llama-2-7b",
        "gpu": "RTX 4090",
        "seq_len": "512",
        "value": "9",
        "unit": "GB",
    }
    assert points.job_of(row | {"engine": "litgpt"}).framework == "litgpt"
    assert (
        points.job_of(row | {"engine": "torchtune-torchao0.1"}).framework == "torchtune-torchao0.1"
    )
    assert points.job_of(row | {"engine": "unsloth"}).framework == "transformers"
    # a full-training row names no framework unless its engine cell is one the Job lists
    assert points.job_of(row | {"task": "train"}).framework is None
    assert points.job_of(row | {"task": "train", "engine": "pytorch"}).framework is None
    assert (
        points.job_of(row | {"task": "train", "engine": "hf-trainer"}).framework == "transformers"
    )
    assert points.job_of(row | {"task": "train", "engine": "torchtitan"}).framework == "torchtitan"
    # a LoRA row without an engine is transformers' (Job.trainer)
    assert points.job_of(row).trainer == "transformers"
    assert points.job_of(row | {"checkpointing": "offload"}).offloaded_checkpointing
    # the row's figure is the run's peak: the load's where it is higher
    old = row | {"engine": "torchtune-torchao0.1", "seq_len": "16"}
    s = derive(points.model_of(old), points.job_of(old))
    load = lp.load_peak(s)
    assert load is not None
    assert points.predicted_memory_bytes(old) == load.reserved > mem.parts(s).reserved


def test_check_says_when_the_load_sets_the_peak():
    from dlrig.rules import check
    from helpers import make_build, one

    workload = {"model": "llama-2-7b", "task": "qlora", "seq_len": 16, "batch_size": 1}
    data = {"gpus": [{"model": "RTX 4090"}], "workload": workload}
    old = one(
        check(make_build(data | {"workload": workload | {"framework": "torchtune-torchao0.1"}})),
        "gpu-memory",
    )
    assert "at load time, while the base is quantised on the GPU" in old.message
    assert "torchao 0.1" in old.message
    longer = workload | {"framework": "torchtune", "seq_len": 2048, "batch_size": 2}
    new = one(check(make_build(data | {"workload": longer})), "gpu-memory")
    assert "at load time" not in new.message  # 4096 tokens of activations: the step peaks


def test_the_fit_figure_is_never_below_either_peak():
    """For any QLoRA job on the presets, per_gpu_gb is the larger of the step's and the load's
    nvidia-smi figures, and the load never holds less than the weights it leaves behind."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=40, deadline=None)
    @given(
        model=st.sampled_from(["llama-2-7b", "llama-3.1-8b", "mistral-7b", "llama-3.2-3b"]),
        framework=st.sampled_from(list(TOY_TRANSIENT)),
        seq=st.sampled_from([16, 512, 4096]),
        batch=st.integers(1, 4),
        mode=st.sampled_from(["full", "offload"]),
    )
    def check(model, framework, seq, batch, mode):
        m = find_model(model)
        kw = dict(framework=framework, seq_len=seq, batch_size=batch, checkpointing_mode=mode)
        j = job("RTX 4090", task="qlora", checkpointing=True, **kw)
        est = memory(m, j)
        assert est.load_peak_gb is not None
        assert est.per_gpu_gb == max(est.nvidia_smi_gb, est.load_peak_gb)
        assert est.load_peak_allocated_gb >= est.weights_gb

    check()


def test_toy_dequantised_matrix_in_the_step():
    """The largest frozen matrix (the toy's 128-weight MLP matrix) dequantised for its matmul:
    bitsandbytes 4-bit holds its fp16 output and the bf16 cast (2 x 2 x 128 bytes), 8-bit one
    fp16 copy (2 x 128), torchao the bf16 result (2 x 128); a 16-bit base nothing. LitGPT
    quantises the output head too: with a 100-word vocabulary the head (100 x 8 = 800 weights)
    is the largest, and it is stored in 4 bits instead of 16."""
    kw = dict(seq_len=4, batch_size=1)
    assert mem.dequant_bytes(shape(**kw)) == 512
    assert mem.dequant_bytes(shape(task="lora", base_quant="int8", **kw)) == 256
    assert mem.dequant_bytes(shape(framework="torchtune", **kw)) == 256
    assert mem.dequant_bytes(shape(task="lora", **kw)) == 0
    wide = toy().model_copy(update={"vocab_size": 100, "params_total": 1352 + 2 * 90 * 8})
    peft, lit = shape(wide, **kw), shape(wide, framework="litgpt", **kw)
    assert mem.dequant_bytes(lit) == 2 * 2 * 800 and mem.dequant_bytes(peft) == 512
    bits = peft.weight_bits
    adapters = (peft.adapter_bytes - lit.adapter_bytes) * peft.params_trainable  # fp32 vs bf16
    head = peft.weight_bytes_job - lit.weight_bytes_job - adapters
    assert head == pytest.approx(800 * (2 - bits / 8))


def test_cli_full_training_takes_its_frameworks_fitted_factor(capsys):
    from dlrig.estimate import calibration as cal

    line = "estimate --model llama-3-8b --gpu 'H100 SXM' --gpus 8 --zero 3 --seq-len 8192 -f json"
    rc, plain = run_json(f"{line} --task train", capsys)
    assert rc == 0
    assert any(a.startswith("framework not named") for a in plain["assumptions"])
    rc, named = run_json(f"{line} --task train --framework torchtitan", capsys)
    assert rc == 0
    factor = cal.constants().get("train_framework", ("torchtitan",))
    assert factor.group == "torchtitan" and factor.n_sources >= 3  # fitted, not the root's 1
    assert any(a.startswith("framework torchtitan: ") for a in named["assumptions"])
    # the step's GEMMs slow by the factor (the optimizer step and the link do not)
    ratio = named["throughput"]["tokens_per_s"] / plain["throughput"]["tokens_per_s"]
    assert factor.value - 0.02 < ratio < 1.0
    # NeMo is Megatron-core: the same factor
    rc, nemo = run_json(f"{line} --task train --framework nemo", capsys)
    rc2, megatron = run_json(f"{line} --task train --framework megatron", capsys)
    assert rc == rc2 == 0
    assert nemo["throughput"]["tokens_per_s"] == megatron["throughput"]["tokens_per_s"]
