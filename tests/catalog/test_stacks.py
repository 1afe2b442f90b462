"""catalog/stacks.py: does the software a workload needs run on a GPU (issue 17)."""

from __future__ import annotations

import pytest

from dlrig.catalog import load
from dlrig.catalog.lookup import find_gpu
from dlrig.catalog.stacks import component_support, stack_support, target_matches


@pytest.mark.parametrize(
    ("spec", "target", "expected"),
    [
        ("sm>=75", "sm_75", True),
        ("sm>=75", "sm_70", False),
        ("sm>=70,sm<75", "sm_70", True),
        ("sm>=70,sm<75", "sm_75", False),
        ("sm>=80", "gfx942", False),
        ("gfx90a;gfx942", "gfx942", True),
        ("gfx90a;gfx942", "gfx1100", False),
        ("sm_87;sm_121", "sm_121", True),
    ],
)
def test_target_conditions(spec: str, target: str, expected: bool) -> None:
    assert target_matches(spec, target) is expected


def test_a_malformed_condition_is_an_error_not_a_silent_match() -> None:
    with pytest.raises(ValueError):
        target_matches("sm=>75", "sm_80")


def test_first_matching_row_wins() -> None:
    # bitsandbytes on CUDA: CC 7.5+ yes (LLM.int8), 6.0-7.4 partial (NF4 only), 5.x partial.
    assert component_support("bitsandbytes", "cuda", "sm_86").level == "yes"
    assert component_support("bitsandbytes", "cuda", "sm_61").level == "partial"
    assert component_support("bitsandbytes", "cuda", "sm_35").level == "no"


# (gpu, task, engine, precision, quant) -> level: each read off the docs cited in
# stack_support.csv (bitsandbytes 0.50 install page, vLLM GPU install page, FlashAttention).
CASES = [
    ("RTX 3090", "qlora", "hf", "bf16", "none", "yes"),
    ("RTX 4090", "train", "hf", "bf16", "none", "yes"),
    ("RTX 5090", "infer", "vllm", "bf16", "none", "yes"),
    # No BF16 before Ampere: training a V100 or P40 in bf16 is refused.
    ("V100 PCIe", "train", "hf", "bf16", "none", "no"),
    ("Tesla P40", "qlora", "hf", "bf16", "none", "no"),
    # fp16 QLoRA on a P40: NF4 runs from CC 6.0, but PyTorch needs an old CUDA build.
    ("Tesla P40", "qlora", "hf", "fp16", "none", "partial"),
    # vLLM needs CC 7.5 today (7.0 up to v0.14): nothing for a P40, llama.cpp is fine.
    ("Tesla P40", "infer", "vllm", "fp16", "none", "no"),
    ("Tesla P40", "infer", "llama.cpp", "fp16", "none", "yes"),
    ("Tesla P40", "infer", "optimized", "fp16", "none", "yes"),
    ("V100 PCIe", "infer", "vllm", "fp16", "none", "partial"),
    # Turing has no FlashAttention-2: training works on PyTorch SDPA, so partial.
    ("RTX 2080 Ti", "train", "hf", "fp16", "none", "partial"),
    ("MI300X", "infer", "vllm", "bf16", "none", "yes"),
    ("RX 7900 XTX", "infer", "vllm", "bf16", "none", "yes"),
    ("RX 7900 XTX", "lora", "hf", "bf16", "none", "partial"),
    ("Arc B580", "infer", "vllm", "bf16", "none", "partial"),
    ("Arc B580", "infer", "llama.cpp", "bf16", "none", "yes"),
    ("Gaudi 3", "infer", "vllm", "bf16", "none", "yes"),
    ("Gaudi 3", "infer", "llama.cpp", "bf16", "none", "no"),
    ("DGX Spark", "infer", "vllm", "bf16", "none", "partial"),
    # FP8 needs FP8 tensor cores (Ada, Hopper, Blackwell).
    ("RTX 3090", "train", "hf", "fp8", "none", "no"),
    ("RTX 4090", "train", "hf", "fp8", "none", "yes"),
    # int4 inference through transformers needs bitsandbytes.
    ("Arc Pro B60", "infer", "hf", "bf16", "int4", "yes"),
]


@pytest.mark.parametrize(("gpu", "task", "engine", "precision", "quant", "level"), CASES)
def test_stack_verdicts(gpu, task, engine, precision, quant, level) -> None:
    verdict = stack_support(find_gpu(gpu), task, engine, precision, quant)
    assert verdict.level == level, verdict.reason
    assert verdict.reason
    assert verdict.sources, "every verdict names where it comes from"


def test_a_no_says_which_component_and_why() -> None:
    verdict = stack_support(find_gpu("Tesla P40"), "infer", "vllm", "fp16")
    assert verdict.level == "no"
    assert "vllm" in verdict.reason and "sm_61" in verdict.reason


def test_every_catalog_gpu_gets_a_verdict_for_every_workload() -> None:
    for gpu in load.gpus():
        for task in ("train", "lora", "qlora", "infer"):
            verdict = stack_support(gpu, task, "optimized" if task == "infer" else "hf")
            assert verdict.level in ("yes", "partial", "no")
            assert verdict.stack in ("cuda", "rocm", "oneapi", "synapseai"), gpu.name


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(ValueError, match="engine"):
        stack_support(find_gpu("RTX 4090"), "infer", "tensorflow")


def test_every_stack_support_row_parses_and_is_sourced() -> None:
    for row in load.read_rows("stack_support.csv"):
        assert row["level"] in ("yes", "partial", "no"), row
        assert row["stack"] in ("cuda", "rocm", "oneapi", "synapseai"), row
        assert row["source"] and row["note"], row
        for target in ("sm_80", "gfx942", "xe2-bmg", "gaudi3"):
            target_matches(row["targets"], target)  # raises on a malformed condition
