"""The time side of one job: gathers the numbers compute, comm, decode and step need from the
model and the job, reads the fitted efficiencies (calibration.py), and returns the
ThroughputEstimate with its interval. Nothing here calls back into memory or job composition
except the shape quantities (sequence length, weight bits, trainable and stored parameters).
"""

from __future__ import annotations

from dataclasses import dataclass

from dlrig.estimate import calibration as cal
from dlrig.estimate import comm
from dlrig.estimate import compute as cp
from dlrig.estimate import decode as dec
from dlrig.estimate import memory as mem
from dlrig.estimate import params as p
from dlrig.estimate import step as st
from dlrig.model.estimate import ThroughputEstimate
from dlrig.model.workload import Job, ModelKind, ModelSpec, Precision, Task

HALF_BYTES = 2
FP32_BYTES = 4
DEFAULT_NETWORK = "ib-ndr"  # several nodes without --network: InfiniBand NDR, stated
# CPU cores the optimizer step runs on when offloading and the build names no CPU (stated).
DEFAULT_OFFLOAD_CPU_CORES = 16


def _opt(job: Job, name: str, default):  # fields est-mem's Job adds (grad_accum, tp, ...)
    value = getattr(job, name, None)
    return default if value is None else value


def engine(job: Job) -> str:
    e = str(_opt(job, "engine", "optimized"))
    e = getattr(job.engine, "value", e)
    return "transformers" if e == "hf" else e


def weight_format(job: Job) -> str:
    q = job.quant.value if job.quant else "none"
    if job.task == Task.QLORA:
        return "nf4"
    if q == "none":
        return "fp8" if job.precision == Precision.FP8 else "16bit"
    return q


def family(m: ModelSpec) -> str:
    if m.kind == ModelKind.CNN:
        return "cnn"
    if m.kind == ModelKind.VIT:
        return "vit"
    if m.kind == ModelKind.ENCODER:
        return "encoder"
    return "llm"  # decoders, MoE, encoder-decoders


def compute_precision(m: ModelSpec, job: Job) -> str:
    if m.kind == ModelKind.CNN:
        return cp.conv_precision(job.precision.value, job.gpu)
    return job.precision.value


def params_b(m: ModelSpec) -> float:
    return m.params_total / 1e9


def train_group(m: ModelSpec, job: Job) -> tuple[str, ...]:
    return cp.efficiency_group(
        family(m), job.task.value, job.gpu, compute_precision(m, job), params_b(m)
    )


def decode_group(job: Job) -> tuple[str, ...]:
    return (engine(job), weight_format(job), cp.architecture(job.gpu))


def prefill_group(job: Job) -> tuple[str, ...]:
    return (engine(job), cp.architecture(job.gpu))


def has_head(m: ModelSpec) -> bool:
    return bool(getattr(m, "has_vocab_head", m.kind != ModelKind.ENCODER))


def matmul_params(m: ModelSpec) -> float:
    """Parameters that take part in matmuls for one token (MoE: the active ones). The input
    embedding is a lookup; a tied one doubles as the output head, an encoder has no head."""
    emb = (m.vocab_size or 0) * (m.hidden_size or 0)
    lookup = 0 if (m.tied_embeddings and has_head(m)) else emb
    return max(m.active_params - lookup, 1)


def q_dim(m: ModelSpec) -> int:
    return int(getattr(m, "q_width", 0) or (m.n_heads or 0) * (m.head_dim or 0))


def links(job: Job, n_gpus: int) -> st.Links:
    nodes = int(_opt(job, "nodes", 1))
    inter = None
    if nodes > 1:
        inter = comm.network_link(str(_opt(job, "network", DEFAULT_NETWORK)))
    intra = comm.intra_node_link(job.gpu, job.interconnect.value) if n_gpus > 1 else None
    host = comm.pcie_host_link(job.gpu, _opt(job, "host_link_gbs", None))
    return st.Links(intra=intra, inter=inter, host=host)


def plan(job: Job) -> st.Plan:
    tp, pp, cpar = int(_opt(job, "tp", 1)), int(_opt(job, "pp", 1)), int(_opt(job, "cp", 1))
    nodes = int(_opt(job, "nodes", 1))
    dp = max(job.n_gpus // (tp * pp * cpar), 1)
    return st.Plan(
        dp=dp,
        tp=tp,
        pp=pp,
        vp=int(_opt(job, "vp", 1)),
        cp=cpar,
        ep=int(_opt(job, "ep", 1)),
        zero=job.zero,
        gpus_per_node=max(job.n_gpus // nodes, 1),
        micro_batches=int(_opt(job, "grad_accum", 1)),
    )


@dataclass(frozen=True)
class Rate:
    efficiency: float
    source: str
    interval: float | None
    key: str
    group: tuple[str, ...]


def _rate(key: str, group: tuple[str, ...], consts: cal.Constants | None) -> Rate:
    c = consts or cal.constants()
    row = c.get(key, group)
    return Rate(row.value, row.cite(), c.interval(key, group), key, group)


def activation_traffic_bytes(m: ModelSpec, job: Job, b: int, s: int) -> float:
    """Bytes of activations one micro-batch produces (every layer, as if none were freed):
    what the normalisations, activations functions, softmax and residual adds stream through
    DRAM between the GEMMs."""
    e = mem.ACT_BYTES[job.precision]
    if m.kind == ModelKind.CNN:
        return (m.activation_mb_per_sample or 0) * mem.MB * e / FP32_BYTES * b
    layers = (m.n_layers or 0) * mem.layer_activation_bytes(m, s, b, e)
    head = mem.logits_bytes(m, s * b, e, job.loss) if has_head(m) and m.vocab_size else 0
    return layers + head


def train_work(m: ModelSpec, job: Job, b: int, eff: float) -> tuple[st.TrainWork, float, bool]:
    """(work, model FLOPs per unit, per_token) for one micro-batch of one replica."""
    pk = cp.peak(job.gpu, compute_precision(m, job))
    frozen = job.task in (Task.LORA, Task.QLORA)
    if m.kind == ModelKind.CNN or (m.kind == ModelKind.VIT and m.gflops_per_sample):
        flops = cp.vision_flops(m.gflops_per_sample or 0, training=True)
        units, per_token, s = b, False, 1
    else:
        s = mem.sequence_length(m, job)
        attn = cp.attention_flops_fwd(m.n_layers or 0, q_dim(m), s)
        flops = cp.train_flops(matmul_params(m), attn, frozen)
        units, per_token = b * s, True
    micro = cp.math_time_s(flops.executed(job.checkpointing) * units, pk.tflops, eff)
    extra = (
        cp.elementwise_time_s(
            activation_traffic_bytes(m, job, b, s), job.checkpointing, job.gpu.memory_bandwidth_gbs
        )
        * p.value("elementwise_bandwidth_fraction") ** -1
    )
    if job.task == Task.QLORA:
        bits, _ = mem.weight_bits(job)
        passes = cp.dequant_passes(job.checkpointing)
        extra = cp.dequant_time_s(mem.linear_params(m), bits, passes, job.gpu.memory_bandwidth_gbs)
    trainable = mem.trainable_params(m, job)
    half_grads = job.task == Task.TRAIN and not mem.is_fp32(job.precision)
    grad_bytes = trainable * (HALF_BYTES if half_grads else FP32_BYTES)
    n_experts = m.n_experts or 0
    cpu_adam = 0.0
    # bitsandbytes' paged 8-bit optimizers step on the GPU; their pages move to the CPU only
    # under memory pressure, so no per-step transfer or CPU step is charged for them.
    offload = job.offload.value if job.optimizer.value != "adam8bit" else "none"
    if offload != "none":
        shards = job.n_gpus if job.zero >= 1 else 1
        cores = int(_opt(job, "cpu_cores", DEFAULT_OFFLOAD_CPU_CORES))
        cpu_adam = trainable / shards / (cores * p.value("cpu_adam_params_per_core_s"))
    work = st.TrainWork(
        micro_compute_s=micro,
        frozen_base=frozen,
        micro_extra_s=extra,
        tokens_per_micro=units if per_token else 0,
        hidden=m.hidden_size or 0,
        n_layers=m.n_layers or 0,
        moe_layers=(m.n_layers or 0) - int(getattr(m, "first_dense_layers", 0) or 0)
        if n_experts
        else 0,
        experts_per_token=m.experts_per_token or 1,
        kv_width=2 * m.kv_dim if (m.n_kv_heads and m.head_dim) else 0,
        checkpointing=job.checkpointing,
        grad_bytes=grad_bytes,
        weight_bytes=mem.stored_weight_bytes(m, job),
        offload=offload,
        cpu_adam_s=cpu_adam,
    )
    return work, flops.model, per_token


def train(
    m: ModelSpec, job: Job, b: int, consts: cal.Constants | None = None
) -> ThroughputEstimate:
    rate = _given_or_fitted(job, "mfu", train_group(m, job), consts)
    pk = cp.peak(job.gpu, compute_precision(m, job))
    work, model_flops, per_token = train_work(m, job, b, rate.efficiency)
    pl = plan(job)
    s = st.train_step(work, pl, links(job, job.n_gpus))
    units_per_micro = b * (mem.sequence_length(m, job) if per_token else 1)
    # One optimizer step: every data-parallel rank runs m micro-batches of b samples.
    units = units_per_micro * pl.micro_batches * pl.dp
    total = units / s.step_s
    per_gpu = total / job.n_gpus
    lk = links(job, job.n_gpus)
    link_what = "none (one GPU)" if job.n_gpus == 1 else (lk.intra.what if lk.intra else "none")
    if lk.inter is not None:
        link_what += f"; between nodes {lk.inter.what}"
    samples = total / (units_per_micro / b) if per_token else total
    return ThroughputEstimate(
        tokens_per_s=total if per_token else None,
        tokens_per_s_per_gpu=per_gpu if per_token else None,
        samples_per_s=samples,
        samples_per_s_per_gpu=None if per_token else per_gpu,
        utilization=rate.efficiency,
        utilization_source=rate.source,
        peak_tflops=pk.tflops,
        flops_per_token=model_flops if per_token else None,
        flops_per_sample=None if per_token else model_flops,
        step_time_s=s.step_s,
        compute_time_s=s.compute_s,
        allreduce_time_s=s.comm_s,
        exposed_comm_s=s.exposed_comm_s,
        link=link_what,
        link_gbs=lk.intra.busbw_gbs if (lk.intra and job.n_gpus > 1) else None,
        bound=s.bound,
        interval_frac=rate.interval,
        bubble_s=s.bubble_s,
        offload_s=s.offload_s,
        comm_parts_s=dict(s.parts_s),
    )


def _given_or_fitted(job: Job, key: str, group: tuple[str, ...], consts) -> Rate:
    if job.mfu is not None:
        return Rate(job.mfu, "given with --mfu", None, key, group)
    return _rate(key, group, consts)


def decode_inputs(m: ModelSpec, job: Job, b: int, context: int) -> dec.DecodeInputs:
    """Bytes one step reads for the whole model (MoE: the experts the batch routes to) and the
    FLOPs of the step for b sequences."""
    bits, _ = mem.weight_bits(job)
    linear = mem.linear_params(m)
    active_linear = linear
    if m.kind == ModelKind.MOE and m.n_experts and m.experts_per_token:
        e, k = m.n_experts, m.experts_per_token
        per_expert = (m.params_total - m.active_params) / max(e - k, 1)
        shared = linear - per_expert * e
        active_linear = shared + per_expert * min(e, b * k)
    head = (m.vocab_size or 0) * (m.hidden_size or 0) * HALF_BYTES if has_head(m) else 0
    weights = active_linear * bits / 8 + head
    kv = mem.kv_cache_bytes(m, job, b) * job.n_gpus  # memory.py gives one GPU's share
    attn = cp.attention_flops_fwd(m.n_layers or 0, q_dim(m), context)
    flops = b * cp.forward_flops(matmul_params(m), attn)
    return dec.DecodeInputs(weights, kv, flops, m.n_layers or 0, m.hidden_size or 0, b)


def infer(
    m: ModelSpec, job: Job, b: int, consts: cal.Constants | None = None
) -> ThroughputEstimate:
    pk = cp.peak(job.gpu, "fp16" if job.precision == Precision.FP8 else job.precision.value)
    if not m.is_language_model:  # vision inference: compute-bound forward passes
        rate = _given_or_fitted(job, "mfu", train_group(m, job), consts)
        fwd = (m.gflops_per_sample or 0) * cp.FLOPS_PER_GFLOP
        step = cp.math_time_s(fwd * b, pk.tflops * job.n_gpus, rate.efficiency)
        return ThroughputEstimate(
            samples_per_s=b / step,
            samples_per_s_per_gpu=b / step / job.n_gpus,
            utilization=rate.efficiency,
            utilization_source=rate.source,
            peak_tflops=pk.tflops,
            flops_per_sample=fwd,
            step_time_s=step,
            compute_time_s=step,
            bound="compute",
            interval_frac=rate.interval,
        )
    bw = _given_or_fitted(job, "decode_bw", decode_group(job), consts)
    pf = _rate("prefill_mfu", prefill_group(job), consts)
    c = mem.sequence_length(m, job)
    x = decode_inputs(m, job, b, c)
    lk = links(job, job.n_gpus)
    eng = engine(job)
    d = dec.decode_step(
        x,
        mem_bw_gbs=job.gpu.memory_bandwidth_gbs,
        bw_efficiency=bw.efficiency,
        peak_tflops=pk.tflops,
        compute_efficiency=pf.efficiency,
        n_gpus=job.n_gpus,
        engine=eng,
        link=lk.intra,
    )
    prompt = int(_opt(job, "prompt_tokens", c))
    fwd_token = cp.forward_flops(
        matmul_params(m), cp.attention_flops_fwd(m.n_layers or 0, q_dim(m), prompt / 2)
    )
    pre = dec.prefill(
        prompt,
        fwd_token,
        peak_tflops=pk.tflops,
        efficiency=pf.efficiency,
        n_layers=m.n_layers or 0,
        hidden=m.hidden_size or 0,
        n_gpus=job.n_gpus,
        engine=eng,
        link=lk.intra,
    )
    split = {"none": "none", "layer": "split by layers: GPUs take turns"}.get(d.split)
    link_what = split or (lk.intra.what if lk.intra else "none")
    return ThroughputEstimate(
        tokens_per_s=b / d.step_s,
        tokens_per_s_per_gpu=b / d.step_s / job.n_gpus,
        samples_per_s=None,
        utilization=bw.efficiency,
        utilization_source=bw.source,
        peak_tflops=pk.tflops,
        flops_per_token=x.flops / b,
        step_time_s=d.step_s,
        compute_time_s=d.compute_s,
        allreduce_time_s=d.comm_s,
        exposed_comm_s=d.comm_s,
        link=link_what,
        link_gbs=lk.intra.busbw_gbs if (lk.intra and d.split == "tensor") else None,
        bound=d.bound,
        prefill_tokens_per_s=pre.tokens_per_s,
        # b prompts arriving together are prefilled one after another (compute-bound).
        ttft_s=b * pre.time_s + d.step_s,
        interval_frac=bw.interval,
        prefill_interval_frac=pf.interval,
    )


def throughput(
    m: ModelSpec, job: Job, b: int, consts: cal.Constants | None = None
) -> ThroughputEstimate:
    return infer(m, job, b, consts) if job.task == Task.INFER else train(m, job, b, consts)
