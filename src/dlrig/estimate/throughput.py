"""Throughput: FLOPs over peak × utilisation for training and prefill, bytes over bandwidth ×
efficiency for decode, and the gradient all-reduce as its own term.

FLOPs per token follow PaLM (Chowdhery et al. 2022, Appendix B): 6·N + 12·L·H·Q·T for training,
a third of that for a forward pass. N counts the matrices that do matmuls: the input embedding is
a lookup, so an untied one is left out.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlrig.catalog import load
from dlrig.estimate import params as p
from dlrig.estimate.shape import FP32_BYTES, HALF_BYTES, Shape, is_fp32
from dlrig.model.estimate import ThroughputEstimate
from dlrig.model.parts import GpuSpec
from dlrig.model.workload import (
    DecodeEngine,
    Interconnect,
    Job,
    ModelKind,
    ModelSpec,
    Precision,
    Task,
)

TFLOPS = 1e12
GBS = 1e9
# Share of a training step's compute that is the backward pass: 4N of 6N for full training,
# 2N of 4N for LoRA (frozen weights need input gradients only, not weight gradients).
BACKWARD_SHARE = {Task.TRAIN: 2 / 3, Task.LORA: 1 / 2, Task.QLORA: 1 / 2}
NVLINK_DIRECTIONS = 2  # catalogs quote NVLink as the sum of both directions
# TF32 tensor cores exist from Ampere on and run at half the dense FP16 rate (NVIDIA A100
# datasheet: 156 vs 312 TFLOPS; H100 SXM 495 vs 989; RTX 4090 82.6 vs 165.2).
TF32_ARCHITECTURES = ("Ampere", "Ada", "Hopper", "Blackwell")
FP16_PER_TF32 = 2  # the dense FP16 rate is twice the TF32 rate
FLOPS_PER_GFLOP = 1e9


@dataclass(frozen=True)
class Peak:
    tflops: float
    what: str
    warning: str | None = None


def peak(gpu: GpuSpec, precision: Precision) -> Peak:
    """One GPU's dense rate at the compute precision."""
    fp16 = gpu.fp16_tensor_tflops
    if precision == Precision.FP32:
        return Peak(gpu.fp32_tflops, "FP32 (CUDA cores; PyTorch leaves TF32 matmuls off)")
    if precision == Precision.TF32:
        if fp16 and any(a in gpu.architecture for a in TF32_ARCHITECTURES):
            return Peak(fp16 / FP16_PER_TF32, "TF32 tensor cores, dense (half the FP16 rate)")
        return Peak(gpu.fp32_tflops, "FP32", f"{gpu.name} has no TF32 tensor cores: FP32 rate")
    if precision == Precision.FP8:
        if gpu.fp8_tensor_tflops:
            return Peak(gpu.fp8_tensor_tflops, "FP8 tensor cores, dense")
        fallback = fp16 or gpu.fp32_tflops
        return Peak(fallback, "FP16/BF16", f"{gpu.name} has no FP8 tensor cores: using 16-bit rate")
    if fp16:
        return Peak(fp16, "FP16/BF16 tensor cores, dense, FP32 accumulate")
    return Peak(gpu.fp32_tflops, "FP32 (no tensor cores)", f"{gpu.name} has no tensor cores")


@dataclass(frozen=True)
class Flops:
    """Per token (language models) or per sample (vision)."""

    model: float  # what MFU counts: forward and backward, no recomputation
    recompute: float  # one more forward pass when activations are checkpointed

    def executed(self, checkpointing: bool) -> float:
        return self.model + (self.recompute if checkpointing else 0.0)


def train_flops_per_token(s: Shape) -> Flops:
    return Flops(s.flops_per_token, s.flops_recompute_per_token)


def vision_flops_per_sample(s: Shape) -> Flops:
    fwd = (s.model.gflops_per_sample or 0) * FLOPS_PER_GFLOP
    return Flops(3 * fwd if s.training else fwd, fwd)


# Default utilisations measured with activation checkpointing on (torchtune's configs enable it,
# see efficiencies.csv). MFU does not count recomputation, so a job that differs from its
# reference in checkpointing is scaled by executed FLOPs at equal hardware utilisation.
MFU_MEASURED_WITH_CHECKPOINTING = frozenset({"mfu_train_single_gpu", "mfu_lora", "mfu_qlora"})


def checkpointing_factor(flops: Flops, job: Job, key: str | None) -> float:
    """Time multiplier for recomputation relative to how the utilisation was measured; 1.0 when
    the job checkpoints exactly like the reference (or the user gave --mfu for this job)."""
    reference = key in MFU_MEASURED_WITH_CHECKPOINTING if key else job.checkpointing
    return flops.executed(job.checkpointing) / flops.executed(reference)


def utilization_key(m: ModelSpec, job: Job) -> str:
    if job.task == Task.INFER:
        if not m.is_language_model:
            return "efficiency_prefill"
        if job.engine == DecodeEngine.TRANSFORMERS:
            return "efficiency_decode_bandwidth_hf"
        return "efficiency_decode_bandwidth"
    if job.task == Task.LORA:
        return "mfu_lora"
    if job.task == Task.QLORA:
        return "mfu_qlora"
    if m.kind == ModelKind.CNN:
        tensor = job.gpu.has_tensor_cores and job.precision != Precision.FP32
        return "efficiency_resnet50_train" if tensor else "efficiency_cnn_train_fp32"
    if job.gpu.form_factor in ("sxm", "oam"):
        return "mfu_train_llm_datacenter"
    return "mfu_train_single_gpu"


@dataclass(frozen=True)
class Link:
    what: str
    busbw_gbs: float | None


def allreduce_link(job: Job) -> Link:
    """The link gradients cross, with NCCL's achieved bus bandwidth on it."""
    gpu = job.gpu
    if job.n_gpus == 1:
        return Link("none (one GPU)", None)
    use_nvlink = job.interconnect == Interconnect.NVLINK or (
        job.interconnect == Interconnect.AUTO and gpu.form_factor in ("sxm", "oam")
    )
    if use_nvlink and gpu.nvlink and gpu.nvlink_gbs:
        one_way = gpu.nvlink_gbs / NVLINK_DIRECTIONS
        return Link(
            f"NVLink {one_way:g} GB/s", one_way * p.value("allreduce_busbw_fraction_nvlink")
        )
    link = load.pcie_gens()[gpu.pcie_gen].per_lane_gbs * gpu.pcie_lanes
    busbw = link * p.value("allreduce_busbw_fraction_pcie")
    what = f"PCIe {gpu.pcie_gen}.0 x{gpu.pcie_lanes} {link:.1f} GB/s"
    if gpu.p2p == "no":
        busbw *= p.value("pcie_no_p2p_fraction")
        what += ", no P2P: through host memory"
    return Link(what, busbw)


def comm_time_s(s: Shape, link: Link) -> float:
    """Data-parallel traffic of one step over the link.

    DDP and ZeRO-1/2: a ring all-reduce of the gradients, 2(n-1)/n x bytes / busbw (nccl-tests'
    busbw definition). ZeRO-3/FSDP: the weights are all-gathered for the forward and again for
    the backward pass and the gradients reduce-scattered, (n-1)/n x (2·W + G) — for full
    training the ZeRO paper's 3Ψ instead of 2Ψ (Rajbhandari et al. 2020, Sec. 7). Frozen
    weights are gathered too, which is what makes FSDP LoRA talk as much as full training.
    """
    job = s.job
    n = job.n_gpus
    if n == 1 or link.busbw_gbs is None:
        return 0.0
    grads = grad_sync_bytes(s)
    if job.zero >= 3:
        volume = (n - 1) / n * (2 * s.weight_bytes_job + grads)
    else:
        volume = 2 * (n - 1) / n * grads
    return volume / (link.busbw_gbs * GBS)


def hidden_by(job: Job, compute_s: float) -> float:
    """Compute time the traffic can overlap: DDP's bucketed all-reduce runs during the
    backward pass (Li et al. 2020, PyTorch Distributed, VLDB); FSDP prefetches the next
    block's weights during both passes."""
    return compute_s if job.zero >= 3 else compute_s * BACKWARD_SHARE[job.task]


def grad_sync_bytes(s: Shape) -> float:
    """Gradient bytes one step all-reduces: 16-bit full gradients, fp32 LoRA adapters."""
    n = s.params_trainable
    if s.job.task == Task.TRAIN and not is_fp32(s.job.precision):
        return n * HALF_BYTES
    return n * FP32_BYTES


def decode_bytes_per_step(s: Shape) -> float:
    """Bytes one GPU reads to generate one token for each of the batch's sequences."""
    return s.decode_bytes_per_gpu


# A step is called communication-bound when the traffic compute cannot hide exceeds this share
# of the compute time (a dlrig labelling choice; it changes the label, not the numbers).
COMM_BOUND_SHARE = 0.5


def _utilization(m: ModelSpec, job: Job) -> tuple[float, str, str | None]:
    """(utilisation, where it comes from, its efficiencies.csv key or None when given)."""
    key = utilization_key(m, job)
    if job.mfu is not None:
        return job.mfu, "given with --mfu", None
    return p.value(key), p.cite(key), key


def _train(s: Shape) -> ThroughputEstimate:
    m, job, b = s.model, s.job, s.micro_batch
    u, u_source, key = _utilization(m, job)
    pk = peak(job.gpu, job.precision)
    rate = pk.tflops * TFLOPS * u
    if m.kind == ModelKind.CNN or (m.kind == ModelKind.VIT and m.gflops_per_sample):
        flops = vision_flops_per_sample(s)
        per_step_units, per_token = b, False
    else:
        flops = train_flops_per_token(s)
        per_step_units, per_token = s.tokens_per_micro_step, True
    model_f = flops.model
    compute = model_f * per_step_units / rate * checkpointing_factor(flops, job, key)
    link = allreduce_link(job)
    comm = comm_time_s(s, link)
    exposed = max(0.0, comm - hidden_by(job, compute))  # only what outlasts compute
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
        step_parts_s={"compute": compute, "communication (not hidden)": exposed},
    )


def _infer(s: Shape) -> ThroughputEstimate:
    m, job, b = s.model, s.job, s.micro_batch
    pk = peak(job.gpu, job.precision)  # quantised weights are dequantised to 16-bit
    eff_prefill = p.value("efficiency_prefill")
    if not m.is_language_model:  # vision inference: compute-bound forward passes
        u, u_source, _ = _utilization(m, job)
        fwd = (m.gflops_per_sample or 0) * FLOPS_PER_GFLOP
        step = fwd * b / (pk.tflops * TFLOPS * u * job.n_gpus)
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
            step_parts_s={"compute": step},
        )
    u, u_source, _ = _utilization(m, job)
    fwd_per_token = s.flops_fwd_per_token
    gpus_rate = pk.tflops * TFLOPS * job.n_gpus
    prefill = gpus_rate * eff_prefill / fwd_per_token
    read_bytes = decode_bytes_per_step(s) * s.plan.pp  # layer split: stages run one after another
    memory_time = read_bytes / (job.gpu.memory_bandwidth_gbs * GBS * u)
    compute_time = fwd_per_token * b / (gpus_rate * eff_prefill)
    step = max(memory_time, compute_time)
    bound = "memory-bandwidth" if memory_time >= compute_time else "compute"
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
        link="none (layers split across GPUs)" if job.n_gpus > 1 else "none",
        bound=bound,
        prefill_tokens_per_s=prefill,
        step_parts_s={"memory bandwidth" if bound == "memory-bandwidth" else "compute": step},
    )


def throughput(s: Shape) -> ThroughputEstimate:
    return _train(s) if s.training else _infer(s)
