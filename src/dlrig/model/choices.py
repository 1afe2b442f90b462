"""The estimator's choices as plain enums (no pydantic), so the CLI can offer them as option
values without importing the models."""

from __future__ import annotations

from enum import StrEnum


class ModelKind(StrEnum):
    DECODER = "decoder"  # causal language model (GPT-2, Llama, Qwen)
    ENCODER = "encoder"  # bidirectional (BERT)
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
    NONE = "none"
    INT8 = "int8"
    INT4 = "int4"


class Optimizer(StrEnum):
    ADAMW = "adamw"
    SGD = "sgd"
    ADAFACTOR = "adafactor"
    ADAM8BIT = "adam8bit"


class LoraTargets(StrEnum):
    ALL = "all"  # every linear layer (the QLoRA paper's recommendation)
    ATTENTION = "attention"  # q, k, v, o projections
    QV = "qv"  # q and v only (the LoRA paper and PEFT's default for Llama)


class Offload(StrEnum):
    NONE = "none"
    OPTIMIZER = "optimizer"  # states and master weights in CPU memory (ZeRO-Offload, paged optims)
    FULL = "full"  # weights and gradients too (FSDP CPUOffload(offload_params=True))


class Loss(StrEnum):
    STANDARD = "standard"  # full logits, upcast to fp32 (Hugging Face transformers)
    CHUNKED = "chunked"  # per-chunk upcast, 16-bit logits kept (torchtune CEWithChunkedOutputLoss)
    FUSED = "fused"  # fused linear + cross-entropy, logits never stored (Liger kernel)


class DecodeEngine(StrEnum):
    OPTIMIZED = "optimized"  # llama.cpp, vLLM, TensorRT-LLM: fused kernels, CUDA graphs
    HF = "hf"  # plain Hugging Face transformers generate(): Python and launch overhead


class Interconnect(StrEnum):
    AUTO = "auto"
    NVLINK = "nvlink"
    PCIE = "pcie"
