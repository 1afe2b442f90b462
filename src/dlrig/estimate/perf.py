"""The time side of one job: reads the job's Shape (shape.py), the fitted efficiencies
(calibration.py) and the links (comm.py), runs compute / decode / step, and returns the
ThroughputEstimate with its interval. Nothing here calls back into memory or job composition.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlrig.catalog import l2_caches, sm_counts
from dlrig.errors import DlrigError
from dlrig.estimate import calibration as cal
from dlrig.estimate import (
    comm,
    ggml_activations,
    hf_cache,
    mlm_head,
    mmq_traffic,
    moe_tiles,
    stream,
)
from dlrig.estimate import compute as cp
from dlrig.estimate import convnet as cnet
from dlrig.estimate import decode as dec
from dlrig.estimate import elementwise as ew
from dlrig.estimate import memory as mem
from dlrig.estimate import params as p
from dlrig.estimate import shape as shapes
from dlrig.estimate import step as st
from dlrig.estimate.comm import GBS
from dlrig.estimate.shape import FP32_BYTES, HALF_BYTES, Shape, is_fp32, trainable_kept
from dlrig.model.choices import LLAMA_CPP_ENGINES
from dlrig.model.estimate import Interval, ThroughputEstimate
from dlrig.model.workload import (
    Attention,
    BaseQuant,
    Job,
    ModelKind,
    ModelSpec,
    Offload,
    Optimizer,
    Precision,
    Quant,
    Task,
)

DEFAULT_NETWORK = "ib-ndr"  # several nodes without --network: InfiniBand NDR (stated)
# CPU cores the optimizer step runs on when offloading and the build names no CPU (stated).
DEFAULT_OFFLOAD_CPU_CORES = 16


# --- groups -------------------------------------------------------------------------------


# Engines priced with another's kernels: Ollama runs llama.cpp's ggml (its llama/ directory is
# llama.cpp vendored at a pinned commit, Makefile.sync; from v0.30.0 it launches llama-server),
# so its decode, prefill and TP paths are llama.cpp's and its points join llama.cpp's fitted
# groups (a group of its own would need >= 3 sources). Its defaults are its own
# (engine_memory.py OLLAMA_*).
KERNELS_OF = {"hf": "transformers", "ollama": "llama.cpp"}


def engine(job: Job) -> str:
    """The engine whose kernels run the job (KERNELS_OF)."""
    e = getattr(job.engine, "value", str(job.engine))
    return KERNELS_OF.get(e, e)


def weight_format(job: Job) -> str:
    if job.task == Task.QLORA:
        return "nf4"
    if job.task == Task.INFER and job.quant.value != "none":
        return job.quant.value
    return "fp8" if job.precision == Precision.FP8 else "16bit"


def family(m: ModelSpec) -> str:
    """The efficiency family: convolutions; bidirectional encoder blocks (BERT, and ViT, whose
    blocks are BERT's over patches — no published ViT point is in the table yet, so it is
    grouped with the blocks it shares rather than with every family's median); decoders."""
    if m.kind == ModelKind.CNN:
        return "cnn"
    if m.kind in (ModelKind.ENCODER, ModelKind.VIT):
        return "encoder"
    return "llm"  # decoders, MoE, encoder-decoders


def compute_precision(m: ModelSpec, job: Job) -> str:
    if m.kind == ModelKind.CNN:
        return cp.conv_precision(job.precision.value, job.gpu)
    return job.precision.value


def task_group(job: Job) -> str:
    """The task level of a training group. QLoRA is an NF4 base (QLoRA paper; bitsandbytes or
    torchao dequantise-then-GEMM); a QLoRA-style job over a base stored in another format
    (GPTQ, AWQ: auto-gptq's or AWQ's own kernels) runs other kernels, so it is its own task and
    is not pooled with NF4's efficiency."""
    base = job.effective_base_quant
    if job.task == Task.QLORA and base not in (BaseQuant.NF4, BaseQuant.NONE):
        return f"qlora-{base.value}"
    return job.task.value


def train_group(m: ModelSpec, job: Job) -> tuple[str, ...]:
    return cp.efficiency_group(
        family(m), task_group(job), job.gpu, compute_precision(m, job), m.params_total / 1e9
    )


# `--engine optimized` (the default) names no engine: its decode and prefill efficiencies are
# the root group's, the median over every engine's points.
UNNAMED_ENGINE = "optimized"
# The fitted per-layer time of a decode step (seconds per layer per step; decode.py).
DECODE_OVERHEAD_KEY = "decode_layer_s"
DECODE_BW_KEY = "decode_bw"
# Engines whose Python issues every op (no CUDA graphs, no compiled step): their per-layer time
# is the host's and overlaps the GPU's read (decode.py). transformers' generate() runs eagerly
# unless asked for a static cache and torch.compile, which the published runs did not.
# AutoAWQ's fused modules run under the same generate() loop.
EAGER_ENGINES = frozenset({"transformers", "autoawq"})


def memory_class(job: Job) -> str:
    """The card's DRAM family (gpus.csv memory_type): "hbm" (stacked, on-package: the
    datacenter cards), "lpddr" (unified memory: DGX Spark, Jetson) or "gddr" (the rest).

    A batch-1 decode step is a chain of small matrix-vector kernels, each of which keeps a
    fixed number of loads in flight per SM; by Little's law the bandwidth it reaches is the
    bytes in flight over the DRAM latency, and HBM pairs a longer latency (and lower clocks)
    with twice a GDDR card's datasheet bandwidth, so one engine's kernels reach a smaller share
    of it. Published: llama.cpp on Llama-3-8B Q4_K_M, RTX 4090 (GDDR6X, 1008 GB/s) 127.7 tok/s,
    A100 SXM (HBM2e, 2039 GB/s) 133.4 tok/s (XiongjieDai/GPU-Benchmarks-on-LLM-Inference,
    2024-05). The share per engine and memory class is fitted (benchmarks/calibrate.py)."""
    kind = (job.gpu.memory_type or "").upper()
    if kind.startswith("HBM"):
        return "hbm"
    return "lpddr" if kind.startswith("LPDDR") else "gddr"


# The host classes a card's eager host code runs on (host_class).
HOST_DESKTOP, HOST_SERVER, HOST_SOC = "desktop", "server", "soc"


def host_class(job: Job) -> str:
    """The kind of computer whose CPU issues the card's work, read from how the card is built
    (gpus.csv form_factor and cooler): "server" for SXM/OAM modules and for passive or
    liquid-cooled PCIe cards (no fan of their own: they need a server chassis's forced
    airflow, rules/thermal.py), "soc" for the unified-memory systems (DGX Spark, Jetson: an
    Arm SoC beside the GPU), "desktop" for the fan-cooled PCIe cards (open-air, blower), the
    GeForce and RTX workstation cards that sit in desktops and workstations.

    It matters where the host is the bound: an eager engine's step is the Python that issues
    every op, one thread, so its time per layer goes with the CPU's single-thread speed, and
    the two classes buy different CPUs. cpus.csv: the desktop and HEDT parts boost to
    4.5-6.0 GHz (Core i9-13900K 5.8, Ryzen 9 7950X 5.7, Threadripper 7980X 5.1), the server
    parts to 3.5-4.4 GHz (EPYC 7763 3.5, EPYC 9654 3.7, Xeon Gold 6530 4.0); cloud VMs run
    below their part's boost. Published: bitsandbytes' benchmark (benchmarking/README.md,
    v0.45.0, transformers 4.46.3, Llama-3.1-8B in BF16 at batch 1) measured 47.46 tokens/s on
    an RTX 4090 (1,008 GB/s) and 40.99 on an H100 SXM (3,350 GB/s): the H100's step waits on
    its host. The time per layer of each (engine, host class) is fitted where three sources
    inform it (benchmarks/calibrate.py); a build's own CPU is not read (no source rates the
    time per layer against a CPU's clock), and hosts of one class differ (h2oGPT's RTX 3090
    box took twice its RTX 4090 box's time per step): the group's interval carries that."""
    gpu = job.gpu
    if gpu.form_factor == "system":
        return HOST_SOC
    if gpu.form_factor in ("sxm", "oam") or gpu.cooler in ("passive", "liquid"):
        return HOST_SERVER
    return HOST_DESKTOP


# Engines whose --tp runs another code path than their single-GPU or layer-split decode:
# llama.cpp's row split (split matmuls with F32 copies around each, attention on the main GPU)
# and ExLlamaV2's tensor_parallel (its TP kernels and host gathers). Their points form a
# subgroup under the engine (falling back to the engine's constants below 3 sources), so that
# they do not decide the engine's own memory-class groups; vLLM's, SGLang's and TensorRT-LLM's
# --tp is their ordinary path, already in their groups.
TP_PATHS = {"llama.cpp": "row-split", "exllamav2": "tensor-parallel"}


# Engines that run another's kernels under host code of their own: their points form a
# subgroup under the kernels' engine, like the TP paths, so that they do not decide that
# engine's memory-class groups. Ollama builds each model's graph in its own Go runner
# (runner/ollamarunner, the engine gpt-oss and the newer models run on since v0.7) over the
# vendored ggml: the kernels are llama.cpp's, the per-token host work is Ollama's.
HOST_PATHS = {"ollama": "ollama"}


def engine_path(job: Job) -> tuple[str, ...]:
    """The first levels of an inference group: the pricing engine, then its TP path or the
    wrapper whose host code runs it (HOST_PATHS), if any."""
    e = engine(job)
    if e == UNNAMED_ENGINE:
        return ()
    if job.tp > 1 and e in TP_PATHS:
        return (e, TP_PATHS[e])
    named = getattr(job.engine, "value", str(job.engine))
    if named in HOST_PATHS:
        return (e, HOST_PATHS[named])
    return (e,)


def decode_group(job: Job) -> tuple[str, ...]:
    path = engine_path(job)
    if not path:
        return ()
    return (*path, memory_class(job), weight_format(job), cp.architecture(job.gpu))


# vLLM's two engines share their kernels (attention backends, custom ops, CUDA graphs) but not
# their host: V0 (every release before v0.8.0, 2025-03) schedules, prepares the inputs and
# samples on the host between steps; V1, the default since, was rebuilt to "ensure high
# performance with near-zero CPU overhead" (blog.vllm.ai/2025/01/27/v1-alpha-release.html: "the
# CPU overhead for tasks like running the API server, scheduling work, preparing inputs,
# de-tokenizing outputs, and streaming responses ... is particularly noticeable with smaller
# models like Llama-8B running on NVIDIA H100 GPUs, where execution time on the GPU is as low as
# ~5ms"). Their fixed time per layer is fitted apart (Job.vllm_v0, from the points' releases:
# estimate/points.ran_vllm_v0); their read efficiency is one.
VLLM_GENERATIONS = {"vllm": {False: "v1", True: "v0"}}


def overhead_group(job: Job) -> tuple[str, ...]:
    """The per-layer decode overhead is the engine's (its launches and host code), then the
    card's memory class: each of a layer's small kernels waits one DRAM latency for its first
    bytes and runs its tail at the core clock, and the HBM cards pair the longer latency with
    lower clocks (A100 1.41 GHz boost, H100 PCIe 1.755 GHz; RTX 4090 2.52 GHz).

    Its size is fitted, not derived: a layer's twenty-odd kernels each waiting a few hundred
    nanoseconds more for HBM account for microseconds, while llama.cpp's fitted HBM time is
    about 80 us per layer above the GDDR one. It rests on XiongjieDai's RunPod tables (28 of
    llama.cpp's 33 HBM decode rows, builds of 2023-12 and 2024-05, before CUDA graphs), and
    the other sources' dense rows agree with it to about 10 % (llama.cpp PR #6017's A100
    80GB PCIe, one GPU and eight; issue #6763's H100 PCIe). The two Mixtral rows of
    llama-cpp-python issue #1017 (2023-12, days after llama.cpp's first MoE kernels) run at
    half its rate: ggml-cuda's MUL_MAT_ID then picked the experts on the host, a copy and a
    stream synchronisation in every MoE layer (llama.cpp issue #12859, slaren, 2025-04:
    'the selection of experts is done on the CPU, and forces a synchronization'), which a
    dense model's per-layer time does not hold.

    An eager engine's (EAGER_ENGINES) per-layer time is its host's Python, not a kernel's
    tail: its second level is the host class (host_class) instead of the memory class."""
    path = engine_path(job)
    if not path:
        return ()
    if engine(job) in EAGER_ENGINES:
        return (*path, host_class(job))
    if engine(job) in VLLM_GENERATIONS:
        path = (*path, VLLM_GENERATIONS[engine(job)][job.vllm_v0])
    return (*path, memory_class(job))


# Architectures on which ggml-cuda replays a decode step as one CUDA graph: compute capability
# 8.0 and up. Below it ggml-cuda.cu sets disable_due_to_gpu_arch ('if
# (ggml_cuda_info().devices[...].cc < GGML_CUDA_CC_AMPERE)', logging 'disabling CUDA graphs due
# to GPU architecture'), so on a Pascal, Volta or Turing card each kernel of a token is launched
# from the host, as on every card before CUDA graphs (llama.cpp PR #6766, 2024-05). Ollama runs
# the same ggml-cuda.
LLAMA_CPP_GRAPH_ARCHITECTURES = frozenset({"Ampere", "Ada", "Hopper", "Blackwell"})


def llama_cpp_without_graphs(job: Job) -> bool:
    """Whether llama.cpp launches this NVIDIA card's decode kernels one by one (no CUDA graph).

    Its per-layer time is then not the one its group was fitted on (graph-replayed steps of
    newer cards), and no group of its own can be fitted yet: four sources measure it (a P40 and
    a V100 under llama-bench, P40s under Ollama, two P100s under llama-server), split over two
    host paths (llama.cpp's and Ollama's), and a split of three or fewer cannot be
    cross-validated. So its points inform none of llama.cpp's decode constants
    (benchmarks/calibrate.py host_bound), and its decode carries the wider interval
    (decode_interval_rate) and says why (explain.py)."""
    return (
        engine(job) == "llama.cpp"
        and job.gpu.vendor == "NVIDIA"
        and cp.architecture(job.gpu) not in LLAMA_CPP_GRAPH_ARCHITECTURES
    )


def host_class_unfitted(job: Job, consts: cal.Constants | None = None) -> bool:
    """Whether this eager engine has no per-layer time of its own for this job's class of
    host: the fit wrote no row for overhead_group (fewer than three sources measured the
    engine on such hosts), so the time per layer is the engine's parent row, set mostly by
    the other class."""
    if engine(job) not in EAGER_ENGINES:
        return False
    c = consts or cal.constants()
    return (DECODE_OVERHEAD_KEY, cal.group_name(overhead_group(job))) not in c.rows


def decode_interval_rate(job: Job, bw: Rate, consts: cal.Constants | None = None) -> Rate:
    """The rate whose interval a decode prediction carries: its bandwidth group's, unless the
    eager engine has no per-layer time of its own for this class of host
    (host_class_unfitted). Such an engine's step is mostly host time, its group's interval
    holds the other class's spread, and the classes differ: AutoAWQ's README RTX 4090 box (a
    Ryzen 9 7950X) decoded 7B at 0.16 ms per layer where the A100 servers took 0.34. The
    interval is then at least the root group's, the LOSO spread over every engine and host
    the fit has seen. The same holds for llama.cpp on a card that replays no CUDA graph
    (llama_cpp_without_graphs): its per-layer time is not the one it was fitted on."""
    unfitted = host_class_unfitted(job, consts) or llama_cpp_without_graphs(job)
    if bw.interval is None or not unfitted:
        return bw
    root = (consts or cal.constants()).interval(DECODE_BW_KEY, ())
    if root is None or root <= bw.interval:
        return bw
    return Rate(bw.efficiency, bw.source, root, f"{DECODE_BW_KEY}:{cal.ROOT}")


def prefill_group(job: Job) -> tuple[str, ...]:
    path = engine_path(job)
    if not path:
        return ()
    return (*path, cp.architecture(job.gpu))


# Engines that run vLLM's custom all-reduce (SGLang carries the same kernel) over P2P where
# vLLM's custom_all_reduce.py allows it (module docstring of decode.py). The gate below is
# vLLM's (custom_all_reduce.py at 00d618a, CustomAllreduce.__init__ and finalize_p2p):
# `world_size not in [2, 4, 6, 8]` -> disabled; `world_size > 2 and not fully_connected` ->
# "not supported on more than two PCIe-only GPUs"; `not _can_p2p(...)` (GeForce without P2P)
# -> "your platform lacks GPU P2P capability"; a group spanning nodes -> disabled. Where it is
# disabled vLLM all-reduces with NCCL (pynccl): the ring at the link's per-step latency.
ONESHOT_ENGINES = frozenset({"vllm", "sglang"})
VLLM_CUSTOM_AR_SIZES = (2, 4, 6, 8)  # CustomAllreduce._SUPPORTED_WORLD_SIZES


def split_matmuls_per_layer(m: ModelSpec) -> int:
    """The weight matrices of one layer llama.cpp's row split divides: q, k, v and the output
    projection, and the MLP's up and down (and gate, for a gated MLP)."""
    return 4 + (3 if m.gated_mlp else 2)


# The time each point at which tensor-parallel GPUs meet (decode.tp_meetings) adds beyond its
# link's latency and bytes, one value over every engine and link (benchmarks/calibrate.py
# fit_tp_sync): the collective's own kernel launch and the wait for the slowest rank, whose
# kernels start and end at slightly different times on each GPU. The link table's latencies
# are the collectives' own (nccl-tests' small-message times), with no model layer between
# them; published tensor-parallel decode runs slower than their read plus those, the more
# the more GPUs (each GPU's read shrinks, the meetings do not).
TP_SYNC_KEY = "tp_sync_s"


def tp_sync_s(consts: cal.Constants | None = None) -> float:
    """The fitted tp_sync_s, or 0 in a table without it (the calibration's passes before
    fit_tp_sync)."""
    c = consts or cal.constants()
    try:
        return c.value(TP_SYNC_KEY)
    except DlrigError:
        return 0.0


def tp_comm(s: Shape, consts: cal.Constants | None = None) -> dec.TpComm:
    """How this job's tensor-parallel GPUs meet (decode.py's module docstring), by engine,
    with the fitted wait at each meeting (tp_sync_s)."""
    job, plan = s.job, s.plan
    if plan.tp <= 1:
        return dec.TpComm()
    sync = tp_sync_s(consts)
    e, ic = engine(job), job.interconnect.value
    if e == "llama.cpp":
        link = comm.peer_copy_link(job.gpu, ic)
        return dec.TpComm(dec.TP_ROW, link, split_matmuls_per_layer(s.model), sync)
    if e == "exllamav2":
        return dec.TpComm(dec.TP_HOST, comm.host_staged_link(job.gpu), sync_s=sync)
    # vLLM's gate: two GPUs with P2P, or any supported count over a full NVLink mesh (on ROCm
    # the same for a full xGMI mesh: vllm/platforms/rocm.py is_fully_connected asks amdsmi
    # for an XGMI link of one hop between every pair)
    full_mesh = comm.fully_connected(job.gpu, ic) and plan.tp in VLLM_CUSTOM_AR_SIZES
    p2p_pair = plan.tp == 2 and comm.has_p2p(job.gpu, ic)
    if e in ONESHOT_ENGINES and plan.nodes == 1 and (full_mesh or p2p_pair):
        return dec.TpComm(dec.TP_ONESHOT, sync_s=sync)
    return dec.TpComm(sync_s=sync)


TP_MODE_TEXT = {
    dec.TP_ALLREDUCE: "2 NCCL ring all-reduces per layer",
    dec.TP_ONESHOT: "2 custom all-reduces per layer (vLLM/SGLang, over P2P)",
    dec.TP_HOST: "2 gathers per layer through pinned host memory (ExLlamaV2)",
    dec.TP_ROW: "llama.cpp's row split: 2 peer copies around every split matmul, "
    "attention and KV cache on the main GPU",
}


@dataclass(frozen=True)
class Rate:
    efficiency: float
    source: str
    interval: float | None
    group: str


def rate(key: str, group: tuple[str, ...], consts: cal.Constants | None = None) -> Rate:
    c = consts or cal.constants()
    row = c.get(key, group)
    return Rate(row.value, row.cite(), c.interval(key, group), f"{key}:{row.group}")


def _given_or_fitted(job: Job, key: str, group: tuple[str, ...], consts) -> Rate:
    if job.mfu is not None:
        return Rate(job.mfu, "given with --mfu", None, "given")
    return rate(key, group, consts)


def interval(value: float | None, r: Rate) -> Interval | None:
    """Where the measured rate lies when the prediction's error is within the group's ± (the
    calibration's LOSO p80 |error|): Interval.band."""
    if value is None or r.interval is None:
        return None
    return Interval.band(
        value,
        r.interval,
        r.group,
        "fitted_constants.csv: leave-one-source-out p80 |error| (benchmarks/calibrate.py)",
    )


def inverse_interval(
    value: float | None, rate: Interval | None, rate_value: float | None = None
) -> Interval | None:
    """A quantity that is work over a rate (a time). A rate whose error is within ± f gives a
    time within t(1 ± f) (Interval.inverse_band): measured time = t · predicted / measured
    rate, and predicted / measured = 1 + error.

    The span over engines (engine_spread.py, kind "span") is a range of rates, not an error:
    its ends give the time's, t·r/high to t·r/low (none above where the span reaches 0 or
    has no top: a rate of 0 has no time); `frac` is then the rate's."""
    if value is None or rate is None:
        return None
    source = f"from the rate's interval ({rate.source})"
    if rate.kind != "span":
        return Interval.inverse_band(value, rate.frac, rate.group, source)
    if rate_value is None or rate_value <= 0 or value <= 0:
        return None
    k = value * rate_value
    return Interval(
        low=k / rate.high if rate.high else 0.0,
        high=k / rate.low if rate.low > 0 else None,
        frac=rate.frac,
        group=rate.group,
        source=source,
        kind="span",
    )


def scaled_interval(
    value: float | None, base: float | None, iv: Interval | None
) -> Interval | None:
    """A quantity proportional to `base` (energy and cost to the time): its interval is the
    base's, scaled."""
    if value is None or not base or iv is None:
        return None
    return iv.scaled(value / base)


# --- links --------------------------------------------------------------------------------


def links(s: Shape) -> st.Links:
    job = s.job
    inter = None
    if s.plan.nodes > 1:
        inter = comm.network_link(
            job.network or DEFAULT_NETWORK, job.nics_per_node, s.plan.gpus_per_node
        )
    intra = None
    if job.n_gpus > 1:
        intra = comm.intra_node_link(job.gpu, job.interconnect.value)
    host = comm.pcie_host_link(job.gpu, job.host_link_gbs)
    return st.Links(intra=intra, inter=inter, host=host)


# --- training -----------------------------------------------------------------------------


def cnn_traffic_bytes(s: Shape) -> float:
    """Bytes of activations one micro-batch of a CNN produces (its preset's activation size per
    sample): what its normalisations, activations and adds stream through DRAM between the
    convolutions, a fixed number of passes over them (compute.elementwise_time_s). Only for a
    CNN preset without conv_stages; ResNet-50's ops are counted one by one (convnet.py)."""
    m, e = s.model, s.act_bytes
    return (m.activation_mb_per_sample or 0) * mem.MB * e / FP32_BYTES * s.micro_batch


def transformer_traffic_bytes(s: Shape) -> float:
    """Element-wise bytes one micro-batch of one replica streams through DRAM, op by op
    (elementwise.py): every block's norms, activation, residual adds and dropout, the loss, and
    with eager attention the score matrices of every head."""
    m, job = s.model, s.job
    b, e = s.micro_batch, s.act_bytes
    dropout = mem.has_dropout(m)
    ops = ew.train_bytes(m, s.seq * b, e, job.loss, job.checkpointing, dropout)
    # an encoder's masked-LM head: its loss streams the logits of the positions it runs on
    ops += mlm_head.logits(m, job, s.seq, b) * ew.loss_bytes_per_logit(e, job.loss)
    if job.attention == Attention.EAGER:
        masked = mem.has_attention_mask(m)
        ops += ew.eager_score_bytes(eager_scores(s), e, dropout, job.checkpointing, masked)
    return ops


def eager_scores(s: Shape) -> float:
    """Score elements eager attention materialises in one micro-batch of one replica: heads x
    queries x attended keys, every layer."""
    m = s.model
    return float(m.total_layers * (m.n_heads or 0) * s.seq * max(s.attended, 1) * s.micro_batch)


def cnn_step(s: Shape, sustained_tflops: float, eff: float, nchw: bool) -> cnet.Step | None:
    """A CNN preset that lists its layers (conv_stages): its training step, or in inference
    one eval-mode forward pass, layer by layer (convnet.py); None for other models and for
    CNNs described only by FLOPs and activation size."""
    net = cnet.net_of(s.model) if s.model.kind == ModelKind.CNN else None
    if net is None:
        return None
    job = s.job
    rates = (sustained_tflops, eff, job.gpu.memory_bandwidth_gbs, stream.fraction(job.gpu))
    l2 = l2_caches.l2_bytes(job.gpu.name)  # None: no sourced L2 size, the DRAM-only count
    if job.task == Task.INFER:
        return cnet.infer_step(net, s.micro_batch, s.act_bytes, *rates, nchw, l2)
    return cnet.train_step(net, s.micro_batch, s.act_bytes, *rates, nchw, job.checkpointing, l2)


def streaming_s(job: Job, nbytes: float) -> float:
    """Time to stream `nbytes` through DRAM at the card's streaming bandwidth (its measured
    fraction of the datasheet: estimate/stream.py)."""
    bw = job.gpu.memory_bandwidth_gbs
    return nbytes / (bw * GBS * stream.fraction(job.gpu))


def elementwise_s(s: Shape, nchw: bool) -> float:
    """Time of one micro-batch's element-wise work at the card's streaming bandwidth."""
    job = s.job
    if s.model.kind == ModelKind.CNN:
        bw = job.gpu.memory_bandwidth_gbs
        frac = stream.fraction(job.gpu)
        return cp.elementwise_time_s(cnn_traffic_bytes(s), job.checkpointing, bw, nchw) / frac
    return streaming_s(job, transformer_traffic_bytes(s))


def lora_adapted(s: Shape) -> list[tuple[int, int, float]]:
    """(d_in, d_out, uses per token over all layers) of every matrix LoRA adapts: a routed
    expert's matrix is used by the tokens routed to it, top-k per token."""
    m = s.model
    targets = shapes.LORA_TARGETS[s.job.lora_targets.value]
    out = []
    for name, (d_in, d_out, copies) in shapes.block_matrices(m).items():
        if name not in targets:
            continue
        uses = min(copies, m.experts_per_token or 1) if copies > 1 else 1
        out.append((d_in, d_out, float(uses * m.total_layers)))
    return out


# An eager LoRA/QLoRA trainer's host time per layer, per forward pass it issues from Python
# (fitted per trainer, Job.framework, by benchmarks/calibrate.py: key train_layer_s). What the
# host issues for one adapted linear of a Hugging Face + PEFT + bitsandbytes micro-step, read
# from the code [V]:
# - PEFT lora.Linear.forward (huggingface/peft 5d602fd, src/peft/tuners/lora/layer.py line
#   1063): `result = result + lora_B(lora_A(dropout(x))) * scaling` after the base layer's own
#   call: dropout, two thin GEMMs, a multiply and an add, each its own kernel and Python call;
# - the 4-bit base layer, bitsandbytes 0.43.0 (commit 4876324, bitsandbytes/autograd/
#   _functions.py lines 494-547): MatMul4Bit, a Python autograd.Function whose forward is
#   `torch.nn.functional.linear(A, F.dequantize_4bit(B, quant_state).to(A.dtype).t(), bias)`
#   and whose backward runs `F.dequantize_4bit` again before its matmul; dequantize_4bit with
#   double quantisation (functional.py lines 1072-1098) first dequantises the absmax
#   (dequantize_blockwise), adds the offset, allocates the output and calls the NF4 kernel
#   through ctypes: 4-5 launches and their Python per dequantisation;
# - gradient checkpointing re-runs every layer's forward, Python and all, in the backward.
# At a micro-step of ~1k tokens each of those kernels lasts microseconds on the GPU, about
# what issuing it costs, so the GPU waits on the host. The host cannot run ahead across
# micro-steps: Hugging Face Trainer checks each micro-step's loss on the host
# (`args.logging_nan_inf_filter and ... (torch.isnan(tr_loss_step) or
# torch.isinf(tr_loss_step))`, transformers/trainer.py _inner_training_loop, default True
# [V: seen in trainer.py copies from 2023 to 2025]), a device synchronisation every
# micro-step. The published tables show the result [V values, R arithmetic]: LLaMA-Factory's
# QLoRA on an A100 (wiki 'Performance comparison') spends 0.446 / 0.747 / 1.400 s per
# micro-step at 1k / 2k / 4k tokens (~0.14 s of each does not scale with its tokens); Qwen-1's
# LoRA on an A100 (README) 0.15 s at 256 tokens, where its GEMMs take ~0.04 s. dlrig models
# the time as c x layers x forward passes (1, or 2 when checkpointing recomputes), added to
# the micro-step; the backward's own kernels are issued by autograd's C++ engine and MatMul4Bit
# backward's Python is counted in c. A whole-step compiled or CUDA-graphed trainer would
# fit c near 0.
TRAIN_HOST_KEY = "train_layer_s"


def train_host_group(job: Job) -> tuple[str, ...]:
    """The per-layer host time is the trainer's (Job.trainer): its Python and kernels."""
    return (job.trainer.value,)


def train_host_s(s: Shape, consts: cal.Constants | None = None) -> float:
    """Host time of one micro-batch's layers, whole model (step.train_step divides by pp):
    LoRA/QLoRA on a transformer only (the points that show it; full training's are
    Megatron/NeMo/llm-foundry/torchtitan runs with micro-steps long enough to hide it)."""
    m, job = s.model, s.job
    if not (s.lora and m.is_transformer):
        return 0.0
    c = rate(TRAIN_HOST_KEY, train_host_group(job), consts).efficiency
    passes = 2 if job.checkpointing else 1
    return c * m.total_layers * passes


def per_token(s: Shape) -> bool:
    return not (s.flops_per_sample and s.model.kind in (ModelKind.CNN, ModelKind.VIT))


def train_work(s: Shape, eff: float, host_s: float = 0.0) -> st.TrainWork:
    m, job = s.model, s.job
    sustained = cp.sustained_tflops(job.gpu, compute_precision(m, job))
    if per_token(s):
        flops = cp.Flops(s.flops_per_token, s.flops_recompute_per_token)
        units = s.tokens_per_micro_step
    else:
        flops = cp.Flops(s.flops_per_sample or 0.0, (s.flops_per_sample or 0.0) / 3)
        units = s.micro_batch
    executed = flops.executed(job.checkpointing) * units
    attention = 0.0
    # FlashAttention-2's kernel on a card it was not written for (compute.fa2_slowdown).
    slowdown = cp.fa2_slowdown(job.gpu) if job.attention == Attention.FLASH2 else 1.0
    if (job.precision == Precision.FP8 or slowdown != 1.0) and per_token(s) and m.is_transformer:
        # Transformer Engine runs the linear layers' GEMMs in FP8; attention (FlashAttention)
        # stays in 16-bit: its FLOPs (3 x forward, one more when recomputed) at the 16-bit peak.
        # Selective checkpointing keeps attention's output, so only full recomputes it.
        fwd = shapes.attention_flops_fwd(m, s.attended)
        recomputed = job.checkpointing and not job.selective_checkpointing
        attention = (3 + (1 if recomputed else 0)) * fwd * units
    score_gemms = 0.0
    if not attention and job.attention == Attention.EAGER and per_token(s) and m.is_transformer:
        # Eager attention's QK^T and PV are thin GEMMs (inner width d): each lasts the longer
        # of its FLOPs at the GEMM rate and its score matrix at the streaming bandwidth
        # (elementwise.eager_score_gemm_bytes: memory-bound on tensor-core cards).
        recomputed = job.checkpointing and not job.selective_checkpointing
        score_gemms = (3 + (1 if recomputed else 0)) * shapes.attention_flops_fwd(m, s.attended)
        score_gemms *= units
    micro = cp.math_time_s(executed - attention - score_gemms, sustained, eff)
    if attention:
        sixteen = cp.sustained_tflops(job.gpu, "bf16") / slowdown
        micro += cp.math_time_s(attention, sixteen, eff)
    if score_gemms:
        gemm_bytes = ew.eager_score_gemm_bytes(eager_scores(s), s.act_bytes, job.checkpointing)
        micro += max(cp.math_time_s(score_gemms, sustained, eff), streaming_s(job, gemm_bytes))
    bw = job.gpu.memory_bandwidth_gbs
    nchw = cnet.transposes_nchw(m, job)
    cnn = cnn_step(s, sustained, eff, nchw)
    if cnn is not None:  # a preset that lists its layers (convnet.py)
        micro, extra = cnn.conv_s, cnn.elementwise_s
    else:
        extra = elementwise_s(s, nchw)
    if s.lora and m.is_transformer:
        # The adapters' thin GEMMs and the scale-and-add around them run at the bandwidth.
        elems = cp.lora_adapter_elements(lora_adapted(s), job.checkpointing)
        extra += streaming_s(job, elems * s.act_bytes * s.tokens_per_micro_step)
    if s.lora and s.weight_bits < 16:  # a quantised frozen base is dequantised on every use
        passes = cp.dequant_passes(job.checkpointing)
        extra += cp.dequant_time_s(s.params_linear, s.weight_bits, passes, bw)
    half_grads = (job.task == Task.TRAIN and not is_fp32(job.precision)) or shapes.half_adapters(
        job
    )
    # 16-bit gradients offloaded to the CPU (ZeRO-Offload moves them in 16 bits)
    grad_bytes = s.params_trainable * (HALF_BYTES if half_grads else FP32_BYTES)
    # DDP's all-reduce reduces the .grad tensors the memory model stores: fp32 under PyTorch
    # AMP (its parameters stay fp32, so DDP's buckets are fp32: memory.gradient_bytes cites
    # why), 16-bit under ZeRO and pure 16-bit training. Before, every mixed-precision DDP job
    # was priced with 16-bit gradients here while memory.py held them in fp32.
    ddp_grad_bytes = s.params_trainable * mem.gradient_bytes_per_param(s)
    # bitsandbytes' paged 8-bit optimizers step on the GPU; their pages move to the CPU only
    # under memory pressure, so no per-step transfer or CPU step is charged for them.
    offload = job.offload.value if job.optimizer != Optimizer.ADAM8BIT else Offload.NONE.value
    cpu_adam = 0.0
    if offload != Offload.NONE.value:
        cores = getattr(job, "cpu_cores", None) or DEFAULT_OFFLOAD_CPU_CORES
        per_gpu = trainable_kept(s, job.zero >= 1)
        cpu_adam = per_gpu / (cores * p.value("cpu_adam_params_per_core_s"))
    # The update and the clipping passes before it over every gradient, all streamed at the
    # element-wise bandwidth after the last gradient exists.
    step_bytes = mem.optimizer_step_bytes(s) + mem.gradient_pass_bytes(s)
    optimizer_s = step_bytes / (bw * comm.GBS * stream.fraction(job.gpu))
    moe_layers = 0
    if m.kind == ModelKind.MOE and m.n_experts:
        moe_layers = max((m.n_layers or 0) - m.first_dense_layers, 0)
    return st.TrainWork(
        micro_compute_s=micro,
        frozen_base=s.lora,
        micro_extra_s=extra,
        micro_host_s=host_s,
        tokens_per_micro=s.tokens_per_micro_step if per_token(s) else 0,
        hidden=m.hidden_size or 0,
        n_layers=m.total_layers,
        moe_layers=moe_layers,
        experts_per_token=m.experts_per_token or 1,
        # full training's routed-expert share of the weights and gradients (LoRA's adapters
        # count as dense): they reduce over the experts' own data-parallel group
        routed_share=s.params_routed / s.params_total
        if job.task == Task.TRAIN and s.params_total
        else 0.0,
        kv_width=m.kv_cache_width if m.n_layers and m.n_heads else 0,
        checkpointing=job.checkpointing,
        grad_bytes=grad_bytes,
        ddp_grad_bytes=ddp_grad_bytes,
        last_bucket_bytes=last_bucket_bytes(s, ddp_grad_bytes),
        weight_bytes=s.weight_bytes_job,
        offload=offload,
        cpu_adam_s=cpu_adam,
        optimizer_s=optimizer_s,
        activation_offload_bytes=mem.activation_offload_bytes(s),
    )


# PyTorch DDP's default bucket size: bucket_cap_mb=25 (MiB),
# https://docs.pytorch.org/docs/stable/generated/torch.nn.parallel.DistributedDataParallel.html
DDP_BUCKET_CAP_BYTES = 25 * 2**20


def last_bucket_bytes(s: Shape, grad_bytes: float) -> float:
    """Bytes of the last gradient bucket the data-parallel group reduces: DDP fills buckets in
    reverse parameter order up to the cap, a tensor larger than the cap taking one to itself
    (torch/nn/parallel/distributed.py, _compute_bucket_assignment_by_size), so the last
    bucket is the cap's worth of the first layers, or the input embedding where that is
    larger and trained (a frozen LoRA base has no embedding gradient)."""
    m = s.model
    per_param = grad_bytes / s.params_trainable if s.params_trainable else 0.0
    embedding = 0.0
    if not s.lora and m.vocab_size and m.hidden_size:
        embedding = m.vocab_size * m.hidden_size * per_param
    return min(grad_bytes, max(DDP_BUCKET_CAP_BYTES, embedding))


# A full-training framework's efficiency against the one fitted over every framework's points
# (Job.framework, --framework): the same counted FLOPs run under its own kernels (Transformer
# Engine's fused layers and FP8 recipe, FlashAttention 3 or SDPA), overlap and host loop. On
# the H100 the published runs span 2x at one recipe: NeMo's Llama 3 8B pre-training 12.4k
# tokens/s per GPU, torchtitan's 5.8k (catalog/data/calibration_points.csv). A factor, not a
# tree level: a job that names no framework keeps the group's constant, which every
# framework's points set. benchmarks/calibrate.py fit_framework fits it per framework as the
# median over the framework's points of (implied mfu / the mfu their group resolves to); like
# an engine's decode constant, a framework's factor stands from one source (its LOSO score
# needs a second). Unnamed, or a framework no point names: 1.
TRAIN_FRAMEWORK_KEY = "train_framework"
# NeMo trains with Megatron-core's layers and Transformer Engine: one factor with Megatron-LM.
FRAMEWORK_KERNELS_OF = {"nemo": "megatron"}


def framework_group(job: Job) -> tuple[str, ...] | None:
    """The framework factor's group of a full-training job that names its framework (None:
    LoRA and QLoRA, whose trainer sets the host time instead; a given --mfu; none named)."""
    if job.task != Task.TRAIN or job.framework is None or job.mfu is not None:
        return None
    name = job.framework.value
    return (FRAMEWORK_KERNELS_OF.get(name, name),)


def framework_factor(job: Job, consts: cal.Constants | None = None) -> cal.Fitted | None:
    """The fitted factor on the job's training efficiency, or None (none applies, or the table
    has no factor at all: the calibration's passes before fit_framework)."""
    group = framework_group(job)
    if group is None:
        return None
    try:
        return (consts or cal.constants()).get(TRAIN_FRAMEWORK_KEY, group)
    except DlrigError:
        return None


def sustained_efficiency(r: Rate, job: Job, precision: str) -> float:
    """The efficiency against the card's sustained GEMM rate (compute.achievable_fraction):
    fitted constants are on that scale; an --mfu the user gives is against the datasheet."""
    frac = cp.achievable_fraction(job.gpu, precision)
    return r.efficiency / frac if r.group == "given" else r.efficiency


def train(s: Shape, consts: cal.Constants | None = None) -> ThroughputEstimate:
    m, job = s.model, s.job
    r = _given_or_fitted(job, "mfu", train_group(m, job), consts)
    precision = compute_precision(m, job)
    pk = cp.peak(job.gpu, precision)
    eff = sustained_efficiency(r, job, precision)
    factor = framework_factor(job, consts)
    if factor is not None:
        # no GEMM beats the card's datasheet peak (calibrate.py's bound on mfu)
        eff = min(eff * factor.value, 1 / cp.achievable_fraction(job.gpu, precision))
    work = train_work(s, eff, train_host_s(s, consts))
    lk = links(s)
    res = st.train_step(work, s.plan, lk)
    tokens = per_token(s)
    units_per_step = s.global_batch * (s.seq if tokens else 1)
    total = units_per_step / res.step_s
    per_gpu = total / job.n_gpus
    what = "none (one GPU)" if job.n_gpus == 1 else (lk.intra.what if lk.intra else "none")
    if lk.inter is not None:
        what += f"; between nodes {lk.inter.what}"
    samples = total / s.seq if tokens else total
    parts = {
        "compute": res.compute_s - res.host_s,
        "per-layer host time (eager trainer)": res.host_s,
        "pipeline bubble": res.bubble_s,
        "communication not hidden": res.exposed_comm_s,
        "offload not hidden": res.offload_s,
        "optimizer step": res.optimizer_s,
    }
    if res.input_s > res.step_s - 1e-12 and res.input_s > 0:
        parts = {"input pipeline": res.input_s}
    headline = total if tokens else samples
    return ThroughputEstimate(
        tokens_per_s=total if tokens else None,
        tokens_per_s_per_gpu=per_gpu if tokens else None,
        samples_per_s=samples,
        samples_per_s_per_gpu=None if tokens else per_gpu,
        utilization=eff * cp.achievable_fraction(job.gpu, precision),  # MFU: vs the datasheet
        utilization_source=r.source + (f"; x {factor.cite()}" if factor else ""),
        peak_tflops=pk.tflops,
        flops_per_token=s.flops_per_token if tokens else None,
        flops_per_sample=None if tokens else s.flops_per_sample,
        step_time_s=res.step_s,
        compute_time_s=res.compute_s,
        allreduce_time_s=res.comm_s,
        exposed_comm_s=res.exposed_comm_s,
        link=what,
        link_gbs=lk.intra.busbw_gbs if (lk.intra and job.n_gpus > 1) else None,
        bound=res.bound,
        step_parts_s={k: v for k, v in parts.items() if v > 0},
        interval=interval(headline, r),
    )


# --- inference ----------------------------------------------------------------------------


def counted_attention_flops(s: Shape) -> float:
    """The attention FLOPs per token inside `s.flops_fwd_per_token`, to swap them for what a
    decode step or a prefill executes: from the same unrounded keys per query (Shape.attended
    is rounded up to whole tokens; subtracting that left a context-dependent residue, so a
    longer --context changed a decode step's FLOPs with the prompt fixed)."""
    return shapes.attention_flops_fwd(s.model, shapes.attended_tokens(s.model, s.seq))


def kv_loads_per_step(s: Shape) -> int:
    """How many times a decode step's attention loads each KV head's cache: once, except in
    TensorRT-LLM's generation attention before its XQA kernel (Job.trtllm_mmha), where a
    grouped-query model's cache is loaded once per query head: g = query heads per KV head.

    The kernel (cpp/tensorrt_llm/kernels/decoderMaskedMultiheadAttention/
    decoderMaskedMultiheadAttentionTemplate.h) runs one thread block per query head and
    sequence, `const unsigned hi{blockIdx.x};` ... `const unsigned hi_kv{hi / qhead_per_kv};`,
    and each block reads its KV head's keys and values for the whole context: the g blocks
    of a group read the same cache g times. NVIDIA's XQA blog (nvidia.github.io/TensorRT-LLM/
    blogs/XQA-kernel.html, 2024-01-30: 'XQA kernel provides optimization for MQA and GQA
    during generation phase ... reducing data loading', 'will be included in the v0.8
    releases') measured Llama-70B, 128 in / 2048 out, 1,227 tok/s/GPU without XQA and 2,941
    with it on one H200 (2.4x). The g loads are priced at the DRAM bandwidth, an upper bound
    where L2 serves some of a group's repeated loads (blocks of one sequence's heads are
    launched side by side: blockIdx.x is the head)."""
    if not s.job.trtllm_mmha or engine(s.job) != "tensorrt-llm":
        return 1
    return hf_cache.kv_groups(s.model)


def decode_inputs(s: Shape) -> dec.DecodeInputs:
    """Per-GPU bytes one decode step reads (Shape: its share of the weights, active experts
    only; the batch's KV cache at the mean context of the generation, shape.decode_context;
    what transformers' torch.cat copies of it, hf_cache.py; what its dequantisation kernels
    move where the batch takes a dequantise-then-GEMM path, dequant_bytes_per_step)
    and the step's FLOPs for the batch (attention over that mean context, not the whole one)."""
    b, m = s.micro_batch, s.model
    attn_full = counted_attention_flops(s)
    attn_mean = shapes.attention_flops_fwd(m, shapes.attended_tokens(m, s.decode_context))
    layers = (m.n_layers or 0) / max(s.plan.pp, 1)
    return dec.DecodeInputs(
        weight_bytes=s.decode_weight_bytes_per_gpu,
        # the main GPU's under a row split (shape.kv_split); g loads before XQA (TRT-LLM)
        kv_bytes=s.decode_kv_bytes_per_gpu * kv_loads_per_step(s),
        kv_copy_bytes=s.decode_kv_copy_bytes_per_gpu,
        fresh_alloc_bytes=hf_cache.fresh_bytes_per_step(
            s.job, m, s.decode_kv_bytes_per_gpu, layers
        ),
        dequant_bytes=dequant_bytes_per_step(s),
        flops=b * (s.flops_fwd_per_token - attn_full + attn_mean),
        n_layers=s.model.total_layers,
        hidden=s.model.hidden_size or 0,
        batch=b,
    )


def causal_attended(m: ModelSpec, prompt: int) -> float:
    """Keys a prompt token attends to on average under the causal mask (token i sees i + 1):
    (P + 1) / 2; on sliding-window layers at most the window, W - W(W - 1) / 2P beyond it."""
    if prompt <= 0:
        return 0.0
    full = (prompt + 1) / 2
    if not m.sliding_window or not m.n_layers:
        return full
    w = m.sliding_window
    local = full if prompt <= w else w - w * (w - 1) / (2 * prompt)
    n_local = m.n_layers if m.sliding_window_layers is None else m.sliding_window_layers
    return (n_local * local + (m.n_layers - n_local) * full) / m.n_layers


def unused_head_flops_per_token(m: ModelSpec, prompt: int) -> float:
    """The output head's FLOPs per prompt token that a prefill skips: only a prompt's last
    position yields a token, and the engines apply the head (2·V·h per row) to that row alone:
    vLLM's LogitsProcessor to the positions it samples, TensorRT-LLM's context phase to the
    last token unless gather_all_token_logits is set, llama.cpp to the outputs a batch asks for
    (llama-bench: the last; the graph's inp_out_ids, compilade's PR #6122 'greatly reduce output
    buffer memory usage', 2024-03 [R]), transformers >= 4.45's generate with logits_to_keep=1.
    So P - 1 of a P-token prompt's rows skip it: (1 - 1/P)·2·V·h per token. Llama-3-8B at
    P = 512: 2·128256·4096·511/512 = 1.05 GFLOP of its 15 GFLOP per token."""
    if not m.has_vocab_head or not m.vocab_size or not m.hidden_size or prompt <= 0:
        return 0.0
    return 2 * m.vocab_size * m.hidden_size * (1 - 1 / prompt)


def prefill_flops_per_token(s: Shape) -> float:
    """Forward FLOPs per prompt token as a prefill executes them: the matmuls, and attention
    over the keys the causal mask leaves (FlashAttention and the engines' context kernels skip
    masked tiles), not the whole context the decode steps attend to (PaLM's MFU convention,
    which training's fitted efficiencies keep); the output head for the last position only
    (unused_head_flops_per_token)."""
    m = s.model
    full = counted_attention_flops(s)
    # Eager attention's two score GEMMs stream their score matrices (eager_prefill_score_bytes):
    # priced by those bytes at the streaming bandwidth, as training prices them where they are
    # memory-bound (elementwise.py: about d FLOPs per score byte, under every tensor-core
    # card's FLOP:byte ratio), so not by their FLOPs here as well.
    attention = (
        0.0
        if eager_prefill(s)
        else shapes.attention_flops_fwd(m, causal_attended(m, s.prompt_tokens))
    )
    return (
        s.flops_fwd_per_token - full + attention - unused_head_flops_per_token(m, s.prompt_tokens)
    )


def fp8_attention_extra_flops(s: Shape, gemm_precision: str) -> float:
    """What a prefill's attention adds, per prompt token, in FLOPs at the FP8 rate, where the
    engine multiplies FP8 weights on the FP8 tensor cores but runs attention in 16-bit, as
    training's FP8 does (train_work: Transformer Engine's linears in FP8, FlashAttention in
    16-bit): TensorRT-LLM's context FMHA runs in the 16-bit type unless the engine is built
    with the FP8 one, an option off by default ('`--use_fp8_context_fmha` enables FP8 Context
    fused multi-head attention. We recommend enabling this when fp8 quantization is used ...
    only NVIDIA Hopper architecture is supported', TensorRT-LLM's performance best-practices
    doc); vLLM's and SGLang's FP8 checkpoints quantise the linear layers (Fp8LinearMethod) and
    keep FlashAttention/FlashInfer in bf16 or fp16. Its FLOPs take the 16-bit sustained rate:
    counted at the FP8 rate, they are scaled by the ratio of the two rates."""
    if gemm_precision != "fp8" or eager_prefill(s) or not s.model.is_transformer:
        return 0.0
    job, m = s.job, s.model
    fp8 = cp.sustained_tflops(job.gpu, "fp8")
    sixteen = cp.sustained_tflops(job.gpu, "bf16")
    if sixteen <= 0 or fp8 <= sixteen:
        return 0.0
    attention = shapes.attention_flops_fwd(m, causal_attended(m, s.prompt_tokens))
    return attention * (fp8 / sixteen - 1)


def eager_prefill(s: Shape) -> bool:
    """A transformer prefill whose attention materialises its score matrices (--attention
    eager): transformers' `attn_implementation="eager"` (LlamaAttention: matmul, divide by
    sqrt(d), add the causal mask, softmax in float32, matmul), and AutoAWQ's fused attention
    before its switch to FlashAttention (casper-hansen/AutoAWQ awq/modules/fused/attn.py, from
    cef9f113 (2023-12) to v0.2.6: `scores = torch.matmul(xq, keys.transpose(2, 3)) /
    math.sqrt(self.head_dim)`, `scores = scores + attention_mask`, `scores =
    F.softmax(scores.float(), dim=-1).type_as(xq)`, `output = torch.matmul(scores, values)`
    for every `seqlen > 1`; PR #656 'Fused attention: Switch to Flash Decoding', commit
    dfe396a 2024-11-26, first released in v0.2.7.post3, calls flash_attn_func instead)."""
    return s.job.attention == Attention.EAGER and s.model.is_transformer and s.prompt_tokens > 0


def eager_prefill_score_bytes_per_chunk(s: Shape) -> float:
    """Bytes one GPU's eager attention streams per prompt chunk (eager_prefill): every query
    of a forward pass scores every key of it, the causal mask's masked half included (the mask
    is added to a full s x s matrix), so one pass over a whole prompt of P tokens
    materialises P^2 scores per head and layer, 32 x 32 x 4096^2 = 17.2e9 for Llama-2-7B at
    4096 tokens, each written, scaled, masked, softmaxed and read again
    (elementwise.eager_score_prefill_bytes: 16 bytes per score in 16-bit, 275 GB, about
    0.16 s at an A100 80GB's 2.04 TB/s): the prefill rate falls as the prompt grows. Chunks
    of C tokens of a sequence score the keys up to their end: P (P + C) / 2 per sequence.
    Split over tensor-parallel ranks by heads and pipeline stages by layers."""
    if not eager_prefill(s):
        return 0.0
    m, plan, b, prompt = s.model, s.plan, s.micro_batch, s.prompt_tokens
    in_flight = max(s.prefill_tokens_in_flight, 1)
    chunk_per_seq = min(prompt, max(in_flight // max(b, 1), 1))
    keys = (prompt + chunk_per_seq) / 2
    heads = (m.n_heads or 0) / plan.tp
    scores = m.total_layers / plan.pp * heads * b * prompt * keys
    chunks = dec.prefill_chunks(b * prompt, s.prefill_tokens_in_flight)
    masked = mem.has_attention_mask(m)
    return ew.eager_score_prefill_bytes(scores, s.act_bytes, masked) / chunks


# ggml-cuda multiplies a quantized matrix by a batch of more than this many rows with a GEMM
# (MMQ, or cuBLAS on F16 copies); up to it with its matrix-vector kernels, which read the
# quantized blocks directly (MMQ_MAX_BATCH_SIZE = 32 in ggml-cuda.cu of 2023-10 to 2024-06).
LLAMA_CPP_VECTOR_ROWS = 32
# Architectures on which ggml-cuda still takes the cuBLAS path for quantized weights after MMQ
# became the default: FP16 tensor cores but no int8 MMA for MMQ (llama.cpp PR #8075,
# JohannesGaessler, 2024-06-23: MMQ by default "unless there is no int8 tensor core MMQ
# implementation available but FP16 tensor cores are (V100, RDNA3)").
CUBLAS_ONLY_ARCHITECTURES = frozenset({"Volta"})


def llama_cpp_dequantises(s: Shape) -> bool:
    """Whether llama.cpp turns the quantized weights into F16 copies for cuBLAS in this job's
    prompt batches: a GGUF format, chunks above LLAMA_CPP_VECTOR_ROWS, and a build that takes
    that path (Job.llama_cpp_cublas: builds from PR #3412 'perform cublas mat mul of quantized
    types as f16', 2023-09, until PR #8075, 2024-06; or a card without MMQ's int8 MMA)."""
    job = s.job
    if job.engine not in LLAMA_CPP_ENGINES or job.quant not in shapes.GGUF_FORMATS:
        return False
    if s.prefill_tokens_in_flight <= LLAMA_CPP_VECTOR_ROWS:
        return False
    return job.llama_cpp_cublas or cp.architecture(job.gpu) in CUBLAS_ONLY_ARCHITECTURES


# Kernels that multiply a prompt chunk by quantized weights by first writing a 16-bit copy of
# each matrix and handing it to cuBLAS, above a number of rows (the forward pass's tokens) set
# in their code; up to it a fused kernel reads the packed weights directly. Rows from which each
# (engine, format) takes the dequantise-then-GEMM path:
# - bitsandbytes 4-bit (transformers load_in_4bit): bitsandbytes/autograd/_functions.py
#   matmul_4bit calls the fused gemv_4bit only for one row (`A.numel() == A.shape[-1]`); any
#   other input goes through MatMul4Bit, `linear(A, F.dequantize_4bit(B, quant_state).t())`
#   (bitsandbytes-foundation/bitsandbytes at 012c660699ccb92bfa97916f1a18bed0980eae00);
# - GPTQ under transformers (optimum + AutoGPTQ's exllamav2 kernel, its default from 0.5):
#   gemm_half_q_half_cuda reconstructs the F16 matrix and calls cublasHgemm when
#   `size_m > MAX_Q_GEMM_ROWS` (50 in the copy AutoGPTQ and vLLM's gptq kernel carry);
# - ExLlamaV2 (GPTQ and EXL2): the same test with MAX_Q_GEMM_ROWS 32
#   (turboderp/exllamav2 exllamav2/exllamav2_ext/config.h at 0d432c97; cuda/q_gemm.cu:
#   "Reconstruct FP16 matrix, then cuBLAS");
# - AWQ in AutoAWQ (and transformers' AWQ integration, which loads AutoAWQ's WQLinear_GEMM):
#   awq/modules/linear/gemm.py `FP16_MATMUL_HEURISTIC_CONDITION = x.shape[0] * x.shape[1] >=
#   1024` -> awq_ext.dequantize_weights_cuda then torch.matmul (casper-hansen/AutoAWQ PR #316
#   'Up to 60% faster context processing', 2024-01-24, in every release from v0.2.0);
# - vLLM's own AWQ kernel: `x.shape[:-1].numel() >= 256` -> ops.awq_dequantize then
#   torch.matmul (vllm/model_executor/layers/quantization/awq.py, casper-hansen's vLLM PR #2566,
#   2024-01). vLLM and SGLang run AWQ and GPTQ checkpoints with the Marlin kernels (awq_marlin,
#   gptq_marlin: dequantisation in registers, no pass of its own) on the cards they support,
#   compute capability 8.0 and up [R: their get_min_capability() is 80]; on Turing (7.5, the
#   oldest AWQ takes: AWQConfig.get_min_capability() 75) the AWQ kernel above, and GPTQ's
#   exllama-derived kernel with MAX_Q_GEMM_ROWS 50. Other builds (ROCm, ...) are not modelled.
# Below the threshold the fused kernels' rate is not modelled: the 16-bit GEMM rate stands in.
BITSANDBYTES_GEMV_ROWS = 1
AUTOGPTQ_EXLLAMAV2_MAX_Q_GEMM_ROWS = 50
EXLLAMAV2_MAX_Q_GEMM_ROWS = 32
AUTOAWQ_DEQUANT_MIN_ROWS = 1024
VLLM_AWQ_DEQUANT_MIN_ROWS = 256
# Where vLLM and SGLang run their own (non-Marlin) AWQ and GPTQ kernels: capability 7.5-7.9.
PRE_MARLIN_ARCHITECTURES = frozenset({"Turing"})
# The formats the exllama-derived kernels take (int4 read as GPTQ): AutoGPTQ's under
# transformers and vLLM's GPTQ kernel; ExLlamaV2's adds EXL2.
GPTQ_FORMATS = frozenset({Quant.GPTQ, Quant.INT4})
EXLLAMAV2_FORMATS = GPTQ_FORMATS | {Quant.EXL2}


def dequant_min_rows(job: Job) -> int | None:
    """The fewest rows (a prompt chunk's tokens) from which this job's engine multiplies its
    quantized weights through a dequantised 16-bit copy (see the table above); None where it
    never does (16-bit or FP8 weights, fused kernels such as Marlin, MMQ and TensorRT-LLM's)."""
    e, q = engine(job), job.quant
    if e == "transformers":
        if q == Quant.NF4:
            return BITSANDBYTES_GEMV_ROWS + 1
        if q in GPTQ_FORMATS:
            return AUTOGPTQ_EXLLAMAV2_MAX_Q_GEMM_ROWS + 1
        if q == Quant.AWQ:
            return AUTOAWQ_DEQUANT_MIN_ROWS
    if e == "autoawq" and q in (Quant.AWQ, Quant.INT4):
        return AUTOAWQ_DEQUANT_MIN_ROWS
    if e == "exllamav2" and q in EXLLAMAV2_FORMATS:
        return EXLLAMAV2_MAX_Q_GEMM_ROWS + 1
    if e in ("vllm", "sglang") and cp.architecture(job.gpu) in PRE_MARLIN_ARCHITECTURES:
        if q == Quant.AWQ:
            return VLLM_AWQ_DEQUANT_MIN_ROWS
        if q in GPTQ_FORMATS:
            return AUTOGPTQ_EXLLAMAV2_MAX_Q_GEMM_ROWS + 1
    return None


def dequantises_for_gemm(s: Shape) -> bool:
    """Whether this job's prompt chunks multiply dequantised 16-bit copies of the weights:
    llama.cpp's cuBLAS path (llama_cpp_dequantises), or another engine's kernel above its row
    threshold (dequant_min_rows)."""
    if llama_cpp_dequantises(s):
        return True
    rows = dequant_min_rows(s.job)
    return rows is not None and s.prefill_tokens_in_flight >= rows


def dequant_bytes_per_chunk(s: Shape) -> float:
    """Bytes one GPU's dequantisation kernels move per prompt chunk where the engine multiplies
    dequantised copies (dequantises_for_gemm): each quantized matrix read in its packed format
    (bits/8 bytes per weight) and written as F16 (2 bytes per weight) for the GEMM to read
    (llama.cpp: ggml-cuda.cu ggml_cuda_op_mul_mat_cublas, to_fp16_cuda(src0) into a pool
    buffer; ExLlamaV2/AutoGPTQ: QMatrix::reconstruct into temp_dq; bitsandbytes:
    dequantize_4bit; AutoAWQ and vLLM: their dequantize kernels). The output head is left out:
    GPTQ, AWQ, EXL2 and bitsandbytes keep it in 16-bit, and llama.cpp multiplies only the
    prompt's last row by it (compilade's PR #6122, 2024-03), a matrix-vector product.
    Published: llama-bench pp512 of CodeLlama-7B on an RTX 4090 (PR #4766, 2024-01): F16
    46.3 ms, Q8_0 66.8 ms, Q4_0 64.2 ms per 512 tokens; the extra 20.5 and 17.9 ms are
    6.48e9 weights x (1.0625 + 2) bytes = 19.8 GB and x (0.5625 + 2) = 16.6 GB at its
    1008 GB/s (19.7 and 16.5 ms). optimum's GPTQ prefill benchmark (Llama-2-13B, 512 tokens,
    A100 80GB, 2024-02): F16 98.89 ms, GPTQ with the exllamav2 kernel 115.05 ms; the extra
    16.2 ms is about 12.7e9 weights x (0.52 + 2) bytes = 32 GB at the A100's 2.04 TB/s."""
    if not dequantises_for_gemm(s):
        return 0.0
    packed = _packed_bytes(s, s.prefill_weight_bytes_per_gpu)
    return packed * (1 + shapes.BITS_PER_BYTE * HALF_BYTES / s.weight_bits)


def _packed_bytes(s: Shape, weight_bytes_per_gpu: float) -> float:
    """The quantized matrices' packed bytes among `weight_bytes_per_gpu` (one GPU's read of a
    forward pass): the output head, kept in 16-bit, left out."""
    m, plan = s.model, s.plan
    bits = s.weight_bits
    head_bits = bits if shapes.quantised_embeddings(s.job) else shapes.BITS_PER_BYTE * HALF_BYTES
    head = (m.vocab_size or 0) * (m.hidden_size or 0) * head_bits / shapes.BITS_PER_BYTE
    return weight_bytes_per_gpu - head / (plan.tp * plan.pp)


def dequant_bytes_per_step(s: Shape) -> float:
    """Bytes one GPU moves per decode step, beyond reading the packed weights, where the step
    takes a dequantise-then-GEMM path: a step is a forward pass over one row per sequence, so
    a batch of at least the engine's row threshold (dequant_min_rows) takes the same path as
    a prompt chunk. Its dequantisation kernels read the packed matrices (the step's weight
    read) and write them as F16, which the GEMM then reads: twice the F16 size on top. The
    case that matters is bitsandbytes 4-bit under transformers: its fused gemv_4bit serves one
    row only (`A.numel() == A.shape[-1]`), so from two sequences on every step rebuilds each
    matrix in F16 (`F.dequantize_4bit`) before `torch.nn.functional.linear`
    (bitsandbytes/autograd/_functions.py matmul_4bit, the table above). Llama-2-7B in NF4 at
    batch 2: 6.48e9 packed weights, 2 x 2 bytes each = 25.9 GB on top of the ~3.4 GB packed
    read, against a 16-bit model's 13.5 GB: slower than 16-bit, as Hugging Face's overview
    found ('with batch_size=4 and use_cache=True, it [GPTQ] is twice as fast' as bitsandbytes
    4-bit, huggingface.co/blog/overview-quantization-transformers, 2023-09 [V])."""
    rows = dequant_min_rows(s.job)
    if rows is None or s.micro_batch < rows:
        return 0.0
    packed = _packed_bytes(s, s.decode_weight_bytes_per_gpu)
    return 2 * packed * shapes.BITS_PER_BYTE * HALF_BYTES / s.weight_bits


# transformers' bitsandbytes linears (load_in_8bit / load_in_4bit) run more of their work from
# Python than a 16-bit nn.Linear's single F.linear, and a decode step of an eager engine waits on
# its host (decode.py): LLM.int8() quantises each input row by row, splits out the outlier
# columns above its threshold (6.0 by default) for a 16-bit matmul of their own, runs the int8
# matmul and dequantises the result, every linear, every step; the 4-bit one-row path casts the
# input, allocates the output and calls gemv_4bit through ctypes. Tim Dettmers on the 8-bit
# path: 'The slowness ... stems from the small amount of compute that is done during
# token-by-token inference compared to how much overhead there is' (bitsandbytes issue #6,
# 2022-08-17) and 'The kernels that I designed were designed for training and are not
# efficient for inference hence the slow speed' (issue #490, 2023-07-16) [V]. h2oGPT's
# benchmark (transformers 4.30.2, bitsandbytes 0.41.1, Llama-2-7B-chat, one request) measured
# on an RTX 4090 40.9 tokens/s in 16-bit, 32.6 in 4-bit and 9.2 in 8-bit (perf.md, 2023-08)
# [V]; bitsandbytes' own benchmark (benchmarking/README.md, v0.45.0, transformers 4.46.3,
# Llama-3.1-8B on an H100, batch 1) 40.99 in BF16, 30.14 in NF4, 19.17 in INT8 and 12.24 in
# INT8 with the outlier decomposition [V]. The step of such a job waits on a host that runs
# the engine's per-layer time plus a time per bitsandbytes linear, fitted per path on those
# points (BNB_HOST_KEY); they inform no decode_layer_s (benchmarks/calibrate.py).
BITSANDBYTES_FORMATS = frozenset({Quant.INT8, Quant.NF4})


def bitsandbytes_host_path(job: Job) -> bool:
    """Whether this job decodes through transformers' bitsandbytes linears (see above)."""
    return (
        job.task == Task.INFER
        and engine(job) == "transformers"
        and (job.quant in BITSANDBYTES_FORMATS)
    )


# The host time each bitsandbytes linear adds to a decode step, on top of the engine's per-layer
# time (seconds per quantised linear per step; fitted by benchmarks/calibrate.py on the
# published bitsandbytes decode points, one constant per path, each a root like the trainers'
# train_layer_s).
BNB_HOST_KEY = "bnb_linear_s"
# The three paths a decode step of transformers' bitsandbytes linears takes, by format and the
# rows of the step (bitsandbytes/autograd/_functions.py): LLM.int8() (MatMul8bitLt: row-wise
# int8 quantisation of the input, the outlier columns above llm_int8_threshold, 6.0 in
# transformers' BitsAndBytesConfig, split out for a 16-bit matmul, the int8 matmul and its
# dequantisation), 4-bit at one row (gemv_4bit) and 4-bit at more rows (MatMul4Bit:
# dequantize_4bit, then F.linear).
BNB_PATHS = ("int8", "nf4-gemv", "nf4-dequant")


def bnb_path(job: Job, rows: int) -> str | None:
    """Which of BNB_PATHS a forward pass of `rows` rows takes (None: no bitsandbytes linear)."""
    if not bitsandbytes_host_path(job):
        return None
    if job.quant == Quant.INT8:
        return "int8"
    return "nf4-gemv" if rows <= BITSANDBYTES_GEMV_ROWS else "nf4-dequant"


def bnb_linears_per_layer(m: ModelSpec) -> float:
    """The quantised linears one decode step runs per layer: every matrix of the block
    (transformers quantises each nn.Linear but the output head, `llm_int8_skip_modules`), an
    MoE's experts counted as those a token routes to (each expert its own module)."""
    total = 0.0
    for _d_in, _d_out, copies in shapes.block_matrices(m).values():
        total += min(copies, m.experts_per_token or 1) if copies > 1 else 1
    return total


def bnb_host_s(s: Shape, consts: cal.Constants | None = None) -> float:
    """Host time per layer a decode step's bitsandbytes linears add (0 where none)."""
    path = bnb_path(s.job, s.micro_batch)
    if path is None:
        return 0.0
    return bnb_linears_per_layer(s.model) * rate(BNB_HOST_KEY, (path,), consts).efficiency


def routed_flops_per_token(m: ModelSpec) -> float:
    """Forward FLOPs per token in an MoE's routed experts: 2 per weight of the k of E experts
    a token passes (0 for a dense model)."""
    if not m.n_experts or not m.experts_per_token:
        return 0.0
    return 2 * shapes.routed_expert_params(m) * m.experts_per_token / m.n_experts


# Cards whose ggml-cuda MMQ kernels use int8 tensor-core MMA (turing_mma_available: compute
# capability 7.5 and up), so their tiles reach moe_tiles.MMQ_X_MAX_MMA columns; older cards
# run MMQ with dp4a (MMQ_DP4A_MAX_BATCH_SIZE). Volta takes the cuBLAS path (llama_cpp_dequantises).
MMQ_MMA_ARCHITECTURES = frozenset({"Turing", "Ampere", "Ada", "Hopper", "Blackwell"})


def runs_mmq_prefill(s: Shape) -> bool:
    """Whether llama.cpp runs the job's prefill GEMMs in its MMQ kernels: a GGUF (or MXFP4)
    format, a chunk wider than the vector kernels' rows, and not the dequantise-to-F16 cuBLAS
    path (llama_cpp_dequantises)."""
    job = s.job
    if engine(job) != "llama.cpp":
        return False
    if job.quant not in shapes.GGUF_FORMATS and job.quant != Quant.MXFP4:
        return False
    return s.prefill_tokens_in_flight > LLAMA_CPP_VECTOR_ROWS and not llama_cpp_dequantises(s)


def routed_tile_pad(s: Shape) -> float:
    """How many tile columns an MoE prefill chunk's expert GEMMs run per routed token on this
    job's engine (moe_tiles.pad_factor; 1 where nothing is padded). Priced for llama.cpp's MMQ
    path, which sizes its expert tiles against the chunk's tokens, not an expert's: GGUF and
    MXFP4 weights in chunks above LLAMA_CPP_VECTOR_ROWS, on a build that does not dequantise
    for cuBLAS (16-bit weights and the cuBLAS path gather each expert's rows into a GEMM of
    their own: nothing padded). Other engines keep 1: vLLM's fused_moe pads each expert to
    BLOCK_SIZE_M rows (moe_align_block_size) but picks that block from the tokens per expert
    in its tuned configs, and no published A/B here prices it."""
    m, job = s.model, s.job
    if not m.n_experts or not m.experts_per_token or not runs_mmq_prefill(s):
        return 1.0
    chunk = s.prefill_tokens_in_flight
    mma = cp.architecture(job.gpu) in MMQ_MMA_ARCHITECTURES
    x_max = moe_tiles.MMQ_X_MAX_MMA if mma else moe_tiles.MMQ_X_MAX_DP4A
    tile = moe_tiles.mmq_tile_width(chunk, x_max, mma)
    return moe_tiles.pad_factor(chunk, m.n_experts, m.experts_per_token, tile)


# Architectures on which ggml-cuda's MMQ runs stream-k with 128-row tiles (mmq.cuh: stream-k
# and get_mmq_y_host's 128 from __CUDA_ARCH__ >= GGML_CUDA_CC_VOLTA); Pascal and older tile
# conventionally with 64 rows. Volta itself takes the cuBLAS path (CUBLAS_ONLY_ARCHITECTURES).
MMQ_STREAM_K_ARCHITECTURES = MMQ_MMA_ARCHITECTURES | {"Volta"}


def mmq_extra_bytes_per_chunk(s: Shape) -> float:
    """DRAM bytes one GPU's MMQ GEMMs move per prompt chunk beyond reading each weight once
    (mmq_traffic.prefill_extra_bytes: weight slabs re-read per token tile where L2 cannot
    hold the slabs of the blocks in flight, activations, F32 outputs). llama.cpp's MMQ path
    only (GGUF or MXFP4 weights, chunks above LLAMA_CPP_VECTOR_ROWS, no cuBLAS dequantisation,
    one tensor-parallel rank: the row split's per-GPU slices are not modelled), on an NVIDIA
    card with a sourced L2 size and SM count; elsewhere 0, the weights-once count."""
    m, job = s.model, s.job
    if s.plan.tp > 1 or not runs_mmq_prefill(s):
        return 0.0
    chunk = s.prefill_tokens_in_flight
    l2_size, n_sm = l2_caches.l2_bytes(job.gpu.name), sm_counts.sm_count(job.gpu.name)
    if job.gpu.vendor != "NVIDIA" or not l2_size or not n_sm:
        return 0.0
    arch = cp.architecture(job.gpu)
    mma = arch in MMQ_MMA_ARCHITECTURES
    x_max = moe_tiles.MMQ_X_MAX_MMA if mma else moe_tiles.MMQ_X_MAX_DP4A
    stream_k = arch in MMQ_STREAM_K_ARCHITECTURES
    return mmq_traffic.prefill_extra_bytes(
        m,
        chunk,
        s.weight_bits / shapes.BITS_PER_BYTE,
        mmq_x=moe_tiles.mmq_tile_width(chunk, x_max, mma),
        mmq_y=mmq_traffic.MMQ_Y_VOLTA if stream_k else mmq_traffic.MMQ_Y_OLDER,
        n_sm=n_sm,
        l2_bytes=l2_size,
        stream_k=stream_k,
        layers=m.total_layers / s.plan.pp,
    )


def activation_bytes_per_chunk(s: Shape) -> float:
    """Bytes one GPU's element-wise kernels move per prompt chunk over F32 activations:
    llama.cpp's (ggml_activations.py), whatever its weights' format, since ggml keeps every
    activation in F32 between its ops (its cuBLAS path converts a matmul's F32 input to F16
    instead of block_q8_1: about the same bytes); one tensor-parallel rank's share of the
    hidden width. Other engines fuse these ops into 16-bit kernels: not counted."""
    if engine(s.job) != "llama.cpp" or s.plan.tp > 1:
        return 0.0
    m = s.model
    return ggml_activations.prefill_bytes(m, s.prefill_tokens_in_flight, m.total_layers / s.plan.pp)


def inference_gemm_precision(job: Job) -> str:
    """The precision an inference engine's GEMMs run at (compute.peak's names)."""
    if engine(job) == "llama.cpp" and job.precision != Precision.FP32:
        # ggml-cuda multiplies F16 (and dequantised) matrices with cuBLAS in FP16 compute
        # (ggml/src/ggml-cuda/ggml-cuda.cu, ggml_cuda_op_mul_mat_cublas:
        # cu_compute_type = CUBLAS_COMPUTE_16F): the FP16-accumulate peak.
        return "fp16-acc"
    if job.precision != Precision.FP32 and hgemm_kernels(job):
        return "fp16-acc"
    return job.precision.value


def hgemm_kernels(job: Job) -> bool:
    """Engines whose quantized matmuls multiply the reconstructed F16 matrix with cublasHgemm,
    FP16 inputs accumulated in FP16 (the FP16-accumulate peak, twice the FP32-accumulate one on
    GeForce cards): ExLlamaV2 and ExLlama for GPTQ and EXL2 (exllamav2_ext/cuda/q_gemm.cu,
    gemm_half_q_half_cuda: 'Reconstruct FP16 matrix, then cuBLAS', cublasHgemm), and GPTQ under
    transformers, whose default kernels are the exllama ones AutoGPTQ carries (optimum's GPTQ
    benchmark README: 'exllama uses fp16 accumulation for its fp16 x fp16 GEMM, while PyTorch and
    other kernels accumulate on fp32'). bitsandbytes, AutoAWQ and vLLM's AWQ path call
    torch.matmul on their F16 copies: cuBLAS's FP32 accumulation."""
    e = engine(job)
    if e == "exllamav2":
        return job.quant in EXLLAMAV2_FORMATS
    return e == "transformers" and job.quant in GPTQ_FORMATS


def infer(s: Shape, consts: cal.Constants | None = None) -> ThroughputEstimate:
    m, job = s.model, s.job
    # FP8 inference (TensorRT-LLM's and vLLM's FP8 checkpoints) multiplies FP8 activations by
    # FP8 weights on the tensor cores: the FP8 peak, or the 16-bit one on cards without FP8.
    gemm_precision = inference_gemm_precision(job)
    pk = cp.peak(job.gpu, gemm_precision)
    # The prefill's and a batched decode step's GEMMs run at the card's sustained rate
    # (compute.sustained_tflops: measured per card), not its datasheet peak (still reported).
    roof_tflops = cp.sustained_tflops(job.gpu, gemm_precision)
    b = s.micro_batch
    if not m.generates:
        r = _given_or_fitted(job, "mfu", train_group(m, job), consts)
        cnn = cnn_infer(s, r, consts)
        if cnn is not None:
            return cnn
        # Encoders and ViTs generate nothing: every GPU runs forward passes of the batch, its
        # GEMMs at the family's efficiency and, for a transformer, the element-wise work
        # between them (norms, activation, residual adds; eager attention's score matrices)
        # at the streaming bandwidth. Other presets: their forward FLOPs alone.
        eff = sustained_efficiency(r, job, job.precision.value)
        if m.is_transformer:
            fwd = s.flops_fwd_per_token * s.seq
        else:
            fwd = s.flops_per_sample or (m.gflops_per_sample or 0) * cp.FLOPS_PER_GFLOP
        frac = cp.achievable_fraction(job.gpu, job.precision.value)
        gemm_s = cp.math_time_s(fwd * b, pk.tflops * frac, eff)
        ew_s = streaming_s(job, encoder_forward_bytes(s)) if m.is_transformer else 0.0
        host_s = encoder_host_s(s, consts) if m.is_transformer else 0.0
        # eager PyTorch issues the ops while the GPU runs them: the longer of the two
        step = max(gemm_s + ew_s, host_s)
        total = job.n_gpus * b / step
        # a text encoder's rate in tokens too (its sequences' tokens), as training's is: the
        # unit recommend ranks language models by and --tokens budgets count
        tokens = total * s.seq if m.is_language_model else None
        parts = {
            "compute": gemm_s,
            ENCODER_MEMORY_PART: ew_s,
            ENCODER_HOST_PART: max(host_s - gemm_s - ew_s, 0.0),
        }
        return ThroughputEstimate(
            tokens_per_s=tokens,
            tokens_per_s_per_gpu=tokens / job.n_gpus if tokens else None,
            samples_per_s=total,
            samples_per_s_per_gpu=total / job.n_gpus,
            utilization=eff * frac,
            utilization_source=r.source,
            peak_tflops=pk.tflops,
            flops_per_sample=fwd,
            step_time_s=step,
            compute_time_s=step,
            bound=(
                "per-layer overhead"
                if host_s > gemm_s + ew_s
                else st.name_bound(step, 0.0, 0.0, memory_bound_s=ew_s)
            ),
            step_parts_s={k: v for k, v in parts.items() if v > 0},
            interval=interval(tokens or total, r),  # the headline's, as training's
        )
    bw = _given_or_fitted(job, DECODE_BW_KEY, decode_group(job), consts)
    pf = rate("prefill_mfu", prefill_group(job), consts)
    # An explicit --mfu names the bandwidth efficiency alone; the per-layer time stays fitted.
    ovh = rate(DECODE_OVERHEAD_KEY, overhead_group(job), consts)
    lk = links(s)
    pl = s.plan
    tc = tp_comm(s, consts)
    eager = engine(job) in EAGER_ENGINES
    d = dec.decode_step(
        decode_inputs(s),
        mem_bw_gbs=job.gpu.memory_bandwidth_gbs,
        bw_efficiency=bw.efficiency,
        peak_tflops=roof_tflops,
        compute_efficiency=pf.efficiency,
        tp=pl.tp,
        pp=pl.pp,
        link=lk.intra,
        layer_overhead_s=ovh.efficiency + bnb_host_s(s, consts),
        overhead_overlaps=eager,
        tp_comm=tc,
        alloc_s_per_gb=alloc_s_per_gb(consts),
    )
    pre = dec.prefill(
        s.prompt_tokens,
        prefill_flops_per_token(s) + fp8_attention_extra_flops(s, gemm_precision),
        peak_tflops=roof_tflops,
        efficiency=pf.efficiency,
        n_layers=m.total_layers,
        hidden=m.hidden_size or 0,
        tp=pl.tp,
        pp=pl.pp,
        link=lk.intra,
        batch=b,
        # plus what llama.cpp's MMQ tiles move beyond reading each weight once (mmq_traffic)
        weight_bytes=s.prefill_weight_bytes_per_gpu + mmq_extra_bytes_per_chunk(s),
        mem_bw_gbs=job.gpu.memory_bandwidth_gbs,
        # A chunk's GEMMs stream whole weight matrices over many tokens, as a STREAM kernel
        # streams its arrays, not a decode step's latency-bound matrix-vector products (whose
        # fitted decode_bw also carries their launch gaps): the streaming fraction applies.
        # Published: vLLM, Qwen3-30B-A3B bf16 on an A100 80 GB, a 128-token prompt (all 128
        # experts touched: 61 GB) answered in 35.7 ms, 1.7 TB/s = 84% of 2.04 TB/s, above
        # vLLM's fitted decode_bw (tenstorrent/tt-inference-server#340).
        bw_efficiency=stream.fraction(job.gpu),
        chunk_tokens=s.prefill_tokens_in_flight,
        layer_overhead_s=ovh.efficiency,
        overhead_overlaps=eager,
        routed_flops_per_token=routed_flops_per_token(m),
        routed_weight_bytes=s.prefill_routed_bytes_per_gpu,
        routed_pad=routed_tile_pad(s),
        dequant_bytes=dequant_bytes_per_chunk(s),
        activation_bytes=activation_bytes_per_chunk(s) + eager_prefill_score_bytes_per_chunk(s),
        pipelined=engine(job) == "llama.cpp",
        tp_comm=tc,
    )
    replicas = pl.dp
    tok_s = replicas * b / d.step_s
    if d.split == "none":
        what = "none"
    elif d.split == "layer":
        what = f"{lk.intra.what} (layers split over {pl.pp} GPUs, which take turns)"  # type: ignore[union-attr]
    else:
        link_what = (tc.link or lk.intra).what  # type: ignore[union-attr]
        what = f"{link_what} (tensor parallel over {pl.tp} GPUs: {TP_MODE_TEXT[tc.mode]})"
    return ThroughputEstimate(
        tokens_per_s=tok_s,
        tokens_per_s_per_gpu=tok_s / job.n_gpus,
        samples_per_s=None,
        utilization=bw.efficiency,
        utilization_source=bw.source,
        peak_tflops=pk.tflops,
        flops_per_token=s.flops_fwd_per_token,
        step_time_s=d.step_s,
        compute_time_s=d.compute_s,
        allreduce_time_s=d.comm_s,
        exposed_comm_s=d.comm_s,
        link=what,
        link_gbs=lk.intra.busbw_gbs if (lk.intra and d.split != "none") else None,
        bound=d.bound,
        prefill_tokens_per_s=pre.tokens_per_s,
        prefill_interval=(prefill_iv := interval(pre.tokens_per_s, pf)),
        # b prompts arriving together are prefilled together (chunk by chunk), and each
        # prompt's first token comes out of the prefill's last position: no decode step yet.
        ttft_s=pre.time_s,
        ttft_interval=inverse_interval(pre.time_s, prefill_iv, pre.tokens_per_s),
        step_parts_s={
            "weights and KV cache read" if d.bound != "compute" else "compute": max(
                d.memory_s, d.compute_s
            ),
            "communication": d.comm_s,
            "per-layer overhead": d.overhead_s,
            **({ALLOC_PART: d.alloc_s} if d.alloc_s else {}),
        },
        interval=interval(tok_s, decode_interval_rate(job, bw, consts)),
        engine=None if engine(job) == UNNAMED_ENGINE else engine(job),
    )


# The decode step's part for the caching allocator's fresh segments (hf_cache.py).
ALLOC_PART = "memory allocator (cudaMalloc/cudaFree of a growing cache)"


def alloc_s_per_gb(consts: cal.Constants | None = None) -> float:
    """The fitted seconds per GB of fresh segments (hf_cache.ALLOC_KEY); 0 where no fit wrote
    one (the step then carries no allocator time)."""
    c = consts or cal.constants()
    if (hf_cache.ALLOC_KEY, cal.ROOT) not in c.rows:
        return 0.0
    return c.value(hf_cache.ALLOC_KEY)


ENCODER_MEMORY_PART = "memory-bound ops (norms, activations, residual adds, attention scores)"


ENCODER_HOST_PART = "per-layer host time (eager PyTorch)"
# The engine whose fitted per-layer time an encoder's forward pass pays: timm, Hugging Face
# and DeepLearningExamples run it as eager PyTorch modules, as transformers runs a prefill.
EAGER_FORWARD_ENGINE = "transformers"


# The host time an eager encoder or ViT forward pass spends per layer (encoder_host_s), fitted
# by benchmarks/calibrate.py (fit_forward_host) on the published encoder inference points.
ENCODER_LAYER_KEY = "encoder_layer_s"


def encoder_host_s(s: Shape, consts: cal.Constants | None = None) -> float:
    """The host's time to issue one eager forward pass of an encoder or a ViT: its layers times
    the fitted time per encoder layer (ENCODER_LAYER_KEY). The published batch-1 forward
    passes of BERT and ViT-B/16 took 0.4-0.75 ms per layer (calibration_points.csv: hfdocs-*,
    ait-infer-*, dle-bert-infer-*-b1-*, kernl-baseline-*). Where no fit wrote one, the
    per-layer time fitted to Hugging Face transformers (decode_layer_s of its group for the
    card's host class, host_class): the time dlrig charges a transformers prefill, the same
    forward pass over prompt tokens, and an upper bound for an encoder layer, which issues
    fewer ops than a decoder layer in generate() (no KV cache update, no rotary embeddings)."""
    return s.model.total_layers * encoder_layer_time(s.job, consts)[0]


def encoder_layer_time(job: Job, consts: cal.Constants | None = None) -> tuple[float, str]:
    """The host time per layer an encoder's forward pass pays (encoder_host_s), and which
    constant it is: the fitted ENCODER_LAYER_KEY, else transformers' decode_layer_s for the
    card's host class."""
    c = consts or cal.constants()
    if (ENCODER_LAYER_KEY, cal.ROOT) in c.rows:
        return c.value(ENCODER_LAYER_KEY), ENCODER_LAYER_KEY
    group = (EAGER_FORWARD_ENGINE, host_class(job))
    return rate(DECODE_OVERHEAD_KEY, group, consts).efficiency, "transformers' decode_layer_s"


def encoder_forward_bytes(s: Shape) -> float:
    """Element-wise bytes one forward pass of the batch streams through DRAM in an encoder
    or ViT (elementwise.forward_bytes), with eager attention's score matrices (scale, mask add,
    softmax, and the two score GEMMs' own write and read: elementwise.eager_score_prefill_bytes).
    """
    m, job = s.model, s.job
    tokens = s.seq * s.micro_batch
    nbytes = ew.forward_bytes(m, tokens, s.act_bytes)
    if job.attention == Attention.EAGER:
        masked = mem.has_attention_mask(m)
        nbytes += ew.eager_score_prefill_bytes(eager_scores(s), s.act_bytes, masked)
    return nbytes


# The host time an eager CNN forward pass spends per convolution (cnn_host_s), fitted by
# benchmarks/calibrate.py (fit_forward_host) on the published CNN inference points.
CNN_CONV_KEY = "cnn_conv_s"


def cnn_host_s(s: Shape, consts: cal.Constants | None = None) -> float:
    """The host's time to issue one eager forward pass of a CNN that lists its layers: its
    convolutions times the fitted time per convolution (CNN_CONV_KEY), 0 where no fit wrote
    one. Eager PyTorch issues each module from Python, one thread: a convolution with its
    batch norm and ReLU (and a block's add) is a few modules and kernels, whatever the batch,
    so at a small batch the pass waits on the host, not the GPU. Published: ResNet-50 and
    ResNet-152 in fp16 at batch 12 on an A100 (a DGX A100, 2021) took 8.5 and 21.8 ms per
    pass, 0.16 and 0.14 ms per convolution (53 and 155 convolutions); ResNet-152 in fp16 at
    batch 16 took 21.7 ms on a V100 (PyTorch 0.3) and 25.0 ms on an RTX 2080 Ti (PyTorch 1.0),
    0.14 and 0.16 ms (calibration_points.csv: ryujaehun-*, u39kun-*): the same time per
    convolution on an A100 and a V100, whose fp16 peaks are 2.5x apart. A training step is not
    charged it (not fitted there: its backward runs in autograd's C++ engine)."""
    convs = cnn_convolutions(s.model)
    c = consts or cal.constants()
    if not convs or (CNN_CONV_KEY, cal.ROOT) not in c.rows:
        return 0.0
    return convs * c.value(CNN_CONV_KEY)


def cnn_convolutions(m: ModelSpec) -> int:
    """The convolutions one forward pass of a CNN that lists its layers runs (0: no layers)."""
    net = cnet.net_of(m)
    return len(net.convs) if net else 0


def cnn_infer(s: Shape, r: Rate, consts: cal.Constants | None = None) -> ThroughputEstimate | None:
    """A CNN that lists its layers, in inference: every GPU runs forward passes of the batch
    (data parallel, as the decode path's replicas), each the convolutions at the family's
    efficiency plus the memory-bound work between them (convnet.infer_step), or the host's
    time issuing them (cnn_host_s), whichever is longer: eager PyTorch issues the modules
    while the GPU runs the ones before."""
    m, job = s.model, s.job
    precision = compute_precision(m, job)
    eff = sustained_efficiency(r, job, precision)
    step = cnn_step(s, cp.sustained_tflops(job.gpu, precision), eff, cnet.transposes_nchw(m, job))
    if step is None:
        return None
    gpu_s = step.conv_s + step.elementwise_s
    host_s = cnn_host_s(s, consts)
    total_s = max(gpu_s, host_s)
    total = job.n_gpus * s.micro_batch / total_s
    return ThroughputEstimate(
        samples_per_s=total,
        samples_per_s_per_gpu=total / job.n_gpus,
        utilization=eff * cp.achievable_fraction(job.gpu, precision),
        utilization_source=r.source,
        peak_tflops=cp.peak(job.gpu, precision).tflops,
        flops_per_sample=step.flops / s.micro_batch,
        step_time_s=total_s,
        compute_time_s=total_s,
        bound=(
            "per-layer overhead"
            if host_s > gpu_s
            else st.name_bound(total_s, 0.0, 0.0, memory_bound_s=step.elementwise_s)
        ),
        step_parts_s={
            k: v
            for k, v in {
                cnet.CONV_PART: step.conv_s,
                cnet.MEMORY_PART: step.elementwise_s,
                ENCODER_HOST_PART: max(host_s - gpu_s, 0.0),
            }.items()
            if v > 0
        },
        interval=interval(total, r),
    )


def throughput_of(s: Shape, consts: cal.Constants | None = None) -> ThroughputEstimate:
    """The step's rates; inference under --tp with no engine named is the spread over the
    engines that run it (engine_spread.py), each priced here under its own name."""
    if s.job.task != Task.INFER:
        return train(s, consts)
    # imported here: engine_spread prices each engine through this function
    from dlrig.estimate import engine_spread

    if engine_spread.applies(s.job):
        return engine_spread.throughput(s.model, s.job, consts)
    return infer(s, consts)
