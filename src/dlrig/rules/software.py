"""A GPU's software stack against the tools the workload needs (CUDA-only tools on ROCm or
oneAPI GPUs). The per-GPU stack data lives in the catalog (catalog/stacks.py, the market
helper's); this rule takes it through a small interface so it can be tested with a fake."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from dlrig.model.build import Build
from dlrig.model.finding import Severity, qty
from dlrig.rules.base import RuleInfo, RuleResult

Status = Literal["supported", "partial", "unsupported", "unknown"]


@dataclass(frozen=True)
class StackAnswer:
    """What the catalog says about one tool on one GPU: status, the GPU's stack, a note."""

    status: Status
    stack: str  # "CUDA", "ROCm", "oneAPI", ...
    note: str = ""
    source: str = ""


# (GPU catalog name, tool) -> answer. The real one comes from catalog/stacks.py.
StackLookup = Callable[[str, str], StackAnswer]

STACK = RuleInfo(
    id="gpu-software-stack",
    section="gpu",
    title="Software stack for the workload",
    why=(
        "Many training and inference tools are CUDA-only or CUDA-first: on a ROCm (AMD) or "
        "oneAPI (Intel) GPU a missing kernel means the job does not run, or runs on a slow "
        "fallback. Check the stack before buying, not after."
    ),
    source="catalog per-GPU stack data (catalog/stacks.py, each row sourced)",
)

# Tools a task implies when workload.software does not list them.
TASK_TOOLS = {"qlora": ("pytorch", "bitsandbytes"), "lora": ("pytorch",), "train": ("pytorch",)}


def default_lookup() -> StackLookup | None:
    """The catalog's stack lookup when the catalog provides one (catalog/stacks.py)."""
    try:
        from dlrig.catalog import stacks  # type: ignore[attr-defined]
    except ImportError:
        return None
    fn = getattr(stacks, "stack_support", None)
    if fn is None:
        return None

    def lookup(gpu: str, tool: str) -> StackAnswer:
        answer = fn(gpu, tool)
        if isinstance(answer, StackAnswer):
            return answer
        return StackAnswer(
            status=getattr(answer, "status", "unknown"),
            stack=getattr(answer, "stack", ""),
            note=getattr(answer, "note", ""),
            source=getattr(answer, "source", ""),
        )

    return lookup


def tools_of(build: Build) -> tuple[list[str], list[str]]:
    """(tools, defaults noted): workload.software, else what the task implies."""
    w = build.workload
    if w is None:
        return [], []
    if w.software:
        return [s.strip().lower() for s in w.software], []
    implied = list(TASK_TOOLS.get(w.task or "", ()))
    if implied:
        return implied, [f"tools implied by workload.task = {w.task}: {', '.join(implied)}"]
    return [], []


def check_stack(build: Build, lookup: StackLookup | None = None) -> RuleResult:
    if not build.gpus:
        return [STACK.skip("no GPUs")]
    tools, defaults = tools_of(build)
    if not tools:
        return [STACK.skip("needs workload.software (or workload.task)")]
    lookup = lookup or default_lookup()
    if lookup is None:
        return [STACK.skip("no per-GPU software stack data in the catalog yet")]
    out: RuleResult = []
    for g in build.gpus:
        answers = {tool: lookup(g.name, tool) for tool in tools}
        bad = {k: a for k, a in answers.items() if a.status == "unsupported"}
        partial = {k: a for k, a in answers.items() if a.status == "partial"}
        unknown = [k for k, a in answers.items() if a.status == "unknown"]
        stack = next((a.stack for a in answers.values() if a.stack), "")
        numbers = {"tools": qty(len(tools), "tools"), "unsupported": qty(len(bad), "tools")}
        if bad:
            names = ", ".join(f"{k}" + (f" ({a.note})" if a.note else "") for k, a in bad.items())
            out.append(
                STACK.finding(
                    Severity.ERROR,
                    f"{g.name} ({stack or 'its stack'}): {names} not supported.",
                    fix="Choose a CUDA GPU for this workload, or replace the tool with one that "
                    "supports this GPU's stack.",
                    numbers=numbers,
                    defaults_used=defaults,
                )
            )
        elif partial:
            names = ", ".join(
                f"{k}" + (f" ({a.note})" if a.note else "") for k, a in partial.items()
            )
            out.append(
                STACK.finding(
                    Severity.WARNING,
                    f"{g.name} ({stack or 'its stack'}): {names} only partly supported.",
                    fix="Check the tool's release notes for this GPU before buying.",
                    numbers=numbers,
                    defaults_used=defaults,
                )
            )
        else:
            text = f"{g.name} ({stack or 'stack'}) runs {', '.join(tools)}"
            if unknown:
                text += f"; unknown for {', '.join(unknown)}"
            out.append(
                STACK.finding(
                    Severity.OK if not unknown else Severity.INFO,
                    text + ".",
                    numbers=numbers,
                    defaults_used=defaults,
                )
            )
    return out
