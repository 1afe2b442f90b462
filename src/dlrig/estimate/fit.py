"""What would make a job fit: the changes that save memory, each with its predicted memory and
what it costs in time, cheapest first.

Candidates are tried alone, then in pairs and threes; failing all, with more GPUs. A set of
changes is accepted when the verdict becomes "fits" (the interval's top fits); only when no set
gets there are "tight" ones offered. Cost in time is the step model's per-token (per-sample) time
after / before; offloading can never be free, so where the step model does not price it the
cost says "time not estimated" and it sorts after every priced change. Each change is written
two ways: as the `[workload]` line of a build file (`dlrig check`) and as `dlrig estimate` flags.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Literal

from dlrig.errors import DlrigError
from dlrig.estimate import job as jobs
from dlrig.model.estimate import DOES_NOT_FIT, FITS, TIGHT, Suggestion, Verdict
from dlrig.model.workload import (
    BaseQuant,
    Job,
    KvDtype,
    Loss,
    ModelSpec,
    Offload,
    Optimizer,
    OptimizerDtype,
    Quant,
    Task,
)

Style = Literal["toml", "flag"]
# Fixes are tried alone, then in pairs, then in threes.
MAX_COMBINED_FIXES = 3
# Largest GPU count the "more GPUs" fix searches (one large node or a few).
MAX_GPUS_SUGGESTED = 64
# Shortest training sequence / inference context a fix proposes (below it the job changes).
MIN_SUGGESTED_TOKENS = 512
MOST_SUGGESTIONS = 3
VERDICT_RANK = {FITS: 0, TIGHT: 1, DOES_NOT_FIT: 2}


@dataclass(frozen=True)
class Candidate:
    toml: str
    flag: str
    change: dict[str, Any]
    cost: str  # in words: what the job gives up
    changes_result: bool = False  # a different job (shorter context, quantised weights)
    loss_rank: float = 0  # how much of the result it gives up, among those that change it
    # A limit the engine allocates for that the job's requests never reach (a cap on vLLM's
    # default max-model-len): it changes what is reserved, not the work of a request, so
    # the time is priced without it.
    limit_only: bool = False

    def text(self, style: Style) -> str:
        return self.toml if style == "toml" else self.flag


def _c(
    toml: str,
    flag: str,
    change: dict[str, Any],
    cost: str,
    changes: bool = False,
    rank: float = 0,
    limit_only: bool = False,
) -> Candidate:
    return Candidate(toml, flag, change, cost, changes, rank, limit_only)


def _halvings(n: int, floor: int) -> list[int]:
    """n/2, n/4, … down to `floor` (the values a fix may propose, largest first)."""
    out = []
    while n // 2 >= floor:
        n //= 2
        out.append(n)
    return out


def _training(m: ModelSpec, job: Job) -> list[Candidate]:
    out: list[Candidate] = []
    b = job.batch_size or 1
    for smaller in _halvings(b, 1):
        accum = job.grad_accum * b // smaller if b % smaller == 0 else job.grad_accum
        same = b % smaller == 0
        out.append(
            _c(
                f"batch_size = {smaller} and grad_accum = {accum}",
                f"--batch-size {smaller} --grad-accum {accum}",
                {"batch_size": smaller, "grad_accum": accum},
                "same global batch, smaller GEMMs" if same else "a smaller global batch",
                changes=not same,
            )
        )
    if not job.checkpointing and m.is_transformer:
        out.append(
            _c(
                "checkpointing = true",
                "--checkpointing",
                {"checkpointing": True},
                "one more forward pass per step",
            )
        )
    if job.selective_checkpointing:
        out.append(
            _c(
                'checkpointing = "full"',
                "--checkpointing-mode full",
                {"checkpointing_mode": "full"},
                "the rest of each block's forward recomputed too",
            )
        )
    if m.is_transformer and not job.offloaded_checkpointing:
        # After full checkpointing the block inputs are what is left of the activations:
        # Unsloth's offloaded checkpointing (torchtune's activation offloading) keeps them in
        # CPU memory and costs their copy over PCIe where compute does not hide it.
        out.append(
            _c(
                'checkpointing = "offload"',
                "--checkpointing-mode offload",
                {"checkpointing": True, "checkpointing_mode": "offload"},
                "each block's input copied to CPU memory and back over PCIe",
            )
        )
    if job.loss == Loss.STANDARD and m.has_vocab_head:
        out.append(
            _c(
                'loss = "chunked" (torchtune, or Liger\'s fused loss)',
                "--loss chunked (torchtune, or Liger's fused loss)",
                {"loss": "chunked"},
                "a loss implementation that upcasts one chunk at a time",
            )
        )
    if job.optimizer == Optimizer.ADAMW and job.offload == Offload.NONE:
        out.append(
            _c(
                'optimizer = "adam8bit"',
                "--optimizer adam8bit",
                {"optimizer": "adam8bit"},
                "8-bit optimizer states (bitsandbytes)",
            )
        )
        if job.optimizer_dtype == OptimizerDtype.FP32:
            out.append(
                _c(
                    'optimizer_dtype = "bf16"',
                    "--optimizer-dtype bf16",
                    {"optimizer_dtype": "bf16"},
                    "bf16 optimizer states",
                )
            )
    if job.n_gpus > 1:
        out += [
            _c(f"zero = {z}", f"--zero {z}", {"zero": z}, f"ZeRO-{z} sharding traffic")
            for z in range(job.zero + 1, 4)
        ]
    seq = job.seq_len
    if m.is_language_model and seq:
        for i, t in enumerate(_halvings(seq, MIN_SUGGESTED_TOKENS), start=1):
            out.append(
                _c(
                    f"seq_len = {t}",
                    f"--seq-len {t}",
                    {"seq_len": t},
                    "shorter training sequences",
                    changes=True,
                    rank=i,
                )
            )
    if job.task == Task.LORA and job.base_quant == BaseQuant.NONE:
        out.append(
            _c(
                'base_quant = "int8"',
                "--base-quant int8",
                {"base_quant": "int8"},
                "int8 base weights (bitsandbytes LLM.int8), dequantised in every matmul",
                changes=True,
                rank=1,
            )
        )
        out.append(
            _c(
                'task = "qlora" (4-bit NF4 base)',
                "--task qlora",
                {"task": "qlora"},
                "NF4 base weights, dequantised in every matmul",
                changes=True,
                rank=2,
            )
        )
    if job.offload == Offload.NONE and job.task == Task.TRAIN:
        out.append(
            _c(
                'offload = "optimizer" (states in CPU memory)',
                "--offload optimizer (states in CPU memory)",
                {"offload": "optimizer"},
                "optimizer states over PCIe every step and the Adam step on the CPU",
            )
        )
    return out


def _inference(m: ModelSpec, job: Job) -> list[Candidate]:
    out: list[Candidate] = []
    from dlrig.estimate import engine_memory as em

    kv = em.smaller_kv_dtype(job.engine)
    if job.kv_dtype == KvDtype.FP16 and m.has_vocab_head and kv:
        out.append(
            _c(
                f'kv_dtype = "{kv}"',
                f"--kv-dtype {kv}",
                {"kv_dtype": kv},
                "8-bit KV cache",
                changes=True,
                rank=1,
            )
        )
    share = job.gpu_memory_utilization
    if job.engine in em.SHARE_SUGGESTED and (share is None or share < em.HIGH_SHARE):
        # vLLM / SGLang leave (1 - share) of the card to others; raising the share costs
        # nothing but the room other processes (a desktop, a second model) had.
        out.append(
            _c(
                f"gpu_memory_utilization = {em.HIGH_SHARE}",
                f"--gpu-memory-utilization {em.HIGH_SHARE}",
                {"gpu_memory_utilization": em.HIGH_SHARE},
                "less GPU memory left to other processes",
                rank=1,
            )
        )
    for n in _halvings(job.batch_size or 1, 1):
        out.append(
            _c(
                f"batch_size = {n} (fewer sequences at once)",
                f"--batch-size {n} (fewer sequences at once)",
                {"batch_size": n},
                "fewer concurrent sequences",
                changes=True,  # serves fewer requests: weighed against lossless-ish int8
                rank=1,
            )
        )
    stored = m.checkpoint_quant
    if job.quant == Quant.NONE and stored:
        # the model as published (gpt-oss: MXFP4 experts): its own weights, nothing lost
        out.append(
            _c(f'quant = "{stored}"', f"--quant {stored}", {"quant": stored}, f"{stored} weights")
        )
    # Least lossy first: 8-bit weights, then the 4-bit formats.
    for rank, q in enumerate(("int8", "q4_k_m", "int4"), start=1):
        if job.quant == Quant.NONE or (q == "int4" and job.quant == Quant.INT8):
            out.append(
                _c(
                    f'quant = "{q}"',
                    f"--quant {q}",
                    {"quant": q},
                    f"{q} weights",
                    changes=True,
                    rank=rank,
                )
            )
    # The context the engine allocates for: --context, else (vLLM's --max-model-len,
    # ExLlamaV2's max_seq_len ...) the engine's own default when nothing else is given.
    allocated = job.context
    engine_default = em.context_unstated(job)
    if engine_default:
        allocated = em.engine_default_context(job.engine, m)
    if allocated:
        for i, c in enumerate(_halvings(allocated, MIN_SUGGESTED_TOKENS), start=2):
            # A context the user asked for: each halving gives up more of it. The engine's
            # own default (vLLM's max-model-len = the model's whole window) is room nobody
            # asked for: capping it is the fix vLLM's own error names, about as cheap as the
            # least lossy change (rank 1), the longest cap that fits first (+0.01 a halving,
            # so a shorter cap never outranks a longer one on its shorter KV read).
            out.append(
                _c(
                    f"context = {c}",
                    f"--context {c}",
                    {"context": c},
                    f"at most {c:,} tokens per sequence (the engine's default is {allocated:,})"
                    if engine_default
                    else "a shorter context",
                    changes=True,
                    rank=1 + (i - 2) / 100 if engine_default else i,
                    # --context here caps the engine's allocation; the decode still reads
                    # the tokens the job assumed before (shape.decode_context), so the same
                    # step time: a shorter cap is not a faster job
                    limit_only=engine_default,
                )
            )
    return out


def candidates(m: ModelSpec, job: Job) -> list[Candidate]:
    """Single changes that save memory for this job."""
    return _inference(m, job) if job.task == Task.INFER else _training(m, job)


def _combos(pool: list[Candidate], size: int) -> Iterator[tuple[Candidate, ...]]:
    for combo in combinations(pool, size):
        keys = [k for c in combo for k in c.change]
        if len(keys) == len(set(keys)):  # not two values of one setting
            yield combo


def _try(m: ModelSpec, job: Job, change: dict[str, Any]) -> tuple[Job, float, Verdict] | None:
    """The job after `change`, its memory and verdict; None when the change is no fix: an
    impossible plan, or not even the central estimate fits (a "tight" job over capacity)."""
    try:
        new = Job.model_validate({**job.model_dump(), **change})
        need = jobs.memory(m, new)
    except (DlrigError, ValueError):
        return None
    if need.verdict == DOES_NOT_FIT or need.headroom_gb < 0:
        return None
    return new, need.per_gpu_gb, need.verdict


def _per_unit_time(m: ModelSpec, job: Job) -> float | None:
    """Seconds per token (per sample) of the whole job, or None when not estimated."""
    try:
        t = jobs.throughput(m, job)
    except (DlrigError, ValueError):
        return None
    rate = t.tokens_per_s or t.samples_per_s
    return 1 / rate if rate else None


def _time_ratio(m: ModelSpec, before: Job, after: Job, offloads: bool) -> float | None:
    t0, t1 = _per_unit_time(m, before), _per_unit_time(m, after)
    if t0 is None or t1 is None:
        return None
    if offloads:
        # Offloading is never free: if the step model gives the same job without the offload
        # the same or a longer time, it does not price the PCIe traffic; say "not estimated".
        without = _per_unit_time(m, after.model_copy(update={"offload": before.offload}))
        if without is None or t1 <= without:
            return None
    return t1 / t0


def _suggest(
    m: ModelSpec, job: Job, combo: tuple[Candidate, ...], extra: dict[str, Any], label: str
) -> tuple[Suggestion, float] | None:
    change = dict(extra)
    for c in combo:
        change |= c.change
    tried = _try(m, job, change)
    if tried is None:
        return None
    new, need_gb, v = tried
    offloads = new.offload != Offload.NONE and job.offload == Offload.NONE
    # a limit the requests never reach is timed as the job was (Candidate.limit_only)
    kept = {k: getattr(job, k) for c in combo if c.limit_only for k in c.change}
    ratio = _time_ratio(m, job, new.model_copy(update=kept) if kept else new, offloads)
    costs = [c.cost for c in combo] + ([label] if label else [])
    if ratio is None:
        costs.append("time not estimated")
    else:
        costs.append(
            f"{ratio:.2f}x the time per token"
            if m.is_language_model
            else f"{ratio:.2f}x the time per sample"
        )
    flags = " ".join(c.flag for c in combo)
    tomls = " and ".join(c.toml for c in combo)
    if extra:
        gpus = extra["n_gpus"]
        shard = " --zero 3" if "zero" in extra else ""
        flags = f"--gpus {gpus}{shard or ' (layers split across them)'}" + (
            f" {flags}" if flags else ""
        )
        split = " with zero = 3 (FSDP)" if shard else " (layers split across them)"
        more = f"{gpus} GPUs{split}"
        tomls = more + (f" and {tomls}" if tomls else "")
    changes_result = sum(c.loss_rank or c.changes_result for c in combo)
    return (
        Suggestion(
            flag=flags,
            toml=tomls,
            change={
                k: (v if isinstance(v, int | float | bool) else str(v)) for k, v in change.items()
            },
            per_gpu_gb=need_gb,
            verdict=v,
            step_time_ratio=ratio,
            cost="; ".join(costs),
        ),
        changes_result,
    )


def _order(item: tuple[Suggestion, float]) -> tuple:
    s, loss = item
    priced = s.step_time_ratio is not None
    return (
        VERDICT_RANK[s.verdict],
        loss,  # a job that still trains/serves the same thing first, then the least lossy
        not priced,  # unpriced (offload) after every priced change
        round(s.step_time_ratio or 0.0, 2),
    )


def expressible_in_build_file(change: dict[str, Any]) -> bool:
    """A build file's [workload] takes fewer settings than the command line."""
    from pydantic import ValidationError

    from dlrig.model.build import WorkloadInput

    keys = {k: v for k, v in change.items() if k != "n_gpus"}
    try:
        WorkloadInput.model_validate(keys)
    except ValidationError:
        return False
    return True


def suggestions(
    m: ModelSpec, job: Job, most: int = MOST_SUGGESTIONS, style: Style = "flag"
) -> list[Suggestion]:
    """Up to `most` cheapest sets of changes that make the job fit (else tight); failing all,
    the fewest more GPUs (sharded with ZeRO-3 for training), alone or with a change. With
    style "toml" only changes a build file can say."""
    pool = candidates(m, job)
    if style == "toml":
        pool = [c for c in pool if expressible_in_build_file(c.change)]
    # Singles and pairs compete on cost (a priced pair beats an unpriced offload alone);
    # threes only when no single or pair fits.
    for sizes in ((1, 2), (3,)):
        found = [
            (r, size)
            for size in sizes
            for combo in _combos(pool, size)
            if (r := _suggest(m, job, combo, {}, "")) is not None
        ]
        best = [(r, n) for r, n in found if r[0].verdict == FITS] or found
        if best:
            ranked = sorted(best, key=lambda rn: (*_order(rn[0]), rn[1]))
            return [s for (s, _), _ in ranked[:most]]
    more: dict[str, Any] = {"zero": 3} if job.task != Task.INFER else {}
    for n in range(job.n_gpus + 1, MAX_GPUS_SUGGESTED + 1):
        if n % job.nodes:
            continue
        for size in range(MAX_COMBINED_FIXES):
            label = _more_gpus(job, n - job.n_gpus)
            found = [
                r
                for combo in _combos(pool, size)
                if (r := _suggest(m, job, combo, {"n_gpus": n, **more}, label)) is not None
            ]
            if found:
                return [sorted(found, key=_order)[0][0]]
    return []


def _more_gpus(job: Job, extra: int) -> str:
    """`3 more GPUs`, with their price per hour when the job gives one."""
    text = f"{extra} more GPU{'s' if extra > 1 else ''}"
    if job.price_per_gpu_hour is not None:
        text += f" (+{extra * job.price_per_gpu_hour:,.2f} per hour at the given GPU-hour price)"
    return text


def fixes(m: ModelSpec, job: Job, style: Style = "flag", most: int = MOST_SUGGESTIONS) -> list[str]:
    """The suggestions as text: build-file lines (`check`) or flags."""
    return [s.toml if style == "toml" else s.flag for s in suggestions(m, job, most, style)]


def model_states_gb(m: ModelSpec, job: Job) -> float:
    """Weights, gradients and optimizer states of the whole job before any sharding."""
    whole = jobs.memory(
        m,
        job.model_copy(
            update={"n_gpus": 1, "zero": 0, "tp": 1, "pp": 1, "cp": 1, "ep": 1, "nodes": 1}
        ),
    )
    return whole.weights_gb + whole.gradients_gb + whole.optimizer_gb
