"""The composition: one `Shape` per job, then memory and step time read from it.

`memory(m, job)` and `throughput(m, job)` keep their names for `check`, `recommend` and the fit
search; each derives the shape once. Step time plugs in at `throughput()` (the hook est-perf's
compute/comm/decode/step models replace: it receives the Shape and returns a
ThroughputEstimate).
"""

from __future__ import annotations

import math

from dlrig.estimate import interval, perf
from dlrig.estimate import load_peak as lp
from dlrig.estimate import memory as mem
from dlrig.estimate import shape as shapes
from dlrig.model.estimate import (
    DOES_NOT_FIT,
    FITS,
    TIGHT,
    Interval,
    MemoryEstimate,
    ThroughputEstimate,
    Verdict,
)
from dlrig.model.workload import Job, ModelSpec

GB = mem.GB


def shape(m: ModelSpec, job: Job) -> shapes.Shape:
    return shapes.derive(m, job)


def batch_size(m: ModelSpec, job: Job) -> int:
    return shapes.micro_batch(m, job)


def tokens_per_sample(m: ModelSpec, job: Job) -> int:
    """Sequence length for transformers (patches for a ViT); 1 for CNNs (one image)."""
    return shapes.sequence_length(m, job) if m.is_transformer else 1


def verdict(iv: Interval, capacity_gb: float) -> Verdict:
    """fits: even the interval's top fits; does not fit: even its bottom does not; else tight.
    The interval is where the measured need lies (Interval.band: need/(1+f) to need/(1−f))."""
    if iv.high is not None and iv.high <= capacity_gb:
        return FITS
    if iv.low > capacity_gb:
        return DOES_NOT_FIT
    return TIGHT


def memory_of(s: shapes.Shape) -> MemoryEstimate:
    from dlrig.estimate import engine_memory

    parts = mem.parts(s)
    load = lp.load_peak(s)
    # The job must survive loading too: where the framework quantises a 16-bit checkpoint on
    # the GPU, the fit is decided on the larger of the load's and the step's peaks.
    need = max(parts.need, load.nvidia_smi if load else 0.0) / GB
    capacity = mem.capacity_gb(s.job.gpu.memory_gb)
    iv = interval.memory_interval(need, s)
    v = verdict(iv, capacity)
    return MemoryEstimate(
        weights_gb=parts.weights / GB,
        gradients_gb=parts.gradients / GB,
        optimizer_gb=parts.optimizer / GB,
        activations_gb=parts.activations / GB,
        logits_gb=parts.logits / GB,
        kv_cache_gb=parts.kv_cache / GB,
        dequant_gb=parts.dequant / GB,
        engine_buffers_gb=parts.engine_buffers / GB,
        allocator_slack_gb=parts.allocator_slack / GB,
        cuda_context_gb=parts.cuda_context / GB,
        cublas_workspace_gb=parts.cublas_workspace / GB,
        nccl_buffers_gb=parts.nccl_buffers / GB,
        overhead_gb=(parts.allocator_slack + parts.outside_allocator) / GB,
        allocated_gb=parts.allocated / GB,
        reserved_gb=parts.reserved / GB,
        nvidia_smi_gb=parts.nvidia_smi / GB,
        load_peak_gb=load.nvidia_smi / GB if load else None,
        load_peak_allocated_gb=load.allocated / GB if load else None,
        load_peak_reserved_gb=load.reserved / GB if load else None,
        load_path=load.path if load else None,
        peak_at="load" if load and load.nvidia_smi > parts.need else "step",
        per_gpu_gb=need,
        per_gpu_interval=iv,
        capacity_gb=capacity,
        headroom_gb=capacity - need,
        verdict=v,
        fits=v != DOES_NOT_FIT,
        trainable_params=s.params_trainable,
        engine=parts.engine or None,
        context_tokens=parts.context_tokens,
        kv_capacity_tokens=(
            None if parts.kv_capacity_tokens is None else math.floor(parts.kv_capacity_tokens)
        ),
        max_concurrent_sequences=engine_memory.max_sequences(
            parts.kv_capacity_tokens, parts.context_tokens or 0
        ),
    )


def memory(m: ModelSpec, job: Job) -> MemoryEstimate:
    return memory_of(shape(m, job))


def throughput_of(s: shapes.Shape) -> ThroughputEstimate:
    """The time side: compute, communication, decode and step composition (estimate/perf.py)."""
    return perf.throughput_of(s)


def throughput(m: ModelSpec, job: Job) -> ThroughputEstimate:
    return throughput_of(shape(m, job))
