"""The per-job pieces `dlrig.estimate.estimate()` assembles: the micro-batch size, the GPU memory
and the throughput of one job (data rate, time, energy and the assumptions are added there)."""

from __future__ import annotations

from dlrig.estimate import memory as mem
from dlrig.estimate import params as p
from dlrig.estimate import throughput as tp
from dlrig.model.estimate import MemoryEstimate, ThroughputEstimate
from dlrig.model.workload import Job, ModelKind, ModelSpec, Task

GB = mem.GB
# A step is called communication-bound when the traffic compute cannot hide exceeds this share
# of the compute time (a dlrig labelling choice; it changes the label, not the numbers).
COMM_BOUND_SHARE = 0.5


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


def _utilization(m: ModelSpec, job: Job) -> tuple[float, str, str | None]:
    """(utilisation, where it comes from, its efficiencies.csv key or None when given)."""
    key = tp.utilization_key(m, job)
    if job.mfu is not None:
        return job.mfu, "given with --mfu", None
    return p.value(key), p.cite(key), key


def tokens_per_sample(m: ModelSpec, job: Job) -> int:
    """Sequence length for transformers (patches for a ViT); 1 for CNNs (one image)."""
    return mem.sequence_length(m, job) if m.is_transformer else 1


def _train(m: ModelSpec, job: Job, b: int) -> ThroughputEstimate:
    u, u_source, key = _utilization(m, job)
    pk = tp.peak(job.gpu, job.precision)
    rate = pk.tflops * tp.TFLOPS * u
    if m.kind == ModelKind.CNN or (m.kind == ModelKind.VIT and m.gflops_per_sample):
        flops = tp.vision_flops_per_sample(m, job)
        per_step_units, per_token = b, False
    else:
        flops = tp.train_flops_per_token(m, job, mem.sequence_length(m, job))
        per_step_units, per_token = b * tokens_per_sample(m, job), True
    model_f = flops.model
    compute = model_f * per_step_units / rate * tp.checkpointing_factor(flops, job, key)
    link = tp.allreduce_link(job)
    comm = tp.comm_time_s(m, job, link)
    exposed = max(0.0, comm - tp.hidden_by(job, compute))  # only what outlasts compute
    step = compute + exposed
    per_gpu = per_step_units / step
    total = per_gpu * job.n_gpus
    return ThroughputEstimate(
        tokens_per_s=total if per_token else None,
        tokens_per_s_per_gpu=per_gpu if per_token else None,
        samples_per_s=total / (per_step_units / b) if per_token else total,
        samples_per_s_per_gpu=None if per_token else per_gpu,
        utilization=u,
        utilization_source=u_source,
        peak_tflops=pk.tflops,
        flops_per_token=model_f if per_token else None,
        flops_per_sample=None if per_token else model_f,
        step_time_s=step,
        compute_time_s=compute,
        allreduce_time_s=comm,
        exposed_comm_s=exposed,
        link=link.what,
        link_gbs=link.busbw_gbs,
        bound="communication" if exposed > COMM_BOUND_SHARE * compute else "compute",
    )


def _infer(m: ModelSpec, job: Job, b: int) -> ThroughputEstimate:
    pk = tp.peak(job.gpu, job.precision)  # quantised weights are dequantised to 16-bit
    eff_prefill = p.value("efficiency_prefill")
    if not m.is_language_model:  # vision inference: compute-bound forward passes
        u, u_source, _ = _utilization(m, job)
        fwd = (m.gflops_per_sample or 0) * tp.FLOPS_PER_GFLOP
        step = fwd * b / (pk.tflops * tp.TFLOPS * u * job.n_gpus)
        return ThroughputEstimate(
            samples_per_s=b / step,
            samples_per_s_per_gpu=b / step / job.n_gpus,
            utilization=u,
            utilization_source=u_source,
            peak_tflops=pk.tflops,
            flops_per_sample=fwd,
            step_time_s=step,
            compute_time_s=step,
            bound="compute",
        )
    u, u_source, _ = _utilization(m, job)
    c = mem.sequence_length(m, job)
    fwd_per_token = 2 * tp.compute_params(m) + tp.attention_flops_fwd(m, c)
    gpus_rate = pk.tflops * tp.TFLOPS * job.n_gpus
    prefill = gpus_rate * eff_prefill / fwd_per_token
    read_bytes = tp.decode_bytes_per_step(m, job, b)
    memory_time = read_bytes / (job.gpu.memory_bandwidth_gbs * tp.GBS * u)
    compute_time = fwd_per_token * b / (gpus_rate * eff_prefill)
    step = max(memory_time, compute_time)
    return ThroughputEstimate(
        tokens_per_s=b / step,
        tokens_per_s_per_gpu=b / step / job.n_gpus,
        samples_per_s=None,
        utilization=u,
        utilization_source=u_source,
        peak_tflops=pk.tflops,
        flops_per_token=fwd_per_token,
        step_time_s=step,
        compute_time_s=compute_time,
        link="none (weights split across GPUs; tensor-parallel traffic not modelled)"
        if job.n_gpus > 1
        else "none",
        bound="memory-bandwidth" if memory_time >= compute_time else "compute",
        prefill_tokens_per_s=prefill,
    )


def throughput(m: ModelSpec, job: Job) -> ThroughputEstimate:
    b = batch_size(m, job)
    return _infer(m, job, b) if job.task == Task.INFER else _train(m, job, b)
