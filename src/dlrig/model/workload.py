"""What `dlrig estimate` takes: a model's architecture and the job run on it.

`ModelSpec` is one row of `catalog/data/models.csv` (or a Hugging Face config.json, or a bare
parameter count); `Job` is the rest of the command line. Both are plain data; the formulas live in
`dlrig.estimate`.
"""

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dlrig.model.choices import (
    FORMAT_ENGINES,
    Attention,
    BaseQuant,
    CheckpointingMode,
    DecodeEngine,
    Framework,
    GradBuffers,
    Interconnect,
    KvCache,
    KvDtype,
    LoraTargets,
    Loss,
    MemoryFormat,
    ModelKind,
    Offload,
    Optimizer,
    OptimizerDtype,
    Precision,
    Quant,
    Task,
)
from dlrig.model.parts import GpuSpec

# Highest GPU <-> CPU copy rate accepted, GB/s per direction: NVLink-C2C of a Grace Hopper
# superchip moves 450 GB/s each way (NVIDIA GH200 datasheet); PCIe 6.0 x16 is 121 GB/s. A larger
# figure is a typo or a unit error (MB/s), not a machine.
MAX_HOST_LINK_GBS = 1_000

__all__ = [
    "Attention",
    "BaseQuant",
    "DecodeEngine",
    "Framework",
    "GradBuffers",
    "Interconnect",
    "Job",
    "KvCache",
    "KvDtype",
    "LoraTargets",
    "Loss",
    "MemoryFormat",
    "ModelKind",
    "ModelSpec",
    "Offload",
    "Optimizer",
    "OptimizerDtype",
    "Precision",
    "Quant",
    "Task",
    "default_precision",
]


class ModelSpec(BaseModel):
    """A model's architecture. Transformer fields are None for CNNs and vice versa."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    aliases: tuple[str, ...] = ()
    kind: ModelKind
    params_total: int = Field(gt=0)
    params_active: int | None = Field(default=None, gt=0, description="per token (MoE)")
    n_layers: int | None = Field(default=None, gt=0)
    hidden_size: int | None = Field(default=None, gt=0)
    n_heads: int | None = Field(default=None, gt=0)
    n_kv_heads: int | None = Field(default=None, gt=0)
    head_dim: int | None = Field(default=None, gt=0)
    vocab_size: int | None = Field(default=None, gt=0)
    intermediate_size: int | None = Field(default=None, gt=0)
    gated_mlp: bool = Field(default=False, description="SwiGLU/GeGLU: three MLP matrices, not two")
    tied_embeddings: bool = False
    max_seq_len: int | None = Field(default=None, gt=0)
    n_experts: int | None = Field(default=None, gt=0, description="routed experts per MoE layer")
    experts_per_token: int | None = Field(default=None, gt=0)
    moe_intermediate_size: int | None = Field(
        default=None, gt=0, description="width of one routed expert (intermediate_size if None)"
    )
    n_shared_experts: int | None = Field(
        default=None, ge=0, description="experts every token passes through (DeepSeek, Qwen2-MoE)"
    )
    shared_expert_intermediate_size: int | None = Field(
        default=None, gt=0, description="width of one shared expert (moe_intermediate_size if None)"
    )
    first_dense_layers: int = Field(
        default=0,
        ge=0,
        description="leading layers with a dense MLP (DeepSeek first_k_dense_replace)",
    )
    n_decoder_layers: int | None = Field(
        default=None, gt=0, description="encoder-decoder (T5): decoder blocks; n_layers = encoder"
    )
    kv_lora_rank: int | None = Field(
        default=None, gt=0, description="multi-head latent attention (DeepSeek-V2/V3): KV latent"
    )
    q_lora_rank: int | None = Field(default=None, gt=0)
    qk_rope_head_dim: int | None = Field(default=None, gt=0)
    qk_nope_head_dim: int | None = Field(default=None, gt=0)
    v_head_dim: int | None = Field(default=None, gt=0)
    sliding_window: int | None = Field(default=None, gt=0, description="tokens a local layer sees")
    sliding_window_layers: int | None = Field(
        default=None, ge=0, description="layers that use the sliding window (None: all)"
    )
    gflops_per_sample: float | None = Field(default=None, gt=0, description="forward, real FLOPs")
    image_size: int | None = Field(default=None, gt=0)
    patch_size: int | None = Field(default=None, gt=0)
    activation_mb_per_sample: float | None = Field(
        default=None, gt=0, description="CNN training activations per image at 4 bytes/element"
    )
    conv_stages: str | None = Field(
        default=None,
        pattern=r"^(basic|bottleneck):[1-9][0-9]?(-[1-9][0-9]?){0,7}$",
        description="ResNet-style CNN: block kind and blocks per stage, e.g. bottleneck:3-4-6-3",
    )
    checkpoint_quant: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9_]+$",
        description="the weight format the published checkpoint stores (quantization_config's "
        "quant_method, e.g. gpt-oss's mxfp4); --quant sizes it, --quant none its 16-bit form",
    )
    source: str = ""
    notes: str = ""

    @property
    def is_transformer(self) -> bool:
        return self.kind != ModelKind.CNN

    @property
    def is_language_model(self) -> bool:
        return self.kind in (
            ModelKind.DECODER,
            ModelKind.ENCODER,
            ModelKind.MOE,
            ModelKind.ENCODER_DECODER,
        )

    @property
    def active_params(self) -> int:
        return self.params_active or self.params_total

    @property
    def kv_dim(self) -> int:
        """Width of K (and of V) per token per layer: KV heads x head dim (GQA-aware)."""
        assert self.n_kv_heads and self.head_dim
        return self.n_kv_heads * self.head_dim

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank is not None

    @property
    def kv_cache_width(self) -> int:
        """Elements cached per token per layer: K and V (2 x kv_dim), or with multi-head latent
        attention the compressed latent plus the shared RoPE key (DeepSeek-V2 paper, Sec. 2.1)."""
        if self.kv_lora_rank is not None:
            return self.kv_lora_rank + (self.qk_rope_head_dim or 0)
        return 2 * self.kv_dim

    @property
    def q_width(self) -> int:
        """Width of the queries (heads x the query/key head dim)."""
        if self.is_mla:
            return (self.n_heads or 0) * (
                (self.qk_nope_head_dim or 0) + (self.qk_rope_head_dim or 0)
            )
        return (self.n_heads or 0) * (self.head_dim or 0)

    @property
    def expert_width(self) -> int:
        """Width of one routed expert's MLP."""
        return self.moe_intermediate_size or self.intermediate_size or 0

    @property
    def token_mlp_width(self) -> int:
        """Width of the MLP a token passes through: the dense MLP's, or an MoE token's
        `experts_per_token` routed experts plus the shared experts."""
        if self.kind != ModelKind.MOE:
            return self.intermediate_size or 0
        width = self.shared_expert_intermediate_size or self.expert_width
        shared = (self.n_shared_experts or 0) * width
        return (self.experts_per_token or 1) * self.expert_width + shared

    @property
    def has_vocab_head(self) -> bool:
        """Decoders (and T5) predict tokens; encoders fine-tuned for a task and vision models
        end in a small head, so no vocabulary-sized logits."""
        return self.kind in (ModelKind.DECODER, ModelKind.MOE, ModelKind.ENCODER_DECODER)

    @property
    def generates(self) -> bool:
        """Whether its inference is a generation (tokens out, a KV cache, an engine): the
        models with a vocabulary head. A CNN, a ViT or an encoder runs forward passes."""
        return self.has_vocab_head

    @property
    def total_layers(self) -> int:
        return (self.n_layers or 0) + (self.n_decoder_layers or 0)

    @property
    def embedding_params(self) -> int:
        """Input embedding plus the output head when it is not tied to it."""
        if not (self.vocab_size and self.hidden_size):
            return 0
        return self.vocab_size * self.hidden_size * (1 if self.tied_embeddings else 2)

    @property
    def patches(self) -> int:
        """Sequence length of a ViT: one token per patch plus the class token."""
        assert self.image_size and self.patch_size
        return (self.image_size // self.patch_size) ** 2 + 1


def default_precision(gpu: GpuSpec) -> Precision:
    """The compute precision a job on `gpu` runs at when none is given: bf16 where the card
    has BF16 hardware, fp16 (mixed precision with loss scaling) on the cards before it."""
    return Precision.BF16 if gpu.has_bf16 else Precision.FP16


# A node has at most this many network ports (the cluster file's bound too, model/cluster.py).
MAX_NICS_PER_NODE = 64


class Job(BaseModel):
    """Everything about the run except the model: the task, the GPUs and the sizes."""

    # Built on first use: `dlrig check` only needs it when a workload names a model.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    task: Task
    gpu: GpuSpec
    n_gpus: int = Field(default=1, ge=1, le=100_000)
    precision: Precision = Precision.BF16
    quant: Quant = Quant.NONE
    weight_bits: float | None = Field(
        default=None, ge=1, le=16, description="average bits per weight (EXL2, --quant exl2)"
    )
    base_quant: BaseQuant = Field(
        default=BaseQuant.NONE, description="LoRA's frozen base weights (qlora implies nf4)"
    )
    kv_dtype: KvDtype = KvDtype.FP16
    kv_cache: KvCache = Field(
        default=KvCache.DYNAMIC,
        description="transformers' KV cache (--engine transformers): dynamic (DynamicCache, "
        "grown by torch.cat every step; the default since 4.42), legacy (tuples handed between "
        "steps, before 4.42: the old cache lives through each step) or static (preallocated, "
        "written in place: cache_implementation='static')",
    )
    optimizer: Optimizer = Optimizer.ADAMW
    optimizer_dtype: OptimizerDtype = OptimizerDtype.FP32
    zero: int = Field(default=0, ge=0, le=3)
    checkpointing: bool = False
    checkpointing_mode: CheckpointingMode = Field(
        default=CheckpointingMode.FULL,
        description="what checkpointing keeps: full (block inputs), selective (torchtitan's "
        "op-level policy) or offload (block inputs in CPU memory, Unsloth's); selective and "
        "offload imply checkpointing",
    )
    lora_rank: int = Field(default=8, ge=1, le=65_536)
    lora_targets: LoraTargets = LoraTargets.ALL
    batch_size: int | None = Field(
        default=None,
        ge=1,
        le=10_000_000,
        description="training: micro-batch per data-parallel replica; infer: concurrent sequences",
    )
    grad_accum: int = Field(default=1, ge=1, le=1_000_000, description="micro-steps per step")
    seq_len: int | None = Field(default=None, ge=1, le=10_000_000)
    context: int | None = Field(default=None, ge=1, le=10_000_000)
    prompt_tokens: int | None = Field(default=None, ge=1, le=10_000_000, description="infer")
    gen_tokens: int | None = Field(default=None, ge=1, le=10_000_000, description="infer")
    tp: int = Field(default=1, ge=1, le=100_000, description="tensor-parallel degree")
    pp: int = Field(default=1, ge=1, le=100_000, description="pipeline stages")
    vp: int = Field(default=1, ge=1, le=1_000, description="virtual stages per pipeline stage")
    cp: int = Field(default=1, ge=1, le=100_000, description="context-parallel degree")
    ep: int = Field(default=1, ge=1, le=100_000, description="expert-parallel degree")
    etp: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="training: expert tensor-parallel degree (Megatron's "
        "--expert-tensor-parallel-size; default --tp)",
    )
    nodes: int = Field(default=1, ge=1, le=100_000)
    network: str | None = Field(
        default=None, min_length=1, max_length=64, description="between nodes: networks.csv id"
    )
    nics_per_node: int | None = Field(
        default=None,
        ge=1,
        le=MAX_NICS_PER_NODE,
        description="between nodes: the network's ports per node (default one per GPU)",
    )
    attention: Attention = Attention.SDPA
    memory_format: MemoryFormat = Field(
        default=MemoryFormat.CHANNELS_LAST, description="CNN activation layout"
    )
    tokens: float | None = Field(default=None, gt=0, le=1e16)
    epochs: float | None = Field(default=None, gt=0, le=1e6)
    dataset_size: int | None = Field(default=None, ge=1, le=10**13, description="samples")
    mfu: float | None = Field(default=None, ge=0.01, le=1, description="0.01 to 1")
    master_weights: bool = Field(
        default=True, description="16-bit training keeps fp32 master weights (AMP); False: pure"
    )
    offload: Offload = Offload.NONE
    host_link_gbs: float | None = Field(
        default=None,
        gt=0,
        le=MAX_HOST_LINK_GBS,
        description="GPU <-> CPU memory copy rate in GB/s (measured by probe); "
        "None: the card's PCIe generation x lanes",
    )
    optimizer_in_backward: bool = Field(
        default=False, description="optimizer step fused into backward: gradients freed at once"
    )
    grad_buffers: GradBuffers = Field(
        default=GradBuffers.ON_DEMAND,
        description="when gradients exist: on-demand (zero_grad(set_to_none=True), PyTorch's "
        "default since 2.0: created by the backward, absent at the forward's and loss's peak), "
        "persistent (kept between steps: set_to_none=False, PyTorch < 2.0) or bucket-view (the "
        "all-reduce's flat buffer is the gradients: DDP(gradient_as_bucket_view=True), "
        "Megatron's main_grad, DeepSpeed's gradient buffers); under PyTorch DDP without "
        "bucket-view, its buckets are a second, persistent copy",
    )
    loss: Loss = Loss.STANDARD
    mlm_positions: int | None = Field(
        default=None,
        ge=1,
        le=10_000_000,
        description="an encoder trained with its masked-LM head: the positions per sequence "
        "the head runs on (the sequence length: every position, as transformers' "
        "BertForMaskedLM; max_predictions_per_seq: the masked ones only, as NVIDIA "
        "DeepLearningExamples' dense_seq_output); None: a task head (classification, QA)",
    )
    framework: Framework | None = Field(
        default=None,
        description="the trainer. LoRA/QLoRA: how it quantises a base while loading it (the "
        "load-time peak), which 4-bit linear it runs and the adapters' dtype (None: "
        "transformers). Full training: its fitted efficiency factor (None: no framework "
        "named, the efficiency fitted over all of them)",
    )
    interconnect: Interconnect = Interconnect.AUTO
    engine: DecodeEngine = DecodeEngine.OPTIMIZED
    gpu_memory_utilization: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="share of GPU memory a pool engine takes: vLLM --gpu-memory-utilization "
        "(0.9), SGLang --mem-fraction-static, TensorRT-LLM's free_gpu_memory_fraction (0.9 of "
        "what its weights leave)",
    )
    max_batched_tokens: int | None = Field(
        default=None,
        ge=1,
        le=10_000_000,
        description="tokens of one forward pass, the chunk a prompt is prefilled in: vLLM "
        "--max-num-batched-tokens, SGLang --chunked-prefill-size, TensorRT-LLM max_num_tokens "
        "(a pool engine's profiled pass), llama.cpp -ub (None: the engine's default for the GPU)",
    )
    max_num_seqs: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="rows of a pool engine's profiled sampler run: vLLM --max-num-seqs (None: "
        "its default for the GPU)",
    )
    llama_cpp_cublas: bool = Field(
        default=False,
        description="llama.cpp multiplies quantized weights in a prompt's batches by "
        "dequantising each matrix to F16 for cuBLAS, not with its MMQ kernels: every build from "
        "2023-10 (PR #3412) until MMQ became the default (PR #8075, 2024-06), and later ones "
        "built with GGML_CUDA_FORCE_CUBLAS",
    )
    trtllm_mmha: bool = Field(
        default=False,
        description="TensorRT-LLM runs a grouped-query model's generation attention through its "
        "masked multi-head attention kernel (one thread block per query head, each loading its "
        "KV head), not the XQA kernel: releases before v0.8 (NVIDIA's XQA blog, 2024-01-30)",
    )
    vllm_v0: bool = Field(
        default=False,
        description="vLLM runs its V0 engine: every release before v0.8.0 (2025-03, which made "
        "the V1 engine the default), and later ones with VLLM_USE_V1=0; its scheduler, input "
        "preparation and sampler run on the host between decode steps",
    )
    price_per_gpu_hour: float | None = Field(default=None, ge=0, le=10_000)
    electricity_per_kwh: float | None = Field(default=None, ge=0, le=100)
    sample_bytes: float | None = Field(default=None, gt=0, le=1e11, description="as read (vision)")

    @property
    def trainer(self) -> Framework:
        """The LoRA/QLoRA trainer whose loading, 4-bit linear and adapters the memory model
        prices: the named framework, or transformers (PEFT, TRL, Axolotl, LLaMA-Factory,
        Unsloth load through it) where none is named."""
        return self.framework or Framework.TRANSFORMERS

    @property
    def selective_checkpointing(self) -> bool:
        """Checkpointing on, with torchtitan's op-level selective policy."""
        return self.checkpointing and self.checkpointing_mode == CheckpointingMode.SELECTIVE

    @property
    def offloaded_checkpointing(self) -> bool:
        """Checkpointing on, with each block's input kept in CPU memory (Unsloth's)."""
        return self.checkpointing and self.checkpointing_mode == CheckpointingMode.OFFLOAD

    @model_validator(mode="before")
    @classmethod
    def _checkpointing_words(cls, data: object) -> object:
        """A build file or the API may say `checkpointing = "selective"` (or "full", "none"),
        torchtitan's words, or "offload" (Unsloth's); a selective or offload mode given alone
        implies checkpointing."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        word = data.get("checkpointing")
        if isinstance(word, str) and word in ("none", "full", "selective", "offload"):
            data["checkpointing"] = word != "none"
            if word != "none":
                data.setdefault("checkpointing_mode", word)
        mode = getattr(data.get("checkpointing_mode"), "value", data.get("checkpointing_mode"))
        implied = (CheckpointingMode.SELECTIVE.value, CheckpointingMode.OFFLOAD.value)
        if mode in implied and "checkpointing" not in data:
            data["checkpointing"] = True
        return data

    @model_validator(mode="before")
    @classmethod
    def _card_precision(cls, data: object) -> object:
        """No precision given: bf16 where the card has BF16 hardware, else fp16 (mixed precision
        with loss scaling, what AMP runs on V100/T4/RTX 20xx/P100: GpuSpec.has_bf16), so an
        estimate never prices a bf16 run the card can only emulate. Given bf16 on such a card
        is refused by estimate/applicable.py, naming the flag and the alternative."""
        if not isinstance(data, dict) or data.get("precision") is not None:
            return data
        gpu = data.get("gpu")
        if isinstance(gpu, GpuSpec) and not gpu.has_bf16:
            return {**data, "precision": default_precision(gpu)}
        return data

    @model_validator(mode="before")
    @classmethod
    def _engine_of_format(cls, data: object) -> object:
        """Inference with no engine named: a weight format only one engine runs names it
        (choices.FORMAT_ENGINES: a GGUF quant is llama.cpp's, EXL2 is ExLlamaV2's). An engine
        given, even `optimized`, is kept as given."""
        if not isinstance(data, dict) or data.get("engine") is not None:
            return data
        task = getattr(data.get("task"), "value", data.get("task"))
        quant = getattr(data.get("quant"), "value", data.get("quant"))
        implied = FORMAT_ENGINES.get(quant) if task == Task.INFER.value else None
        # an unknown quant or task is left to the field validators, which name it
        return data if implied is None else {**data, "engine": implied}

    @field_validator("engine", mode="before")
    @classmethod
    def _engine_alias(cls, v: object) -> object:
        """`hf` is the old name of plain transformers: stored as one value."""
        return DecodeEngine.TRANSFORMERS if v in ("hf", DecodeEngine.HF) else v

    @property
    def lora(self) -> bool:
        return self.task in (Task.LORA, Task.QLORA)

    @property
    def effective_base_quant(self) -> BaseQuant:
        """QLoRA is LoRA over an NF4 base."""
        if self.task == Task.QLORA and self.base_quant == BaseQuant.NONE:
            return BaseQuant.NF4
        return self.base_quant
