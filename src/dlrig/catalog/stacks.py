"""Does the software a workload needs run on a GPU? A pure lookup over two data files.

`gpu_support.csv` gives each catalog GPU its software stack (CUDA, ROCm, oneAPI, SynapseAI) and
its compile target (`sm_89`, `gfx942`, `xe2-bmg`, `gaudi3`); `stack_support.csv` says, per
component (PyTorch, bitsandbytes, FlashAttention, vLLM, llama.cpp, BF16) and stack, which
targets are supported, partly supported or not, each with its source. `stack_support(gpu,
task, engine, precision)` combines the components a workload needs into one verdict that
the `check` rules and `recommend` can report. See catalog/data/SOURCES.md.
"""

import re
from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict

from dlrig.catalog import load
from dlrig.model.parts import GpuSpec

Level = Literal["yes", "partial", "no"]
# The models below are built on first use: `dlrig check` of a build whose workload names no
# software never looks a stack up (start-up time, issue 16).
_DEFERRED = ConfigDict(frozen=True, defer_build=True)
_RANK = {"yes": 2, "partial": 1, "no": 0}

# Engines a user may name for inference; "optimized" means "whichever fused engine runs here".
ENGINES = ("hf", "vllm", "llama.cpp", "optimized")
_SM = re.compile(r"^sm_(\d+)$")
_CMP = re.compile(r"^sm(>=|<)(\d+)$")


class ComponentSupport(BaseModel):
    """One component's support on one GPU, as a row of stack_support.csv matched it."""

    model_config = _DEFERRED

    component: str
    level: Level
    note: str
    source: str
    required: bool = True


class StackVerdict(BaseModel):
    """Whether a workload's software runs on a GPU: the worst required component decides."""

    model_config = _DEFERRED

    gpu: str
    stack: str = ""
    target: str = ""
    level: Level
    reason: str
    components: tuple[ComponentSupport, ...] = ()

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.source for c in self.components if c.source))


class GpuSupport(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    name: str
    stack: str
    target: str
    availability: Literal["new", "used-only", "oem-only", "system"]
    source: str
    notes: str = ""


@cache
def gpu_support() -> dict[str, GpuSupport]:
    return {r["name"]: GpuSupport.model_validate(r) for r in load.read_rows("gpu_support.csv")}


@cache
def _rules() -> tuple[dict[str, str], ...]:
    return tuple(load.read_rows("stack_support.csv"))


def _sm(target: str) -> int | None:
    match = _SM.match(target)
    return int(match.group(1)) if match else None


def target_matches(spec: str, target: str) -> bool:
    """`"sm>=75"`, `"sm>=70,sm<75"` (all must hold) or `"gfx90a;gfx942"` (one of)."""
    if any(op in spec for op in "<>="):
        sm = _sm(target)
        if sm is None:
            return False
        for part in spec.split(","):
            match = _CMP.match(part.strip())
            if match is None:
                raise ValueError(f"stack_support.csv: bad target condition {part!r}")
            op, value = match.group(1), int(match.group(2))
            if (op == ">=" and sm < value) or (op == "<" and sm >= value):
                return False
        return True
    return target in {t.strip() for t in spec.split(";")}


def component_support(component: str, stack: str, target: str) -> ComponentSupport:
    """The first row of stack_support.csv for (component, stack) whose targets match."""
    for row in _rules():
        if (
            row["component"] == component
            and row["stack"] == stack
            and target_matches(row["targets"], target)
        ):
            return ComponentSupport(
                component=component,
                level=row["level"],  # type: ignore[arg-type]
                note=row["note"],
                source=row["source"],
            )
    return ComponentSupport(
        component=component,
        level="no",
        note=f"no {component} support listed for {stack} {target}",
        source="catalog/data/stack_support.csv (no row matches)",
    )


def _needs(task: str, engine: str, precision: str, quant: str) -> list[tuple[str, bool]]:
    """(component, required) pairs; an optional component can only make the verdict partial."""
    if task == "infer" and engine == "vllm":
        return [("vllm", True)]
    if task == "infer" and engine == "llama.cpp":
        return [("llama.cpp", True)]
    needs: list[tuple[str, bool]] = [("pytorch", True)]
    if task == "qlora" or (task == "infer" and quant in ("int8", "int4")):
        needs.append(("bitsandbytes", True))
    if task in ("train", "lora", "qlora"):
        needs.append(("flash-attention", False))
    if precision == "bf16":
        needs.append(("bf16", True))
    return needs


def stack_support(
    gpu: GpuSpec,
    task: str,
    engine: str = "hf",
    precision: str = "bf16",
    quant: str = "none",
) -> StackVerdict:
    """Yes / partial / no, why, and the sources, for a workload on one catalog GPU.

    `task` is train | lora | qlora | infer; `engine` (inference) hf | vllm | llama.cpp |
    optimized (the better of vLLM and llama.cpp); `precision` the compute dtype (bf16, fp16,
    fp8, ...); `quant` the stored weights for inference (none, int8, int4).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    row = gpu_support().get(gpu.name)
    if row is None:
        return StackVerdict(gpu=gpu.name, level="no", reason="not in gpu_support.csv")
    if task == "infer" and engine == "optimized":
        best = max(
            (stack_support(gpu, task, e, precision, quant) for e in ("vllm", "llama.cpp")),
            key=lambda v: _RANK[v.level],
        )
        return best
    found: list[ComponentSupport] = []
    level: Level = "yes"
    for component, required in _needs(task, engine, precision, quant):
        support = component_support(component, row.stack, row.target)
        if not required:
            support = support.model_copy(update={"required": False})
        found.append(support)
        worst = support.level if required else ("partial" if support.level != "yes" else "yes")
        if _RANK[worst] < _RANK[level]:
            level = worst
    if precision == "fp8" and gpu.fp8_tensor_tflops is None:
        level = "no"
        found.append(
            ComponentSupport(
                component="fp8",
                level="no",
                note=f"{gpu.name} has no FP8 tensor cores",
                source="catalog gpus.csv fp8_tensor_tflops (blank)",
            )
        )
    return StackVerdict(
        gpu=gpu.name,
        stack=row.stack,
        target=row.target,
        level=level,
        reason=_reason(level, found, row),
        components=tuple(found),
    )


def _reason(level: Level, found: list[ComponentSupport], row: GpuSupport) -> str:
    if level == "yes":
        names = ", ".join(c.component for c in found)
        return f"{names} support {row.stack} {row.target}"
    bad = [c for c in found if c.level != "yes"]
    return "; ".join(
        f"{c.component}{'' if c.required else ' (optional)'}: {c.level} ({c.note})" for c in bad
    )
