"""A build file as the user writes it (`BuildFile`) and as the rules see it (`Build`, resolved).

The input models are strict (TOML already has types: `count = "4"` is a mistake, not a 4) and
forbid unknown keys. Bounds reject absurd values: they are sanity limits, not advice, chosen
well outside any real machine (the largest single-node GPU servers hold 16 GPUs; the largest
single PSUs are about 3 kW; servers stack several).
"""

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dlrig.model import choices, empty_list
from dlrig.model.parts import Cooler, CpuSpec, GpuSpec, PsuRating, StorageKind
from dlrig.model.thresholds import MAX_GPU_ENTRIES, MAX_GPU_SLOTS, MAX_STORAGE_ENTRIES
from dlrig.model.workload import MAX_HOST_LINK_GBS, ModelSpec

# Sanity limits for input validation (see module docstring).
MAX_GPUS_PER_GROUP = 64
MAX_SOCKETS = 8
MAX_PSU_W = 20_000
MAX_RAM_GB = 65_536
MAX_SLOTS = 20
# A training step shorter than 0.1 ms is not a real measurement (kernel launches alone take
# microseconds); it would only turn data rates into infinities.
MIN_STEP_TIME_S = 1e-4

_STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)
# A parallel degree in one build: no more than the GPUs one machine holds (the estimator checks
# that the degrees divide the build's GPU count).
MAX_PARALLEL = 64


def _values(enum: type[StrEnum]) -> Any:
    """The enum's values as a Literal: strict validation takes TOML strings, not enum members."""
    return Literal[tuple(e.value for e in enum)]  # type: ignore[valid-type]


PositiveW = Annotated[float, Field(gt=0, le=MAX_PSU_W)]
LinkWidth = Literal[1, 2, 4, 8, 16]
# A slot position: the physical expansion-slot index counted from the CPU (1 = the slot nearest
# the CPU socket); each position is one bracket (20.32 mm apart, PCIe CEM).
SlotPosition = Annotated[int, Field(ge=1, le=MAX_SLOTS)]
# Names of M.2 sockets as the board manual prints them ("M.2_2", "M2_3", "M2A_CPU").
SocketName = Annotated[str, Field(min_length=1, max_length=32)]
MAX_NICS = 16
MAX_M2 = 16
MAX_SHARING_RULES = 64
MAX_SATA_PORTS = 32
MAX_SOFTWARE = 32
LaneSource = Literal["cpu", "chipset", "switch"]


class CpuInput(BaseModel):
    model_config = _STRICT

    model: str | None = Field(default=None, description="catalog CPU name")
    count: int = Field(default=1, ge=1, le=MAX_SOCKETS, description="sockets")
    cores: int | None = Field(default=None, ge=1, le=1024, description="cores per socket")
    threads: int | None = Field(default=None, ge=1, le=2048)
    pcie_lanes: int | None = Field(default=None, ge=1, le=256, description="lanes per socket")
    pcie_gen: int | None = Field(default=None, ge=1, le=6)
    tdp_w: float | None = Field(default=None, gt=0, le=2_000)
    memory_channels: int | None = Field(default=None, ge=1, le=24)
    integrated_graphics: bool | None = Field(
        default=None, description="the CPU has a display engine (Intel non-F, Ryzen 7000+)"
    )


class MemoryInput(BaseModel):
    model_config = _STRICT

    size_gb: float = Field(gt=0, le=MAX_RAM_GB)
    speed_mts: float | None = Field(default=None, gt=0, le=20_000)
    channels: int | None = Field(default=None, ge=1, le=48, description="channels populated")
    ecc: bool | None = Field(default=None, description="ECC DIMMs on a board that enables ECC")


class RiserInput(BaseModel):
    """A riser cable or extender between a slot and a card (open frames, vertical mounts)."""

    model_config = _STRICT

    gen: int = Field(ge=1, le=6, description="the PCIe generation the riser is rated for")
    length_mm: float | None = Field(default=None, gt=0, le=2_000)
    lanes: LinkWidth | None = Field(default=None, description="lanes the riser carries")


class GpuInput(BaseModel):
    model_config = _STRICT

    model: str = Field(description="catalog GPU name")
    count: int = Field(default=1, ge=1, le=MAX_GPUS_PER_GROUP)
    memory_gb: float | None = Field(default=None, gt=0, le=1_024)
    power_w: float | None = Field(default=None, gt=0, le=2_000, description="power limit")
    slot_width: float | None = Field(default=None, ge=1, le=5)
    length_mm: float | None = Field(default=None, gt=0, le=1_000)
    cooler: Cooler | None = None
    pcie_lanes: LinkWidth | None = Field(
        default=None, description="electrical lanes of the slot this model sits in"
    )
    slots: list[SlotPosition] | None = Field(
        default=None,
        max_length=MAX_SLOTS,
        description="slot position of each card of this group (1 = nearest the CPU)",
    )
    riser: RiserInput | None = None
    displays: int | None = Field(
        default=None, ge=0, le=16, description="monitors plugged into the cards of this group"
    )
    psu: Literal["main", "second"] | None = Field(
        default=None, description="which PSU feeds this group's power cables"
    )
    adapter_8pin: int | None = Field(
        default=None,
        ge=1,
        le=4,
        description="8-pin cables plugged into the card's 16-pin adapter (instead of a native "
        "12V-2x6 cable)",
    )
    host_link_gbs: float | None = Field(
        default=None,
        gt=0,
        le=MAX_HOST_LINK_GBS,
        description="measured pinned host-to-GPU copy rate, GB/s (dlrig probe writes it): what "
        "offloaded optimizer states and weights move at",
    )


class SlotInput(BaseModel):
    """One expansion slot of the board, as its manual's block diagram gives it."""

    model_config = _STRICT

    position: SlotPosition
    lanes: LinkWidth = Field(description="electrical lanes (with the CPU this build uses)")
    gen: int | None = Field(default=None, ge=1, le=6)
    source: LaneSource = Field(default="cpu", description="wired to the CPU or the chipset")
    socket: int | None = Field(default=None, ge=0, lt=MAX_SOCKETS, description="CPU socket")
    name: str | None = Field(default=None, max_length=32, description="the manual's name")


class M2Input(BaseModel):
    """One M.2 socket of the board."""

    model_config = _STRICT

    name: SocketName
    lanes: LinkWidth = 4
    gen: int | None = Field(default=None, ge=1, le=6)
    source: LaneSource = "cpu"


class SharingInput(BaseModel):
    """A line of the manual's bandwidth-sharing table: when `when` is used, slots drop lanes."""

    model_config = _STRICT

    when: SocketName = Field(description="an M.2 socket name, or a slot name/position as text")
    slot: SlotPosition | None = Field(default=None, description="the slot that loses lanes")
    lanes: Literal[0, 1, 2, 4, 8] | None = Field(default=None, description="0: disabled")
    sata_ports: list[Annotated[int, Field(ge=1, le=MAX_SATA_PORTS)]] | None = Field(
        default=None, max_length=MAX_SATA_PORTS, description="SATA ports disabled"
    )
    note: str | None = Field(default=None, max_length=200)


class MotherboardInput(BaseModel):
    model_config = _STRICT

    model: str | None = None
    expansion_slots: int | None = Field(default=None, ge=1, le=MAX_SLOTS)
    gpu_slot_lanes: list[LinkWidth] | None = Field(
        default=None,
        max_length=MAX_GPU_SLOTS,
        description="electrical lanes per GPU slot, in order",
    )
    pcie_gen: int | None = Field(default=None, ge=1, le=6)
    slots: list[SlotInput] | None = Field(
        default=None, max_length=MAX_SLOTS, description="the slot map: position, lanes, source"
    )
    m2: list[M2Input] | None = Field(default=None, max_length=MAX_M2)
    lane_sharing: list[SharingInput] | None = Field(default=None, max_length=MAX_SHARING_RULES)
    chipset_uplink_lanes: LinkWidth | None = Field(
        default=None, description="lanes of the CPU-chipset link (DMI / AMD uplink)"
    )
    chipset_uplink_gen: int | None = Field(default=None, ge=1, le=6)
    source: str | None = Field(default=None, max_length=300, description="manual URL and page")


class PsuInput(BaseModel):
    model_config = _STRICT

    watts: PositiveW
    rating: PsuRating | None = None
    atx3: bool | None = None
    pcie_8pin: int | None = Field(default=None, ge=0, le=64, description="6+2-pin PCIe cables")
    pcie_16pin: int | None = Field(default=None, ge=0, le=32, description="12VHPWR / 12V-2x6")


class SecondPsuInput(PsuInput):
    """A second PSU feeding some GPUs (gpus[i].psu = "second")."""

    sync: Literal["add2psu", "relay", "server-backplane", "none"] | None = Field(
        default=None, description="how it switches on with the main PSU"
    )
    same_circuit: bool | None = Field(
        default=None, description="plugged into the same circuit and outlet strip as the main PSU"
    )


class StorageInput(BaseModel):
    model_config = _STRICT

    kind: StorageKind
    read_mbs: float | None = Field(default=None, gt=0, le=1_000_000)
    size_tb: float | None = Field(default=None, gt=0, le=100_000)
    holds_data: bool | None = Field(default=None, description="the training data lives here")
    model: str | None = None
    m2_slot: SocketName | None = Field(default=None, description="the M.2 socket it sits in")
    sata_port: int | None = Field(default=None, ge=1, le=MAX_SATA_PORTS)


class CaseInput(BaseModel):
    model_config = _STRICT

    model: str | None = None
    max_gpu_length_mm: float | None = Field(default=None, gt=0, le=2_000)
    expansion_slots: int | None = Field(default=None, ge=1, le=MAX_SLOTS)


class PowerInput(BaseModel):
    model_config = _STRICT

    mains_voltage: float | None = Field(default=None, ge=90, le=480)
    circuit_amps: float | None = Field(default=None, gt=0, le=400)
    price_per_kwh: float | None = Field(default=None, ge=0, le=100)
    currency: str | None = Field(default=None, min_length=1, max_length=8)
    other_w: float | None = Field(
        default=None, ge=0, le=MAX_PSU_W, description="board, drives, fans, RAM (DC watts)"
    )


class WorkloadInput(BaseModel):
    model_config = _STRICT

    batch_size: int | None = Field(default=None, ge=1, le=10_000_000, description="per GPU")
    sample_bytes: float | None = Field(default=None, gt=0, le=1e11, description="as read")
    tensor_bytes: float | None = Field(default=None, gt=0, le=1e11, description="as copied")
    step_time_s: float | None = Field(
        default=None, ge=MIN_STEP_TIME_S, le=86_400, description="seconds per training step"
    )
    num_workers: int | None = Field(default=None, ge=0, le=1_024, description="per GPU")
    hours: float | None = Field(default=None, gt=0, le=1_000_000)
    gpu_memory_gb: float | None = Field(
        default=None, gt=0, le=100_000, description="memory one GPU needs for the job"
    )
    # What `dlrig estimate` needs: with `model` and `task` given, `check` adds a gpu-memory
    # finding and derives step_time_s from the estimate when it is left out.
    model: str | None = Field(default=None, description="model preset (dlrig parts models)")
    task: Literal["train", "lora", "qlora", "infer"] | None = None
    precision: Literal["fp32", "tf32", "bf16", "fp16", "fp8"] | None = None
    quant: _values(choices.Quant) | None = None
    optimizer: _values(choices.Optimizer) | None = None
    zero: Literal[0, 1, 2, 3] | None = None
    # true / false, or torchtitan's words: "none", "full", "selective" (its op-level policy),
    # or "offload" (Unsloth's: each block's input kept in CPU memory).
    checkpointing: bool | Literal["none", "full", "selective", "offload"] | None = None
    lora_rank: int | None = Field(default=None, ge=1, le=65_536)
    seq_len: int | None = Field(default=None, ge=1, le=10_000_000, description="training")
    context: int | None = Field(default=None, ge=1, le=10_000_000, description="inference")
    loss: Literal["standard", "chunked", "fused"] | None = None
    mlm_positions: int | None = Field(
        default=None, ge=1, le=10_000_000, description="masked-LM head positions per sequence"
    )
    # The estimator's other settings (dlrig estimate --help), so a build file can say what a
    # run does: weight and cache formats, the parallel plan, the engine.
    weight_bits: float | None = Field(default=None, gt=1, le=16, description="exl2 bits")
    base_quant: _values(choices.BaseQuant) | None = None
    kv_dtype: _values(choices.KvDtype) | None = None
    kv_cache: _values(choices.KvCache) | None = None  # transformers' cache (estimate --kv-cache)
    optimizer_dtype: _values(choices.OptimizerDtype) | None = None
    lora_targets: _values(choices.LoraTargets) | None = None
    framework: _values(choices.Framework) | None = None  # how a quantised LoRA base is loaded
    grad_buffers: _values(choices.GradBuffers) | None = None  # when gradients exist
    attention: _values(choices.Attention) | None = None
    memory_format: _values(choices.MemoryFormat) | None = None
    engine: _values(choices.DecodeEngine) | None = None
    gpu_memory_utilization: float | None = Field(
        default=None, gt=0, le=1, description="vLLM/SGLang/TensorRT-LLM memory share"
    )
    max_batched_tokens: int | None = Field(
        default=None,
        ge=1,
        le=10_000_000,
        description="vLLM --max-num-batched-tokens, llama.cpp -ub, Ollama num_batch",
    )
    max_num_seqs: int | None = Field(
        default=None, ge=1, le=1_000_000, description="vLLM --max-num-seqs"
    )
    llama_cpp_cublas: bool | None = Field(
        default=None, description="llama.cpp: quantized prompt matmuls via F16 cuBLAS, not MMQ"
    )
    trtllm_mmha: bool | None = Field(
        default=None, description="TensorRT-LLM before v0.8: GQA generation without XQA"
    )
    vllm_v0: bool | None = Field(
        default=None, description="vLLM before v0.8 (or VLLM_USE_V1=0): the V0 engine"
    )
    grad_accum: int | None = Field(default=None, ge=1, le=1_000_000)
    prompt_tokens: int | None = Field(default=None, ge=1, le=10_000_000, description="inference")
    gen_tokens: int | None = Field(default=None, ge=1, le=10_000_000, description="inference")
    tp: int | None = Field(default=None, ge=1, le=MAX_PARALLEL, description="tensor parallel")
    pp: int | None = Field(default=None, ge=1, le=MAX_PARALLEL, description="pipeline stages")
    cp: int | None = Field(default=None, ge=1, le=MAX_PARALLEL, description="context parallel")
    ep: int | None = Field(default=None, ge=1, le=MAX_PARALLEL, description="expert parallel")
    etp: int | None = Field(
        default=None, ge=1, le=MAX_PARALLEL, description="expert tensor parallel (default tp)"
    )
    offload: Literal["none", "optimizer", "full"] | None = None
    master_weights: bool | None = None
    optimizer_in_backward: bool | None = None
    software: list[Annotated[str, Field(min_length=1, max_length=40)]] | None = Field(
        default=None,
        max_length=MAX_SOFTWARE,
        description="tools the job needs (pytorch, vllm, bitsandbytes, flash-attn, ...)",
    )


class BiosInput(BaseModel):
    """Firmware settings that decide whether many or large GPUs enumerate and talk P2P."""

    model_config = _STRICT

    above_4g_decoding: bool | None = None
    resizable_bar: bool | None = None
    iommu: Literal["off", "on", "passthrough"] | None = Field(
        default=None, description="VT-d / AMD-Vi; 'passthrough' = iommu=pt on the kernel line"
    )
    acs: bool | None = Field(default=None, description="PCIe Access Control Services enabled")


class DisplayInput(BaseModel):
    """Where the monitors are plugged in."""

    model_config = _STRICT

    monitors: int = Field(default=1, ge=0, le=16)
    attached_to: Literal["compute-gpu", "integrated", "display-card", "none"] = Field(
        description="a training GPU, the CPU's integrated graphics, a separate small card, or "
        "headless"
    )
    display_card: str | None = Field(default=None, max_length=80, description="its name")


class NvlinkBridgeInput(BaseModel):
    """An NVLink bridge across two cards."""

    model_config = _STRICT

    slots: list[SlotPosition] = Field(
        min_length=2, max_length=2, description="slot positions of the two bridged cards"
    )
    width: Literal[2, 3, 4] = Field(description="the bridge's spacing in slots (2-, 3-, 4-slot)")


class NicInput(BaseModel):
    """A network card: for multi-node training its socket matters."""

    model_config = _STRICT

    model: str | None = Field(default=None, max_length=80)
    speed_gbps: float | None = Field(default=None, gt=0, le=10_000)
    slot: SlotPosition | None = None
    socket: int | None = Field(default=None, ge=0, lt=MAX_SOCKETS)
    rdma: bool | None = Field(default=None, description="GPUDirect RDMA (InfiniBand/RoCE)")


class BuildFile(BaseModel):
    """The TOML file, validated but not yet looked up in the catalog."""

    model_config = _STRICT

    name: str | None = None
    cpu: CpuInput | None = None
    memory: MemoryInput | None = None
    gpus: list[GpuInput] = Field(default_factory=empty_list, max_length=MAX_GPU_ENTRIES)
    motherboard: MotherboardInput | None = None
    psu: PsuInput | None = None
    storage: list[StorageInput] = Field(default_factory=empty_list, max_length=MAX_STORAGE_ENTRIES)
    case: CaseInput | None = None
    power: PowerInput | None = None
    workload: WorkloadInput | None = None
    second_psu: SecondPsuInput | None = None
    bios: BiosInput | None = None
    display: DisplayInput | None = None
    nvlink_bridges: list[NvlinkBridgeInput] = Field(default_factory=empty_list, max_length=8)
    nics: list[NicInput] = Field(default_factory=empty_list, max_length=MAX_NICS)


# --------------------------------------------------------------------------- resolved build


class Cpu(BaseModel):
    """A CPU with catalog values filled in and the file's overrides applied."""

    model_config = ConfigDict(frozen=True)

    name: str
    count: int
    cores: int
    threads: int
    pcie_lanes: int
    pcie_gen: int
    tdp_w: float
    power_w: float = Field(
        description="package power under sustained load, per socket: tdp_w if the file gives it, "
        "else the catalog's MTP/PPT limit, else its TDP"
    )
    memory_channels: int | None = None
    max_memory_mts: float | None = None
    l3_cache_mb: float | None = None
    boost_ghz: float | None = None
    price_usd: float | None = None
    spec: CpuSpec | None = None
    overridden: list[str] = Field(default_factory=empty_list)

    @property
    def total_cores(self) -> int:
        return self.cores * self.count

    @property
    def total_power_w(self) -> float:
        return self.power_w * self.count


class GpuGroup(BaseModel):
    """`count` identical GPUs of one catalog model, with the file's overrides applied."""

    model_config = ConfigDict(frozen=True)

    spec: GpuSpec
    count: int
    memory_gb: float
    power_w: float = Field(description="sustained board power: the power limit, else the TDP")
    slot_width: float | None
    length_mm: float | None
    cooler: Cooler | None
    slot_lanes: int | None = Field(description="electrical lanes of its slot, if given")
    overridden: list[str] = Field(default_factory=empty_list)
    slots: list[int] | None = Field(default=None, description="slot position of each card")
    riser: RiserInput | None = None
    displays: int | None = None
    psu: Literal["main", "second"] | None = None
    adapter_8pin: int | None = None
    host_link_gbs: float | None = Field(default=None, description="measured host-to-GPU GB/s")

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def power_limited(self) -> bool:
        return self.power_w < self.spec.tdp_w


class Storage(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: StorageKind
    read_mbs: float
    read_mbs_is_default: bool
    holds_data: bool | None = None
    model: str | None = None
    m2_slot: str | None = None
    sata_port: int | None = None


class Build(BaseModel):
    """A resolved build: what every rule takes."""

    model_config = ConfigDict(frozen=True)

    name: str | None = None
    cpu: Cpu | None = None
    memory: MemoryInput | None = None
    gpus: list[GpuGroup] = Field(default_factory=empty_list)
    motherboard: MotherboardInput | None = None
    psu: PsuInput | None = None
    storage: list[Storage] = Field(default_factory=empty_list)
    case: CaseInput | None = None
    power: PowerInput | None = None
    workload: WorkloadInput | None = None
    model_spec: ModelSpec | None = Field(default=None, description="workload.model, looked up")
    estimated_step_time_s: float | None = Field(
        default=None, description="workload.step_time_s filled in from the estimate"
    )
    second_psu: SecondPsuInput | None = None
    bios: BiosInput | None = None
    display: DisplayInput | None = None
    nvlink_bridges: list[NvlinkBridgeInput] = Field(default_factory=empty_list)
    nics: list[NicInput] = Field(default_factory=empty_list)
    integrated_graphics: bool | None = Field(default=None, description="cpu.integrated_graphics")

    @property
    def n_gpus(self) -> int:
        return sum(g.count for g in self.gpus)

    def cards(self) -> list[GpuGroup]:
        """One entry per physical card, in file order (a group of 4 appears 4 times)."""
        return [g for g in self.gpus for _ in range(g.count)]

    def card_slots(self) -> list[int | None]:
        """The slot position of each card of `cards()`, None where the file does not say."""
        out: list[int | None] = []
        for g in self.gpus:
            given = list(g.slots or [])
            out += [given[i] if i < len(given) else None for i in range(g.count)]
        return out

    @property
    def gpu_memory_total_gb(self) -> float:
        return sum(g.memory_gb * g.count for g in self.gpus)

    @property
    def gpu_power_total_w(self) -> float:
        return sum(g.power_w * g.count for g in self.gpus)
