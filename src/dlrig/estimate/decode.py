"""Prefill and per-token decode.

A decode step reads every weight the step uses (MoE: the experts the batch routes to) and the
KV cache once; at small batch that read is the whole cost (bandwidth-bound), at large batch the
2 FLOPs per weight per sequence catch up (compute-bound; the roofline takes the larger). The
achieved bandwidth is a fitted fraction of the card's DRAM bandwidth per engine, weight format
and architecture (calibration.py).

Several GPUs split the model one of two ways, and the engine decides which:
- by layers (llama.cpp's default `--split-mode layer`, ExLlamaV2's `gpu_split`, transformers'
  `device_map="auto"`): the GPUs take turns, so one sequence's token still reads every byte one
  after the other — more memory, no speed — plus one activation hop per boundary;
- by tensors (vLLM, SGLang, TensorRT-LLM, gpt-fast; Megatron-style, Shoeybi et al. 2019): each
  GPU reads 1/n of the bytes, and pays two all-reduces of the hidden state per layer per token
  (after attention and after the MLP) at the link's latency and bandwidth.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlrig.estimate import comm
from dlrig.estimate.comm import Link

GBS = 1e9
TFLOPS = 1e12
ACT_BYTES = 2  # the hidden state crosses GPUs in 16-bit
ALLREDUCES_PER_LAYER = 2  # Megatron TP: after attention's output and after the MLP's down proj
# Engines that split a model by layers across GPUs by default (see the module docstring).
LAYER_SPLIT_ENGINES = frozenset({"llama.cpp", "exllamav2", "transformers", "hf"})


def split_mode(engine: str) -> str:
    return "layer" if engine in LAYER_SPLIT_ENGINES else "tensor"


@dataclass(frozen=True)
class DecodeStep:
    memory_s: float  # reading weights and KV at the achieved bandwidth
    compute_s: float  # the batch's matmuls at the achieved FLOP rate
    comm_s: float  # GPU-to-GPU traffic on the critical path
    step_s: float
    bound: str  # "memory-bandwidth", "compute" or "communication"
    split: str  # "none", "layer" or "tensor"

    def tokens_per_s(self, batch: int) -> float:
        return batch / self.step_s


@dataclass(frozen=True)
class DecodeInputs:
    weight_bytes: float  # every weight one step reads, whole model (active experts for MoE)
    kv_bytes: float  # the batch's KV cache read once per step, whole model
    flops: float  # FLOPs of one step for the whole batch (2 per weight per sequence + attention)
    n_layers: int
    hidden: int
    batch: int


def decode_step(
    x: DecodeInputs,
    *,
    mem_bw_gbs: float,
    bw_efficiency: float,
    peak_tflops: float,
    compute_efficiency: float,
    n_gpus: int = 1,
    engine: str = "vllm",
    link: Link | None = None,
) -> DecodeStep:
    """One decode step (one token for each of `batch` sequences)."""
    rate = mem_bw_gbs * GBS * bw_efficiency
    flop_rate = peak_tflops * TFLOPS * compute_efficiency
    total_bytes = x.weight_bytes + x.kv_bytes
    if n_gpus <= 1:
        mem_s, comp_s, comm_s, split = total_bytes / rate, x.flops / flop_rate, 0.0, "none"
    elif split_mode(engine) == "layer":
        # Stages run one after another for a token: the sum of their reads is the whole model.
        mem_s, comp_s, split = total_bytes / rate, x.flops / flop_rate, "layer"
        hop = x.batch * x.hidden * ACT_BYTES
        comm_s = (n_gpus - 1) * comm.p2p_s(hop, _need(link))
    else:
        mem_s = total_bytes / n_gpus / rate
        comp_s = x.flops / n_gpus / flop_rate
        per_allreduce = comm.allreduce_s(x.batch * x.hidden * ACT_BYTES, n_gpus, _need(link))
        comm_s = ALLREDUCES_PER_LAYER * x.n_layers * per_allreduce
        split = "tensor"
    work = max(mem_s, comp_s)
    step = work + comm_s
    if comm_s > work:
        bound = "communication"
    else:
        bound = "memory-bandwidth" if mem_s >= comp_s else "compute"
    return DecodeStep(mem_s, comp_s, comm_s, step, bound, split)


@dataclass(frozen=True)
class Prefill:
    time_s: float  # the whole prompt (all sequences of the batch)
    tokens_per_s: float
    comm_s: float


def prefill(
    prompt_tokens: int,
    flops_per_token: float,
    *,
    peak_tflops: float,
    efficiency: float,
    n_layers: int,
    hidden: int,
    n_gpus: int = 1,
    engine: str = "vllm",
    link: Link | None = None,
) -> Prefill:
    """Prompt processing is compute-bound: FLOPs over the achieved rate. A tensor split divides
    the math and all-reduces every layer's hidden states for the prompt twice; a layer split
    does the math one stage after another (one prompt does not pipeline)."""
    flops = prompt_tokens * flops_per_token
    rate = peak_tflops * TFLOPS * efficiency
    if n_gpus <= 1:
        t, c = flops / rate, 0.0
    elif split_mode(engine) == "layer":
        t = flops / rate
        c = (n_gpus - 1) * comm.p2p_s(prompt_tokens * hidden * ACT_BYTES, _need(link))
    else:
        t = flops / n_gpus / rate
        nbytes = prompt_tokens * hidden * ACT_BYTES
        c = ALLREDUCES_PER_LAYER * n_layers * comm.allreduce_s(nbytes, n_gpus, _need(link))
    total = t + c
    return Prefill(total, prompt_tokens / total if total > 0 else 0.0, c)


def request_tokens_per_s(gen_tokens: int, prefill_s: float, step_s: float, batch: int = 1) -> float:
    """Generated tokens per second of a whole request, prefill included ("with prompt")."""
    return batch * gen_tokens / (prefill_s + gen_tokens * step_s)


def _need(link: Link | None) -> Link:
    if link is None:
        raise ValueError("several GPUs need the link between them")
    return link
