"""GPU memory while a quantised LoRA base is loaded: the load-time peak, per loading path.

A QLoRA (or 8-bit LoRA) job starts from a 16-bit checkpoint and quantises it on the GPU. The
step's peak (memory.py) is not the only one: while the base is quantised, the weights already
quantised sit next to the 16-bit copy of the matrix being quantised and the quantiser's own
temporaries. torch.cuda.max_memory_allocated / _reserved count the whole process, so a
framework that prints them after training reports the larger of the two peaks, and a job
whose load peak does not fit never reaches its first step. How large the load peak is depends
on how the framework quantises (`Job.framework`), read from each one's code:

- transformers (the default; also PEFT, TRL, Axolotl, LLaMA-Factory and Unsloth, which load
  through `from_pretrained(quantization_config=BitsAndBytesConfig(...))`): one tensor at a
  time. transformers moves each checkpoint tensor to the GPU through bitsandbytes'
  `Params4bit.cuda` (transformers integrations/bitsandbytes.py
  `set_module_quantized_tensor_to_device`), which makes an fp16 copy on the GPU and quantises
  it (`w = self.data.contiguous().half().cuda(device)`, then `quantize_4bit`; bitsandbytes
  0.41-0.43 nn/modules.py); 8-bit (`Int8Params.cuda`) makes the fp16 copy and `double_quant`'s
  row- and column-wise int8 copies.
- litgpt: Lightning Fabric's `BitsandbytesPrecision` swaps `torch.nn.Linear` for its
  `_Linear4bit` under `fabric.init_module`; each layer is created in 16-bit on the GPU and
  quantised in its constructor ("quantize the weight here, so we don't end up filling the
  device memory", lightning/fabric/plugins/precision/bitsandbytes.py, 2.2-2.3), again through
  an fp16 copy; the checkpoint is then re-quantised layer by layer by a load_state_dict
  pre-hook (`_quantize_on_load_hook`). So the 16-bit layer, its fp16 copy and the 4-bit result.
- torchtune: each `LoRALinear(quantize_base=True)` builds an `nn.Linear` on the GPU and passes
  its weight through torchao's `to_nf4` (torchtune modules/peft/lora.py). torchao's
  `convert_to_norm_float_weight` scales the blocks (a second 16-bit copy) and finds the
  nearest of the 16 NF4 levels by materialising `(value - nf4).abs()`, 16 values per weight,
  since torchao 0.2 (commit 6081796, 2024-05-01, "perform in chunks") one chunk of 1024²
  weights at a time.
- torchtune-torchao0.1: the same before that commit (torchao 0.1, which torchtune pinned in
  April 2024): the distance tensor for the whole matrix, 2 x 16 x 2 bytes per weight (the
  difference and its absolute value are both alive) — 3 GB for one of Llama 2 7B's MLP
  matrices.

GPTQ and AWQ bases are quantised before they are downloaded: no 16-bit copy, no load peak
above the step's. Sharded multi-GPU loads (FSDP/ZeRO-3, whose ranks load on the CPU or the
meta device and are quantised and sharded by accelerate or the framework) and full CPU
offload are not modelled here (`load_peak` returns None and says so in `why_not`).
"""

from __future__ import annotations

from dataclasses import dataclass

from dlrig.estimate import calibration as cal
from dlrig.estimate import memory as mem
from dlrig.estimate.memory import largest_matrix
from dlrig.estimate.shape import HALF_BYTES, Shape
from dlrig.model.workload import BaseQuant, Framework, Offload

# bitsandbytes' 4-bit blocks: 64 weights share one fp32 absmax (quantize_4bit's default
# blocksize), and two 4-bit codes share a byte.
BNB_BLOCK = 64
FP32_BYTES = 4
NF4_LEVELS = 16  # the NF4 code book torchao compares every weight with
# torchao nf4tensor.py CHUNK_SIZE (since 6081796, 2024-05-01): weights quantised per chunk.
TORCHAO_CHUNK = 1024**2
# `(value - nf4)` and its `.abs()`: both alive while the second is written.
TORCHAO_DISTANCE_COPIES = 2

WHY = {
    Framework.TRANSFORMERS: "Hugging Face transformers + bitsandbytes: each checkpoint tensor "
    "copied to the GPU in fp16 and quantised there, one at a time",
    Framework.LITGPT: "LitGPT (Lightning Fabric BitsandbytesPrecision): each layer created in "
    "16-bit on the GPU and quantised in its constructor, through an fp16 copy",
    Framework.TORCHTUNE: "torchtune (torchao to_nf4, torchao >= 0.2): each layer created in "
    "16-bit on the GPU, scaled and quantised in chunks of 1,048,576 weights",
    Framework.TORCHTUNE_TORCHAO01: "torchtune with torchao 0.1: each layer created in 16-bit on "
    "the GPU and quantised whole through a 16-wide distance tensor (2 x 16 x 2 bytes per weight)",
    Framework.NEMO: "NVIDIA NeMo: no quantised load path modelled (a 16-bit base only)",
}


@dataclass(frozen=True)
class LoadPeak:
    """Bytes on one GPU at the load's peak, in the three semantics of memory.MemoryParts."""

    resident: float  # the weights already loaded (quantised base, 16-bit rest, adapters)
    transient: float  # the matrix being quantised and the quantiser's temporaries
    allocator_slack: float
    outside_allocator: float  # CUDA context, cuBLAS workspace, NCCL
    path: str  # the loading path assumed, in words

    @property
    def allocated(self) -> float:
        return self.resident + self.transient

    @property
    def reserved(self) -> float:
        return self.allocated + self.allocator_slack

    @property
    def nvidia_smi(self) -> float:
        return self.reserved + self.outside_allocator


def why_not(shape: Shape) -> str | None:
    """None when the job has a load-time peak of its own, else why not."""
    job = shape.job
    if not shape.lora:
        return "no quantised base (full training or inference loads the weights as stored)"
    base = job.effective_base_quant
    if base == BaseQuant.NONE:
        return "16-bit LoRA base: loaded as stored"
    if base in (BaseQuant.GPTQ, BaseQuant.AWQ):
        return f"{base.value} base: quantised before download, loaded as stored"
    if mem.gathers_weights(shape) or job.offload == Offload.FULL:
        return "sharded or CPU-offloaded load: not modelled"
    return None


def transient_bytes(shape: Shape) -> float:
    """The quantiser's working set for the largest matrix, by loading path (module docstring)."""
    job = shape.job
    n = largest_matrix(shape)
    e = HALF_BYTES  # checkpoints and the layers built from them are 16-bit
    fp16_copy = HALF_BYTES * n
    if job.effective_base_quant == BaseQuant.INT8:
        # Int8Params.cuda: the fp16 copy, then double_quant's CB and CBt (one byte each).
        return fp16_copy + 2 * n
    four_bit = n / 2 + FP32_BYTES * n / BNB_BLOCK  # codes and the absmax of each block
    match job.trainer:
        case Framework.TRANSFORMERS:
            return fp16_copy + four_bit
        case Framework.LITGPT:
            return e * n + fp16_copy + four_bit
        case Framework.TORCHTUNE:
            chunk = min(n, TORCHAO_CHUNK)
            codes = n + n / 2  # one uint8 per weight, then two packed per byte
            return 2 * e * n + codes + TORCHAO_DISTANCE_COPIES * NF4_LEVELS * e * chunk
        case Framework.TORCHTUNE_TORCHAO01:
            return 2 * e * n + TORCHAO_DISTANCE_COPIES * NF4_LEVELS * e * n
        case Framework.NEMO:  # refused by applicable.py before it gets here
            raise ValueError("NeMo's quantised load is not modelled")


def load_peak(shape: Shape, consts: cal.Constants | None = None) -> LoadPeak | None:
    """The load-time peak of a job that quantises its LoRA base on the GPU, else None."""
    if why_not(shape) is not None:
        return None
    resident = mem.weights_bytes(shape)
    transient = transient_bytes(shape)
    outside = sum(mem.outside_allocator_parts(shape))
    slack = mem.allocator_slack_bytes(shape, resident + transient, outside, consts)
    return LoadPeak(
        resident=resident,
        transient=transient,
        allocator_slack=slack,
        outside_allocator=outside,
        path=WHY[shape.job.trainer],
    )
