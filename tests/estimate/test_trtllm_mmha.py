"""--trtllm-mmha: TensorRT-LLM before its XQA kernel (v0.8) ran a grouped-query model's
generation attention one thread block per query head, each loading its KV head's cache: a
decode step reads the cache g = query heads / KV heads times (perf.kv_loads_per_step).
Accepted for TensorRT-LLM inference, refused elsewhere, read from a calibration row's date."""

from __future__ import annotations

import pytest

from dlrig.estimate import perf, points
from dlrig.estimate.applicable import InapplicableError
from dlrig.estimate.job import shape
from dlrig.estimate.request import job_from_options

BASE = {
    "gpu": "H100 SXM",
    "task": "infer",
    "engine": "tensorrt-llm",
    "batch_size": 64,
    "prompt_tokens": 128,
    "gen_tokens": 2048,
}


def inputs(options):
    return perf.decode_inputs(shape(*job_from_options(options)))


def test_a_grouped_query_models_cache_is_read_once_per_query_head():
    # Llama-2-70B: 64 query heads over 8 KV heads, g = 8; everything else is the same step
    opts = BASE | {"model": "llama-2-70b", "gpus": 2, "tp": 2}
    now, before = inputs(opts), inputs(opts | {"trtllm_mmha": True})
    assert now.kv_bytes > 0
    assert before.kv_bytes == pytest.approx(8 * now.kv_bytes)
    assert before.weight_bytes == now.weight_bytes and before.flops == now.flops


def test_multi_head_attention_reads_its_cache_once_either_way():
    # Llama-2-7B has 32 KV heads for 32 query heads: one block per KV head already
    opts = BASE | {"model": "llama-2-7b"}
    assert inputs(opts | {"trtllm_mmha": True}).kv_bytes == inputs(opts).kv_bytes


def test_the_longer_read_slows_the_step():
    opts = BASE | {"model": "llama-2-70b", "gpus": 2, "tp": 2}
    now = perf.throughput_of(shape(*job_from_options(opts)))
    before = perf.throughput_of(shape(*job_from_options(opts | {"trtllm_mmha": True})))
    assert before.step_time_s > now.step_time_s


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"engine": "vllm"}, "give --engine tensorrt-llm"),
        ({"task": "train", "engine": None}, "applies to inference only"),
    ],
)
def test_refused_where_it_does_not_apply(options, message):
    opts = {k: v for k, v in (BASE | {"model": "llama-2-70b", "trtllm_mmha": True}).items()}
    opts.update(options)
    opts = {k: v for k, v in opts.items() if v is not None}
    if opts["task"] == "train":
        for k in ("engine", "prompt_tokens", "gen_tokens"):
            opts.pop(k, None)
    with pytest.raises(InapplicableError, match=message.replace(".", r"\.")):
        job_from_options(opts)


def test_false_is_the_default_and_never_refused():
    _, job = job_from_options(
        BASE | {"model": "llama-2-7b", "engine": "vllm", "trtllm_mmha": False}
    )
    assert not job.trtllm_mmha


ROW = {
    "id": "t",
    "category": "decode",
    "task": "infer",
    "model": "llama-2-70b",
    "gpu": "H100 SXM",
    "n_gpus": "2",
    "tp": "2",
    "precision": "fp8",
    "quant": "fp8",
    "batch_size": "64",
    "prompt_tokens": "2048",
    "gen_tokens": "2048",
    "engine": "tensorrt-llm",
    "value": "547",
    "unit": "tokens_per_s",
    "semantics": "per_gpu",
}


@pytest.mark.parametrize(
    ("date", "engine", "mmha"),
    [
        ("2023-12", "tensorrt-llm", True),  # v0.6.1's performance.md
        ("2024-01", "tensorrt-llm", True),  # the XQA blog: 'will be included in the v0.8'
        ("2024-02", "tensorrt-llm", True),  # release/0.8: XQA opt-in, not quoted
        ("2024-03", "tensorrt-llm", True),
        ("2024-04", "tensorrt-llm", False),  # v0.9 on: read as today's engine
        ("", "tensorrt-llm", False),  # undated: today's engine
        ("2023-12", "vllm", False),
    ],
)
def test_a_rows_date_says_whether_tensorrt_llm_had_xqa(date, engine, mmha):
    row = ROW | {"date": date, "engine": engine}
    assert points.job_of(row).trtllm_mmha is mmha


def test_the_command_line_flag_reaches_the_estimate():
    import json
    import subprocess
    import sys

    args = ["--gpu", "H100 SXM", "--gpus", "2", "--tp", "2", "--model", "llama-2-70b"]
    args += ["--task", "infer", "--engine", "tensorrt-llm", "--batch-size", "64"]
    args += ["--prompt-tokens", "128", "--gen-tokens", "2048", "--format", "json"]

    def tok_s(*extra: str) -> float:
        out = subprocess.run(
            [sys.executable, "-m", "dlrig", "estimate", *args, *extra],
            capture_output=True,
            text=True,
        )
        assert out.returncode in (0, 1), out.stderr
        return json.loads(out.stdout)["throughput"]["tokens_per_s"]

    assert tok_s("--trtllm-mmha") < tok_s()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "dlrig",
            "estimate",
            *args[:-2],
            "--engine",
            "vllm",
            "--trtllm-mmha",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and "tensorrt-llm" in out.stderr


def test_a_v08_row_quoting_the_opt_in_ran_xqa():
    row = ROW | {"date": "2024-03", "notes": "export TRTLLM_ENABLE_XQA=1 before the benchmark"}
    assert not points.job_of(row).trtllm_mmha


def test_the_estimate_says_when_the_cache_is_loaded_per_query_head():
    from dlrig.estimate import explain

    opts = BASE | {"model": "llama-2-70b", "gpus": 2, "tp": 2}
    text = " ".join(explain.assumptions(shape(*job_from_options(opts | {"trtllm_mmha": True}))))
    assert "8 times per decode step" in text
    assert "XQA" not in " ".join(explain.assumptions(shape(*job_from_options(opts))))
