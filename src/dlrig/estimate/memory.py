"""GPU memory of a job, part by part, per GPU, read from its `Shape` (bytes unless `_gb`).

Weights, gradients and optimizer states follow the ZeRO paper's accounting (Rajbhandari et al.
2020, "ZeRO: Memory Optimizations Toward Training Trillion Parameter Models", Sec. 3.1: mixed
precision Adam holds 2Ψ + 2Ψ + 12Ψ bytes, and stages 1/2/3 shard the optimizer states, then the
gradients, then the weights across the data-parallel GPUs). Transformer activations follow
Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large Transformer Models", Sec. 4,
34·s·b·h + 5·a·s²·b bytes per layer for GPT-3), generalised term by term to grouped-query
attention, gated MLPs and MoE, divided by tensor (with sequence parallelism) and context
parallelism, with the pipeline's in-flight micro-batches of Sec. 4.2.3.

Two semantics: `allocated` is the tensors (torch.cuda.max_memory_allocated), `reserved` adds the
caching allocator's slack (max_memory_reserved; a fitted fraction of allocated, estimate/slack.py),
and `nvidia_smi` adds what the process holds
outside the allocator: the CUDA context and kernels, the cuBLAS workspace and, with several GPUs,
NCCL's buffers. Fit decisions use the nvidia-smi figure.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlrig.estimate import calibration as cal
from dlrig.estimate import convnet as cnet
from dlrig.estimate import mlm_head
from dlrig.estimate import params as p
from dlrig.estimate import slack as slk
from dlrig.estimate.shape import (
    BITSANDBYTES_FRAMEWORKS,
    FP32_BYTES,
    HALF_BYTES,
    LORA_TARGETS,
    Shape,
    block_matrices,
    half_adapters,
    is_fp32,
    kv_split,
    quantised_head,
    quantised_on_load,
    selective_saved_matmuls,
    trainable_kept,
)
from dlrig.model.workload import (
    Attention,
    BaseQuant,
    Framework,
    GradBuffers,
    Loss,
    ModelKind,
    ModelSpec,
    Offload,
    Optimizer,
    OptimizerDtype,
    Precision,
    Task,
)

GB = 1e9
MB = 1e6
BNB_DEQUANT_COPIES = 2  # dequantize_4bit's fp16 output and its cast to the compute dtype
TORCHAO_DEQUANT_COPIES = 1  # weight.to(input.dtype): the dequantised matrix (see dequant_bytes)
GIB = 2**30
DROPOUT_MASK_BYTES = 1  # Korthikanti et al. store dropout masks as one byte per element
# Adafactor's factored state per parameter is 8/width; CNN presets have no hidden size, so a
# typical conv/linear width stands in (the state is under 1 % of the weights either way).
ADAFACTOR_WIDTH_WITHOUT_HIDDEN = 1024


def capacity_gb(memory_gib: float) -> float:
    """A GPU's memory in 10⁹ bytes. Vendors' "24 GB" is 24 GiB (DRAM comes in binary sizes:
    nvidia-smi shows 24564 MiB on an RTX 4090), so 24 → 25.8 GB."""
    return memory_gib * GIB / GB


@dataclass(frozen=True)
class MemoryParts:
    """Bytes on one GPU at the step's peak."""

    weights: float
    gradients: float
    optimizer: float
    activations: float  # without the logits
    logits: float  # the loss's logits (training) or the last position's (inference)
    kv_cache: float
    allocator_slack: float
    cuda_context: float
    cublas_workspace: float
    nccl_buffers: float
    # Inference under a named engine (estimate/engine_memory.py): its own work buffers
    # (llama.cpp's compute buffer), the KV the requested sequences need when the engine's
    # allocation differs from it (a pool engine's whole pool is `kv_cache`), the memory a pool
    # engine leaves unused by its setting, and the pool's size in tokens.
    engine_buffers: float = 0.0
    # A LoRA step over a base quantised on load: its largest matrix, dequantised for the matmul.
    dequant: float = 0.0
    kv_needed: float | None = None
    held_back: float = 0.0
    kv_capacity_tokens: float | None = None
    engine: str = ""
    context_tokens: int | None = None

    @property
    def allocated(self) -> float:
        """Tensors alive at the peak: what torch.cuda.max_memory_allocated shows (an engine
        with its own allocator: the buffers its log prints)."""
        return (
            self.weights
            + self.gradients
            + self.optimizer
            + self.activations
            + self.logits
            + self.kv_cache
            + self.dequant
            + self.engine_buffers
        )

    @property
    def resident(self) -> float:
        """What outlives a step: the weights, the optimizer's states and the KV cache, which
        torch.cuda.memory_allocated shows read between steps (the step's activations, logits
        and work buffers are freed by its end, gradients by zero_grad(set_to_none=True)). Not a
        peak, and not what decides a fit: the figure some sources print after each step."""
        return self.weights + self.optimizer + self.kv_cache

    @property
    def reserved(self) -> float:
        """What torch.cuda.max_memory_reserved shows: allocated plus the allocator's slack."""
        return self.allocated + self.allocator_slack

    @property
    def outside_allocator(self) -> float:
        return self.cuda_context + self.cublas_workspace + self.nccl_buffers

    @property
    def nvidia_smi(self) -> float:
        """What nvidia-smi shows for the process: reserved plus context, workspace, NCCL."""
        return self.reserved + self.outside_allocator

    @property
    def need(self) -> float:
        """The memory the job needs of the GPU, the figure fit decisions use: what nvidia-smi
        shows, except under a pool engine (vLLM, SGLang, TensorRT-LLM), which fills whatever
        its share leaves with KV blocks: there the requested sequences' KV instead of the pool,
        plus the share the engine's setting leaves unused, so that need <= capacity exactly
        when the pool holds the requested sequences."""
        kv_needed = self.kv_cache if self.kv_needed is None else self.kv_needed
        return self.nvidia_smi - self.kv_cache + kv_needed + self.held_back


# --------------------------------------------------------------------------- model states


def _per_block(shape: Shape, total: float) -> float:
    layers = shape.layers_per_gpu
    return total / layers if layers else total


def gathers_weights(shape: Shape) -> bool:
    """ZeRO-3/FSDP training over more than one GPU: each block's weights are all-gathered
    before it runs and its gradients reduce-scattered after."""
    return shape.training and shape.job.zero >= 3 and shape.plan.shard_group > 1


def fsdp_with_pipeline(shape: Shape) -> bool:
    """ZeRO-3/FSDP inside pipeline stages (torchtitan's FSDP + PP). torch.distributed.pipelining
    runs every micro-batch's backward with `set_reshard_after_backward(False)` and
    `set_requires_gradient_sync(False)`, reduce-scattering only after the last one
    (stage.py `backward_maybe_with_nosync`), and torchtitan shards the blocks with
    `reshard_after_forward=False` under PP ("do not reshard after forward to avoid
    per-microbatch all-gathers", parallelize_llama.py `apply_fsdp` at 9dec370): the stage's
    16-bit weights stay gathered for the whole step and its unsharded gradients accumulate in
    FSDP's reduce dtype (fp32 with fp32 master weights) over the micro-batches."""
    return gathers_weights(shape) and shape.plan.pp > 1


def weights_bytes(shape: Shape) -> float:
    """Weights resident on one GPU: none with full CPU offload (blocks fetched as needed); the
    whole stage, gathered, with FSDP inside pipeline stages."""
    if shape.job.offload == Offload.FULL and shape.training:
        return 0.0
    if fsdp_with_pipeline(shape):
        return shape.weight_bytes_per_gpu_before_zero
    return shape.weight_bytes_per_gpu


def gather_bytes(shape: Shape) -> float:
    """ZeRO-3/FSDP (and full CPU offload) gather one block's full weights while computing it and
    prefetch the next: two blocks at their stored precision."""
    job = shape.job
    offloaded = job.offload == Offload.FULL
    if not shape.training or not (gathers_weights(shape) or offloaded) or not shape.layers_per_gpu:
        return 0.0
    if fsdp_with_pipeline(shape):
        return 0.0  # the stage is gathered once and kept (weights_bytes)
    return 2 * _per_block(shape, shape.weight_bytes_per_gpu_before_zero)


def gradient_bytes(shape: Shape) -> float:
    job = shape.job
    if not shape.training:
        return 0.0
    # 4 bytes (fp32) for fp32 training, LoRA adapters (fp32) and mixed precision with fp32
    # master weights outside ZeRO: PyTorch AMP's parameters are fp32, so their .grad is fp32
    # (HF "Anatomy of Model's Memory": "4 bytes * number of parameters for either fp32 or mixed
    # precision training (gradients are always kept in fp32)", i.e. 6 + 4 + 8 = 18 bytes with
    # AdamW); Megatron accumulates into fp32 main_grad buffers too. ZeRO/FSDP (zero >= 1) keep
    # the ZeRO paper's 2Ψ of 16-bit gradients; pure 16-bit training keeps 16-bit gradients.
    if fsdp_with_pipeline(shape):
        # Unsharded, accumulated over the micro-batches in the reduce dtype.
        per_param = FP32_BYTES if job.master_weights else gradient_bytes_per_param(shape)
        return per_param * shape.trainable_per_gpu
    total = gradient_bytes_per_param(shape) * trainable_kept(shape, job.zero >= 2)
    if job.optimizer_in_backward or job.offload == Offload.FULL:
        # Each block's gradients are applied (or sent to the CPU) as soon as they exist.
        return _per_block(shape, total)
    return total


def gradient_bytes_per_param(shape: Shape) -> float:
    """See gradient_bytes: fp32 with AMP's fp32 parameters and fp32 training, else 16-bit."""
    job = shape.job
    amp_fp32_grads = job.master_weights and job.zero == 0
    half = job.task == Task.TRAIN and not is_fp32(job.precision) and not amp_fp32_grads
    return HALF_BYTES if half or half_adapters(job) else FP32_BYTES


def optimizer_state_bytes(shape: Shape) -> float:
    """Bytes per state element: fp32, or 2 with --optimizer-dtype bf16 and in pure 16-bit
    training, where PyTorch's AdamW keeps its states in the parameters' dtype."""
    job = shape.job
    pure_16bit = job.task == Task.TRAIN and not job.master_weights and not is_fp32(job.precision)
    if job.optimizer_dtype == OptimizerDtype.BF16 or pure_16bit or half_adapters(job):
        return HALF_BYTES
    return FP32_BYTES


def master_weight_bytes(shape: Shape) -> float:
    """Mixed precision keeps an fp32 copy of the 16-bit weights (AMP); pure 16-bit does not;
    LoRA adapters are already fp32."""
    job = shape.job
    mixed = job.task == Task.TRAIN and not is_fp32(job.precision) and job.master_weights
    return FP32_BYTES if mixed else 0.0


def optimizer_bytes_per_param(shape: Shape) -> float:
    """State bytes per trainable parameter, including the fp32 master copy for mixed precision."""
    state = optimizer_state_bytes(shape)
    match shape.job.optimizer:
        case Optimizer.ADAMW:
            states = 2 * state  # momentum and variance
        case Optimizer.SGD:
            states = state  # momentum
        case Optimizer.ADAM8BIT:
            states = p.value("bytes_adam8bit_per_param")
        case Optimizer.ADAFACTOR:
            # Factored second moment: a row and a column vector per matrix (Shazeer & Stern
            # 2018), 4·(rows + cols) bytes for rows·cols parameters ≈ 8/h bytes per parameter.
            width = shape.model.hidden_size or ADAFACTOR_WIDTH_WITHOUT_HIDDEN
            states = 2 * FP32_BYTES / width
    return master_weight_bytes(shape) + states


def optimizer_step_bytes(shape: Shape) -> float:
    """Bytes one GPU's optimizer step streams through DRAM: it reads every trainable
    parameter's gradient, reads and writes its states (the fp32 master copy included) and
    writes the updated weight (read too when there is no master copy). A fused kernel's
    minimum (apex FusedAdam, torch AdamW fused=True): fp32 AdamW on fp32 weights is
    4 + 2·(8 + 4) = 28 bytes per parameter; mixed precision with master weights 2 + 2·12 + 2
    = 28; pure bf16 with bf16 states 2 + 2·(4 + 2) = 14. Sharded like the states (ZeRO >= 1)."""
    job = shape.job
    # Offloaded states are updated by the CPU (step.py charges CPU Adam); bitsandbytes' paged
    # 8-bit optimizers (read as offload=optimizer) still step on the GPU.
    on_cpu = job.offload != Offload.NONE and job.optimizer != Optimizer.ADAM8BIT
    if not shape.training or on_cpu:
        return 0.0
    grad = gradient_bytes_per_param(shape)
    weight = HALF_BYTES if not is_fp32(job.precision) and job.task == Task.TRAIN else FP32_BYTES
    master = master_weight_bytes(shape) > 0
    per_param = grad + 2 * optimizer_bytes_per_param(shape) + (1 if master else 2) * weight
    return per_param * trainable_kept(shape, job.zero >= 1)


# Clipping by the global norm, which every transformer trainer the points use does by default
# at 1.0, streams every gradient before the update: a norm pass reading each, then a multiply
# reading and writing it. DLE TF2 BERT `(grads, _) = tf.clip_by_global_norm(grads,
# clip_norm=1.0)` before `optimizer.apply_gradients` (DeepLearningExamples TensorFlow2/
# LanguageModeling/BERT/official/modeling/model_training_utils.py, _replicated_step and step,
# commit 0e20ac8) [V]; Hugging Face TrainingArguments max_grad_norm=1.0 through
# torch.nn.utils.clip_grad_norm_ (_foreach_norm, then _foreach_mul_), Megatron-LM --clip-grad
# 1.0 and torchtitan max_norm 1.0 [R: defaults recalled]. CNN trainers (torchvision references,
# DLE ResNet-50) do not clip by default [R], so convolutions are charged none.
# fp16 training scales its loss, so before the step every gradient is unscaled and checked for
# inf/NaN: torch GradScaler.unscale_ (_amp_foreach_non_finite_check_and_unscale_, one fused
# read-write pass), Keras LossScaleOptimizer get_unscaled_gradients (the same DLE file [V]),
# DeepSpeed's and Megatron's dynamic loss scalers alike: 2 more passes, convolutions included
# (~0.2 ms per ResNet-50 step). bf16 and fp32 need no scaling. (Held back from round 7 to 11
# because its refit moved the RTX 4090 / RTX 3090 ResNet-50 ratio below the 1.4x;
# that relation is now held to Lambda's own published ratio, tests/estimate/test_relations.)
CLIP_PASSES = 3  # the norm reads each gradient; the scale reads and writes it
UNSCALE_PASSES = 2  # fp16: unscale reads and writes each gradient (the inf check fused)


def gradient_pass_bytes(shape: Shape) -> float:
    """Bytes one GPU streams over its gradients between the backward and the update: a
    transformer trainer's clip by the global norm (3 passes) and fp16's unscale (2 passes)
    over the gradient bytes the optimizer step reads (gradient_bytes_per_param); none where the
    CPU runs the step (offloaded, the same rule as optimizer_step_bytes). Sharded like the
    states (ZeRO >= 1)."""
    job = shape.job
    on_cpu = job.offload != Offload.NONE and job.optimizer != Optimizer.ADAM8BIT
    if not shape.training or on_cpu:
        return 0.0
    passes = (CLIP_PASSES if shape.model.is_transformer else 0) + (
        UNSCALE_PASSES if job.precision == Precision.FP16 else 0
    )
    return passes * gradient_bytes_per_param(shape) * trainable_kept(shape, job.zero >= 1)


def optimizer_bytes(shape: Shape) -> float:
    job = shape.job
    if not shape.training or job.offload != Offload.NONE:
        return 0.0  # inference has none; offloaded states (and master weights) live on the CPU
    return optimizer_bytes_per_param(shape) * trainable_kept(shape, job.zero >= 1)


# --------------------------------------------------------------------------- activations


def has_dropout(m: ModelSpec) -> bool:
    """Encoders (BERT: hidden and attention dropout 0.1), T5 and GPT-2-era decoders train with
    dropout; Llama-style decoders and ViTs do not. ViTs: timm's VisionTransformer defaults
    `drop_rate=0., proj_drop_rate=0., attn_drop_rate=0.` (timm/models/vision_transformer.py),
    Hugging Face's ViT configs set `hidden_dropout_prob` and `attention_probs_dropout_prob` to
    0.0 (catalog/data/hf_configs/vit-base-patch16-224-resaved.json) and torchvision's
    VisionTransformer `dropout=0.0, attention_dropout=0.0`; a dropout of p = 0 returns its
    input (PyTorch aten/src/ATen/native/Dropout.cpp `_dropout_impl`: `if (p == 0 || !train
    || input.sym_numel() == 0) return input;`, and the fused kernel only takes 0 < p < 1), so
    no mask is kept and no pass streams."""
    return m.kind in (ModelKind.ENCODER, ModelKind.ENCODER_DECODER) or (
        m.kind == ModelKind.DECODER and not m.gated_mlp
    )


def has_attention_mask(m: ModelSpec) -> bool:
    """Whether eager attention adds a mask to its scores: padding masks (BERT), causal masks
    (decoders); a ViT attends over all its patches with no mask (timm Attention.forward:
    `attn = (q @ k.transpose(-2, -1)) * self.scale; attn = attn.softmax(dim=-1)`; Hugging
    Face ViTSelfAttention: scores / sqrt(d), softmax, no mask)."""
    return m.kind != ModelKind.VIT


def layer_activation_bytes(
    m: ModelSpec, s: int, b: int, e: int, trained: frozenset[str] | None = None
) -> float:
    """Activations one transformer block keeps for backward, without attention scores
    (Korthikanti et al. 2022, Sec. 4.1).

    With e = 2, q = kv = h, i = 4h, dropout and no gating this gives their 34·s·b·h: norms 4sbh,
    attention 11sbh (QKV input 2, Q/K/V 6, projection input 2, dropout mask 1), MLP 19sbh
    (input 2, 4h-wide pre- and post-activation 8 + 8, dropout mask 1). A gated MLP keeps gate,
    up, activation and product (4 × i wide); MoE tokens pass through `experts_per_token` routed
    experts of their own width plus the shared experts.

    `trained` names the matrices that get a weight gradient (None: all, full training). A
    frozen matrix needs only its weight for the input gradient, so autograd keeps its input
    only when a LoRA adapter on it needs that input (its A gradient): with LoRA on q and v the
    MLP's input and the down projection's input are not kept, the tensors the element-wise
    operations and attention need for their own backward are.
    """
    h = m.hidden_size or 0
    q = m.q_width
    kv = m.kv_cache_width
    sb = s * b
    mask = DROPOUT_MASK_BYTES if has_dropout(m) else 0

    def kept(*names: str) -> int:
        return 1 if trained is None or any(n in trained for n in names) else 0

    norms = 2 * e * sb * h
    # Q, K and V for attention's backward and its output (o's input, also attention's output
    # kept by flash / SDPA kernels): always; the QKV input only for trained q, k or v.
    attention = kept("q", "k", "v") * e * sb * h + e * sb * (q + kv) + e * sb * q + mask * sb * h
    mlp_in = kept("gate", "up") * e * sb * h
    # Gated: gate (the activation's input), activation output and up (the product's inputs),
    # product (down's input, kept only for a trained down). Plain: the pre-activation (GELU's
    # input) and the post-activation (down's input).
    wide = (3 if m.gated_mlp else 1) + kept("down")
    routed_copies = (m.experts_per_token or 1) if m.kind == ModelKind.MOE else 1
    mlp = mlp_in * routed_copies + wide * e * sb * m.token_mlp_width + mask * sb * h
    return norms + attention + mlp


def block_matmul_outputs(m: ModelSpec) -> list[int]:
    """Output widths of one block's matmuls in the order its forward runs them (Llama-style:
    q, k, v, o, then the MLP's gate, up and down; up and down without gating: the order of
    shape.block_matrices). MoE tokens pass through `experts_per_token` routed experts of their
    own width plus the shared ones."""
    h = m.hidden_size or 0
    width = m.token_mlp_width
    mlp = [width, width, h] if m.gated_mlp else [width, h]
    return [m.q_width, m.kv_dim, m.kv_dim, h, *mlp]


def selective_layer_bytes(m: ModelSpec, s: int, b: int, e: int) -> float:
    """What torchtitan's op-level selective checkpointing keeps of one block between forward
    and backward (torchtitan parallelize_llama.py at 9dec370, Dec 2024, `_save_list` and
    `_custom_policy`; the same rule in torchtitan/distributed/activation_checkpoint.py
    `SelectiveAC` today): the block's input (the checkpoint's argument), the outputs of the
    1st, 3rd, 5th ... matmul of the block ("Saves output of all compute ops, except every
    second mm") and the attention kernel's output (_scaled_dot_product_flash/efficient_attention
    are on the save list; its per-row log-sum-exp is negligible). Everything else (norms, RoPE,
    the activation function, the recomputed matmuls) is recomputed in backward. For a Llama
    block that is input h + q + v + gate + down + attention output q: for Llama 3.1 8B
    2·(4096·4 + 1024 + 14336) = 63,488 bytes per token in bf16, against 8,192 with full
    checkpointing and about 2.6x that without."""
    h = m.hidden_size or 0
    widths = dict(zip(block_matrices(m), block_matmul_outputs(m), strict=True))
    kept, _ = selective_saved_matmuls(m)
    return e * s * b * (h + sum(widths[name] for name in kept) + m.q_width)


def score_bytes(m: ModelSpec, s: int, keys: int, b: int, e: int, attention: Attention) -> float:
    """Eager attention materialises the scores and keeps them for backward: Korthikanti et al.'s
    5·a·s²·b (softmax output e bytes, dropout mask 1 and dropout output e); without dropout only
    the softmax output. SDPA's flash / memory-efficient kernels and FlashAttention recompute them
    from a per-row log-sum-exp instead (Dao et al. 2022): nothing of size s² is kept."""
    if attention != Attention.EAGER:
        return 0.0
    per_score = e + ((DROPOUT_MASK_BYTES + e) if has_dropout(m) else 0)
    return (m.n_heads or 0) * s * keys * b * per_score


def logits_bytes(m: ModelSpec, tokens: int, e: int, loss: Loss) -> float:
    """Bytes the loss holds per output logit at its peak. Standard (PyTorch cross_entropy on
    logits upcast to fp32, as Hugging Face transformers' ForCausalLMLoss and torchtitan's
    loss do): the forward holds the 16-bit lm_head output, its fp32 copy and the fp32
    log-softmax (which LogSoftmaxBackward saves), e + 8 bytes; the backward's first step is
    higher: NllLossBackward allocates a full-size fp32 gradient (zeros, then a scatter) and
    LogSoftmaxBackward writes a third fp32 tensor while the saved output and that gradient
    are alive, 3 x 4 = 12 bytes, with every other activation still held (the 16-bit logits
    are freed by then: the caller drops them before backward, torchtitan's `del pred`, HF
    Trainer's compute_loss returning the loss alone). So max(e + 8, 12). Chunked: 16-bit
    logits kept, fp32 only one chunk at a time (torchtune CEWithChunkedOutputLoss). Fused:
    logits never materialised (Liger kernel's fused linear cross-entropy). Encoders
    fine-tuned for a task and vision models have no vocabulary head: nothing."""
    if not m.has_vocab_head:
        return 0.0
    return tokens * (m.vocab_size or 0) * per_logit_bytes(e, loss)


def per_logit_bytes(e: int, loss: Loss) -> int:
    """Bytes the loss holds per logit at its peak (logits_bytes)."""
    match loss:
        case Loss.STANDARD:
            return max(e + 2 * FP32_BYTES, 3 * FP32_BYTES)
        case Loss.CHUNKED:
            return e
        case Loss.FUSED:
            return 0


def logits_traffic_bytes(m: ModelSpec, tokens: int, e: int, loss: Loss) -> float:
    """Bytes the loss's forward writes through DRAM per logit, which the element-wise time
    model streams (perf.py), as opposed to what it holds at its peak (logits_bytes). Standard
    and chunked losses both write the 16-bit logits, an fp32 copy and the fp32 log-softmax
    (chunked one chunk at a time), e + 8; a kernel that fuses softmax and cross-entropy over
    materialised 16-bit logits (flash-attn's xentropy, read as chunked) writes no more than
    that either. Fused linear + cross-entropy (Liger) writes no logits. No vocabulary head:
    nothing."""
    if not m.has_vocab_head or loss == Loss.FUSED:
        return 0.0
    return tokens * (m.vocab_size or 0) * (e + 2 * FP32_BYTES)


def pipeline_in_flight(shape: Shape) -> float:
    """Micro-batches whose activations the first pipeline stage holds under 1F1B: min(p, m),
    times 1 + (p−1)/(p·v) with v interleaved virtual stages (Korthikanti et al. Sec. 4.2.3)."""
    plan = shape.plan
    if plan.pp == 1:
        return 1.0
    held = min(plan.pp, shape.grad_accum)
    extra = (plan.pp - 1) / (plan.pp * plan.vp) if plan.vp > 1 else 0.0
    return held * (1 + extra)


def keeps_quantised_inputs(shape: Shape) -> bool:
    """bitsandbytes' quantised linear layers keep their input for backward whether or not
    anything behind them is trained: MatMul4Bit.forward stores `ctx.tensors = (A, B)` whenever
    A or B needs a gradient, and MatMul8bitLt keeps A too (bitsandbytes 0.41-0.43,
    autograd/_functions.py), so a QLoRA layer over a bitsandbytes base keeps every frozen
    matrix's input where a 16-bit frozen nn.Linear keeps none. torchao's NF4 linear
    (torchtune) saves only the weight (`LinearNF4.forward`: `ctx.nf4_weight = weight`).
    bitsandbytes is the library of the transformers and LitGPT frameworks."""
    job = shape.job
    return job.trainer in BITSANDBYTES_FRAMEWORKS and quantised_on_load(job)


def litgpt_block_extra_bytes(m: ModelSpec, s: int, b: int, e: int) -> float:
    """What LitGPT's eager block (litgpt/model.py, 2024-03 to 2024-07) keeps beyond
    layer_activation_bytes' Korthikanti-style count.

    RMSNorm: `x = x.float(); norm_x = torch.mean(x * x, ...); x_normed = x * torch.rsqrt(...)`:
    both multiplications save the fp32 copy of the norm's input (4 bytes per element where the
    count has a 16-bit input, e), for each of a block's two norms; the 16-bit input itself is
    saved by nothing. LitGPT uses RMSNorm exactly with its gated MLPs (Llama, Mistral, Gemma,
    Phi-3 configs) and torch.nn.LayerNorm, which saves its 16-bit input, with the plain ones
    (Falcon, Pythia, Phi-2, StableLM): `gated_mlp` stands for the norm.
    Grouped-query attention: CausalSelfAttention.forward expands K and V to every query head
    before scaled_dot_product_attention ("training: flash attention requires it",
    `k = k.expand(B, n_query_groups, q_per_kv, T, head_size)`, then `reshape`, a copy), so the
    kernel saves K and V q wide each instead of kv_cache_width together."""
    h = m.hidden_size or 0
    norms = 2 * (FP32_BYTES - e) * h if m.gated_mlp else 0
    expanded_kv = max(0, 2 * m.q_width - m.kv_cache_width) * e
    return s * b * (norms + expanded_kv)


LITGPT_LORA_DROPOUT_MASK_BYTES = 1  # torch's dropout keeps a bool mask, one byte per element


def litgpt_dropout_bytes(
    m: ModelSpec, s: int, b: int, e: int, adapted: frozenset[str], base_keeps_inputs: bool
) -> float:
    """LitGPT's LoRA dropout: each adapted module runs `self.lora_dropout(x)` before lora_A
    (litgpt/lora.py LoRALinear / LoRAQKVLinear; lora_dropout 0.05 is finetune/lora.py's default
    and every config_hub LoRA/QLoRA config sets 0.05 or 0.1), so each keeps a one-byte mask and
    the dropped copy lora_A's gradient needs, per module: the fused qkv once (input h), the
    projection (input q), fc_1 and fc_2 each (input h, dropped separately) and the MLP's
    projection (input i). layer_activation_bytes already counts one 16-bit input per adapted
    input (the qkv input, the MLP input once, down's input); over a 16-bit base those are the
    dropped copies, so only what exceeds them is added; over a bitsandbytes base the undropped
    inputs are kept too (keeps_quantised_inputs) and every dropped copy is extra."""
    h, q, i = m.hidden_size or 0, m.q_width, m.token_mlp_width
    mlp_in = ("gate", "up") if m.gated_mlp else ("up",)
    modules = [(h, bool(adapted & {"q", "k", "v"})), (q, "o" in adapted)]
    modules += [(h, name in adapted) for name in mlp_in] + [(i, "down" in adapted)]
    dropped = sum((LITGPT_LORA_DROPOUT_MASK_BYTES + e) * d for d, on in modules if on)
    if base_keeps_inputs:
        return s * b * dropped
    counted = [(h, modules[0][1]), (h, bool(adapted & set(mlp_in))), (i, "down" in adapted)]
    return s * b * (dropped - sum(e * d for d, on in counted if on))


def quantised_input_bytes(m: ModelSpec, s: int, b: int, e: int) -> float:
    """The distinct inputs of one block's linear layers, as bitsandbytes' MatMul4Bit /
    MatMul8bitLt keep them (see keeps_quantised_inputs): the attention input (q, k and v read
    the same normed tensor, LitGPT's fused qkv too), o's input (the attention output, q wide),
    the MLP input (gate and up read the same tensor; once per routed expert) and down's input
    (the token's MLP width)."""
    h = m.hidden_size or 0
    routed_copies = (m.experts_per_token or 1) if m.kind == ModelKind.MOE else 1
    return e * s * b * (h + m.q_width + h * routed_copies + m.token_mlp_width)


def held_over_bytes(shape: Shape) -> float:
    """A LitGPT QLoRA step also holds the previous step's quantised-layer inputs.

    bitsandbytes 0.42 (LitGPT pins bitsandbytes==0.42.0) keeps a 4-bit layer's input as a
    plain attribute of the autograd context, `ctx.tensors = (A, B)` in MatMul4Bit.forward
    (autograd/_functions.py), not through `ctx.save_for_backward`: autograd's backward frees
    only saved tensors (PyNode.release_variables clears `saved_variables`), so A lives as long
    as the graph's nodes do. LitGPT's loop (finetune/lora.py) keeps the graph reachable after
    the backward through the name `logits` (its fp32 chunks' grad_fn leads back through every
    layer) until the next `logits = model(...)` returns. So the next forward builds its own
    activations while every quantised linear's input of the step before is still allocated;
    the peak, at the new forward's end, holds both (litgpt_logit_bytes has the logits of that
    moment). With the head quantised (shape.quantised_head), its input too. A Hugging Face
    Trainer step frees the graph when training_step returns (only `loss.detach()` leaves it),
    and torchtune's torchao NF4 keeps no input: nothing held over there."""
    job, m = shape.job, shape.model
    if not (shape.lora and job.trainer == Framework.LITGPT and keeps_quantised_inputs(shape)):
        return 0.0
    s, b, e = shape.seq, shape.micro_batch, shape.act_bytes
    held = shape.layers_per_gpu * quantised_input_bytes(m, s, b, e)
    if quantised_head(job) and m.has_vocab_head:
        held += e * s * b * (m.hidden_size or 0)
    return held / (shape.plan.tp * shape.plan.cp)


def block_bytes(shape: Shape) -> float:
    """One transformer block's activations as autograd keeps them without checkpointing (the
    block a checkpointed step recomputes at a time), before the tensor/context split."""
    m, job = shape.model, shape.job
    s, b, e = shape.seq, shape.micro_batch, shape.act_bytes
    keys = min(s, m.sliding_window) if m.sliding_window else s
    trained = frozenset(LORA_TARGETS[job.lora_targets.value]) if shape.lora else None
    if shape.lora and keeps_quantised_inputs(shape):
        trained = None  # every linear's input kept, as in full training
    layer = layer_activation_bytes(m, s, b, e, trained)
    layer += score_bytes(m, s, keys, b, e, job.attention)
    if shape.lora and job.trainer == Framework.LITGPT:
        layer += litgpt_block_extra_bytes(m, s, b, e)
        adapted = frozenset(LORA_TARGETS[job.lora_targets.value])
        layer += litgpt_dropout_bytes(m, s, b, e, adapted, keeps_quantised_inputs(shape))
    return layer


def recomputed_block_bytes(shape: Shape) -> float:
    """The block a checkpointed training step recomputes during its backward (full, selective
    or offloaded checkpointing of a transformer), split like the activations; 0 otherwise.
    activation_bytes counts it on top of what checkpointing keeps."""
    m, job = shape.model, shape.job
    if job.task == Task.INFER or m.kind == ModelKind.CNN or not job.checkpointing:
        return 0.0
    return block_bytes_per_gpu(shape)


def block_bytes_per_gpu(shape: Shape) -> float:
    """One block's training activations on one GPU: split by tensor (Megatron sequence
    parallelism) and context parallelism like the rest of the activations."""
    return block_bytes(shape) / (shape.plan.tp * shape.plan.cp)


def activation_bytes(shape: Shape, in_flight: float | None = None) -> float:
    """Training: the activations of this GPU's layers for the micro-batches in flight, split by
    tensor (sequence-parallel) and context parallelism; with checkpointing each layer's input
    plus one layer recomputed at a time (Korthikanti's 2·s·b·h per layer); with selective
    checkpointing what torchtitan's op policy keeps (selective_layer_bytes); with offloaded
    checkpointing the inputs live in CPU memory (activation_offload_bytes) and only the
    recomputed block and its input stay. Inference: one layer's working set during prefill."""
    m, job = shape.model, shape.job
    e = shape.act_bytes
    b = shape.micro_batch
    if m.kind == ModelKind.CNN:
        net = cnet.net_of(m)
        if job.task == Task.INFER and net is not None:
            # No autograd: only the tensors alive at once (convnet.inference_peak_bytes), the
            # input batch as a loader hands it over (fp32).
            return cnet.inference_peak_bytes(net, b, e, cnet.transposes_nchw(m, job), FP32_BYTES)
        # Checkpointing is not modelled for CNN presets (estimate() warns): counted in full.
        per_sample = (m.activation_mb_per_sample or 0) * MB * e / FP32_BYTES
        return per_sample * b
    s = shape.seq
    plan = shape.plan
    split = plan.tp * plan.cp  # Megatron sequence parallelism with TP; CP splits the sequence
    if job.task == Task.INFER:
        return inference_working_bytes(m, shape.prefill_tokens_in_flight, e) / plan.tp
    layer = block_bytes(shape)
    layers = shape.layers_per_gpu
    if in_flight is None:
        in_flight = pipeline_in_flight(shape)
    if job.selective_checkpointing:
        kept = layers * selective_layer_bytes(m, s, b, e) * in_flight + layer
    elif job.offloaded_checkpointing:
        # Unsloth's offloaded checkpointing copies each block's input to CPU memory in the
        # forward and brings it back for that block's recompute (`hidden_states.to("cpu",
        # non_blocking=True)` / `.to("cuda")`, Unsloth_Offloaded_Gradient_Checkpointer,
        # unsloth/models/_utils.py): on the GPU only the block being recomputed and its input.
        kept = e * s * b * (m.hidden_size or 0) * in_flight + layer
    elif job.checkpointing:
        kept = layers * e * s * b * (m.hidden_size or 0) * in_flight + layer
    else:
        kept = layers * layer * in_flight
    return kept / split


def activation_offload_bytes(shape: Shape) -> float:
    """Bytes one micro-batch's offloaded checkpointing sends to CPU memory in the forward (and
    fetches back in the backward): every block input of this GPU's layers, split like the
    activations. Zero without offloaded checkpointing."""
    m, job = shape.model, shape.job
    if not (shape.training and job.offloaded_checkpointing and m.is_transformer):
        return 0.0
    per_layer = shape.act_bytes * shape.seq * shape.micro_batch * (m.hidden_size or 0)
    return shape.layers_per_gpu * per_layer / (shape.plan.tp * shape.plan.cp)


def litgpt_logit_bytes(e: int) -> int:
    """Bytes per logit at a LitGPT LoRA/QLoRA step's peak (litgpt/finetune/lora.py, 2024-03 to
    2024-07, with lightning 2.3.0.dev pinned). The loop is
    `logits = model(input_ids, lm_head_chunk_size=128)`, `loss = chunked_cross_entropy(logits,
    ...)`, `fabric.backward(loss / ...)`: the model returns its 16-bit lm_head output as a list
    of 128-token chunks, and Fabric's module wrapper converts every output to the default dtype
    (`precision.convert_output`, `_convert_fp_tensor(..., dst_type=torch.get_default_dtype())`
    in HalfPrecision and BitsandbytesPrecision alike): an fp32 copy of all the logits. The
    Python name `logits` keeps the previous step's fp32 list alive until the new forward
    returns, so at that moment the old fp32 logits, the new 16-bit chunks and their new fp32
    copies coexist: 4 + e + 4 bytes. (The backward's start holds less: the fp32 logits and the
    fp32 log-softmax each chunk's cross_entropy saved, 4 + 4, plus one chunk's gradients.)"""
    return max(FP32_BYTES + e + FP32_BYTES, 2 * FP32_BYTES)


def logits_part(shape: Shape) -> float:
    """The loss's logits (on the last pipeline stage, vocabulary split by TP), or the last
    position's logits during inference (16-bit and the fp32 copy sampling works on). A LitGPT
    LoRA/QLoRA step holds its logits as litgpt_logit_bytes says, whatever --loss says (its
    finetune script always chunks the head)."""
    m, job = shape.model, shape.job
    e = shape.act_bytes
    if mlm_head.applies(m, job) and shape.training:
        # an encoder's masked-LM head: its logits on the positions it runs on, held by the
        # loss as a decoder's are (logits_bytes' per-logit count, standard loss)
        n = mlm_head.logits(m, job, shape.seq, shape.micro_batch)
        return n * per_logit_bytes(e, job.loss) / (shape.plan.tp * shape.plan.cp)
    if not m.has_vocab_head:
        return 0.0
    if job.task == Task.INFER:
        return shape.micro_batch * (m.vocab_size or 0) * (e + FP32_BYTES) / shape.plan.tp
    tokens = shape.seq * shape.micro_batch
    split = shape.plan.tp * shape.plan.cp
    if shape.lora and job.trainer == Framework.LITGPT:
        return tokens * (m.vocab_size or 0) * litgpt_logit_bytes(e) / split
    return logits_bytes(m, tokens, e, job.loss) / split


TORCHTUNE_FRAMEWORKS = (Framework.TORCHTUNE, Framework.TORCHTUNE_TORCHAO01)


def drops_logits_before_backward(shape: Shape) -> bool:
    """Whether the training loop is known to drop its logits before the backward reaches the
    blocks, so that only what autograd saved for the loss holds them (freed as the loss's
    nodes run): torchtitan, whose op-level selective policy the `selective` mode is
    (train.py at 9dec370: `loss = loss_fn(pred, labels)`, then `del pred` "to free before bwd
    to avoid peaking memory", then `loss.backward()`), and torchtune's LoRA/QLoRA recipes
    (lora_finetune_single_device.py at 30b8519e8, 2024-09: `logits = self._model(...)`, the
    loss, then `del logits`). A loop written `outputs = model(**batch); loss = outputs.loss;
    loss.backward()` keeps the logits alive through `outputs` for the whole backward, and
    LitGPT's keeps them under the name `logits` (litgpt_logit_bytes): for those and any loop
    not read here, the logits are counted alongside the recomputed block."""
    job = shape.job
    return job.selective_checkpointing or (shape.lora and job.trainer in TORCHTUNE_FRAMEWORKS)


def loss_or_recompute(shape: Shape, acts: float, logits: float) -> tuple[float, float]:
    """(activations, logits) at the step's peak when the step checkpoints and its loop drops
    the logits before the backward (drops_logits_before_backward): the loss's peak and the
    recomputed block are then never allocated together. Autograd runs the loss's nodes first
    (NllLossBackward, LogSoftmaxBackward, the fp32 cast's and the head's), and their tensors
    are freed when each node has run (retain_graph=False releases a node's saved tensors);
    only then does the last block's backward recompute that block (torch.utils.checkpoint
    unpacks the saved-tensor holders inside the block's backward). So the peak is the larger
    of kept + logits (the backward's start) and kept + one recomputed block (a block's
    backward), where activation_bytes counts kept + block. Example (tests/estimate): Llama
    3.1 8B, batch 2 x 8192, torchtitan selective checkpointing, standard loss: logits
    16384·128256·12 B = 25.2 GB against a 2.7 GB block, so the block drops out of the peak."""
    block = recomputed_block_bytes(shape)
    if not block or not logits or not drops_logits_before_backward(shape):
        return acts, logits
    kept = acts - block
    return (kept, logits) if logits >= block else (acts, 0.0)


def stage_peak(shape: Shape) -> tuple[float, float]:
    """(activations, logits) of the GPU whose sum peaks. Without a pipeline one GPU holds both.
    With one, the first stage holds min(p, m) micro-batches' activations (1F1B) and no logits,
    the last stage one micro-batch's activations and the loss's logits; the job's peak is the
    larger of the two (torchtitan reports the maximum over the ranks). A checkpointed step's
    loss and recomputed block are alternatives (loss_or_recompute)."""
    acts, logits = activation_bytes(shape), logits_part(shape)
    if shape.plan.pp == 1 or not shape.training or not logits:
        return loss_or_recompute(shape, acts, logits)
    last, last_logits = loss_or_recompute(shape, activation_bytes(shape, in_flight=1.0), logits)
    return (acts, 0.0) if acts >= last + last_logits else (last, last_logits)


def grads_absent_at_loss(shape: Shape) -> bool:
    """Whether no parameter gradient exists while the forward and the loss peak: a transformer's
    training step with on-demand gradients (Job.grad_buffers) and one micro-batch per optimizer
    step on this GPU.

    `optimizer.zero_grad()` sets every .grad to None by default since PyTorch 2.0
    (torch.optim.Optimizer.zero_grad(set_to_none=True), https://pytorch.org/docs/stable/
    generated/torch.optim.Optimizer.zero_grad.html: "This will in general have lower memory
    footprint"; nn.Module.zero_grad likewise, pytorch/pytorch#92731), and autograd's
    AccumulateGrad creates each parameter's .grad when its layer's backward runs. The loops
    dlrig's sources ran call it between steps: torchtune (recipes/full_finetune_single_device.py
    at 01067f61: `self._optimizer.step()` then `self._optimizer.zero_grad(set_to_none=True)`;
    its LoRA recipes the same), torchtitan (train.py at 0011fb90: `optimizers.zero_grad()`
    before `pred = model(input_ids)`), torchao's benchmark (benchmarks/quantized_training/
    pretrain_llama2.py: `optim.step()` then `optim.zero_grad()`), and Hugging Face Trainer
    (src/transformers/trainer.py `_inner_training_loop`: `self.optimizer.step()`, the
    scheduler, then `model.zero_grad()`). FSDP2's reduce-scatter assigns each sharded .grad in
    the backward too. So at the forward's end and the loss's backward (the logits'
    peak, before the head's backward produces the first weight gradient) no gradient is
    allocated; detectron2 made the same observation when PyTorch changed the default ("the
    memory consumption is maximum at the end of forward", facebookresearch/detectron2#4905).
    Not so with gradient accumulation (the earlier micro-batches' gradients are alive during
    the later forwards; a pipeline's micro-batches likewise), nor with persistent buffers:
    zero_grad(set_to_none=False), the default before PyTorch 2.0, Megatron-LM's contiguous
    main_grad buffers (megatron/model/distributed.py: a MemoryBuffer of `torch.zeros(numel)`
    made when the model is wrapped, each param.main_grad a view of it), DeepSpeed's gradient
    partitions. CNN presets give one activation figure
    for the whole network, not a per-layer profile, so their backward's end (the first, widest
    layers' activations with every gradient) is not bounded here: they keep the sum."""
    job = shape.job
    return (
        shape.training
        and job.grad_buffers == GradBuffers.ON_DEMAND
        and shape.grad_accum == 1
        and shape.model.kind != ModelKind.CNN
    )


def ddp_bucket_bytes(shape: Shape) -> float:
    """PyTorch DDP's gradient buckets: flat tensors the Reducer allocates once, when the model
    is wrapped, holding every trainable parameter's gradient of this rank for the all-reduce;
    the backward copies each .grad into its bucket and the reduced result back. They are a
    second copy of the gradients, alive for the whole run: DDP's documentation of
    `gradient_as_bucket_view` ("gradients will be views pointing to different offsets of
    allreduce communication buckets. In this way, it can reduce peak memory usage, where the
    saved memory size will be equal to the total gradients size",
    https://docs.pytorch.org/docs/stable/generated/torch.nn.parallel.DistributedDataParallel.html).
    The default is False in DDP and in what wraps it (Hugging Face Trainer and Accelerate's
    DistributedDataParallelKwargs, Lightning's DDPStrategy). Counted for pure data
    parallelism without ZeRO/FSDP (zero 0, several data-parallel ranks, no tensor, pipeline
    or context split: a split model is Megatron's, whose buffer is the gradients); none with
    grad_buffers bucket-view, where the buckets are the gradients."""
    job, plan = shape.job, shape.plan
    pure_ddp = plan.dp > 1 and plan.tp == plan.pp == plan.cp == 1 and job.zero == 0
    if not shape.training or not pure_ddp or job.grad_buffers == GradBuffers.BUCKET_VIEW:
        return 0.0
    return gradient_bytes_per_param(shape) * shape.trainable_per_gpu


def peak_phase(
    shape: Shape, grads: float, acts: float, logits: float, held: float
) -> tuple[float, float, float]:
    """(gradients, activations, logits) at the step's peak when the gradients are created by the
    backward (grads_absent_at_loss): the larger of two moments, the weights, optimizer states
    and dequantised copies being alive at both.

    The forward's end and the loss (stage_peak's activations and logits): no gradient yet.
    The backward's end: every gradient, with only the first block's activations left (the
    block being back-propagated; with checkpointing the block recomputed for it, see
    recomputed_block_bytes) and what a LitGPT QLoRA step holds outside autograd
    (held_over_bytes). Between the two the backward frees each block's activations as it
    creates that block's gradients; both change by a fixed amount per block, so the sum is
    linear in the blocks done and its maximum is at one of the two ends. The optimizer step
    holds the weights, states and gradients without activations (its own temporaries, e.g.
    foreach AdamW's sqrt of the second moments, are not modelled), at most the backward's end
    plus those temporaries."""
    end_block = block_bytes_per_gpu(shape)
    backward_end = grads + end_block + held
    if acts + logits >= backward_end:
        return 0.0, acts, logits
    return grads, end_block + held, 0.0


def inference_working_bytes(m: ModelSpec, tokens: int, e: int) -> float:
    """Without autograd nothing is kept between layers: the peak is the widest moment of one
    layer during prefill, the MLP's gate, up and product (three i-wide tensors; two without
    gating) or attention's Q, K, V and output."""
    h = m.hidden_size or 0
    width = m.expert_width if m.kind == ModelKind.MOE else (m.intermediate_size or 0)
    mlp = (3 if m.gated_mlp else 2) * width * (m.experts_per_token or 1)
    attention = 2 * m.q_width + m.kv_cache_width + h
    return tokens * e * max(mlp, attention)


def kv_cache_bytes(shape: Shape) -> float:
    """K and V (MLA: the latent) for every layer and token held, at the KV dtype, for b
    sequences; split over the pipeline stages and over the tensor-parallel ranks up to the KV
    head count (with fewer KV heads than ranks each rank keeps a copy; MLA's latent is
    replicated on every rank)."""
    m, job = shape.model, shape.job
    if job.task != Task.INFER or shape.kv_bytes_per_token == 0:
        return 0.0
    return shape.kv_bytes_per_token * shape.seq * shape.micro_batch / kv_split(m, shape.plan, job)


def dequant_bytes(shape: Shape) -> float:
    """A LoRA step over a base quantised on load (NF4 or int8) dequantises each frozen matrix
    for its forward and backward matmuls; the largest one's copies are alive at the step's
    peak (the output head's, first in the backward, where it is quantised). bitsandbytes 4-bit
    (MatMul4Bit, 0.41-0.42): `F.dequantize_4bit(B, quant_state)` in the stored fp16 (the
    weights were quantised from `.half()`), then `.to(A.dtype)`: two 2-byte copies; 8-bit
    (MatMul8bitLt.backward): one fp16 copy of CB. torchao's NF4 (torchtune, LinearNF4):
    `weight.to(input.dtype)`, the dequantised matrix in the compute dtype. Run eagerly,
    NF4Tensor.get_original_weight also holds int64 codes, the dequantised halves and their
    scaled copies while it stacks them (about 14 bytes per weight in bf16); torch.compile,
    which torchtune's published runs use, fuses them away: not counted."""
    job = shape.job
    if not shape.lora or not quantised_on_load(job):
        return 0.0
    m = shape.model
    n = largest_matrix(shape)
    if quantised_head(job) and m.vocab_size and m.hidden_size:
        n = max(n, m.vocab_size * m.hidden_size / shape.plan.tp)
    if job.effective_base_quant == BaseQuant.INT8:
        return HALF_BYTES * n
    if job.trainer not in BITSANDBYTES_FRAMEWORKS:  # torchtune's torchao NF4
        return TORCHAO_DEQUANT_COPIES * shape.act_bytes * n
    return BNB_DEQUANT_COPIES * HALF_BYTES * n


def largest_matrix(shape: Shape) -> float:
    """Weights of the largest linear layer of a block on one GPU (a routed expert counts
    alone; tensor parallelism splits it): the one a quantised base dequantises for a step, or
    quantises last while loading (load_peak.py)."""
    sizes = [d_in * d_out for d_in, d_out, _ in block_matrices(shape.model).values()]
    return max(sizes, default=0) / shape.plan.tp


# --------------------------------------------------------------------------- composition


def slack_group(shape: Shape) -> str:
    """`sharded` when training gathers its weights layer by layer (ZeRO-3 / FSDP over more than
    one GPU): the regime whose gathered weights and reduce-scattered gradients live on
    their own streams (estimate/slack.py); everything else `unsharded`."""
    return slk.SHARDED if gathers_weights(shape) else slk.UNSHARDED


def allocator_slack_bytes(
    shape: Shape, allocated: float, outside: float, consts: cal.Constants | None = None
) -> float:
    """max_memory_reserved - max_memory_allocated: allocated times the fitted slack of the
    job's group (benchmarks/calibrate.py, from catalog/data/allocator_pairs.csv), at most the
    memory the GPU has left. The caching allocator only keeps freed blocks while cudaMalloc
    succeeds; when it fails it frees them and retries (PyTorch's `num_alloc_retries`), so the
    cache never pushes a job that fits without it out of the GPU."""
    c = consts or cal.constants()
    frac = c.value(slk.KEY, (slack_group(shape),))
    room = capacity_gb(shape.job.gpu.memory_gb) * GB - outside - allocated
    return min(allocated * frac, max(room, 0.0))


def outside_allocator_parts(shape: Shape) -> tuple[float, float, float]:
    """(CUDA context, cuBLAS workspace, NCCL buffers): what the process holds outside the
    caching allocator. NCCL only where GPUs talk through torch.distributed / NCCL: not for an
    engine's plain layer split (llama.cpp, device_map="auto" copy activations between devices
    directly)."""
    multi = shape.plan.n_gpus > 1 and not shape.plan.implicit_layer_split
    context = p.value("cuda_context_gb") * GB
    workspace = p.value("cublas_workspace_gb") * GB
    nccl = p.value("nccl_buffers_gb") * GB if multi else 0.0
    return context, workspace, nccl


def parts(shape: Shape, consts: cal.Constants | None = None) -> MemoryParts:
    from dlrig.estimate import engine_memory

    if engine_memory.applies(shape):
        return engine_parts(shape, consts)
    weights = weights_bytes(shape) + gather_bytes(shape)
    grads = gradient_bytes(shape)
    optim = optimizer_bytes(shape)
    acts, logits = stage_peak(shape)
    held = held_over_bytes(shape)
    acts += held
    kv = kv_cache_bytes(shape)
    dq = dequant_bytes(shape)
    if grads_absent_at_loss(shape):
        grads, acts, logits = peak_phase(shape, grads, acts, logits, held)
    grads += ddp_bucket_bytes(shape)  # alive at every moment: both phases
    allocated = weights + grads + optim + acts + logits + kv + dq
    context, workspace, nccl = outside_allocator_parts(shape)
    return MemoryParts(
        weights=weights,
        gradients=grads,
        optimizer=optim,
        activations=acts,
        logits=logits,
        kv_cache=kv,
        dequant=dq,
        allocator_slack=allocator_slack_bytes(shape, allocated, context + workspace + nccl, consts),
        cuda_context=context,
        cublas_workspace=workspace,
        nccl_buffers=nccl,
    )


def engine_parts(shape: Shape, consts: cal.Constants | None = None) -> MemoryParts:
    """Inference under a named engine: its allocation (estimate/engine_memory.py) plus what the
    process holds outside it. The caching allocator's slack applies only where PyTorch's
    allocator holds the tensors (not llama.cpp's ggml buffers, and not a pool that vLLM sized
    from the allocator's measured peak)."""
    from dlrig.estimate import engine_memory

    context, workspace, nccl = outside_allocator_parts(shape)
    outside = context + workspace + nccl
    a = engine_memory.allocation(shape, outside)
    allocated = a.weights + a.activations + a.logits + a.kv_cache + a.buffers
    slack = allocator_slack_bytes(shape, allocated, outside, consts) if a.pytorch else 0.0
    return MemoryParts(
        weights=a.weights,
        gradients=0.0,
        optimizer=0.0,
        activations=a.activations,
        logits=a.logits,
        kv_cache=a.kv_cache,
        allocator_slack=slack,
        cuda_context=context,
        cublas_workspace=workspace,
        nccl_buffers=nccl,
        engine_buffers=a.buffers,
        kv_needed=a.kv_needed,
        held_back=a.held_back,
        kv_capacity_tokens=a.kv_capacity_tokens,
        engine=a.engine,
        context_tokens=a.context_tokens,
    )
