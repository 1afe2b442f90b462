"""The cheapest changes that make a job fit in GPU memory.

Each candidate saves memory at some cost (speed, quality, money); they are tried alone, then in
pairs and threes, cheapest first, and failing all, with more GPUs. Each is written two ways: as
the `[workload]` line of a build file (`dlrig check`) and as the `dlrig estimate` flag.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Literal

from dlrig.estimate.job import memory
from dlrig.model.workload import Job, Loss, ModelSpec, Offload, Task

Style = Literal["toml", "flag"]
# Fixes are tried alone, then in pairs, then in threes.
MAX_COMBINED_FIXES = 3
# Largest GPU count the "more GPUs" fix searches (one large node or a few).
MAX_GPUS_SUGGESTED = 64


@dataclass(frozen=True)
class Candidate:
    toml: str
    flag: str
    change: dict[str, Any]

    def text(self, style: Style) -> str:
        return self.toml if style == "toml" else self.flag


def candidates(m: ModelSpec, job: Job) -> list[Candidate]:
    """Single changes that save memory for this job, cheapest first (checkpointing and the loss
    only for transformers: CNN checkpointing is not modelled, CNNs have no vocabulary)."""
    out: list[Candidate] = []
    training = job.task != Task.INFER
    if training and not job.checkpointing and m.is_transformer:
        out.append(Candidate("checkpointing = true", "--checkpointing", {"checkpointing": True}))
    if training and job.loss == Loss.STANDARD and m.is_language_model:
        out.append(
            Candidate(
                'loss = "chunked" (torchtune, or Liger\'s fused loss)',
                "--loss chunked (torchtune, or Liger's fused loss)",
                {"loss": "chunked"},
            )
        )
    if training and (job.batch_size or 1) > 1:
        out.append(
            Candidate(
                "batch_size = 1 with gradient accumulation",
                "--batch-size 1 with gradient accumulation",
                {"batch_size": 1},
            )
        )
    if training and job.n_gpus > 1:
        out += [
            Candidate(f"zero = {z}", f"--zero {z}", {"zero": z}) for z in range(job.zero + 1, 4)
        ]
    if job.task == Task.INFER:
        out += [
            Candidate(f'quant = "{q}"', f"--quant {q}", {"quant": q})
            for q in ("int8", "int4")
            if q != job.quant and not (q == "int8" and job.quant == "int4")
        ]
        if (job.batch_size or 1) > 1:
            out.append(
                Candidate(
                    "batch_size = 1 (fewer sequences at once)",
                    "--batch-size 1 (fewer sequences at once)",
                    {"batch_size": 1},
                )
            )
    if job.task == Task.LORA:
        out.append(
            Candidate('task = "qlora" (4-bit base weights)', "--task qlora", {"task": "qlora"})
        )
    if job.task == Task.TRAIN and job.offload == Offload.NONE:
        out.append(
            Candidate(
                'offload = "optimizer" (states in CPU memory)',
                "--offload optimizer (states in CPU memory)",
                {"offload": "optimizer"},
            )
        )
    return out


def _combos(pool: list[Candidate], size: int, style: Style) -> Iterator[tuple[str, dict]]:
    for combo in combinations(pool, size):
        change: dict[str, Any] = {}
        for c in combo:
            change |= c.change
        yield " and ".join(c.text(style) for c in combo), change


def fixes(m: ModelSpec, job: Job, style: Style = "flag", most: int = 3) -> list[str]:
    """Up to `most` cheapest sets of changes that fit; else the fewest GPUs that fit (sharded
    with ZeRO-3 for training, alone or with a change); else nothing."""
    pool = candidates(m, job)

    def fits(change: dict[str, Any]) -> bool:
        return memory(m, job.model_copy(update=change)).fits

    for size in range(1, MAX_COMBINED_FIXES + 1):
        found = [text for text, change in _combos(pool, size, style) if fits(change)]
        if found:
            return found[:most]
    more = {"zero": 3} if job.task != Task.INFER else {}
    if style == "toml":
        shard = " with zero = 3 (FSDP)" if more else " (weights split across them)"
    else:
        shard = " with --zero 3 (FSDP)" if more else " (weights split across them)"
    for n in range(job.n_gpus + 1, MAX_GPUS_SUGGESTED + 1):
        for size in range(MAX_COMBINED_FIXES):
            for text, change in _combos(pool, size, style):
                if fits({"n_gpus": n, **more, **change}):
                    return [f"{n} GPUs{shard}" + (f" and {text}" if text else "")]
    return []


def model_states_gb(m: ModelSpec, job: Job) -> float:
    """Weights, gradients and optimizer states of the whole job before any sharding."""
    whole = memory(m, job.model_copy(update={"n_gpus": 1, "zero": 0}))
    return whole.weights_gb + whole.gradients_gb + whole.optimizer_gb
