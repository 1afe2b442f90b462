"""What `dlrig estimate` takes: a model's architecture and the job run on it.

`ModelSpec` is one row of `catalog/data/models.csv` (or a Hugging Face config.json, or a bare
parameter count); `Job` is the rest of the command line. Both are plain data; the formulas live in
`dlrig.estimate`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from dlrig.model.choices import (
    DecodeEngine,
    Interconnect,
    LoraTargets,
    Loss,
    ModelKind,
    Offload,
    Optimizer,
    Precision,
    Quant,
    Task,
)
from dlrig.model.parts import GpuSpec

__all__ = [
    "DecodeEngine",
    "Interconnect",
    "Job",
    "LoraTargets",
    "Loss",
    "ModelKind",
    "ModelSpec",
    "Offload",
    "Optimizer",
    "Precision",
    "Quant",
    "Task",
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
    n_experts: int | None = Field(default=None, gt=0)
    experts_per_token: int | None = Field(default=None, gt=0)
    gflops_per_sample: float | None = Field(default=None, gt=0, description="forward, real FLOPs")
    image_size: int | None = Field(default=None, gt=0)
    patch_size: int | None = Field(default=None, gt=0)
    activation_mb_per_sample: float | None = Field(
        default=None, gt=0, description="CNN training activations per image at 4 bytes/element"
    )
    source: str = ""
    notes: str = ""

    @property
    def is_transformer(self) -> bool:
        return self.kind != ModelKind.CNN

    @property
    def is_language_model(self) -> bool:
        return self.kind in (ModelKind.DECODER, ModelKind.ENCODER, ModelKind.MOE)

    @property
    def active_params(self) -> int:
        return self.params_active or self.params_total

    @property
    def kv_dim(self) -> int:
        """Width of K (and of V) per token per layer: KV heads x head dim (GQA-aware)."""
        assert self.n_kv_heads and self.head_dim
        return self.n_kv_heads * self.head_dim

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


class Job(BaseModel):
    """Everything about the run except the model: the task, the GPUs and the sizes."""

    # Built on first use: `dlrig check` only needs it when a workload names a model.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    task: Task
    gpu: GpuSpec
    n_gpus: int = Field(default=1, ge=1, le=100_000)
    precision: Precision = Precision.BF16
    quant: Quant = Quant.NONE
    optimizer: Optimizer = Optimizer.ADAMW
    zero: int = Field(default=0, ge=0, le=3)
    checkpointing: bool = False
    lora_rank: int = Field(default=8, ge=1, le=65_536)
    lora_targets: LoraTargets = LoraTargets.ALL
    batch_size: int | None = Field(default=None, ge=1, le=10_000_000, description="per GPU")
    seq_len: int | None = Field(default=None, ge=1, le=10_000_000)
    context: int | None = Field(default=None, ge=1, le=10_000_000)
    tokens: float | None = Field(default=None, gt=0, le=1e16)
    epochs: float | None = Field(default=None, gt=0, le=1e6)
    dataset_size: int | None = Field(default=None, ge=1, le=10**13, description="samples")
    mfu: float | None = Field(default=None, ge=0.01, le=1, description="0.01 to 1")
    master_weights: bool = Field(
        default=True, description="16-bit training keeps fp32 master weights (AMP); False: pure"
    )
    offload: Offload = Offload.NONE
    optimizer_in_backward: bool = Field(
        default=False, description="optimizer step fused into backward: gradients freed at once"
    )
    loss: Loss = Loss.STANDARD
    interconnect: Interconnect = Interconnect.AUTO
    engine: DecodeEngine = DecodeEngine.OPTIMIZED
    price_per_gpu_hour: float | None = Field(default=None, ge=0, le=10_000)
    electricity_per_kwh: float | None = Field(default=None, ge=0, le=100)
    sample_bytes: float | None = Field(default=None, gt=0, le=1e11, description="as read (vision)")
