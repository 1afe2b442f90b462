"""Compose one training step from its parts and name what bounds it.

step = max(input pipeline, pipeline time + traffic compute cannot hide + offload not hidden
           + the optimizer step)

- compute: FLOPs of every micro-batch on one GPU (its 1/(tp·cp·pp) share) at the calibrated
  efficiency, recomputation and NF4 dequantisation included (compute.py), plus an eager
  LoRA/QLoRA trainer's host time for its stage's layers (perf.train_host_s), which the GPU
  waits on rather than hides;
- pipeline bubble: 1F1B leaves (p-1) stage-slots idle, (p-1)/(m+p-1) of the step for m
  micro-batches; interleaving v virtual stages per GPU shrinks it to (p-1)/(v·m+p-1)
  (Narayanan et al. 2021, "Efficient Large-Scale Language Model Training on GPU Clusters
  Using Megatron-LM", Sec. 2.2);
- tensor parallelism: two all-reduces of the layer's activations per layer in the forward
  pass, two in the backward, two more for a recomputed forward (Shoeybi et al. 2019; sequence
  parallelism turns each into a reduce-scatter + all-gather of the same volume), on the
  critical path;
- context parallelism: each layer all-gathers the sequence's K and V in the forward and
  reduce-scatters their gradients in the backward (ring attention), overlapped with compute;
- expert parallelism: a dispatch and a combine all-to-all per MoE layer, forward and backward;
- data parallelism: DDP / ZeRO-1/2 reduce the gradients once per optimizer step — gradient
  accumulation amortises it over the micro-batches — overlapped with the last micro-batch's
  backward (PyTorch DDP buckets, Li et al. 2020), except the last bucket: it holds the first
  layers' gradients (the input embedding's, which a tied output head also feeds), ready only
  when the backward ends, so its reduction always follows the backward; ZeRO-3 / FSDP
  all-gathers the weights for the forward and again for the backward and reduce-scatters the
  gradients every micro-batch,
  overlapped with that micro-batch's compute (prefetching);
- optimizer step: the update streams the gradients, states and weights through DRAM once per
  optimizer step (memory.optimizer_step_bytes) at the element-wise bandwidth, not overlapped,
  after a transformer trainer's clip by the global norm, which streams every gradient
  before it (memory.gradient_pass_bytes);
- offload: optimizer offload moves the gradients to the CPU and the updated 16-bit weights
  back every step (overlapped with the last backward) and runs Adam on the CPU's cores (not
  overlapped); parameter offload also streams the weights in for every forward and backward;
  offloaded activation checkpointing sends each block's input to the host in the forward and
  fetches it in the backward, hidden behind that pass's compute where the link keeps up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dlrig.estimate import comm
from dlrig.estimate.comm import Link, Placement
from dlrig.estimate.shape import Plan

__all__ = ["Links", "Plan", "TrainStep", "TrainWork", "name_bound", "train_step"]

ACT_BYTES = 2  # activations cross GPUs in 16-bit
TP_ALLREDUCES_FWD = 2
EP_ALL_TO_ALLS_FWD = 2  # dispatch and combine
BACKWARD_SHARE_FULL = 2 / 3  # backward is 4N of 6N for full training
BACKWARD_SHARE_FROZEN = 1 / 2  # 2N of 4N when the base is frozen


@dataclass(frozen=True)
class Links:
    intra: Link | None = None
    inter: Link | None = None
    host: Link | None = None  # GPU ↔ CPU memory (offload)

    def group(self, size: int, stride: int, gpus_per_node: int) -> Placement | None:
        if size <= 1:
            return None
        if self.intra is None:
            raise ValueError("a multi-GPU plan needs the link between the GPUs")
        return comm.place(size, stride, gpus_per_node, self.intra, self.inter)


@dataclass(frozen=True)
class TrainWork:
    """What one data-parallel rank's model replica does per micro-batch, whole model."""

    micro_compute_s: float  # whole model's math for one micro-batch on ONE GPU (before tp·cp·pp)
    frozen_base: bool = False
    micro_extra_s: float = 0.0  # per-GPU memory-bound extra per micro-batch (NF4 dequant)
    # host time of an eager trainer issuing every layer's kernels, whole model, per micro-batch
    # (perf.train_host_s): paid on top of the GPU's work, not hidden behind it
    micro_host_s: float = 0.0
    tokens_per_micro: float = 0.0  # b·s for one replica
    hidden: int = 0
    n_layers: int = 0
    moe_layers: int = 0
    experts_per_token: int = 1
    routed_share: float = 0.0  # of weight_bytes, grad_bytes and dp_grad_bytes: routed experts
    kv_width: int = 0  # K+V elements per token per layer (CP traffic)
    checkpointing: bool = False
    grad_bytes: float = 0.0  # gradients the data-parallel group reduces (whole model)
    # the gradients DDP / ZeRO-1/2 all-reduce, where they differ from grad_bytes (fp32 .grad
    # under AMP); None: grad_bytes
    ddp_grad_bytes: float | None = None
    # the gradients of the last bucket, whose reduction cannot start before the backward ends
    # (perf.last_bucket_bytes: DDP's bucket cap, or the input embedding when larger)
    last_bucket_bytes: float = 0.0
    weight_bytes: float = 0.0  # stored weights ZeRO-3 / parameter offload move (whole model)
    offload: str = "none"  # none | optimizer | full
    cpu_adam_s: float = 0.0  # the optimizer step on the CPU (optimizer/full offload)
    activation_offload_bytes: float = 0.0  # block inputs sent to the host per micro-batch
    optimizer_s: float = 0.0  # the optimizer step on the GPU, once per step (memory-bound)
    input_s: float = 0.0  # time the input pipeline needs for one optimizer step's samples

    @property
    def dp_grad_bytes(self) -> float:
        """The gradients DDP / ZeRO-1/2 all-reduce (whole model)."""
        return self.grad_bytes if self.ddp_grad_bytes is None else self.ddp_grad_bytes


@dataclass(frozen=True)
class TrainStep:
    step_s: float
    compute_s: float  # every micro-batch's math on one GPU, no bubble
    bubble_s: float
    comm_s: float  # all GPU-to-GPU traffic of the step before overlap
    exposed_comm_s: float
    offload_s: float  # PCIe transfers and CPU optimizer time not hidden
    optimizer_s: float  # the optimizer step on the GPU
    input_s: float
    bound: str
    host_s: float = 0.0  # an eager trainer's kernel issue not hidden (inside compute_s)
    parts_s: dict[str, float] = field(default_factory=dict)  # traffic by kind, before overlap


def _host_s(links: Links, nbytes: float, what: str) -> float:
    """Seconds to move `nbytes` over the GPU's host link (the offload of `what`)."""
    if links.host is None:
        raise ValueError(f"{what} needs the GPU's host link")
    return nbytes / (links.host.busbw_gbs * comm.GBS)


def train_step(w: TrainWork, plan: Plan, links: Links) -> TrainStep:
    m = plan.micro_batches
    split = plan.tp * plan.cp * plan.pp
    # Each GPU's host issues the layers of its own pipeline stage (tensor parallelism splits
    # the kernels' work, not their number).
    host = w.micro_host_s / plan.pp
    micro = w.micro_compute_s / split + w.micro_extra_s / (plan.tp * plan.pp) + host
    compute = m * micro
    bubble = compute * plan.bubble_fraction() / (1 - plan.bubble_fraction())
    bwd_share = BACKWARD_SHARE_FROZEN if w.frozen_base else BACKWARD_SHARE_FULL

    tp_g = links.group(plan.tp, 1, plan.gpus_per_node)
    cp_g = links.group(plan.cp, plan.tp, plan.gpus_per_node)
    dp_g = links.group(plan.dp, plan.tp * plan.cp, plan.gpus_per_node)
    pp_g = links.group(plan.pp, plan.tp * plan.cp * plan.dp, plan.gpus_per_node)
    # the experts' own layout, etp-ep-edp-pp (Megatron-Core's expert rank order)
    ep_g = links.group(plan.ep, plan.etp, plan.gpus_per_node)
    edp_g = links.group(plan.expert_dp, plan.expert_group, plan.gpus_per_node)
    layers_here = w.n_layers / plan.pp
    passes = 2 + (1 if w.checkpointing else 0)  # fwd, bwd, recomputed fwd
    tokens_here = w.tokens_per_micro / plan.cp

    parts: dict[str, float] = {}
    exposed = 0.0
    if tp_g:
        act = tokens_here * w.hidden * ACT_BYTES
        per_micro = passes * TP_ALLREDUCES_FWD * layers_here * comm.group_allreduce_s(act, tp_g)
        parts["tensor-parallel"] = m * per_micro
        exposed += m * per_micro
    if ep_g and w.moe_layers:
        a2a = tokens_here * w.experts_per_token * w.hidden * ACT_BYTES / plan.tp
        per_micro = (
            passes
            * EP_ALL_TO_ALLS_FWD
            * w.moe_layers
            / plan.pp
            * comm.group_all_to_all_s(a2a, ep_g)
        )
        parts["expert-parallel"] = m * per_micro
        exposed += m * per_micro
    if cp_g:
        kv = w.tokens_per_micro * w.kv_width * ACT_BYTES / plan.tp
        per_micro = passes * layers_here * comm.group_allgather_s(kv, cp_g)
        parts["context-parallel"] = m * per_micro
        exposed += m * max(0.0, per_micro - micro)
    if pp_g:
        act = tokens_here * w.hidden * ACT_BYTES / plan.tp
        hop = comm.p2p_s(act, pp_g.intra if pp_g.nodes == 1 else pp_g.inter)  # type: ignore[arg-type]
        parts["pipeline"] = 2 * m * hop
        exposed += 2 * (plan.pp - 1) * hop  # the fill and drain; steady-state sends overlap
    stream = 0.0
    if w.offload == "full":
        # Every pass fetches the weights over PCIe again: a micro-batch lasts the longer of its
        # math and that host-to-device stream.
        stream = _host_s(links, passes * w.weight_bytes / (plan.tp * plan.pp), "offload")
    # What the last micro-batch's backward can hide: its wall time (the math, or the weight
    # stream when that is longer), backward's share of it. The gradient traffic (all-reduce,
    # then the copies to the host) spends this window once: each bucket is reduced before
    # its shard goes to the CPU, so the two queue rather than both hiding behind the same
    # seconds (which made a longer backward, with more recompute, finish sooner).
    window = max(micro, stream) * bwd_share
    busy = micro  # a micro-batch's time before the weight stream: math, or ZeRO-3's gathers
    # The dense weights reduce (gather) over the replicas, the routed experts over the GPUs
    # that hold the same expert shard (Plan.expert_dp): one collective after the other.
    routed = w.routed_share if w.moe_layers else 0.0
    groups = [(g, share, split) for g, share, split in (
        (dp_g, 1.0 - routed, plan.tp * plan.pp),
        (edp_g, routed, plan.expert_group * plan.pp),
    ) if g and share > 0]  # fmt: skip

    def gathers_s(nbytes: float) -> float:
        return sum(comm.group_allgather_s(nbytes * f / n, g) for g, f, n in groups)

    def allreduce_s(nbytes: float) -> float:
        return sum(comm.group_allreduce_s(nbytes * f / n, g) for g, f, n in groups)

    if groups:
        if plan.zero >= 3:
            per_micro = 2 * gathers_s(w.weight_bytes) + gathers_s(w.grad_bytes)
            parts["data-parallel"] = m * per_micro
            exposed += m * max(0.0, per_micro - micro)
            busy = max(micro, per_micro)
            # The gathers, the stream and the math overlap (layer by layer); the copies to the
            # host follow each bucket's reduce-scatter, in the backward's time left after it.
            window = max(0.0, max(busy, stream) - per_micro) * bwd_share
        else:
            t = allreduce_s(w.dp_grad_bytes)
            parts["data-parallel"] = t
            # the last bucket (the first layers' and the embedding's: dense, over the first
            # group that reduces anything), never more than all the gradients
            last = min(w.last_bucket_bytes, w.dp_grad_bytes)
            g, _, n = groups[0]
            exposed += ddp_exposed_s(t, comm.group_allreduce_s(last / n, g), window)
            window = max(0.0, window - t)

    offload = 0.0
    if w.offload != "none":
        shards = plan.dp if plan.zero >= 1 else 1
        moved = (w.grad_bytes + w.weight_bytes) / (plan.tp * plan.pp * shards)
        pcie = _host_s(links, moved, "offload")
        offload += m * max(0.0, stream - busy)
        # The gradients and updated weights go device-to-host in what is left of the window
        # (PCIe is full duplex: the weight stream coming in does not delay them going out).
        offload += max(0.0, pcie - window) + w.cpu_adam_s
        parts["offload (PCIe)"] = pcie

    if w.activation_offload_bytes:
        # Offloaded checkpointing copies the block inputs to the host during the forward and
        # back during the backward, each on a side stream (non_blocking): a direction costs
        # only what its pass's compute does not cover.
        one_way = _host_s(links, w.activation_offload_bytes, "activation offload")
        hidden_fwd = micro * (1 - bwd_share)
        hidden_bwd = micro * bwd_share
        offload += m * (max(0.0, one_way - hidden_fwd) + max(0.0, one_way - hidden_bwd))
        parts["activation offload (PCIe)"] = 2 * m * one_way

    # The update runs after the last gradient exists (or inside the backward when fused into
    # it): on the GPU's critical path either way.
    gpu_side = compute + bubble + exposed + offload + w.optimizer_s
    step = max(gpu_side, w.input_s)
    return TrainStep(
        step_s=step,
        compute_s=compute,
        bubble_s=bubble,
        comm_s=sum(v for k, v in parts.items() if "(PCIe)" not in k),
        exposed_comm_s=exposed,
        offload_s=offload,
        input_s=w.input_s,
        bound=name_bound(
            compute + bubble + w.optimizer_s,
            exposed + offload,
            w.input_s,
            m * w.micro_extra_s / (plan.tp * plan.pp) + w.optimizer_s,
            m * host,
            traffic_s=sum(parts.values()),
        ),
        optimizer_s=w.optimizer_s,
        host_s=m * host,
        parts_s=parts,
    )


def ddp_exposed_s(total_s: float, last_s: float, window_s: float) -> float:
    """What a bucketed gradient all-reduce adds to the step when the backward lasts `window_s`.

    The buckets before the last are reduced while the backward runs and cost only what
    outlasts it; the last bucket (the first layers, ready when the backward ends: PyTorch
    DDP reduces buckets in order, each once all its gradients exist,
    https://docs.pytorch.org/docs/stable/notes/ddp.html "Internal Design") starts after the
    backward and after the earlier buckets: max(0, (total - last) - window) + last, which is
    max(total - window, last)."""
    return max(total_s - window_s, last_s, 0.0)


def name_bound(
    compute_s: float,
    exposed_traffic_s: float,
    input_s: float,
    memory_bound_s: float = 0.0,
    host_s: float = 0.0,
    traffic_s: float = 0.0,
) -> str:
    """The part that takes the most time: the input pipeline when the GPUs wait for data,
    communication when the traffic outlasts the math (the exposed part alone, or all of it,
    `traffic_s`, when some of it shows: traffic that overlaps the math and still outlasts it
    sets the step, so a faster GPU would not shorten it), the per-layer overhead when an eager
    trainer's host time (inside `compute_s`) outlasts the GPU's work, memory bandwidth when the
    memory-bound part of the math (element-wise passes, dequantisation) outlasts its GEMMs,
    else compute."""
    if input_s > compute_s + exposed_traffic_s:
        return "input"
    if exposed_traffic_s > compute_s or (exposed_traffic_s > 0 and traffic_s > compute_s):
        return "communication"
    if host_s > compute_s - host_s:
        return "per-layer overhead"
    compute_s -= host_s
    return "memory-bandwidth" if memory_bound_s > compute_s - memory_bound_s else "compute"
