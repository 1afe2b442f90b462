"""The estimator's choices as plain enums (no pydantic), so the CLI can offer them as option
values without importing the models."""

from __future__ import annotations

from enum import StrEnum


class ModelKind(StrEnum):
    DECODER = "decoder"  # causal language model (GPT-2, Llama, Qwen)
    ENCODER = "encoder"  # bidirectional (BERT): no vocabulary head when fine-tuned
    ENCODER_DECODER = "encoder-decoder"  # T5: encoder, decoder with cross-attention, LM head
    MOE = "moe"  # decoder with mixture-of-experts MLPs (Mixtral)
    VIT = "vit"  # vision transformer: a sequence of image patches
    CNN = "cnn"  # convolutional network: per-image FLOPs and activations from the preset


class Task(StrEnum):
    TRAIN = "train"
    LORA = "lora"
    QLORA = "qlora"
    INFER = "infer"


class Precision(StrEnum):
    FP32 = "fp32"
    TF32 = "tf32"  # fp32 storage, TF32 tensor-core matmuls (Ampere and newer)
    BF16 = "bf16"
    FP16 = "fp16"
    FP8 = "fp8"


class Quant(StrEnum):
    """Stored weight format for inference (bits per weight: efficiencies.csv `bits_<format>`)."""

    NONE = "none"  # the compute precision (bf16/fp16/fp32)
    INT8 = "int8"  # bitsandbytes LLM.int8 / GPTQ-Int8
    INT4 = "int4"  # generic 4-bit with group-128 scales (GPTQ/AWQ)
    NF4 = "nf4"  # bitsandbytes NF4 (load_in_4bit)
    FP8 = "fp8"  # FP8 E4M3 weights (vLLM/TensorRT-LLM fp8 checkpoints)
    GPTQ = "gptq"  # GPTQ 4-bit, group 128
    AWQ = "awq"  # AWQ 4-bit, group 128
    Q4_0 = "q4_0"  # llama.cpp GGUF formats
    Q4_K_M = "q4_k_m"
    Q5_K_M = "q5_k_m"
    Q6_K = "q6_k"
    Q8_0 = "q8_0"
    EXL2 = "exl2"  # ExLlamaV2: any average bits per weight, given with --weight-bits
    # OCP Microscaling MXFP4 (E2M1 elements, one E8M0 scale per 32): gpt-oss's MoE experts;
    # the checkpoint keeps attention, router, embeddings and head in bf16 (shape.weight_format)
    MXFP4 = "mxfp4"


# Formats of the base model under LoRA (`--base-quant`); `--task qlora` means nf4.
class BaseQuant(StrEnum):
    NONE = "none"
    INT8 = "int8"
    NF4 = "nf4"
    GPTQ = "gptq"
    AWQ = "awq"


class KvDtype(StrEnum):
    FP16 = "fp16"  # also bf16: 2 bytes
    FP8 = "fp8"  # vLLM --kv-cache-dtype fp8
    Q8_0 = "q8_0"  # llama.cpp --cache-type-k/v q8_0
    Q4_0 = "q4_0"  # llama.cpp q4_0


class KvCache(StrEnum):
    """How Hugging Face transformers' generate() keeps its KV cache (estimate/hf_cache.py)."""

    # DynamicCache, generate's default since 4.42: each layer's K and V grow by torch.cat
    DYNAMIC = "dynamic"
    # before 4.42: the cache handed between steps as tuples; the old one lives through the step
    LEGACY = "legacy"
    # StaticCache (cache_implementation="static"), LitGPT's and gpt-fast's KVCache: preallocated
    # for prompt + generated tokens and written in place
    STATIC = "static"


class Attention(StrEnum):
    EAGER = "eager"  # scores materialised: s² per head kept for backward
    SDPA = "sdpa"  # torch scaled_dot_product_attention (flash / memory-efficient kernels)
    # the card's own fused kernel: FlashAttention 2 on Ampere/Ada, 3 or cuDNN (TE) on Hopper
    FLASH = "flash"
    # FlashAttention-2 itself (the flash-attn 2.x package, or PyTorch SDPA's flash backend) on a
    # card it was not written for: on Hopper it uses none of wgmma/TMA (compute.fa2_slowdown).
    FLASH2 = "flash2"


class MemoryFormat(StrEnum):
    """Layout of a CNN's activations. Tensor-core convolutions run in NHWC; NCHW tensors are
    transposed to NHWC and back around each convolution (NVIDIA Deep Learning Performance
    guide, "Tensor Layouts In Memory: NCHW vs NHWC")."""

    CHANNELS_LAST = "channels_last"  # NHWC: torch.channels_last, DeepLearningExamples' AMP
    NCHW = "nchw"  # PyTorch's default (contiguous_format)


class OptimizerDtype(StrEnum):
    FP32 = "fp32"
    BF16 = "bf16"  # states kept in bf16 (torchao/torchtune low-precision optimizers)


class Optimizer(StrEnum):
    ADAMW = "adamw"
    SGD = "sgd"
    ADAFACTOR = "adafactor"
    ADAM8BIT = "adam8bit"


class LoraTargets(StrEnum):
    ALL = "all"  # every linear layer (the QLoRA paper's recommendation)
    ATTENTION = "attention"  # q, k, v, o projections
    QV = "qv"  # q and v only (the LoRA paper and PEFT's default for Llama)
    QKV = "qkv"  # q, k and v (NeMo's fused linear_qkv: its performance-mode fine-tuning recipes)


class Offload(StrEnum):
    NONE = "none"
    OPTIMIZER = "optimizer"  # states and master weights in CPU memory (ZeRO-Offload, paged optims)
    FULL = "full"  # weights and gradients too (FSDP CPUOffload(offload_params=True))


class CheckpointingMode(StrEnum):
    """What activation checkpointing keeps of each transformer block (with checkpointing on)."""

    FULL = "full"  # the block's input; the whole block recomputed in backward
    # torchtitan's op-level selective policy (activation_checkpoint.mode = "selective",
    # selective_ac_option = "op"): the outputs of every other matmul and of attention kept
    SELECTIVE = "selective"
    # The block's input copied to CPU memory in the forward and fetched back for the
    # recompute: Unsloth's use_gradient_checkpointing="unsloth"
    # (Unsloth_Offloaded_Gradient_Checkpointer, unsloth/models/_utils.py since 2024-04).
    OFFLOAD = "offload"


class Framework(StrEnum):
    """The trainer. For LoRA/QLoRA: how it quantises a base while loading it
    (estimate/load_peak.py), whose 4-bit linear it runs (bitsandbytes or torchao:
    memory.keeps_quantised_inputs) and the dtype of its adapters (shape.half_adapters). For full
    training: whose kernels and overlap the step runs, a fitted factor on the efficiency
    (perf.framework_factor; benchmarks/calibrate.py fit_framework)."""

    # Hugging Face from_pretrained with a BitsAndBytesConfig, one tensor quantised at a time,
    # PEFT's fp32 adapters (also TRL, Axolotl, LLaMA-Factory, Unsloth, which load through it).
    TRANSFORMERS = "transformers"
    LITGPT = "litgpt"  # Fabric BitsandbytesPrecision, layer by layer; bf16-true adapters
    TORCHTUNE = "torchtune"  # torchao to_nf4 per layer in 1M-weight chunks (>= 0.2); bf16 adapters
    # torchtune with torchao 0.1 (before 2024-05-01): each matrix quantised whole, through a
    # 16-wide distance tensor
    TORCHTUNE_TORCHAO01 = "torchtune-torchao0.1"
    # NVIDIA NeMo (Megatron-core layers with Transformer Engine): a 16-bit LoRA base; dlrig
    # has no path for its quantised loads (applicable.py refuses one). Named so that its runs
    # are not read as a Hugging Face + PEFT trainer's (perf.train_host_s: the eager host time).
    NEMO = "nemo"
    # Full-training frameworks (perf.framework_factor); dlrig models none of their LoRA loads.
    # Megatron-LM: NeMo's layers (Megatron-core with Transformer Engine), one factor with NeMo.
    MEGATRON = "megatron"
    TORCHTITAN = "torchtitan"  # PyTorch-native: FSDP2, TP/PP/CP, float8 (pytorch/torchtitan)
    LLM_FOUNDRY = "llm-foundry"  # MosaicML Composer + FSDP (mosaicml/llm-foundry)
    LLMQ = "llmq"  # IST-DASLab's CUDA trainer (IST-DASLab/llmq)
    DEEPSPEED = "deepspeed"  # DeepSpeed ZeRO engines (Megatron-DeepSpeed, HF models under it)


# The frameworks whose LoRA/QLoRA loading dlrig models (load_peak.py); the rest are full
# training's only (applicable.py refuses them with --task lora/qlora).
LORA_FRAMEWORKS = frozenset(
    {
        Framework.TRANSFORMERS,
        Framework.LITGPT,
        Framework.TORCHTUNE,
        Framework.TORCHTUNE_TORCHAO01,
        Framework.NEMO,
    }
)


class GradBuffers(StrEnum):
    """When a training step's gradients exist (estimate/memory.py `grads_absent_at_loss`)."""

    # Allocated by the backward (autograd's AccumulateGrad creates each .grad as its layer's
    # backward runs) and released after the optimizer step by zero_grad(set_to_none=True):
    # PyTorch's default since 2.0 (torch.optim.Optimizer.zero_grad and nn.Module.zero_grad),
    # called so by Hugging Face Trainer, torchtune, torchtitan, LitGPT and torchao's scripts.
    ON_DEMAND = "on-demand"
    # Kept between steps: zero_grad(set_to_none=False), PyTorch's default before 2.0.
    PERSISTENT = "persistent"
    # The gradients ARE the all-reduce's flat buffer, allocated once and kept: PyTorch DDP with
    # gradient_as_bucket_view=True, Megatron-LM's contiguous main_grad buffers, DeepSpeed's
    # gradient buffers. One copy, alive at every moment of the step.
    BUCKET_VIEW = "bucket-view"


class Loss(StrEnum):
    STANDARD = "standard"  # full logits, upcast to fp32 (Hugging Face transformers)
    CHUNKED = "chunked"  # per-chunk upcast, 16-bit logits kept (torchtune CEWithChunkedOutputLoss)
    FUSED = "fused"  # fused linear + cross-entropy, logits never stored (Liger kernel)


class DecodeEngine(StrEnum):
    OPTIMIZED = "optimized"  # an unnamed optimized engine (fused kernels, CUDA graphs)
    LLAMA_CPP = "llama.cpp"
    # Ollama: a server over llama.cpp's ggml (its vendored llama.cpp, Makefile.sync), with its
    # own defaults (estimate/engine_memory.py OLLAMA_*); priced with llama.cpp's kernels.
    OLLAMA = "ollama"
    VLLM = "vllm"
    EXLLAMAV2 = "exllamav2"
    TRANSFORMERS = "transformers"  # plain Hugging Face generate(): Python and launch overhead
    GPT_FAST = "gpt-fast"
    TENSORRT_LLM = "tensorrt-llm"
    SGLANG = "sglang"
    # AutoAWQ's fused modules (from_quantized(fuse_layers=True)) under transformers' generate():
    # a KV cache preallocated for max_seq_len x batch (estimate/engine_memory.py)
    AUTOAWQ = "autoawq"
    HF = "hf"  # alias of transformers; a Job stores it as TRANSFORMERS


# Weight formats that one engine family runs: the GGUF quant types are llama.cpp's (ggml's own
# block formats; Ollama and LM Studio run them through llama.cpp), EXL2 is ExLlamaV2's (its
# README: "EXL2 ... a new quantization format"; TabbyAPI serves it through ExLlamaV2). With no
# --engine, such a --quant names its engine (model/workload.py): every GGUF and EXL2 point in
# calibration_points.csv ran on these engines, and pricing a GGUF file as vLLM's kernels (its
# GGUF loader is documented as "highly experimental and under-optimized", docs.vllm.ai
# features/quantization/gguf) would describe a run nobody makes.
FORMAT_ENGINES: dict[Quant, DecodeEngine] = {
    Quant.Q4_0: DecodeEngine.LLAMA_CPP,
    Quant.Q4_K_M: DecodeEngine.LLAMA_CPP,
    Quant.Q5_K_M: DecodeEngine.LLAMA_CPP,
    Quant.Q6_K: DecodeEngine.LLAMA_CPP,
    Quant.Q8_0: DecodeEngine.LLAMA_CPP,
    Quant.EXL2: DecodeEngine.EXLLAMAV2,
}


# Engines that take a share of the GPU and fill it with a KV pool (vLLM
# --gpu-memory-utilization, SGLang --mem-fraction-static, TensorRT-LLM
# free_gpu_memory_fraction): estimate/engine_memory.py sizes the pool, applicable.py refuses
# the share and the profile settings for other engines.
POOL_ENGINES = frozenset({DecodeEngine.VLLM, DecodeEngine.SGLANG, DecodeEngine.TENSORRT_LLM})

# Engines that run llama.cpp's ggml kernels and allocate as llama.cpp does (one model buffer,
# a KV cache for the whole context, a compute buffer per ubatch): llama.cpp itself and Ollama,
# which drives the same library (llama/ in ollama/ollama is llama.cpp vendored at a pinned
# commit; from v0.30.0, 2026-06, it launches llama.cpp's own llama-server, llm/llama_server.go).
LLAMA_CPP_ENGINES = frozenset({DecodeEngine.LLAMA_CPP, DecodeEngine.OLLAMA})

# Engines that process the prompt in chunks (vLLM's chunked prefill, llama.cpp's ubatch).
CHUNKED_PREFILL_ENGINES = frozenset(
    {
        DecodeEngine.OPTIMIZED,
        DecodeEngine.LLAMA_CPP,
        DecodeEngine.OLLAMA,
        DecodeEngine.VLLM,
        DecodeEngine.EXLLAMAV2,
        DecodeEngine.TENSORRT_LLM,
        DecodeEngine.SGLANG,
    }
)


class Interconnect(StrEnum):
    AUTO = "auto"
    NVLINK = "nvlink"
    PCIE = "pcie"
    PCIE_NOP2P = "pcie-nop2p"  # PCIe without peer-to-peer: NCCL stages through host memory
