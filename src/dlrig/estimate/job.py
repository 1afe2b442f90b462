"""The per-job pieces `dlrig.estimate.estimate()` assembles: the micro-batch size, the GPU memory
and the throughput of one job (data rate, time, energy and the assumptions are added there)."""

from __future__ import annotations

from dlrig.estimate import memory as mem
from dlrig.estimate import params as p
from dlrig.estimate import perf
from dlrig.model.estimate import MemoryEstimate, ThroughputEstimate
from dlrig.model.workload import Job, ModelSpec

GB = mem.GB


def batch_size(m: ModelSpec, job: Job) -> int:
    if job.batch_size:
        return job.batch_size
    return p.DEFAULT_LM_BATCH if m.is_language_model else p.DEFAULT_VISION_BATCH


def memory(m: ModelSpec, job: Job) -> MemoryEstimate:
    b = batch_size(m, job)
    weights = mem.weights_bytes(m, job) + mem.zero3_gather_bytes(m, job)
    grads = mem.gradient_bytes(m, job)
    optim = mem.optimizer_bytes(m, job)
    acts = mem.activation_bytes(m, job, b)
    kv = mem.kv_cache_bytes(m, job, b)
    # The CUDA context: driver, cuBLAS/cuDNN handles and kernels loaded before any tensor.
    overhead = p.value("cuda_context_gb") * GB
    total = weights + grads + optim + acts + kv + overhead
    capacity = mem.capacity_gb(job.gpu.memory_gb)
    return MemoryEstimate(
        weights_gb=weights / GB,
        gradients_gb=grads / GB,
        optimizer_gb=optim / GB,
        activations_gb=acts / GB,
        kv_cache_gb=kv / GB,
        overhead_gb=overhead / GB,
        per_gpu_gb=total / GB,
        capacity_gb=capacity,
        headroom_gb=capacity - total / GB,
        fits=total / GB <= capacity,
        trainable_params=mem.trainable_params(m, job),
    )


def throughput(m: ModelSpec, job: Job) -> ThroughputEstimate:
    """The time side (compute, communication, decode, step composition): estimate/perf.py."""
    return perf.throughput(m, job, batch_size(m, job))
