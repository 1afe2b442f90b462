"""What an estimate assumed and where its numbers come from, written for this job.

Each line describes the setting actually used (optimizer, loss, sharding, checkpointing), so
the list a user reads is the basis of the numbers they got, not a generic disclaimer.
"""

from __future__ import annotations

from dlrig.estimate import calibration as cal
from dlrig.estimate import memory as mem
from dlrig.estimate import params as p
from dlrig.estimate import perf
from dlrig.model.thresholds import DEFAULT_PSU_EFFICIENCY
from dlrig.model.workload import Job, Loss, ModelKind, ModelSpec, Offload, Optimizer, Quant, Task

OPTIMIZER_STATES = {
    Optimizer.ADAMW: "AdamW momentum and variance",
    Optimizer.SGD: "SGD momentum",
    Optimizer.ADAM8BIT: "8-bit Adam states",
    Optimizer.ADAFACTOR: "Adafactor factored second moment",
}
LOSS = {
    Loss.STANDARD: "logits kept in 16-bit and as fp32 for the loss (Hugging Face)",
    Loss.CHUNKED: "16-bit logits kept, fp32 only one chunk at a time (chunked loss)",
    Loss.FUSED: "logits never materialised (fused linear cross-entropy)",
}


def _states(m: ModelSpec, job: Job) -> str:
    per_param = mem.optimizer_bytes_per_param(m, job)
    states = OPTIMIZER_STATES[job.optimizer]
    if job.task in (Task.LORA, Task.QLORA):
        bits, what = mem.weight_bits(job)
        text = (
            f"frozen base weights as {what} ({bits:g} bits); adapters by the ZeRO paper's "
            f"accounting: {mem.FP32_BYTES} B weights, {mem.FP32_BYTES} B gradients, "
            f"{per_param:.3g} B optimizer ({states}) per adapter parameter"
        )
    else:
        fp32 = mem.is_fp32(job.precision)
        weight = mem.FP32_BYTES if fp32 else mem.HALF_BYTES
        master = "fp32 master weights + " if not fp32 and job.master_weights else ""
        text = (
            f"model states by the ZeRO paper's accounting: {weight} B weights, {weight} B "
            f"gradients, {per_param:.3g} B optimizer ({master}{states}) per parameter"
        )
    sharded = [
        what
        for stage, what in ((1, "optimizer states"), (2, "gradients"), (3, "weights"))
        if job.zero >= stage
    ]
    if sharded and job.n_gpus > 1:
        text += f"; {', '.join(sharded)} sharded over {job.n_gpus} GPUs (ZeRO-{job.zero})"
    if job.offload != Offload.NONE:
        kept = "optimizer states" if job.offload == Offload.OPTIMIZER else "weights and states"
        text += f"; {kept} in CPU memory"
    if job.optimizer_in_backward:
        text += "; gradients applied block by block in backward"
    return text


def _activations(m: ModelSpec, job: Job) -> str:
    if m.kind == ModelKind.CNN:
        return (
            f"activations: {m.activation_mb_per_sample:g} MB per image at fp32 from the preset, "
            f"scaled to {job.precision.value}; checkpointing not modelled for CNNs"
        )
    recompute = (
        "full checkpointing: each layer's input kept, one layer recomputed at a time"
        if job.checkpointing
        else "no checkpointing"
    )
    text = f"activations by Korthikanti et al. 2022 with FlashAttention (no s² scores); {recompute}"
    if m.is_language_model:
        text += f"; {LOSS[job.loss]}"
    return text


def _traffic(job: Job) -> str | None:
    if job.n_gpus == 1:
        return None
    if job.zero >= 3:
        return (
            "FSDP/ZeRO-3: weights all-gathered for the forward and backward passes and "
            "gradients reduce-scattered, prefetched behind compute"
        )
    return "gradients all-reduced (ring), overlapped with the backward pass (PyTorch DDP buckets)"


def assumptions(m: ModelSpec, job: Job, est_batch: int) -> list[str]:
    out = [f"model: {m.source}"] if m.source else []
    if not job.batch_size:
        out.append(f"micro-batch {est_batch} per GPU (not given)")
    if m.is_language_model and not (job.seq_len if job.task != Task.INFER else job.context):
        what = "context" if job.task == Task.INFER else "sequence length"
        out.append(f"{what} {mem.sequence_length(m, job)} tokens (not given)")
    if job.task != Task.INFER:
        out += [_states(m, job), _activations(m, job)]
        traffic = _traffic(job)
        if traffic:
            out.append(traffic)
    if job.task in (Task.LORA, Task.QLORA):
        out.append(
            f"LoRA rank {job.lora_rank} on {job.lora_targets.value} linear layers; adapters and "
            "their optimizer states in fp32"
        )
    if job.task == Task.INFER and m.is_language_model:
        out.append(
            "decode reads this GPU's weights and the whole KV cache once per generated token; "
            f"KV cache in 16-bit; prefill in chunks of {p.PREFILL_CHUNK_TOKENS} tokens"
            if job.engine == "optimized"
            else "decode reads this GPU's weights and the whole KV cache once per generated "
            "token; KV cache in 16-bit; the whole batch of prompts prefilled at once"
        )
        if job.n_gpus > 1:
            out.append("weights and KV cache split evenly across GPUs (tensor parallel)")
    out.append(
        f"GPU memory {job.gpu.memory_gb:g} GiB = {mem.capacity_gb(job.gpu.memory_gb):.1f} GB"
    )
    out.append(
        f"energy: GPUs at their {job.gpu.tdp_w:g} W board power, at the wall through a PSU "
        f"of {DEFAULT_PSU_EFFICIENCY:.0%} efficiency; host power not included"
    )
    return out


def sources(m: ModelSpec, job: Job) -> list[str]:
    """`key = value: source` for every efficiencies.csv row this estimate used."""
    keys = ["cuda_context_gb"]
    if job.n_gpus > 1:
        keys += ["allreduce_busbw_fraction_nvlink", "allreduce_busbw_fraction_pcie"]
        if job.gpu.p2p == "no":
            keys.append("pcie_no_p2p_fraction")
    if job.task == Task.QLORA:
        keys.append("bits_nf4_double_quant")
    if job.task == Task.INFER and job.quant != Quant.NONE:
        keys.append("bits_int8" if job.quant == Quant.INT8 else "bits_int4_gptq_g128")
    if job.optimizer == Optimizer.ADAM8BIT:
        keys.append("bytes_adam8bit_per_param")
    if not m.is_language_model and job.task != Task.INFER:
        keys += ["imagenet_jpeg_bytes", "jpeg_decode_images_per_core_s"]
    return [p.cite(k) for k in dict.fromkeys(keys)] + fitted_sources(m, job)


def fitted_sources(m: ModelSpec, job: Job) -> list[str]:
    """The fitted constants (benchmarks/calibrate.py) this estimate read, with their fit."""
    c = cal.constants()
    if job.task == Task.INFER and m.is_language_model:
        used = [
            c.get("decode_bw", perf.decode_group(job)),
            c.get("prefill_mfu", perf.prefill_group(job)),
        ]
    else:
        used = [c.get("mfu", perf.train_group(m, job))]
    return [f.cite() for f in used]
