"""Time of a step's math: FLOPs over the GPU's dense peak at a calibrated efficiency.

FLOPs per token follow PaLM (Chowdhery et al. 2022, Appendix B): a forward pass is 2·N + the
attention's 4·L·H·Q·T (N counts the matrices that do matmuls; an untied input embedding is a
lookup). Backward is twice the forward for full training (input gradients and weight
gradients). Frozen weights (LoRA, QLoRA) need input gradients only, so their backward is
one forward's worth of GEMMs, not two; attention's backward is unchanged. QLoRA adds the NF4
dequantisation of every frozen matrix each time it is used (forward, backward, and the
recomputed forward), a memory-bound pass over the weights.

The efficiency is not a constant of this module: it is fitted per group (task, GPU
architecture, precision, model size) by benchmarks/calibrate.py and read through
`dlrig.estimate.calibration`. `efficiency_group` names the group of a job.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlrig.estimate import roof as rf
from dlrig.model.parts import GpuSpec

TFLOPS = 1e12
GBS = 1e9
# TF32 tensor cores exist from Ampere on and run at half the dense FP16 rate (NVIDIA A100
# datasheet: 156 vs 312 TFLOPS; H100 SXM 495 vs 989; RTX 4090 82.6 vs 165.2).
TF32_ARCHITECTURES = ("Ampere", "Ada", "Hopper", "Blackwell")
FP16_PER_TF32 = 2
FLOPS_PER_GFLOP = 1e9
# Model size classes (billions of parameters) for the efficiency groups: small models run
# narrow GEMMs, large ones are split by tensor/pipeline parallelism.
SIZE_CLASSES = ((3.0, "lt3b"), (20.0, "3-20b"), (100.0, "20-100b"))
LARGEST_SIZE_CLASS = "gt100b"
# The NF4 dequantisation kernel reads the packed 4-bit weights (bits/8 bytes per weight) and
# writes a 16-bit copy (2 bytes) that the GEMM then reads (bitsandbytes dequantize_4bit +
# matmul; QLoRA paper, Dettmers et al. 2023, Sec. 3).
#
# Why this stays a bandwidth bound rather than bitsandbytes' own rate (bnbdq helper, 2026-12;
# [V] seen, [R] derived): kDequantizeBlockwise and its NF4 decode (dDequantizeNF4, a branch
# tree) are the same code in bitsandbytes 0.40.0 through 0.44.1 (whitespace-insensitive diff
# of csrc/kernels.cu at the tags), and in 0.45-0.47 apart from the absmax index turned into a
# shift (commit 81e6345d, 2024-12) [V]. That kernel ran below the bandwidth on HBM
# cards: bitsandbytes PR #1747 (2025-09,
# https://github.com/bitsandbytes-foundation/bitsandbytes/pull/1747) measured a LUT decode
# 1.36x-2.07x faster "on the P100, A100, and H100 across all problem sizes", gains on sm86/sm89
# (A10, RTX 4090, L4) "more modest 1.3x - 1.6x for only smaller" sizes [V]; since the faster
# kernel cannot beat the bandwidth, the old one took >= 1.36x the bandwidth-bound time on the
# A100 [R]. The 0.40.0 release notes (https://github.com/TimDettmers/bitsandbytes/releases/
# tag/0.40.0) say the batch-1 inference kernels are "about 8x faster than 4-bit training kernel
# for QLoRA" and 3.4x faster than 16-bit on Ampere ("A100, A40, RTX 3090, etc.") [V]: training
# = 8/3.4 = 2.35x a 16-bit GEMV, so the dequantisation streams its 2.5 bytes per weight at ~0.93
# of the GEMV's bandwidth [R], i.e. near the bound. The two disagree and neither gives an
# absolute A100 rate, so none is modelled: a rate fitted to the LLaMA-Factory QLoRA rows would
# be tuning. Even the >= 1.36x floor adds only ~0.011 s per Llama-2-7B micro-step on an A100
# (0.031 s -> 0.042 s), far from the ~0.11 s per micro-step those rows leave unexplained.
DEQUANT_WRITE_BYTES = 2


@dataclass(frozen=True)
class Peak:
    tflops: float
    what: str
    warning: str | None = None


def peak(gpu: GpuSpec, precision: str) -> Peak:
    """One GPU's dense rate at the compute precision ("fp16-acc": FP16 inputs accumulated in
    FP16, twice the FP32-accumulate rate on GeForce cards, the same on datacenter ones)."""
    fp16 = gpu.fp16_tensor_tflops
    if precision == "fp32":
        return Peak(gpu.fp32_tflops, "FP32 (CUDA cores; PyTorch leaves TF32 matmuls off)")
    if precision == "tf32":
        if fp16 and any(a in gpu.architecture for a in TF32_ARCHITECTURES):
            return Peak(fp16 / FP16_PER_TF32, "TF32 tensor cores, dense (half the FP16 rate)")
        return Peak(gpu.fp32_tflops, "FP32", f"{gpu.name} has no TF32 tensor cores: FP32 rate")
    if precision == "fp8":
        if gpu.fp8_tensor_tflops:
            share = fp32_accumulate_share(gpu)
            if share < 1:
                return Peak(
                    gpu.fp8_tensor_tflops * share,
                    "FP8 tensor cores, dense, FP32 accumulate (half rate on GeForce)",
                )
            return Peak(gpu.fp8_tensor_tflops, "FP8 tensor cores, dense")
        fallback = fp16 or gpu.fp32_tflops
        return Peak(fallback, "FP16/BF16", f"{gpu.name} has no FP8 tensor cores: using 16-bit rate")
    if precision == "fp16-acc" and gpu.fp16_tensor_fp16acc_tflops:
        return Peak(gpu.fp16_tensor_fp16acc_tflops, "FP16 tensor cores, dense, FP16 accumulate")
    if fp16:
        return Peak(fp16, "FP16/BF16 tensor cores, dense, FP32 accumulate")
    return Peak(gpu.fp32_tflops, "FP32 (no tensor cores)", f"{gpu.name} has no tensor cores")


# FP8 GEMMs accumulate in FP32: cuBLASLt offers FP8 matmuls only with compute type
# CUBLAS_COMPUTE_32F (NVIDIA's LtFp8Matmul sample fails with "status 15", not supported, when
# switched to CUBLAS_COMPUTE_16F; https://forums.developer.nvidia.com/t/fp8-fp16-accumulation-
# on-ada-rtx-4090/294400, 2024-05, which also quotes the updated Ada whitepaper "confirming fp32
# accumulate is half-rate on geforce"). Transformer Engine, torchao float8 (torch._scaled_mm)
# and TensorRT-LLM's FP8 GEMMs go through cuBLASLt. gpus.csv's fp8 column is NVIDIA's headline
# FP8 rate, which on GeForce cards is the FP16-accumulate one (every GeForce row: fp8 = 2 x
# fp16_tensor_fp16acc), so on those cards an FP8 GEMM runs at fp8 x (FP32-accumulate FP16 rate
# / FP16-accumulate FP16 rate) = half the headline: RTX 4090 330.3 of 660.6 (NVIDIA Ada
# whitepaper, Appendix: 'Peak FP8 Tensor TFLOPS with FP32 Accumulate 330.3'), RTX 5090 419 of
# 838. Datacenter and workstation cards run FP32 accumulation at the full rate (share 1).


def fp32_accumulate_share(gpu: GpuSpec) -> float:
    """FP32-accumulate tensor rate over the FP16-accumulate one (0.5 on GeForce, else 1)."""
    fp16, acc16 = gpu.fp16_tensor_tflops, gpu.fp16_tensor_fp16acc_tflops
    if fp16 and acc16 and acc16 > fp16:
        return fp16 / acc16
    return 1.0


def architecture(gpu: GpuSpec) -> str:
    """The architecture family (first word of gpus.csv's column: 'Ampere (GA102)' → Ampere)."""
    return (gpu.architecture.split() or ["unknown"])[0]


def size_class(params_b: float) -> str:
    for limit, name in SIZE_CLASSES:
        if params_b < limit:
            return name
    return LARGEST_SIZE_CLASS


def efficiency_group(
    family: str, task: str, gpu: GpuSpec, precision: str, params_b: float
) -> tuple[str, ...]:
    """The calibration group of a training job, most general level first: model family (llm,
    encoder, vit, cnn), task (train, lora, qlora), architecture, precision, size class. A group
    too thin to fit falls back to its parent (calibration.py walks up), so LoRA on a card no
    source measured takes the family's efficiency, never another family's."""
    return (family, task, architecture(gpu), precision, size_class(params_b))


def conv_precision(precision: str, gpu: GpuSpec) -> str:
    """PyTorch runs fp32 convolutions on TF32 tensor cores by default where they exist
    (torch.backends.cudnn.allow_tf32 defaults to True; matmuls default to full fp32:
    https://docs.pytorch.org/docs/stable/notes/cuda.html#tensorfloat-32-tf32-on-ampere-and-later-devices)."""
    tf32 = any(a in gpu.architecture for a in TF32_ARCHITECTURES)
    return "tf32" if precision == "fp32" and tf32 else precision


@dataclass(frozen=True)
class Flops:
    """FLOPs per token (language models) or per sample (vision) of one training step."""

    model: float  # what MFU counts: forward and backward, no recomputation
    recompute: float  # one more forward pass when activations are checkpointed

    def executed(self, checkpointing: bool) -> float:
        return self.model + (self.recompute if checkpointing else 0.0)


def forward_flops(matmul_params: float, attention_fwd: float) -> float:
    """2 FLOPs per matmul parameter plus attention's score and value products."""
    return 2 * matmul_params + attention_fwd


def attention_flops_fwd(n_layers: int, q_dim: int, context: float) -> float:
    """QKᵀ and AV for one token attending to `context` others, every layer: 4·L·Q·T
    (PaLM App. B's 4·L·H·Q·T with Q the total query width)."""
    return 4 * n_layers * q_dim * context


def train_flops(matmul_params: float, attention_fwd: float, frozen_base: bool) -> Flops:
    """Full training: forward + input gradients + weight gradients = 3 x forward. Frozen base
    (LoRA/QLoRA): forward + input gradients only for the matrices (2N + 2N), attention's
    backward in full (2 x attn); the adapters' own FLOPs are under 1 % and left out."""
    fwd = forward_flops(matmul_params, attention_fwd)
    if frozen_base:
        return Flops(fwd + 2 * matmul_params + 2 * attention_fwd, fwd)
    return Flops(3 * fwd, fwd)


def vision_flops(gflops_fwd_per_sample: float, training: bool) -> Flops:
    fwd = gflops_fwd_per_sample * FLOPS_PER_GFLOP
    return Flops(3 * fwd if training else fwd, fwd)


# FlashAttention-2 on Hopper. FA2 was written for Ampere and uses none of Hopper's wgmma or TMA;
# FlashAttention-3 (Shah, Bikshandi, Zhang, Thakkar, Ramani, Dao 2024, arXiv 2407.08608,
# abstract) "achieves speedup on H100 GPUs by 1.5-2.0x with FP16 reaching up to 740 TFLOPs/s
# (75% utilization)", where "FlashAttention-2 achiev[es] only 35% utilization on the H100".
# dlrig derivation, not a fit: a Hopper-native kernel (FA3, or cuDNN's fused attention that
# Transformer Engine and NeMo run) is what the fitted efficiency times attention at -- NeMo's
# long-sequence table (Llama 2 7B on H100 with TE/cuDNN attention, 4K to 1M tokens, where
# attention is up to 97 % of the FLOPs) is predicted within 10 % without any attention factor
# (benchmarks/results/calibration-after.txt, nemo-longseq-*) -- and the FA2 kernel takes the
# middle of the paper's 1.5-2.0x range longer: 1.75x. Applied only to Hopper, the card the
# paper measured (A100 and older are FA2's own target: no slowdown; no source for Blackwell).
FA2_HOPPER_SLOWDOWN = 1.75
FA2_SLOW_ARCHITECTURES = ("Hopper",)


def fa2_slowdown(gpu: GpuSpec) -> float:
    """How much longer FlashAttention-2's kernel takes than the card's native fused attention."""
    return FA2_HOPPER_SLOWDOWN if architecture(gpu) in FA2_SLOW_ARCHITECTURES else 1.0


def math_time_s(flops: float, peak_tflops: float, efficiency: float) -> float:
    if not (peak_tflops > 0 and efficiency > 0):
        raise ValueError("peak and efficiency must be positive")
    return flops / (peak_tflops * TFLOPS * efficiency)


def dequant_passes(checkpointing: bool) -> int:
    """Times each frozen NF4 matrix is dequantised per micro-batch: forward, backward (input
    gradients need W), and the recomputed forward with checkpointing."""
    return 3 if checkpointing else 2


def dequant_time_s(
    quantised_params: float, weight_bits: float, passes: int, mem_bw_gbs: float
) -> float:
    """Memory-bound NF4 → bf16 dequantisation: read bits/8, write 2 bytes per weight, per pass,
    at the card's DRAM bandwidth."""
    per_pass = quantised_params * (weight_bits / 8 + DEQUANT_WRITE_BYTES)
    return passes * per_pass / (mem_bw_gbs * GBS)


# Memory traffic of a CNN's element-wise work between its convolutions (batch norm, ReLU,
# residual adds), in multiples of the activation bytes its preset keeps per sample: the
# fallback for a CNN preset that does not list its layers (a preset with conv_stages,
# ResNet-50, is counted op by op in convnet.py). dlrig derivation, not a fit: each kept
# activation is written once and read once in the forward pass, and its gradient written and
# read once in the backward pass: 4x; a recomputed forward streams its share again (+2x).
# Transformers are counted op by op instead (elementwise.py: that count replaced this 4x for
# them, which also billed the GEMMs' own reads and writes). The achieved bandwidth is the card's
# streaming fraction of its datasheet (estimate/stream.py).
ELEMENTWISE_PASSES = 4
RECOMPUTE_PASSES = 2
# A CNN kept in NCHW (PyTorch's default layout) runs its tensor-core convolutions on NHWC
# copies: cuDNN transposes the input to NHWC and the output back (NVIDIA Deep Learning
# Performance guide, "Convolutional Layers User's Guide", section "Tensor Layouts In Memory:
# NCHW vs NHWC": Tensor Cores need NHWC and NCHW tensors are transposed, at a cost;
# https://docs.nvidia.com/deeplearning/performance/dl-performance-convolutional/index.html).
# dlrig derivation, not a fit: each transpose reads and writes its tensor (2 passes); forward
# transposes a convolution's input and output (4), backward its output gradient, its input
# gradient and, for the weight gradient, its input again (6): 10 passes over the activations,
# on top of the 4 the element-wise work streams. channels_last (NHWC) has none.
NCHW_TRANSPOSE_PASSES = 4


def elementwise_time_s(
    activation_bytes: float, checkpointing: bool, mem_bw_gbs: float, nchw: bool = False
) -> float:
    """Time to stream a step's activations at the card's full DRAM bandwidth (callers divide by
    the achieved fraction): the memory-bound part of training that GEMM peaks do not speed up,
    plus the layout transposes of an NCHW CNN."""
    passes = ELEMENTWISE_PASSES + (RECOMPUTE_PASSES if checkpointing else 0)
    passes += NCHW_TRANSPOSE_PASSES if nchw else 0
    return passes * activation_bytes / (mem_bw_gbs * GBS)


# The adapter path of a LoRA layer streams activations through DRAM: its rank-r GEMMs are far
# too thin to be compute-bound (arithmetic intensity ~r FLOPs per byte), so they and the ops
# around them run at the memory bandwidth. dlrig derivation from PEFT's lora.Linear.forward,
# `result = result + lora_B(lora_A(dropout(x))) * scaling` (huggingface/peft
# src/peft/tuners/lora/layer.py; torchtune's LoRALinear computes the same
# `out + (alpha / rank) * lora_b(lora_a(dropout(x)))`), with dropout 0 (PEFT's and torchtune's
# default: an identity), in elements of the matrix's input (d_in) and output (d_out) width:
# forward: lora_A reads x (1 d_in); lora_B writes its output, `* scaling` reads and writes it,
# `result +` reads two and writes one (6 d_out);
# backward: `* scaling` reads and writes the output gradient and lora_B's weight gradient
# reads it (3 d_out); lora_A's weight gradient reads x, its input gradient is written and
# added into x's gradient from the frozen matmul (read two, write one) (5 d_in).
# A recomputed forward (checkpointing) streams the forward's share again.
LORA_FWD_IN, LORA_FWD_OUT = 1, 6
LORA_BWD_IN, LORA_BWD_OUT = 5, 3


def lora_adapter_elements(matrices: list[tuple[int, int, float]], checkpointing: bool) -> float:
    """Activation elements the adapters of one token stream through DRAM in a training step;
    `matrices` lists each adapted matrix as (d_in, d_out, uses per token) over every layer."""
    fwd = sum(u * (LORA_FWD_IN * i + LORA_FWD_OUT * o) for i, o, u in matrices)
    bwd = sum(u * (LORA_BWD_IN * i + LORA_BWD_OUT * o) for i, o, u in matrices)
    return fwd * (2 if checkpointing else 1) + bwd


# How much of the datasheet's dense tensor rate a large GEMM sustains on each card: measured
# per card and precision (catalog/data/matmul_rates.csv), with a fallback for cards no source
# measured (estimate/roof.py says how). The fitted efficiencies are relative to this rate.


def sustained_tflops(gpu: GpuSpec, precision: str) -> float:
    """The rate a large GEMM sustains at `precision`: the dense peak x achievable_fraction."""
    return peak(gpu, precision).tflops * achievable_fraction(gpu, precision)


def achievable_fraction(gpu: GpuSpec, precision: str) -> float:
    """Share of the dense tensor peak a large GEMM sustains on this card (roof.roof)."""
    return roof_of(gpu, precision).fraction


def roof_of(gpu: GpuSpec, precision: str) -> rf.Roof:
    """The roof of the rate `peak` resolves `precision` to on this card: TF32 on a card without
    TF32 tensor cores runs at the CUDA-core FP32 rate, FP8 on a card without FP8 at the 16-bit
    one."""
    if precision == "tf32" and not (
        gpu.fp16_tensor_tflops and any(a in gpu.architecture for a in TF32_ARCHITECTURES)
    ):
        precision = "fp32"
    if precision == "fp8" and not gpu.fp8_tensor_tflops:
        precision = "fp16"
    same = precision != "fp16-acc" or peak(gpu, precision).tflops == gpu.fp16_tensor_tflops
    return rf.roof(gpu, precision, same_rate=same)
