"""A GPU's software stack against what the workload needs (CUDA-only tools on ROCm, oneAPI or
SynapseAI GPUs). The per-GPU stack data and the verdict are the catalog's (catalog/stacks.py:
gpu_support.csv, stack_support.csv, each row sourced); this rule reaches them through a small
interface (`StackLookup`) so it can also be tested with a fake."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from dlrig.catalog import stacks
from dlrig.model.build import Build
from dlrig.model.finding import Severity, qty
from dlrig.model.parts import GpuSpec
from dlrig.rules.base import RuleInfo, RuleResult

Level = Literal["yes", "partial", "no", "unknown"]
_RANK = {"no": 0, "partial": 1, "unknown": 2, "yes": 3}


@dataclass(frozen=True)
class Needs:
    """What the workload asks of the software stack."""

    task: str | None  # train | lora | qlora | infer
    precision: str
    quant: str
    engine: str
    tools: tuple[str, ...]  # workload.software, as written


@dataclass(frozen=True)
class StackAnswer:
    level: Level
    stack: str
    reason: str
    sources: tuple[str, ...] = ()


StackLookup = Callable[[GpuSpec, Needs], StackAnswer]

STACK = RuleInfo(
    id="gpu-software-stack",
    section="gpu",
    title="Software stack for the workload",
    why=(
        "Many training and inference tools are CUDA-only or CUDA-first: on a ROCm (AMD), oneAPI "
        "(Intel) or SynapseAI (Gaudi) accelerator a missing kernel means the job does not run, "
        "or runs on a slow fallback. Check the stack before buying, not after."
    ),
    source="catalog/data/stack_support.csv and gpu_support.csv (each row with its source)",
)

STACK_NAMES = {"cuda": "CUDA", "rocm": "ROCm", "oneapi": "oneAPI", "synapseai": "SynapseAI"}

# Names users write for the components stack_support.csv knows.
TOOL_COMPONENTS = {
    "pytorch": "pytorch",
    "torch": "pytorch",
    "bitsandbytes": "bitsandbytes",
    "bnb": "bitsandbytes",
    "flash-attn": "flash-attention",
    "flash-attention": "flash-attention",
    "flashattention": "flash-attention",
    "vllm": "vllm",
    "llama.cpp": "llama.cpp",
    "llamacpp": "llama.cpp",
}


def catalog_lookup(gpu: GpuSpec, needs: Needs) -> StackAnswer:
    """The catalog's verdict for the task, and each named tool's own support on this GPU."""
    parts: list[StackAnswer] = []
    row = stacks.gpu_support().get(gpu.name)
    stack = row.stack if row else ""
    if needs.task is not None:
        v = stacks.stack_support(gpu, needs.task, needs.engine, needs.precision, needs.quant)
        parts.append(StackAnswer(v.level, v.stack, v.reason, v.sources))
    for tool in needs.tools:
        component = TOOL_COMPONENTS.get(tool.strip().lower())
        if row is None:
            parts.append(StackAnswer("unknown", "", f"{gpu.name} is not in gpu_support.csv"))
        elif component is None:
            parts.append(StackAnswer("unknown", stack, f"{tool}: not in the catalog's stack data"))
        else:
            c = stacks.component_support(component, row.stack, row.target)
            reason = f"{tool}: {c.level}" + (f" ({c.note})" if c.note else "")
            parts.append(StackAnswer(c.level, row.stack, reason, (c.source,) if c.source else ()))
    if not parts:
        return StackAnswer("unknown", stack, "nothing to check")
    worst = min(parts, key=lambda p: _RANK[p.level])
    reasons = [p.reason for p in parts if p.level != "yes"] or [p.reason for p in parts]
    sources = tuple(dict.fromkeys(s for p in parts for s in p.sources))
    return StackAnswer(worst.level, stack or worst.stack, "; ".join(reasons), sources)


def needs_of(build: Build) -> tuple[Needs | None, list[str]]:
    w = build.workload
    if w is None or (w.task is None and not w.software):
        return None, []
    defaults = []
    precision = w.precision
    if precision is None:
        precision = "fp16"
        defaults.append("workload.precision not given: no BF16/FP8 requirement checked")
    needs = Needs(
        task=w.task,
        precision=precision,
        quant=w.quant or "none",
        engine="hf",
        tools=tuple(w.software or ()),
    )
    return needs, defaults


def check_stack(build: Build, lookup: StackLookup | None = None) -> RuleResult:
    if not build.gpus:
        return [STACK.skip("no GPUs")]
    needs, defaults = needs_of(build)
    if needs is None:
        return [STACK.skip("needs workload.task or workload.software")]
    lookup = lookup or catalog_lookup
    out: RuleResult = []
    seen: set[str] = set()
    for g in build.gpus:
        if g.name in seen:
            continue
        seen.add(g.name)
        a = lookup(g.spec, needs)
        stack = STACK_NAMES.get(a.stack, a.stack or "its stack")
        numbers = {"tools": qty(len(needs.tools), "tools")}
        text = f"{g.name} ({stack})"
        what = f" for {needs.task}" if needs.task else ""
        if a.level == "no":
            out.append(
                STACK.finding(
                    Severity.ERROR,
                    f"{text}: the workload{what} does not run: {a.reason}.",
                    fix="Choose a GPU whose stack runs these tools (see the reasons), or replace "
                    "the tool with one that supports this GPU's stack.",
                    numbers=numbers,
                    defaults_used=defaults,
                )
            )
        elif a.level == "partial":
            out.append(
                STACK.finding(
                    Severity.WARNING,
                    f"{text}: partly supported{what}: {a.reason}.",
                    fix="Check the tool's release notes for this GPU before buying.",
                    numbers=numbers,
                    defaults_used=defaults,
                )
            )
        elif a.level == "unknown":
            out.append(
                STACK.finding(
                    Severity.INFO,
                    f"{text}: {a.reason}.",
                    fix="Check the tool's documentation for this GPU's stack.",
                    numbers=numbers,
                    defaults_used=defaults,
                )
            )
        else:
            out.append(
                STACK.finding(
                    Severity.OK,
                    f"{text}: {a.reason}.",
                    numbers=numbers,
                    defaults_used=defaults,
                )
            )
    return out
