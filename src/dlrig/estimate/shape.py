"""The job's shape, derived once from (ModelSpec, Job): sizes, formats, parameters, FLOPs,
decode bytes and the parallel plan.

Memory, compute, communication and decode read a `Shape` and nothing else; nothing here calls
them. Every derived number a model needs (the sequence, the weight bits, the trainable and
stored parameters, the tokens of a step) is computed here and only here.

Parallel plan conventions (Megatron-LM's): training uses n_gpus = dp x tp x pp x cp, expert
parallelism (ep) nested inside dp x cp; ZeRO/FSDP shard over dp x cp. Inference uses
n_gpus = replicas x tp x pp; with several GPUs and neither --tp nor --pp the layers are split
across the GPUs (llama.cpp's default --split-mode layer, Hugging Face device_map="auto").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dlrig.errors import DlrigError
from dlrig.estimate import hf_cache, mlm_head
from dlrig.estimate import params as p
from dlrig.model.choices import CHUNKED_PREFILL_ENGINES, LLAMA_CPP_ENGINES, POOL_ENGINES
from dlrig.model.workload import (
    Attention,
    BaseQuant,
    CheckpointingMode,
    DecodeEngine,
    Framework,
    Job,
    KvCache,
    KvDtype,
    ModelKind,
    ModelSpec,
    Precision,
    Quant,
    Task,
)

FP32_BYTES = 4
HALF_BYTES = 2
BITS_PER_BYTE = 8
# Bytes per element of each compute precision. FP8 training (Transformer Engine) keeps 16-bit
# weights and activations and casts to FP8 for the matmuls, so memory is counted at 2 bytes.
ACT_BYTES = {
    Precision.FP32: 4,
    Precision.TF32: 4,
    Precision.BF16: 2,
    Precision.FP16: 2,
    Precision.FP8: 2,
}
# efficiencies.csv key of each stored weight format's bits per weight.
QUANT_BITS_KEY = {
    Quant.INT8: "bits_int8",
    Quant.INT4: "bits_int4_gptq_g128",
    Quant.GPTQ: "bits_int4_gptq_g128",
    Quant.AWQ: "bits_int4_gptq_g128",
    Quant.NF4: "bits_nf4",
    Quant.FP8: "bits_fp8",
    Quant.Q4_0: "bits_q4_0",
    Quant.Q4_K_M: "bits_q4_k_m",
    Quant.Q5_K_M: "bits_q5_k_m",
    Quant.Q6_K: "bits_q6_k",
    Quant.Q8_0: "bits_q8_0",
}
BASE_QUANT_BITS_KEY = {
    BaseQuant.INT8: "bits_int8",
    BaseQuant.NF4: "bits_nf4_double_quant",  # QLoRA's NF4 uses double quantisation
    BaseQuant.GPTQ: "bits_int4_gptq_g128",
    BaseQuant.AWQ: "bits_int4_gptq_g128",
}
# GGUF files quantise the token embedding and output matrix too, and their published bits per
# weight (llama.cpp quantize README) are whole-file averages: applied to every parameter.
GGUF_FORMATS = frozenset({Quant.Q4_0, Quant.Q4_K_M, Quant.Q5_K_M, Quant.Q6_K, Quant.Q8_0})
# MXFP4 (OCP Microscaling, efficiencies.csv bits_mxfp4) is a MIXED format: gpt-oss's checkpoint
# (openai/gpt-oss-20b and -120b config.json, quantization_config {"quant_method": "mxfp4",
# "modules_to_not_convert": ["model.layers.*.self_attn", "model.layers.*.mlp.router",
# "model.embed_tokens", "lm_head"]}) stores only the routed experts in MXFP4 and everything else
# in bf16: its safetensors index's total_size, 13,761,264,768 bytes for gpt-oss-20b, is
# 19.11e9 expert weights x 4.25 bits + 1.80e9 others x 16 bits (0.07 % off). llama.cpp's GGUF
# of it (type "MXFP4 MoE") keeps the experts in MXFP4 and stores the rest at Q8_0's 8.5 bits:
# llama-bench's size column, 59.02 GiB for gpt-oss 120B's 116.83 B parameters (llama.cpp
# PR #19922's tables), is 114.66e9 x 4.25 + 2.17e9 x 8.5 bits = 58.9 GiB, not the 60.8 GiB of a
# bf16 rest. So: experts at 4.25 bits, the rest at 16 bits, or at 8.5 under llama.cpp.
MXFP4_REST_BITS_KEY_LLAMA_CPP = "bits_q8_0"
KV_BITS_KEY = {KvDtype.FP8: "bits_fp8", KvDtype.Q8_0: "bits_q8_0", KvDtype.Q4_0: "bits_q4_0"}


class PlanError(DlrigError):
    """A parallel plan the job cannot run with (exit 2, names the flags)."""


@dataclass(frozen=True)
class Plan:
    """How the job is split: n_gpus = dp x tp x pp x cp, over `nodes` machines. The experts of
    a training job fold the GPUs of a pipeline stage (tp x cp x dp) their own way: etp x ep x
    expert_dp (Megatron-Core's MoE parallel folding; etp = tp unless given, which is the older
    layout: ep inside cp x dp). Inference splits them over max(tp, ep) (etp is tp, unused).
    Also how its data-parallel group keeps the states (ZeRO stage) and how many micro-batches
    make one optimizer step (gradient accumulation). The one plan memory, communication and
    the step model read."""

    dp: int = 1
    tp: int = 1
    pp: int = 1
    vp: int = 1
    cp: int = 1
    ep: int = 1
    etp: int = 1  # the experts' tensor-parallel degree (training)
    nodes: int = 1
    implicit_layer_split: bool = False  # inference on several GPUs without --tp/--pp
    zero: int = 0
    micro_batches: int = 1  # per optimizer step on each data-parallel rank (grad accumulation)

    @property
    def n_gpus(self) -> int:
        return self.dp * self.tp * self.pp * self.cp

    @property
    def gpus_per_node(self) -> int:
        return max(self.n_gpus // self.nodes, 1)

    @property
    def shard_group(self) -> int:
        """GPUs ZeRO/FSDP (and Megatron's distributed optimizer) shard states over."""
        return self.dp * self.cp

    @property
    def expert_group(self) -> int:
        """The GPUs of a pipeline stage one training job's routed experts are split over:
        etp x ep (its tensor-parallel split of each expert times its expert parallelism)."""
        return self.etp * self.ep

    @property
    def expert_dp(self) -> int:
        """The experts' data-parallel degree: the GPUs of a pipeline stage holding the same
        expert shard, over which their gradients are reduced and their states sharded
        (Megatron's expert_data_parallel_size = tp x cp x dp / (etp x ep))."""
        return max(self.tp * self.cp * self.dp // self.expert_group, 1)

    def bubble_fraction(self) -> float:
        """Share of the step the pipeline stands idle: (p-1)/(v·m+p-1) (Narayanan et al. 2021,
        Sec. 2.2)."""
        p, m, v = self.pp, self.micro_batches, self.vp
        return (p - 1) / (v * m + p - 1) if p > 1 else 0.0


@dataclass(frozen=True)
class Shape:
    """Everything the estimator's models read. Sizes per data-parallel replica unless `_job`;
    bytes and parameters per GPU where named `_per_gpu`."""

    model: ModelSpec
    job: Job
    plan: Plan
    # Sizes
    seq: int  # tokens per sequence (training sequence, inference context, ViT patches; CNN 1)
    micro_batch: int  # sequences per micro-step per replica (infer: concurrent sequences)
    grad_accum: int
    global_batch: int  # sequences per optimizer step, whole job
    tokens_per_micro_step: int  # per replica (images for CNNs)
    tokens_per_step_job: int  # per optimizer step, whole job
    prompt_tokens: int  # inference: prompt length (prefill)
    gen_tokens: int  # inference: generated tokens
    prefill_tokens_in_flight: int  # tokens one prefill step processes per replica
    attended: int  # tokens one query attends to (bounded by a sliding window), mean over layers
    # Formats
    act_bytes: int
    weight_bits: float  # bits per stored weight of the linear layers
    weight_format: str
    embedding_bits: float
    routed_weight_bits: float  # bits per stored weight of the routed experts (MXFP4: 4.25)
    kv_bits: float
    adapter_bytes: int  # LoRA adapters' storage (fp32 with PEFT, 16-bit: half_adapters)
    # Parameters
    params_total: int
    params_active: int  # per token (MoE: routed experts a token passes)
    params_embedding: int
    params_linear: int  # quantised / LoRA-adapted matrices (all but embeddings)
    params_routed: int  # routed-expert weights (0 for dense models)
    params_trainable: int
    params_stored_per_gpu: float  # base weights one GPU holds after TP/PP/EP (before ZeRO-3)
    trainable_per_gpu: float  # after TP/PP (before ZeRO)
    routed_trainable_per_gpu: float  # of which routed experts' (full training of an MoE)
    weight_bytes_job: float  # the whole model as stored, adapters included
    weight_bytes_per_gpu: float  # after TP/PP/EP and ZeRO-3
    weight_bytes_per_gpu_before_zero: float  # after TP/PP/EP only
    layers_per_gpu: float
    # Compute (per token for transformers, per sample for vision presets with FLOPs)
    flops_per_token: float  # model FLOPs of one training token (fwd+bwd) or one forward token
    flops_fwd_per_token: float
    flops_recompute_per_token: float  # one more forward with full checkpointing
    flops_per_sample: float | None  # CNN / ViT presets that state their FLOPs
    # Decode (inference)
    kv_bytes_per_token: float  # one sequence's KV cache per token, all layers, whole model
    decode_context: float  # tokens one decode step attends to, mean over the generation
    decode_weight_bytes_per_gpu: float  # weights one GPU reads per decode step (active experts)
    decode_kv_bytes_per_gpu: float  # KV cache one GPU reads per step (whole batch, mean step)
    # KV transformers copies per mean step on one GPU (torch.cat's read + write, repeat_kv's
    # widened copy and its read; hf_cache.py)
    decode_kv_copy_bytes_per_gpu: float = 0.0
    # weights one GPU reads per prefill chunk (an MoE's experts the chunk's tokens route to),
    # and the routed experts' part of it
    prefill_weight_bytes_per_gpu: float = 0.0
    prefill_routed_bytes_per_gpu: float = 0.0

    @property
    def training(self) -> bool:
        return self.job.task != Task.INFER

    @property
    def lora(self) -> bool:
        return self.job.task in (Task.LORA, Task.QLORA)

    @property
    def decode_bytes_per_gpu(self) -> float:
        return self.decode_weight_bytes_per_gpu + self.decode_kv_bytes_per_gpu


# --------------------------------------------------------------------------- sizes


def default_seq_len(m: ModelSpec) -> int:
    return min(p.DEFAULT_SEQ_LEN, m.max_seq_len or p.DEFAULT_SEQ_LEN)


def default_context(m: ModelSpec) -> int:
    return min(p.DEFAULT_CONTEXT, m.max_seq_len or p.DEFAULT_CONTEXT)


def sequence_length(m: ModelSpec, job: Job) -> int:
    """Training: --seq-len; inference: --context, else prompt + generated tokens (an encoder,
    which generates nothing, reads its input length from --seq-len too); ViT: patches."""
    if m.kind == ModelKind.VIT:
        return m.patches
    if m.kind == ModelKind.CNN:
        return 1
    if job.task == Task.INFER and job.seq_len and not m.generates:
        return job.seq_len
    if job.task == Task.INFER:
        if job.context:
            return job.context
        if job.prompt_tokens or job.gen_tokens:
            return (job.prompt_tokens or 0) + (job.gen_tokens or 0)
        return default_context(m)
    return job.seq_len or default_seq_len(m)


def _leading_tokens(job: Job, seq: int) -> int:
    """The prompt before the generated tokens: --prompt-tokens, else what the context leaves
    the generation (context = prompt + generated), none when the generation fills it."""
    if job.prompt_tokens is not None:
        return job.prompt_tokens
    return max(seq - (job.gen_tokens or 0), 0)


def prompt_length(job: Job, seq: int) -> int:
    """An inference's prompt pass: _leading_tokens (`--context 4096 --gen-tokens 128` is a
    3,968-token prompt, `--gen-tokens 128` alone llama-bench's tg128 from an empty cache), at
    least the one token a generation starts from; with neither length, the whole context."""
    if job.prompt_tokens is None and job.gen_tokens is None:
        return seq
    return max(_leading_tokens(job, seq), 1)


def decode_context(job: Job, seq: int) -> float:
    """Tokens one decode step attends to, averaged over the generation. Step i (i = 1..g) of a
    generation after a prompt of p tokens reads the KV of the p prompt tokens, the i - 1 it
    generated before and its own: p + i, so the mean over g steps is p + (g + 1) / 2 (llama-bench
    tg128 from an empty cache: (128 + 1) / 2 = 64.5). The cache HELD (memory) is the full
    p + g; only the read is the mean. With neither length given (only --context, or the
    default), the step at the end of the context: `seq`. p is _leading_tokens, the prompt
    prompt_length passes (without its one-token floor: the first step's token is the i = 1)."""
    if job.prompt_tokens is None and job.gen_tokens is None:
        return float(seq)
    gen = job.gen_tokens or 0
    prompt = _leading_tokens(job, seq)
    return prompt + (gen + 1) / 2 if gen else float(prompt)


def micro_batch(m: ModelSpec, job: Job) -> int:
    if job.batch_size:
        return job.batch_size
    return p.DEFAULT_LM_BATCH if m.is_language_model else p.DEFAULT_VISION_BATCH


def attended_tokens(m: ModelSpec, s: float) -> float:
    """Keys one query attends to, averaged over the layers: s as PaLM's MFU convention counts it
    (no halving for causal masks), capped at the window on sliding-window layers."""
    full = float(s)
    if not m.sliding_window or not m.n_layers:
        return full
    local = m.n_layers if m.sliding_window_layers is None else m.sliding_window_layers
    local_tokens = min(full, float(m.sliding_window))
    return (local * local_tokens + (m.n_layers - local) * full) / m.n_layers


# --------------------------------------------------------------------------- formats


def is_fp32(precision: Precision) -> bool:
    """fp32 and tf32 both store 4-byte weights, gradients and activations."""
    return precision in (Precision.FP32, Precision.TF32)


# Frameworks that build the whole model, LoRA adapters included, in the 16-bit training dtype:
# LitGPT's `precision: bf16-true` and torchtune's `dtype: bf16` (the model is instantiated
# under `set_default_dtype(bf16)`, recipes/lora_finetune_single_device.py).
HALF_ADAPTER_FRAMEWORKS = frozenset(
    {Framework.LITGPT, Framework.TORCHTUNE, Framework.TORCHTUNE_TORCHAO01}
)


def half_adapters(job: Job) -> bool:
    """LoRA adapters, their gradients and (torch AdamW keeps states in the parameter's dtype)
    their optimizer states in 16-bit: in pure 16-bit training (`--pure-16bit`, the whole model
    in bf16 with no fp32 copy: FSDP without a mixed-precision policy over a bf16 model, as the
    PEFT FSDP-QLoRA recipe runs it; PEFT then casts the adapters to the base layer's floating
    dtype, `_move_adapter_to_device_of_base_layer`) and always with LitGPT and
    torchtune (HALF_ADAPTER_FRAMEWORKS). Otherwise fp32: PEFT creates adapters as fp32
    nn.Linear layers and, under AMP, keeps them in fp32 (get_peft_model's
    autocast_adapter_dtype=True, the default since PEFT 0.12)."""
    lora = job.task in (Task.LORA, Task.QLORA)
    pure = not job.master_weights or job.trainer in HALF_ADAPTER_FRAMEWORKS
    return lora and not is_fp32(job.precision) and pure


# Frameworks whose 4-bit and 8-bit linear layers are bitsandbytes' (the others, torchtune's,
# are torchao's NF4): memory.keeps_quantised_inputs, memory.dequant_bytes.
BITSANDBYTES_FRAMEWORKS = frozenset({Framework.TRANSFORMERS, Framework.LITGPT})


def quantised_on_load(job: Job) -> bool:
    """A LoRA base quantised from a 16-bit checkpoint as it loads (NF4 or int8), as opposed to
    one stored quantised (GPTQ, AWQ) or kept in 16-bit."""
    return job.effective_base_quant in (BaseQuant.NF4, BaseQuant.INT8)


def quantised_head(job: Job) -> bool:
    """LitGPT quantises the output head with the blocks: Fabric's BitsandbytesPrecision swaps
    every torch.nn.Linear for its 4-bit class under init_module, and LitGPT's lm_head is a
    plain nn.Linear (its checkpoints keep lm_head.weight apart from the embedding, tied or
    not). transformers' bitsandbytes integration keeps the output embedding in 16-bit
    (get_keys_to_not_convert) and torchtune's QLoRA quantises only the LoRALinear layers."""
    lora = job.task in (Task.LORA, Task.QLORA)
    return lora and quantised_on_load(job) and job.trainer == Framework.LITGPT


def mxfp4_job(job: Job) -> bool:
    return job.task == Task.INFER and job.quant == Quant.MXFP4


def quantised_embeddings(job: Job) -> bool:
    """Whether the file stores the embedding and output matrices at the linear layers' bits:
    a GGUF file (whole-file averages), and llama.cpp's MXFP4 GGUF (the rest at Q8_0)."""
    if job.task != Task.INFER:
        return False
    # Ollama's own gpt-oss files keep every tensor but the experts at the checkpoint's type
    # (convert/convert_gptoss.go v0.12.5: regular tensors `Kind: t.Kind()`, the experts
    # `ggml.TensorTypeMXFP4`; "We distribute the original values for the weights", Ollama's
    # agntdrake, r/ollama 2025-09): bf16, not llama.cpp's Q8_0.
    return job.quant in GGUF_FORMATS or (
        job.quant == Quant.MXFP4 and job.engine == DecodeEngine.LLAMA_CPP
    )


def routed_weight_bits(job: Job, bits: float) -> float:
    """Bits per stored weight of the routed experts: MXFP4's 4.25 under --quant mxfp4 (the
    experts are what it quantises), else the linear layers' `bits`."""
    return p.value("bits_mxfp4") if mxfp4_job(job) else bits


def weight_format(job: Job) -> tuple[float, str, str | None]:
    """(bits per stored weight of the linear layers, what that is, its efficiencies.csv key).
    Under --quant mxfp4 the bits are those of the linear layers OTHER than the routed experts
    (routed_weight_bits gives theirs): 16, or Q8_0's under llama.cpp (MXFP4_REST_BITS...)."""
    if job.task in (Task.LORA, Task.QLORA):
        base = job.effective_base_quant
        if base != BaseQuant.NONE:
            key = BASE_QUANT_BITS_KEY[base]
            what = "NF4 with double quantisation (QLoRA)" if base == BaseQuant.NF4 else base.value
            return p.value(key), what, key
    if job.task == Task.INFER and job.quant != Quant.NONE:
        if job.quant == Quant.EXL2:
            if job.weight_bits is None:
                raise PlanError("--quant exl2 needs --weight-bits (EXL2 files come at any size)")
            return job.weight_bits, f"EXL2 at {job.weight_bits:g} bits per weight", None
        if job.quant == Quant.MXFP4:
            experts = p.value("bits_mxfp4")
            if job.engine == DecodeEngine.LLAMA_CPP:  # Ollama's files: bf16 (above)
                rest, rest_what = p.value(MXFP4_REST_BITS_KEY_LLAMA_CPP), "Q8_0"
            else:
                rest, rest_what = float(BITS_PER_BYTE * HALF_BYTES), "bf16"
            what = f"MXFP4 experts ({experts:g} bits), the rest {rest_what}"
            return rest, what, "bits_mxfp4"
        key = QUANT_BITS_KEY[job.quant]
        return p.value(key), job.quant.value, key
    if job.task == Task.INFER and job.precision == Precision.FP8:
        return p.value("bits_fp8"), "fp8", "bits_fp8"
    bits = BITS_PER_BYTE * (FP32_BYTES if is_fp32(job.precision) else HALF_BYTES)
    return float(bits), job.precision.value, None


def kv_bits(job: Job) -> float:
    if job.kv_dtype == KvDtype.FP16:
        return float(BITS_PER_BYTE * HALF_BYTES)
    return p.value(KV_BITS_KEY[job.kv_dtype])


# --------------------------------------------------------------------------- parameters


def linear_params(m: ModelSpec) -> int:
    """Parameters in the matrices that quantisation and LoRA act on (all but embeddings)."""
    return max(m.params_total - m.embedding_params, 0)


def routed_expert_params(m: ModelSpec) -> int:
    """All routed experts' MLP weights (gate/up/down) over the MoE layers."""
    if m.kind != ModelKind.MOE or not m.n_experts or not m.n_layers:
        return 0
    moe_layers = max(m.n_layers - m.first_dense_layers, 0)
    per_expert = (3 if m.gated_mlp else 2) * (m.hidden_size or 0) * m.expert_width
    return moe_layers * m.n_experts * per_expert


def block_matrices(m: ModelSpec) -> dict[str, tuple[int, int, int]]:
    """(d_in, d_out, copies per layer) of each linear layer of one block (routed experts
    counted per expert held)."""
    h, i = m.hidden_size or 0, m.intermediate_size or 0
    q = m.q_width
    if m.is_mla:
        kv_out = (m.n_heads or 0) * ((m.qk_nope_head_dim or 0) + (m.v_head_dim or 0))
        mats = {
            "q": (h, q, 1),
            "k": (h, (m.kv_lora_rank or 0) + (m.qk_rope_head_dim or 0), 1),
            "v": (m.kv_lora_rank or 0, kv_out, 1),
            "o": ((m.n_heads or 0) * (m.v_head_dim or 0), h, 1),
        }
    else:
        mats = {"q": (h, q, 1), "k": (h, m.kv_dim, 1), "v": (h, m.kv_dim, 1), "o": (q, h, 1)}
    width, copies = (m.expert_width, m.n_experts) if m.kind == ModelKind.MOE else (i, 1)
    copies = copies or 1
    if m.gated_mlp:
        mats |= {"gate": (h, width, copies), "up": (h, width, copies), "down": (width, h, copies)}
    else:
        mats |= {"up": (h, width, copies), "down": (width, h, copies)}
    return mats


def selective_saved_matmuls(m: ModelSpec) -> tuple[list[str], list[str]]:
    """(kept, recomputed) matmuls of a block under torchtitan's op-level selective
    checkpointing, which saves every other matmul's output in forward order ("Saves output of
    all compute ops, except every second mm": the 1st, 3rd, 5th ... kept; the 2nd, 4th ...
    recomputed in backward). One rule for memory.py (what is kept) and the recompute FLOPs."""
    names = list(block_matrices(m))
    return names[0::2], names[1::2]


LORA_TARGETS = {
    "all": ("q", "k", "v", "o", "gate", "up", "down"),
    "attention": ("q", "k", "v", "o"),
    "qv": ("q", "v"),
    "qkv": ("q", "k", "v"),
}


def lora_params(m: ModelSpec, rank: int, targets: str) -> int:
    """LoRA adds A (r x d_in) and B (d_out x r) to each targeted matrix (Hu et al. 2021)."""
    if not m.is_transformer or not m.n_layers:
        return 0
    per_layer = sum(
        rank * (d_in + d_out) * copies
        for name, (d_in, d_out, copies) in block_matrices(m).items()
        if name in LORA_TARGETS[targets]
    )
    return per_layer * m.total_layers


def trainable_params(m: ModelSpec, job: Job) -> int:
    if job.task == Task.TRAIN:
        return m.params_total
    if job.task in (Task.LORA, Task.QLORA):
        return lora_params(m, job.lora_rank, job.lora_targets.value)
    return 0


# --------------------------------------------------------------------------- plan


def plan_for(m: ModelSpec, job: Job, seq: int) -> Plan:
    """The parallel plan, validated: every failure names the flags."""
    n = job.n_gpus
    if n % job.nodes:
        raise PlanError(f"--gpus {n} is not a multiple of --nodes {job.nodes}")
    if job.network is not None:
        _check_network(job.network)
    tp, pp, cp = job.tp, job.pp, job.cp
    implicit = False
    single = tp == 1 and pp == 1 and cp == 1 and job.ep == 1
    if job.task == Task.INFER and n > 1 and single and m.generates:
        pp, implicit = n, True  # layer split across the GPUs, the engines' default
    # a model that generates nothing (CNN, ViT, encoder) is replicated: every GPU runs forward
    # passes of its own batch (perf.infer), so it holds the whole model (dp = n)
    group = tp * pp * cp
    if n % group:
        raise PlanError(f"--tp {tp} x --pp {pp} x --cp {cp} = {group} does not divide --gpus {n}")
    heads = m.n_heads
    if tp > 1:
        if not m.is_transformer or not heads:
            raise PlanError(f"--tp {tp}: {m.name} has no attention heads to split")
        if heads % tp:
            raise PlanError(f"--tp {tp} does not divide {m.name}'s {heads} attention heads")
    if pp > 1 and m.total_layers and pp > m.total_layers:
        raise PlanError(f"--pp {pp} is more than {m.name}'s {m.total_layers} layers")
    if job.vp > 1 and pp == 1:
        raise PlanError(f"--vp {job.vp} needs --pp above 1 (virtual stages of a pipeline)")
    if job.vp > 1 and m.total_layers and pp * job.vp > m.total_layers:
        raise PlanError(
            f"--pp {pp} x --vp {job.vp} stages is more than {m.name}'s {m.total_layers} layers"
        )
    if cp > 1 and seq % cp:
        raise PlanError(f"--cp {cp} does not divide the sequence of {seq} tokens")
    folded = job.etp is not None and job.task != Task.INFER
    if job.ep > 1 or folded:
        flag = f"--ep {job.ep}" if job.ep > 1 else f"--etp {job.etp}"
        if m.kind != ModelKind.MOE or not m.n_experts:
            raise PlanError(f"{flag}: {m.name} has no experts (expert parallelism is MoE)")
        if m.n_experts % job.ep:
            raise PlanError(f"--ep {job.ep} does not divide {m.name}'s {m.n_experts} experts")
    etp = job.etp if folded and job.etp is not None else tp
    if folded:
        stage = n // pp
        if stage % (etp * job.ep):
            raise PlanError(
                f"--etp {etp} x --ep {job.ep} = {etp * job.ep} does not divide the {stage} GPUs "
                f"of a pipeline stage (--gpus {n} / --pp {pp})"
            )
    elif job.ep > 1:
        ep_group = n // pp if job.task == Task.INFER else n // (tp * pp)
        if ep_group % job.ep:
            fold = "" if job.task == Task.INFER else "; Megatron folds experts with --etp"
            raise PlanError(
                f"--ep {job.ep} does not divide the {ep_group} GPUs it is spread over "
                f"(--gpus {n} / --pp {pp}{'' if job.task == Task.INFER else f' / --tp {tp}'})"
                f"{fold}"
            )
    return Plan(
        dp=n // group,
        tp=tp,
        pp=pp,
        vp=job.vp,
        cp=cp,
        ep=job.ep,
        etp=etp,
        nodes=job.nodes,
        implicit_layer_split=implicit,
        zero=job.zero,
        micro_batches=job.grad_accum,
    )


def _check_network(network: str) -> None:
    from dlrig.estimate import comm

    try:
        comm.check_network(network)
    except DlrigError as exc:
        raise PlanError(str(exc)) from None


def trainable_kept(shape: Shape, sharded: bool) -> float:
    """Trainable parameters one GPU keeps gradients or optimizer states for: all of its
    TP/PP/EP share, or, `sharded` by ZeRO/FSDP, zero_sharded's part of it."""
    if not sharded:
        return shape.trainable_per_gpu
    return zero_sharded(shape.plan, shape.trainable_per_gpu, shape.routed_trainable_per_gpu)


def zero_sharded(plan: Plan, per_gpu: float, routed_per_gpu: float) -> float:
    """What ZeRO/FSDP leaves on one GPU of `per_gpu` (states, or weights at stage 3), of which
    `routed_per_gpu` belong to routed experts: the rest is sharded over the data-parallel GPUs
    (dp x cp), the experts over their own data-parallel group (Plan.expert_dp: Megatron's
    distributed optimizer and FSDP with expert parallelism shard an expert over the GPUs that
    hold the same expert, not over every replica)."""
    return (per_gpu - routed_per_gpu) / plan.shard_group + routed_per_gpu / plan.expert_dp


def _expert_split(job: Job, plan: Plan) -> int:
    """GPUs a routed expert's weights are split over: etp x ep per stage in training
    (Megatron's expert tensor parallelism, tp unless given), max(tp, ep) in inference (vLLM's
    expert parallel group is the tensor-parallel group)."""
    if job.task == Task.INFER:
        return plan.pp * max(plan.tp, plan.ep)
    return plan.pp * plan.expert_group


def _per_gpu_params(m: ModelSpec, job: Job, plan: Plan, base: float, routed: float) -> float:
    """Parameters (or bytes) one GPU holds after TP/PP/EP, `routed` of `base` in routed
    experts (_expert_split), the rest split over tp x pp."""
    return (base - routed) / (plan.tp * plan.pp) + routed / _expert_split(job, plan)


# --------------------------------------------------------------------------- FLOPs


def matmul_params(m: ModelSpec) -> float:
    """Parameters in matmuls for one token (MoE: the active ones); an untied input embedding
    is a lookup, not a matmul."""
    if not m.has_vocab_head:
        lookup = (m.vocab_size or 0) * (m.hidden_size or 0)  # no output head either
        return max(m.active_params - lookup, 1)
    lookup = 0 if m.tied_embeddings else (m.vocab_size or 0) * (m.hidden_size or 0)
    return max(m.active_params - lookup, 1)


def attention_flops_fwd(m: ModelSpec, attended: float) -> float:
    """QKᵀ and AV for one token attending to `attended` others, every layer: 4·L·H·Q·T
    (PaLM, Chowdhery et al. 2022, App. B)."""
    return 4 * m.total_layers * m.q_width * attended


def _flops(m: ModelSpec, job: Job, attended: float, trainable: int) -> tuple[float, float]:
    """(model FLOPs per token, forward FLOPs per token). Full training 3 x forward (PaLM's
    6N + 12·L·H·Q·T). LoRA/QLoRA: frozen matrices need input gradients only (2N), no
    weight-gradient GEMMs; attention's backward is unchanged (2 x attention); the adapters
    cost 6 FLOPs per adapter parameter."""
    n = matmul_params(m)
    attn = attention_flops_fwd(m, attended)
    fwd = 2 * n + attn
    if job.task == Task.TRAIN:
        return 3 * fwd, fwd
    if job.task in (Task.LORA, Task.QLORA):
        return fwd + 2 * n + 2 * attn + 6 * trainable, fwd
    return fwd, fwd


def full_recompute_flops(m: ModelSpec, fwd: float) -> float:
    """FLOPs per token that full activation checkpointing recomputes in backward: the forward
    of every checkpointed block, which is the whole forward less the output head's 2·V·h.
    The head sits outside the blocks that trainers wrap: transformers' gradient_checkpointing
    wraps the decoder layers (`self.layers`, `lm_head` after them), Megatron-LM recomputes
    transformer layers (`recompute_num_layers`; the output layer is outside), torchtitan and
    torchtune apply checkpointing per TransformerBlock / TransformerSelfAttentionLayer, llm.q's
    --recompute-* flags name parts of a block. Matters where the vocabulary is large next to
    the model (Qwen2.5-0.5B: the 151936 x 896 head is 28 % of its matmul weights)."""
    head = 2 * (m.vocab_size or 0) * (m.hidden_size or 0) if m.has_vocab_head else 0
    return max(fwd - head, 0.0)


def selective_recompute_flops(m: ModelSpec) -> float:
    """FLOPs per token that torchtitan's op-level selective checkpointing recomputes in
    backward: the 2nd, 4th, ... matmul of each block in forward order (q, k, v, o, gate, up,
    down: k, o and up; without gating k, o and down), at 2 FLOPs per weight a token passes
    (MoE: its routed experts). Attention's output is saved, so attention is not recomputed;
    the element-wise work (norms, RoPE, activation) is, and costs bandwidth, not FLOPs."""
    mats = block_matrices(m)
    _, recomputed = selective_saved_matmuls(m)
    per_layer = 0.0
    for name in recomputed:
        d_in, d_out, copies = mats[name]
        if m.kind == ModelKind.MOE and copies > 1:
            copies = m.experts_per_token or 1  # routed experts a token passes
        per_layer += 2 * d_in * d_out * copies
    return per_layer * m.total_layers


# --------------------------------------------------------------------------- derive


def prefill_chunk(job: Job) -> int:
    """Tokens one prefill forward pass takes: a pool engine's token budget per step
    (engine_memory.batched_tokens: --max-batched-tokens, else the engine's default for the
    GPU, the figure its memory profile uses), llama.cpp's ubatch (-ub, given as
    --max-batched-tokens, else 512), another engine's params.PREFILL_CHUNK_TOKENS."""
    if job.engine in LLAMA_CPP_ENGINES and job.max_batched_tokens:  # -ub; Ollama's num_batch
        return job.max_batched_tokens
    if job.engine in POOL_ENGINES:
        from dlrig.estimate import engine_memory  # imports this module

        return engine_memory.batched_tokens(job)
    return p.prefill_chunk_tokens(job.engine.value)


def derive(m: ModelSpec, job: Job) -> Shape:
    """The shape of `job` on `m`; raises PlanError for a plan that cannot run."""
    s = sequence_length(m, job)
    b = micro_batch(m, job)
    plan = plan_for(m, job, s)
    training = job.task != Task.INFER
    tokens_per_seq = s if m.is_transformer else 1
    global_batch = b * job.grad_accum * plan.dp if training else b * plan.dp
    prompt = prompt_length(job, s) if job.task == Task.INFER else 0
    gen = job.gen_tokens or 0
    if job.task == Task.INFER:
        # Engines chunk a generation's prompt; an encoder's or a ViT's forward pass (plain
        # PyTorch: timm, transformers pipelines) runs the whole batch at once.
        chunked = job.engine in CHUNKED_PREFILL_ENGINES and m.generates
        chunk = prefill_chunk(job)
        in_flight = min(prompt * b, chunk) if chunked else prompt * b
    else:
        in_flight = 0
    attended = attended_tokens(m, s) if m.is_transformer else 0.0

    bits, fmt, _ = weight_format(job)
    half_or_full = FP32_BYTES if is_fp32(job.precision) else HALF_BYTES
    embed_bits = bits if quantised_embeddings(job) else float(BITS_PER_BYTE * half_or_full)
    expert_bits = routed_weight_bits(job, bits)
    trainable = trainable_params(m, job)
    embedding = m.embedding_params
    linear = linear_params(m)
    routed = routed_expert_params(m)
    adapter_bytes = HALF_BYTES if half_adapters(job) else FP32_BYTES

    if job.task == Task.TRAIN:
        weight_bytes_job = half_or_full * m.params_total  # ZeRO's 2Ψ (4Ψ in fp32)
        stored_per_param = float(half_or_full)
        routed_bytes = routed * stored_per_param
    else:
        weight_bytes_job = (
            (linear - routed) * bits / BITS_PER_BYTE
            + routed * expert_bits / BITS_PER_BYTE
            + embedding * embed_bits / BITS_PER_BYTE
        )
        if quantised_head(job) and m.vocab_size and m.hidden_size:
            # A separate output head quantised like the blocks, in place of a 16-bit one (or
            # next to the tied embedding, which LitGPT stores as its own lm_head).
            head = m.vocab_size * m.hidden_size
            untied_16bit = 0 if m.tied_embeddings else head * embed_bits / BITS_PER_BYTE
            weight_bytes_job += head * bits / BITS_PER_BYTE - untied_16bit
        weight_bytes_job += trainable * adapter_bytes
        routed_bytes = routed * expert_bits / BITS_PER_BYTE
    stored_per_gpu_bytes = _per_gpu_params(m, job, plan, weight_bytes_job, routed_bytes)
    params_per_gpu = _per_gpu_params(m, job, plan, float(m.params_total), float(routed))
    trainable_per_gpu = trainable / (plan.tp * plan.pp)
    routed_trainable_per_gpu = 0.0  # LoRA's adapters count as dense
    if job.task == Task.TRAIN:
        trainable_per_gpu = params_per_gpu
        routed_trainable_per_gpu = routed / _expert_split(job, plan)
    weight_bytes_per_gpu = stored_per_gpu_bytes
    if training and job.zero >= 3:
        routed_here = routed_bytes / _expert_split(job, plan)
        weight_bytes_per_gpu = zero_sharded(plan, stored_per_gpu_bytes, routed_here)
    layers_per_gpu = m.total_layers / plan.pp if m.total_layers else 0.0

    flops, fwd = _flops(m, job, attended, trainable) if m.is_transformer else (0.0, 0.0)
    # An encoder trained with its masked-LM head (mlm_head.py): 3 x the head's forward on the
    # positions it runs on, outside the checkpointed blocks (not in the recompute below).
    head_fwd = mlm_head.flops_fwd_per_token(m, job, tokens_per_seq) if training else 0.0
    flops += 3 * head_fwd
    flops_per_sample = None
    if m.gflops_per_sample and (m.kind == ModelKind.CNN or m.kind == ModelKind.VIT):
        fwd_sample = m.gflops_per_sample * 1e9
        flops_per_sample = 3 * fwd_sample if training else fwd_sample

    kv_per_token = 0.0
    decode_w = decode_kv = decode_copy = prefill_w = prefill_routed = 0.0
    mean_ctx = 0.0
    if job.task == Task.INFER and m.has_vocab_head:
        kv_per_token = kv_cache_bytes_per_token(m, job, s)
        decode_w = _decode_weight_bytes(m, job, plan, bits, b)
        # A prefill chunk is a decode step of in_flight tokens: its routed tokens touch
        # min(E, tokens·k) experts per MoE layer, all of them for any real prompt.
        prefill_w = _decode_weight_bytes(m, job, plan, bits, max(in_flight, 1))
        prefill_routed = _routed_read_bytes(m, plan, expert_bits, max(in_flight, 1))
        # A step reads the KV of the tokens before it (the mean step's), at most the window on
        # sliding layers: the KV read is bounded.
        mean_ctx = decode_context(job, s)
        read_per_token = kv_cache_bytes_per_token(m, job, mean_ctx) if mean_ctx else 0.0
        split = kv_split(m, plan, job)
        decode_kv = read_per_token * mean_ctx * b / split
        if hf_cache.reads_whole_allocation(job):  # a static cache: attention reads all of it
            decode_kv = kv_cache_bytes_per_token(m, job, s) * s * b / split
        if hf_cache.grows_by_cat(job):
            decode_copy = hf_cache.cat_bytes_per_step(read_per_token, mean_ctx, b, split)
        if hf_cache.repeats_kv(job, m):
            decode_copy += hf_cache.repeat_bytes_per_step(decode_kv, hf_cache.kv_groups(m))
    return Shape(
        model=m,
        job=job,
        plan=plan,
        seq=tokens_per_seq,
        micro_batch=b,
        grad_accum=job.grad_accum,
        global_batch=global_batch,
        tokens_per_micro_step=b * tokens_per_seq,
        tokens_per_step_job=global_batch * tokens_per_seq,
        prompt_tokens=prompt,
        gen_tokens=gen,
        prefill_tokens_in_flight=in_flight,
        attended=math.ceil(attended) if attended else 0,
        act_bytes=ACT_BYTES[job.precision],
        weight_bits=bits,
        weight_format=fmt,
        embedding_bits=embed_bits,
        routed_weight_bits=expert_bits,
        kv_bits=kv_bits(job),
        adapter_bytes=adapter_bytes,
        params_total=m.params_total,
        params_active=m.active_params,
        params_embedding=embedding,
        params_linear=linear,
        params_routed=routed,
        params_trainable=trainable,
        params_stored_per_gpu=params_per_gpu,
        trainable_per_gpu=trainable_per_gpu,
        weight_bytes_per_gpu_before_zero=stored_per_gpu_bytes,
        routed_trainable_per_gpu=routed_trainable_per_gpu,
        weight_bytes_job=weight_bytes_job,
        weight_bytes_per_gpu=weight_bytes_per_gpu,
        layers_per_gpu=layers_per_gpu,
        flops_per_token=flops,
        flops_fwd_per_token=fwd + head_fwd,
        flops_recompute_per_token=(
            selective_recompute_flops(m)
            if job.checkpointing_mode == CheckpointingMode.SELECTIVE and m.is_transformer
            else full_recompute_flops(m, fwd)
        ),
        flops_per_sample=flops_per_sample,
        kv_bytes_per_token=kv_per_token,
        decode_context=mean_ctx,
        decode_weight_bytes_per_gpu=decode_w,
        decode_kv_bytes_per_gpu=decode_kv,
        decode_kv_copy_bytes_per_gpu=decode_copy,
        prefill_weight_bytes_per_gpu=prefill_w,
        prefill_routed_bytes_per_gpu=prefill_routed,
    )


def kv_split(m: ModelSpec, plan: Plan, job: Job) -> int:
    """GPUs one sequence's KV cache is split over: the pipeline stages, and the tensor-parallel
    ranks up to the KV head count (with fewer KV heads than ranks each rank keeps a copy; MLA's
    latent is replicated on every rank, as vLLM does). llama.cpp's --tp is its row split
    (`--split-mode row`), which splits only the weight matrices; attention and the KV cache
    stay on the main GPU. llama.cpp's own help (common/arg.cpp): `--split-mode` "layer
    (default): split layers and KV across GPUs; row: split rows across GPUs", and `--main-gpu`
    "the GPU to use ... for intermediate results and KV (with split-mode = row)" (decode.py).
    So its cache is split over the stages alone, and the main GPU, the one a fit decision is
    about, holds all of it."""
    if job.engine == DecodeEngine.LLAMA_CPP and job.task == Task.INFER and plan.tp > 1:
        return plan.pp
    tp_split = 1 if m.is_mla else min(plan.tp, m.n_kv_heads or 1)
    return plan.pp * tp_split


def trims_to_the_window(job: Job) -> bool:
    """Whether sliding-window layers hold only the window. transformers' tuple cache (before
    4.42, KvCache.LEGACY) concatenated every token's K and V whatever the window, except on the
    FlashAttention-2 path, which cut the cache to the window (modeling_mistral.py of 4.34:
    `slicing_tokens = 1 - self.config.sliding_window` under `use_sliding_windows`). The later
    caches are taken to keep the window, as today's transformers does
    (DynamicSlidingWindowLayer), and so are the other engines."""
    legacy = job.engine == DecodeEngine.TRANSFORMERS and job.kv_cache == KvCache.LEGACY
    return not legacy or job.attention in (Attention.FLASH, Attention.FLASH2)


def kv_cache_bytes_per_token(m: ModelSpec, job: Job, context: float) -> float:
    """K and V (or MLA's latent) for one token of one sequence over all layers, at the KV
    dtype. Sliding-window layers hold at most the window (trims_to_the_window): averaged over
    the context."""
    if not m.n_layers:
        return 0.0
    width_bytes = m.kv_cache_width * kv_bits(job) / BITS_PER_BYTE
    local = 0
    if m.sliding_window and trims_to_the_window(job):
        local = m.n_layers if m.sliding_window_layers is None else m.sliding_window_layers
    held_local = min(1.0, m.sliding_window / context) if m.sliding_window and context else 1.0
    layers = (m.n_layers - local) + local * held_local
    return layers * width_bytes


def _routed_read_bytes(m: ModelSpec, plan: Plan, bits: float, tokens: int) -> float:
    """Bytes of routed-expert weights one GPU reads for a forward pass over `tokens` tokens:
    the experts they route to, min(E, tokens·k) per MoE layer (0 for a dense model)."""
    routed = routed_expert_params(m)
    if not routed:
        return 0.0
    if m.n_experts and m.experts_per_token:
        routed *= min(m.n_experts, tokens * m.experts_per_token) / m.n_experts
    return routed * bits / BITS_PER_BYTE / (plan.pp * max(plan.tp, plan.ep))


def _decode_weight_bytes(m: ModelSpec, job: Job, plan: Plan, bits: float, b: int) -> float:
    """Bytes of weights one GPU reads per decode step: its share of the matrices, only the
    experts the batch routes to (min(E, b·k) per MoE layer), and the output head (an untied
    input embedding is a lookup)."""
    dense = linear_params(m) - routed_expert_params(m)
    head_bits = bits if quantised_embeddings(job) else float(BITS_PER_BYTE * HALF_BYTES)
    head = (m.vocab_size or 0) * (m.hidden_size or 0) * head_bits / BITS_PER_BYTE
    dense_bytes = (dense * bits / BITS_PER_BYTE + head) / (plan.tp * plan.pp)
    return dense_bytes + _routed_read_bytes(m, plan, routed_weight_bits(job, bits), b)
