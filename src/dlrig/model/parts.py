"""Catalog rows as typed records. Field names carry their units; blanks in the CSV become None."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FormFactor = Literal["pcie", "sxm", "oam", "system"]
Cooler = Literal["open-air", "blower", "passive", "liquid"]
P2p = Literal["yes", "no", "unknown"]
ConnectorKind = Literal["6pin", "8pin", "16pin", "eps8pin"]
PsuRating = Literal["none", "white", "bronze", "silver", "gold", "platinum", "titanium"]
StorageKind = Literal["hdd", "sata-ssd", "nvme", "network"]


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PowerConnectors(_Row):
    """Auxiliary power inputs on a card; `board`: an SXM/OAM module powered by its baseboard."""

    pin6: int = 0
    pin8: int = 0
    pin16: int = 0
    eps8: int = 0
    board: bool = False

    @property
    def slot_only(self) -> bool:
        return not self.board and self.pin6 + self.pin8 + self.pin16 + self.eps8 == 0


# NVIDIA architectures without BF16 hardware. BF16 tensor cores arrived with Ampere, compute
# capability 8.0 (NVIDIA A100 Tensor Core GPU Architecture whitepaper, 2020: BF16 "new in A100";
# catalog/data/stack_support.csv's bf16 rows: yes for sm>=80, no below; gpu_support.csv gives
# every catalog card its sm target, and a test holds the two in step). On these cards PyTorch
# only emulates BF16: "BF16 operations are software-emulated by shifting inputs to the left and
# doing computations in fp32 ... Software emulation is slow. Optimized kernels (like cublas) are
# missing" (github.com/pytorch/pytorch/pull/148322, 2025-03); a Tesla T4 measured 2.0-2.5 BF16
# TFLOPS against 42 FP16 (zzc0721/torch-performance-test-data); vLLM refuses it ("Bfloat16 is
# only supported on GPUs with compute capability of at least 8.0. Your Tesla T4 GPU has compute
# capability 7.5. You can use float16 instead", github.com/substratusai/vllm-docker/issues/37).
# AMD (CDNA 2+, RDNA 3), Intel Xe2 and Gaudi have BF16 matrix units (stack_support.csv).
NO_BF16_ARCHITECTURES = ("Kepler", "Maxwell", "Pascal", "Volta", "Turing")


class GpuSpec(_Row):
    name: str
    aliases: tuple[str, ...] = ()
    vendor: str
    architecture: str
    year: int
    memory_gb: float = Field(gt=0)
    memory_type: str | None = None
    memory_bandwidth_gbs: float = Field(gt=0)
    fp32_tflops: float = Field(gt=0)
    fp16_tensor_tflops: float | None = Field(
        default=None, description="dense FP16/BF16 tensor rate with FP32 accumulate"
    )
    fp16_tensor_fp16acc_tflops: float | None = None
    fp8_tensor_tflops: float | None = None
    int8_tensor_tops: float | None = None
    tdp_w: float = Field(gt=0)
    pcie_gen: int = Field(ge=1, le=6)
    pcie_lanes: int = Field(ge=1, le=16)
    form_factor: FormFactor
    slot_width: float | None = None
    length_mm: float | None = None
    cooler: Cooler | None = None
    power_connectors: PowerConnectors
    power_connectors_text: str = ""
    nvlink: bool = False
    nvlink_gbs: float | None = None
    p2p: P2p = "unknown"
    recommended_psu_w: float | None = None
    price_usd: float | None = None
    price_date: str | None = None
    notes: str = ""
    source: str
    confidence: str = ""

    @property
    def has_tensor_cores(self) -> bool:
        return self.fp16_tensor_tflops is not None

    @property
    def has_bf16(self) -> bool:
        """BF16 in hardware (see NO_BF16_ARCHITECTURES): False on NVIDIA cards before Ampere."""
        return not self.architecture.startswith(NO_BF16_ARCHITECTURES)


class CpuSpec(_Row):
    name: str
    aliases: tuple[str, ...] = ()
    vendor: str
    socket: str
    year: int
    cores: int = Field(gt=0)
    threads: int = Field(gt=0)
    base_ghz: float | None = None
    boost_ghz: float | None = None
    l3_cache_mb: float | None = None
    pcie_lanes: int = Field(gt=0)
    pcie_gen: int = Field(ge=1, le=6)
    memory_channels: int = Field(gt=0)
    max_memory_mts: float | None = None
    max_memory_gb: float | None = None
    tdp_w: float = Field(gt=0)
    max_power_w: float | None = Field(
        default=None, description="sustained package power limit (Intel MTP/PL2, AMD PPT)"
    )
    price_usd: float | None = None
    price_date: str | None = None
    notes: str = ""
    source: str
    confidence: str = ""


class GpuFabricSpec(_Row):
    """One row of gpu_fabrics.csv: a module's GPU-to-GPU mesh other than NVLink (AMD's
    Infinity Fabric between the 8 OAMs of a platform), which estimate/comm.py prices where
    gpus.csv has no NVLink. `link_gbs` is one point-to-point link, one direction."""

    gpu: str
    fabric: Literal["infinity-fabric"]
    peer_links: int = Field(gt=0)
    link_gbs: float = Field(gt=0)
    usable_fraction: float = Field(gt=0, le=1)
    latency_us: float = Field(gt=0)
    notes: str = ""
    source: str
    confidence: str


class PcieGenSpec(_Row):
    gen: int
    transfer_rate_gts: float
    encoding: str
    per_lane_gbs: float
    x16_gbs: float
    year: int
    source: str


class PsuEfficiencySpec(_Row):
    """80 PLUS efficiency points (fractions, not percent) for one tier at one input voltage."""

    tier: PsuRating
    input: str
    points: tuple[tuple[float, float], ...] = Field(
        description="(load fraction, efficiency fraction) pairs sorted by load"
    )
    source: str


class ConnectorSpec(_Row):
    connector: str
    max_w: float
    source: str


class StorageSpec(_Row):
    kind: StorageKind
    typical_read_mbs: float
    source: str
