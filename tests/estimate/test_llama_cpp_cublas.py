"""--llama-cpp-cublas: llama.cpp's older path for quantized weights in a prompt's batches
(dequantise to F16, then cuBLAS): accepted where it applies, refused elsewhere, and read from
a calibration row's date (estimate/points.py)."""

from __future__ import annotations

import pytest

from dlrig.estimate import points
from dlrig.estimate.applicable import InapplicableError
from dlrig.estimate.request import job_from_options

BASE = {"gpu": "RTX 4090", "model": "llama-2-7b", "task": "infer", "llama_cpp_cublas": True}


def test_accepted_for_llama_cpp_gguf_inference():
    _, job = job_from_options(BASE | {"engine": "llama.cpp", "quant": "q4_0"})
    assert job.llama_cpp_cublas
    # false is the default: not "given", so never refused
    _, job = job_from_options(BASE | {"llama_cpp_cublas": False})
    assert not job.llama_cpp_cublas


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"engine": "vllm", "quant": "q4_0"}, "give --engine llama.cpp"),
        ({"engine": "llama.cpp"}, "give --quant q4_0"),
        ({"task": "train"}, "applies to inference only"),
    ],
)
def test_refused_where_it_does_not_apply(options, message):
    with pytest.raises(InapplicableError, match=message.replace(".", r"\.")):
        job_from_options(BASE | options)


ROW = {
    "id": "t",
    "category": "prefill",
    "task": "infer",
    "model": "llama-2-7b",
    "gpu": "RTX 4090",
    "precision": "fp16",
    "quant": "q4_0",
    "engine": "llama.cpp",
    "prompt_tokens": "512",
    "value": "8000",
    "unit": "tokens_per_s",
    "semantics": "per_job",
}


@pytest.mark.parametrize(
    ("date", "quant", "engine", "cublas"),
    [
        ("2024-01", "q4_0", "llama.cpp", True),  # PR #4766's llama-bench run
        ("2023-10", "q8_0", "llama.cpp", True),  # from PR #3412 (2023-09-30) on
        ("2024-05", "q4_k_m", "llama.cpp", True),
        ("2024-06", "q4_0", "llama.cpp", False),  # PR #8075 made MMQ the default
        ("2023-09", "q4_0", "llama.cpp", False),  # MMQ (dp4a) before PR #3412
        ("2024-01", "none", "llama.cpp", False),  # F16 weights: nothing to dequantise
        ("2024-01", "awq", "vllm", False),
        ("", "q4_0", "llama.cpp", False),  # undated: today's default
    ],
)
def test_a_rows_date_says_which_path_llama_cpp_took(date, quant, engine, cublas):
    row = ROW | {"date": date, "quant": quant, "engine": engine}
    assert points.job_of(row).llama_cpp_cublas is cublas


def test_the_estimate_says_when_a_prefill_dequantises_and_pipelines():
    from dlrig.estimate import explain
    from dlrig.estimate.job import shape

    opts = BASE | {"engine": "llama.cpp", "quant": "q4_k_m", "prompt_tokens": 1024}
    m, job = job_from_options(opts | {"model": "llama-3-70b", "gpus": 2})
    text = " ".join(explain.assumptions(shape(m, job)))
    assert "dequantises the weights to 16-bit" in text
    assert "pipelined over the 2 GPUs" in text
    m, job = job_from_options(opts | {"llama_cpp_cublas": False})
    assert "dequantises" not in " ".join(explain.assumptions(shape(m, job)))
