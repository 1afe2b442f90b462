"""GPU memory of a job, part by part (bytes unless named `_gb`).

Weights, gradients and optimizer states follow the ZeRO paper's accounting (Rajbhandari et al.
2020, "ZeRO: Memory Optimizations Toward Training Trillion Parameter Models", Sec. 3.1: mixed
precision Adam holds 2Ψ + 2Ψ + 12Ψ bytes, and stages 1/2/3 shard the optimizer states, then the
gradients, then the weights across the data-parallel GPUs). Transformer activations follow
Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large Transformer Models", Sec. 4.1,
34·s·b·h bytes per layer for GPT-3), generalised term by term to grouped-query attention and gated
MLPs (see `layer_activation_bytes`).
"""

from __future__ import annotations

from dlrig.estimate import params as p
from dlrig.model.workload import (
    DecodeEngine,
    Job,
    Loss,
    ModelKind,
    ModelSpec,
    Offload,
    Optimizer,
    Precision,
    Quant,
    Task,
)

GB = 1e9
MB = 1e6
GIB = 2**30

# Bytes per element of each compute precision. FP8 training (Transformer Engine) keeps 16-bit
# weights and activations and casts to FP8 for the matmuls, so memory is counted at 2 bytes.
ACT_BYTES = {
    Precision.FP32: 4,
    Precision.TF32: 4,
    Precision.BF16: 2,
    Precision.FP16: 2,
    Precision.FP8: 2,
}
FP32_BYTES = 4
HALF_BYTES = 2
KV_BYTES = HALF_BYTES  # KV cache in fp16/bf16: weight quantisation leaves it unquantised
DROPOUT_MASK_BYTES = 1  # Korthikanti et al. store dropout masks as one byte per element
# Adafactor's factored state per parameter is 8/width; CNN presets have no hidden size, so a
# typical conv/linear width stands in (the state is under 1 % of the weights either way).
ADAFACTOR_WIDTH_WITHOUT_HIDDEN = 1024


def is_fp32(precision: Precision) -> bool:
    """fp32 and tf32 both store 4-byte weights, gradients and activations."""
    return precision in (Precision.FP32, Precision.TF32)


def capacity_gb(memory_gib: float) -> float:
    """A GPU's memory in 10⁹ bytes. Vendors' "24 GB" is 24 GiB (DRAM comes in binary sizes:
    nvidia-smi shows 24564 MiB on an RTX 4090), so 24 → 25.8 GB."""
    return memory_gib * GIB / GB


def linear_params(m: ModelSpec) -> int:
    """Parameters in the matrices that quantisation and LoRA act on (all but embeddings)."""
    return max(m.params_total - m.embedding_params, 0)


def _block_matrices(m: ModelSpec) -> dict[str, tuple[int, int, int]]:
    """(d_in, d_out, copies per layer) of each linear layer of one transformer block."""
    h, i = m.hidden_size or 0, m.intermediate_size or 0
    q = (m.n_heads or 0) * (m.head_dim or 0)
    experts = m.n_experts or 1
    mats = {"q": (h, q, 1), "k": (h, m.kv_dim, 1), "v": (h, m.kv_dim, 1), "o": (q, h, 1)}
    if m.gated_mlp:
        mats |= {"gate": (h, i, experts), "up": (h, i, experts), "down": (i, h, experts)}
    else:
        mats |= {"up": (h, i, experts), "down": (i, h, experts)}
    return mats


LORA_TARGETS = {
    "all": ("q", "k", "v", "o", "gate", "up", "down"),
    "attention": ("q", "k", "v", "o"),
    "qv": ("q", "v"),
}


def lora_params(m: ModelSpec, rank: int, targets: str) -> int:
    """LoRA adds A (r × d_in) and B (d_out × r) to each targeted matrix (Hu et al. 2021)."""
    if not m.is_transformer or not m.n_layers:
        return 0
    per_layer = sum(
        rank * (d_in + d_out) * copies
        for name, (d_in, d_out, copies) in _block_matrices(m).items()
        if name in LORA_TARGETS[targets]
    )
    return per_layer * m.n_layers


def trainable_params(m: ModelSpec, job: Job) -> int:
    if job.task == Task.TRAIN:
        return m.params_total
    if job.task in (Task.LORA, Task.QLORA):
        return lora_params(m, job.lora_rank, job.lora_targets.value)
    return 0


def weight_bits(job: Job) -> tuple[float, str]:
    """Bits per stored weight of the linear layers, and what that is."""
    if job.task == Task.QLORA:
        return p.value("bits_nf4_double_quant"), "NF4 with double quantisation (QLoRA)"
    if job.task == Task.INFER and job.quant == Quant.INT8:
        return p.value("bits_int8"), "int8 with per-block scales"
    if job.task == Task.INFER and job.quant == Quant.INT4:
        return p.value("bits_int4_gptq_g128"), "int4 with group-128 scales (GPTQ/AWQ)"
    if job.task == Task.INFER and job.precision == Precision.FP8:
        return 8.0, "fp8"
    bits = 8 * (FP32_BYTES if is_fp32(job.precision) else HALF_BYTES)
    return float(bits), job.precision.value


def stored_weight_bytes(m: ModelSpec, job: Job) -> float:
    """The whole model's weights as stored, adapters included (before any sharding)."""
    if job.task == Task.TRAIN:
        # ZeRO's 2Ψ (16-bit copy) for mixed precision; fp32 training holds 4Ψ.
        per_param = FP32_BYTES if is_fp32(job.precision) else HALF_BYTES
        return per_param * m.params_total
    bits, _ = weight_bits(job)
    other_bytes = FP32_BYTES if is_fp32(job.precision) else HALF_BYTES
    total = linear_params(m) * bits / 8 + m.embedding_params * other_bytes
    return total + trainable_params(m, job) * FP32_BYTES  # LoRA adapters kept in fp32 (PEFT)


def weights_bytes(m: ModelSpec, job: Job) -> float:
    """Weights resident on one GPU: none with full CPU offload (blocks are fetched as needed)."""
    if job.offload == Offload.FULL and job.task != Task.INFER:
        return 0.0
    return stored_weight_bytes(m, job) / _weight_shards(job)


def _weight_shards(job: Job) -> int:
    """Weights are split across GPUs by ZeRO-3/FSDP, and by tensor parallelism for inference."""
    if job.task == Task.INFER or job.zero >= 3:
        return job.n_gpus
    return 1


def _per_block(m: ModelSpec, total: float) -> float:
    return total / m.n_layers if m.n_layers else total


def gradient_bytes(m: ModelSpec, job: Job) -> float:
    n = trainable_params(m, job)
    # ZeRO's 2Ψ of 16-bit gradients; fp32 training and LoRA adapters (fp32) keep 4 bytes.
    half = job.task == Task.TRAIN and not is_fp32(job.precision)
    per_param = HALF_BYTES if half else FP32_BYTES
    shards = job.n_gpus if job.zero >= 2 else 1
    total = per_param * n / shards
    if job.optimizer_in_backward or job.offload == Offload.FULL:
        # Each block's gradients are applied (or sent to the CPU) as soon as they exist.
        return _per_block(m, total)
    return total


def optimizer_bytes_per_param(m: ModelSpec, job: Job) -> float:
    """State bytes per trainable parameter, including the fp32 master copy for mixed precision."""
    mixed = job.task == Task.TRAIN and not is_fp32(job.precision) and job.master_weights
    master = FP32_BYTES if mixed else 0
    match job.optimizer:
        case Optimizer.ADAMW:
            states = 2 * FP32_BYTES  # momentum and variance
        case Optimizer.SGD:
            states = FP32_BYTES  # momentum
        case Optimizer.ADAM8BIT:
            states = p.value("bytes_adam8bit_per_param")
        case Optimizer.ADAFACTOR:
            # Factored second moment: a row and a column vector per matrix (Shazeer & Stern
            # 2018), 4·(rows + cols) bytes for rows·cols parameters ≈ 8/h bytes per parameter.
            states = 2 * FP32_BYTES / (m.hidden_size or ADAFACTOR_WIDTH_WITHOUT_HIDDEN)
    return master + states


def optimizer_bytes(m: ModelSpec, job: Job) -> float:
    if job.offload != Offload.NONE:
        return 0.0  # states (and master weights) live in CPU memory
    shards = job.n_gpus if job.zero >= 1 else 1
    return optimizer_bytes_per_param(m, job) * trainable_params(m, job) / shards


def has_dropout(m: ModelSpec) -> bool:
    """Encoders, ViTs and GPT-2-era decoders train with dropout; Llama-style models do not."""
    return m.kind in (ModelKind.ENCODER, ModelKind.VIT) or (
        m.kind == ModelKind.DECODER and not m.gated_mlp
    )


def layer_activation_bytes(m: ModelSpec, s: int, b: int, e: int) -> float:
    """Activations one transformer block keeps for backward (Korthikanti et al. 2022, Sec. 4.1).

    With e = 2, q = kv = h, i = 4h, dropout and no gating this gives their 34·s·b·h: norms 4sbh,
    attention 11sbh (QKV input 2, Q/K/V 6, projection input 2, dropout mask 1), MLP 19sbh
    (input 2, 4h-wide pre- and post-activation 8 + 8, dropout mask 1). The 5·a·s²·b score
    term is dropped: PyTorch's scaled_dot_product_attention (FlashAttention / memory-efficient
    kernels, the default in Hugging Face transformers) recomputes scores instead of storing them.
    A gated MLP keeps gate, up, activation and product (4 × i wide); MoE tokens pass through
    `experts_per_token` MLPs.
    """
    h, i = m.hidden_size or 0, m.intermediate_size or 0
    q = (m.n_heads or 0) * (m.head_dim or 0)
    sb = s * b
    mask = DROPOUT_MASK_BYTES if has_dropout(m) else 0
    norms = 2 * e * sb * h
    attention = e * sb * h + e * sb * (q + 2 * m.kv_dim) + e * sb * q + mask * sb * h
    mlp_wide = (4 if m.gated_mlp else 2) * e * sb * i
    mlp = (e * sb * h + mlp_wide) * (m.experts_per_token or 1) + mask * sb * h
    return norms + attention + mlp


# Bytes kept per output logit for the loss. Standard: the 16-bit lm_head output, its fp32 upcast
# and the fp32 log-softmax saved for backward (Hugging Face transformers' ForCausalLMLoss calls
# logits.float()). Chunked: fp32 only one chunk at a time (torchtune CEWithChunkedOutputLoss).
# Fused: logits never materialised (Liger kernel's fused linear cross-entropy).
LOGIT_FP32_COPIES = {Loss.STANDARD: 2, Loss.CHUNKED: 0, Loss.FUSED: 0}
LOGIT_HALF_KEPT = {Loss.STANDARD: True, Loss.CHUNKED: True, Loss.FUSED: False}


def logits_bytes(m: ModelSpec, tokens: int, e: int, loss: Loss = Loss.STANDARD) -> float:
    per_logit = (e if LOGIT_HALF_KEPT[loss] else 0) + LOGIT_FP32_COPIES[loss] * FP32_BYTES
    return tokens * (m.vocab_size or 0) * per_logit


def sequence_length(m: ModelSpec, job: Job) -> int:
    if m.kind == ModelKind.VIT:
        return m.patches
    if job.task == Task.INFER:
        return job.context or default_context(m)
    return job.seq_len or default_seq_len(m)


def default_seq_len(m: ModelSpec) -> int:
    return min(p.DEFAULT_SEQ_LEN, m.max_seq_len or p.DEFAULT_SEQ_LEN)


def default_context(m: ModelSpec) -> int:
    return min(p.DEFAULT_CONTEXT, m.max_seq_len or p.DEFAULT_CONTEXT)


def activation_bytes(m: ModelSpec, job: Job, b: int) -> float:
    """Training: every layer's activations (or, with checkpointing, each layer's input plus
    one layer recomputed at a time — Korthikanti's 2·s·b·h per layer). Inference: one layer's
    working set during prefill plus the last position's logits."""
    e = ACT_BYTES[job.precision]
    if m.kind == ModelKind.CNN:
        # Checkpointing is not modelled for CNN presets (estimate() warns): counted in full.
        per_sample = (m.activation_mb_per_sample or 0) * MB * e / FP32_BYTES
        return per_sample * b
    s = sequence_length(m, job)
    layer = layer_activation_bytes(m, s, b, e)
    layers = m.n_layers or 0
    if job.task == Task.INFER:
        tokens = prefill_tokens_in_flight(job, s, b)
        # The last position's logits, in 16-bit and as the fp32 copy sampling works on.
        last_logits = b * (m.vocab_size or 0) * (e + FP32_BYTES)
        return inference_working_bytes(m, tokens, e) / job.n_gpus + last_logits
    if job.checkpointing:
        stored = layers * e * s * b * (m.hidden_size or 0) + layer
    else:
        stored = layers * layer
    head = logits_bytes(m, s * b, e, job.loss) if m.is_language_model else 0
    return stored + head


def prefill_tokens_in_flight(job: Job, s: int, b: int) -> int:
    """Tokens one prefill step processes: the whole batch of prompts with plain transformers,
    at most one chunk with an optimized engine (vLLM's chunked prefill, llama.cpp's ubatch)."""
    if job.engine == DecodeEngine.HF:
        return s * b
    return min(s * b, p.PREFILL_CHUNK_TOKENS)


def inference_working_bytes(m: ModelSpec, tokens: int, e: int) -> float:
    """Without autograd nothing is kept between layers: the peak is the widest moment of one
    layer during prefill, the MLP's gate, up and product (three i-wide tensors; two without
    gating) or attention's Q, K, V and output. Tensor parallelism splits both across GPUs."""
    h, i = m.hidden_size or 0, m.intermediate_size or 0
    q = (m.n_heads or 0) * (m.head_dim or 0)
    mlp = (3 if m.gated_mlp else 2) * i * (m.experts_per_token or 1)
    attention = 2 * q + 2 * m.kv_dim + h
    return tokens * e * max(mlp, attention)


def kv_cache_bytes(m: ModelSpec, job: Job, b: int) -> float:
    """K and V for every layer and every token held: 2 · L · kv_heads · head_dim · bytes · b · C
    (GQA keeps only the KV heads). Split across GPUs with the heads for multi-GPU inference."""
    if job.task != Task.INFER or not m.is_language_model or m.kind == ModelKind.ENCODER:
        return 0.0
    c = sequence_length(m, job)
    return 2 * (m.n_layers or 0) * m.kv_dim * KV_BYTES * b * c / job.n_gpus


def zero3_gather_bytes(m: ModelSpec, job: Job) -> float:
    """ZeRO-3/FSDP (and full CPU offload) gather one block's full weights while computing it and
    prefetch the next: two blocks at their stored precision."""
    sharded = job.zero >= 3 and job.n_gpus > 1
    offloaded = job.offload == Offload.FULL and job.task != Task.INFER
    if not (sharded or offloaded) or not m.n_layers or job.task == Task.INFER:
        return 0.0
    return 2 * _per_block(m, stored_weight_bytes(m, job))
