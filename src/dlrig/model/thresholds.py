"""Every threshold and constant of the guide, in one place, each with its source.

Part specs (GPU/CPU figures, PCIe rates, 80 PLUS efficiency, connector limits, storage speeds)
live in `catalog/data/*.csv`; what is here are the rule-of-thumb numbers from the guide and its
successors. It lives in `model/`, the lowest layer, because the rules, the estimator and the
pipeline all read it. `rules.md` is `shared/reference/rules.md` (the guide digested, with 2026
updates).
"""

from __future__ import annotations

GUIDE_URL = "https://timdettmers.com/2018/12/16/deep-learning-hardware-guide/"


def guide(section: str, edition: str = "2015") -> str:
    """Cite a section of the guide: `guide("RAM")`."""
    return f"Dettmers, A Full Hardware Guide to Deep Learning ({edition}), {section} {GUIDE_URL}"


GPU_GUIDE_2023 = (
    "Dettmers, Which GPU(s) to Get for Deep Learning (2023) "
    "https://timdettmers.com/2023/01/30/which-gpu-for-deep-learning/"
)
ML_ENGINEERING = "stas00, ML Engineering https://github.com/stas00/ml-engineering"
PUGET_3090 = (
    "Puget Systems, Quad RTX3090 GPU Wattage Limited MaxQ (2020) "
    "https://www.pugetsystems.com/labs/hpc/quad-rtx3090-gpu-wattage-limited-maxq-tensorflow-performance-1974/"
)

# --- CPU cores --------------------------------------------------------------------------------
# cores >= n_gpu * (num_workers + 1) + 4: one main process per GPU, its loader workers, and a
# few cores for the OS and everything else. ML Engineering, "CPU" chapter [V in rules.md].
CPU_CORES_PER_GPU_MAIN = 1
CPU_CORES_RESERVED = 4
# Workers per GPU assumed when the build does not say: "about 2 for NLP, 4 or more for vision"
# (ML Engineering); vision is the guide's case, so 4.
DEFAULT_NUM_WORKERS = 4
CPU_CORES_SOURCE = f"{ML_ENGINEERING}: cores = n_gpu x (num_workers + 1) + 4; " + guide("CPU")

# --- CPU cache (guide 2015: mini-batch of 128 at 32-bit floats) -------------------------------
MNIST_BATCH_MB = 0.4  # 128 x 28 x 28 x 4 B = 0.40 MB
CIFAR_BATCH_MB = 1.5  # 128 x 3 x 32 x 32 x 4 B = 1.57 MB
IMAGENET_BATCH_MB = 77.0  # 128 x 3 x 224 x 224 x 4 B = 77 MB (the guide rounds to 85 MB)

# --- PCIe lanes -------------------------------------------------------------------------------
# x8 and up: fine; x4: 5-10 % loss with 4 GPUs in data parallel (Dettmers 2023); below x4: error.
PCIE_LANES_OK = 8
PCIE_LANES_WARN = 4
PCIE_X4_LOSS_PCT = (5, 10)
PCIE_LANES_SOURCE = f"{GPU_GUIDE_2023}: x4 lanes cost ~5-10 % with 4 GPUs; " + guide(
    "CPU and PCIe lanes"
)
LINK_WIDTHS = (16, 8, 4, 2, 1)

# --- PCIe transfer ----------------------------------------------------------------------------
# Effective DMA rate as a fraction of the link's theoretical rate: the guide's "≈ 12 GB/s
# effective on PCIe 3.0 x16" out of 15.75 GB/s (rules.md, RAM section).
PCIE_DMA_EFFICIENCY = 12.0 / 15.75
# The guide's own example rate for its batch arithmetic ("a realistic 6.4 GB/s").
GUIDE_EXAMPLE_TRANSFER_GBS = 6.4
# Share of step time above which a synchronous copy makes the job input-bound (TensorFlow
# profiler convention: >= 20 % of step time waiting on input is "highly input-bound"), and the
# share above which even a perfectly overlapped copy cannot hide (the copy is longer than a step).
INPUT_BOUND_FRACTION = 0.20
MODERATE_INPUT_BOUND_FRACTION = 0.05
PCIE_TRANSFER_SOURCE = (
    guide("PCIe and asynchronous mini-batch loading") + "; TensorFlow Profiler input-pipeline "
    "analyzer thresholds, 5 % / 20 % of step time https://www.tensorflow.org/guide/profiler"
)

# --- RAM --------------------------------------------------------------------------------------
BYTES_PER_TRANSFER = 8  # a DDR channel is 64 bits wide: MT/s x 8 B per channel
RAM_SOURCE = guide("RAM") + f"; {ML_ENGINEERING}: at least as much CPU memory as GPU memory"

# --- Disk -------------------------------------------------------------------------------------
DISK_WARN_FRACTION = 0.70
DISK_ERROR_FRACTION = 1.00
DISK_SOURCE = guide("Hard drive/SSD") + " (required rate = batch x sample bytes / step time)"

# --- PSU --------------------------------------------------------------------------------------
# Size the PSU so the sustained load is at most 80 % of its rating (rules.md R5).
PSU_MAX_LOAD_FRACTION = 0.80
# Board, RAM, drives and fans: the 2018 guide's "~100 W" (2015: 100-300 W).
DEFAULT_OTHER_W = 100.0
# The 2018 guide's formula: (CPU + GPUs + ~100 W) x 1.1, e.g. 4 x 250 + 150 + 100 = 1250 -> 1375 W.
GUIDE_2018_PSU_HEADROOM = 1.10
# Suggested PSU sizes are rounded up to the 50 W steps PSUs are sold in.
PSU_SIZE_STEP_W = 50
PSU_SOURCE = (
    guide("PSU", "2018 update")
    + "; NVIDIA's recommended system power per card; 80 % continuous-load sizing"
)
# GPUs at or above this board power spike well past it for < 1 ms (RTX 4090 ~619 W, RTX 5090
# ~900 W measured); ATX 3.x PSUs are specified to ride out 200 % for 100 µs (Intel ATX 3.0
# design guide Table 3-3). The 450 W line is where ATX 3.0 requires 12VHPWR.
TRANSIENT_GPU_W = 450.0
# How far above board power a PCIe card spikes, for drawing the peak: RTX 5090 ~900 W on 575 W
# (1.57x), the larger of the measured cases above (PCIe CEM 5.0 allows up to 3x for 100 µs).
RTX_5090_SPIKE_W, RTX_5090_BOARD_W = 900.0, 575.0
GPU_SPIKE_FACTOR = RTX_5090_SPIKE_W / RTX_5090_BOARD_W
# NVIDIA ships pro cards that take an EPS 8-pin with a 2 x PCIe 8-pin to EPS adapter.
EPS_ADAPTER_PCIE_8PIN = 2
CONNECTOR_SOURCE = (
    "PCIe CEM / Intel ATX 3.0 Table 3-5: slot 75 W, 6-pin 75 W, 8-pin 150 W, 16-pin 600 W"
)

# --- Energy and wall circuit ------------------------------------------------------------------
# Efficiency assumed when the build names no PSU rating: 80 PLUS Bronze at 50 % load, 115 V
# (85 %), a common floor for a workstation PSU.
DEFAULT_PSU_EFFICIENCY = 0.85
# Mains at or above this voltage use the 230 V EU 80 PLUS table, below it the 115 V table.
HIGH_LINE_VOLTS = 200.0
# Continuous loads must stay within 80 % of a circuit's rating (NEC 210.19/210.20; common
# practice elsewhere): 120 V x 15 A x 0.8 = 1440 W; 230 V x 16 A x 0.8 = 2944 W.
CIRCUIT_CONTINUOUS_FRACTION = 0.80
ENERGY_SOURCE = (
    guide("PSU (energy cost)") + "; 80 PLUS efficiency at the load (catalog psu_efficiency.csv)"
)
CIRCUIT_SOURCE = "NEC 210.19(A)/210.20(A): continuous load <= 80 % of the breaker rating"

# --- Cooling and power limits -----------------------------------------------------------------
# GPUs throttle at about 80 °C (2015) / 84-90 °C (2026); adjacent cards lose 10-25 %.
ADJACENT_THROTTLE_LOSS_PCT = (10, 25)
# 4 x RTX 3090 from 350 W to ~280 W (80 %) kept > 95 % of performance (Puget Systems).
SUGGESTED_POWER_LIMIT_FRACTION = 0.80
POWER_LIMIT_PERF_LOSS_PCT = 5
# Suggested limits are rounded to 5 W, a step `nvidia-smi -pl` accepts on every card.
POWER_LIMIT_STEP_W = 5
COOLING_SOURCE = guide("Cooling") + f"; {PUGET_3090}"

# --- GPU choice -------------------------------------------------------------------------------
GPU_CHOICE_SOURCE = (
    f"{GPU_GUIDE_2023}: tensor cores first, then memory bandwidth, cache, FLOPS; " + guide("GPU")
)
P2P_SOURCE = (
    "NCCL maintainers: GeForce RTX 40/50 have no P2P https://github.com/NVIDIA/nccl/issues/1309"
)

# --- Physical ---------------------------------------------------------------------------------
# The last card may hang over the board's last slot into the case's extra bracket: a 7-slot
# board in an 8-slot case holds four 2-slot cards (guide 2015, Motherboard).
OVERHANG_SLOTS = 1
PHYSICAL_SOURCE = guide("Motherboard and case")

# --- GPU memory for a named workload (gpu-memory) --------------------------------------------
# "tight" is decided by the estimate's own interval (estimate/job.py verdict: the calibration's
# leave-one-source-out p80 |error|), not by a fixed share of the card.
GPU_MEMORY_SOURCE = (
    "dlrig estimate: ZeRO (Rajbhandari et al. 2020) for weights, gradients and optimizer states; "
    "Korthikanti et al. 2022 for activations https://arxiv.org/abs/2205.05198"
)

# --- GPU power excursions, measured, per generation (psu-transients) ---------------------------
# (window upper bound in ms, peak W) for one measured card of each generation; a card of the same
# generation is scaled by its own board power (peak / board power). [V] = number seen in the
# source named; the Ampere figure is a secondary page quoting the 3090's peak, window not stated,
# so it is taken as the sub-millisecond peak.
IGORSLAB_5090 = (
    "Igor's Lab RTX 5090 FE power analysis, reported by slashgear.com/1902896 (2025-07-07) and "
    "news.1rj.ru/str/sheetposting/147588: 901.1 W < 1 ms, 823.6 W 1-5 ms, 738.2 W 5-10 ms, "
    "627.5 W 10-20 ms [V]"
)
ADA_4090_SPIKE = "shared/reference/rules.md: RTX 4090 ~619 W spikes (< 1 ms) [R]"
AMPERE_3090_SPIKE = (
    "it.techbriefly.com/potenza-rtx-3090-requisiti-di-consumo-energetico-tech-80736: RTX 3090 "
    "'can reach 460-465 W' against 350 W TGP [V, window not stated]"
)
GPU_EXCURSIONS: dict[str, tuple[str, float, tuple[tuple[float, float], ...], str]] = {
    # generation: (measured card, its board power W, ((window_ms, peak_w), ...), source)
    "Blackwell": (
        "RTX 5090 FE",
        575.0,
        ((1.0, 901.1), (5.0, 823.6), (10.0, 738.2), (20.0, 627.5)),
        IGORSLAB_5090,
    ),
    "Ada": ("RTX 4090", 450.0, ((1.0, 619.0),), ADA_4090_SPIKE),
    "Ampere": ("RTX 3090", 350.0, ((1.0, 465.0),), AMPERE_3090_SPIKE),
}
# ATX 3.x PSU excursion ratings (> 450 W units with 12VHPWR), as (duration ms, % of rating):
# Intel ATX 3.0 design guide 336521 Table 3-3 [V] (shared/reference/specs/atx_transients.csv).
ATX3_EXCURSION_PCT = ((0.1, 200.0), (1.0, 180.0), (10.0, 160.0), (100.0, 120.0))
# The same table's column for PSUs of 450 W or less (no 12VHPWR required).
ATX3_SMALL_PSU_W = 450.0
ATX3_SMALL_EXCURSION_PCT = ((0.1, 150.0), (1.0, 145.0), (10.0, 135.0), (100.0, 110.0))
# ATX 2.x (and a PSU not stated to be ATX 3.x) has no excursion rating: its over-current
# protection point is the vendor's; only the sustained rating is promised.
NON_ATX3_EXCURSION_PCT = 100.0
TRANSIENT_SOURCE = (
    "Intel ATX 3.0 design guide 336521 Table 3-3 (200 % 100 µs, 180 % 1 ms, 160 % 10 ms, 120 % "
    f"100 ms); {IGORSLAB_5090}; {ADA_4090_SPIKE}; {AMPERE_3090_SPIKE}"
)

# --- CPU cores: grading (cpu-cores) -------------------------------------------------------------
# The 2015 guide: "one core per GPU usually suffices"; fewer cores than GPUs + 1 (the OS) cannot
# even run one process per GPU: clearly insufficient (error). Below n x (workers + 1) the loader
# workers share cores (warning); below the + 4 reserve of ML Engineering only the comfort margin
# is missing (info). With 1-2 GPUs and default workers the formula overstates (info).
CPU_CORES_MIN_PER_GPU = 1
CPU_CORES_OS = 1
CPU_FEW_GPUS = 2

# --- Wall circuit defaults by region (wall-circuit) ---------------------------------------------
# A household branch circuit where no [power] mains are given: US/Canada 120 V / 15 A (NEMA 5-15,
# NEC 210.21(B)); EU 230 V (IEC 60038) on a 16 A breaker (Schuko CEE 7/3 sockets are rated 16 A).
# Which default applies follows power.currency (USD/CAD -> 120 V, EUR -> 230 V); otherwise the
# stricter US circuit.
REGION_MAINS = {
    "US": (120.0, 15.0, "NEC 210.21(B) / NEMA 5-15: 120 V, 15 A branch circuit"),
    "EU": (230.0, 16.0, "IEC 60038 230 V; CEE 7/3 (Schuko) socket rated 16 A"),
}
CURRENCY_REGION = {"USD": "US", "CAD": "US", "EUR": "EU"}
DEFAULT_REGION = "US"

# --- Slot spacing and cooling by position -------------------------------------------------------
# Open-air cards need at least one empty slot between them (ZOTAC, SLI/NVLink spacing
# recommendations: "allow at least a 1 PCIe slot of gap"): below one slot of air they throttle.
MIN_OPEN_AIR_GAP_SLOTS = 1.0
SPACING_SOURCE = (
    "ZOTAC, SLI / NVLINK Spacing Recommendations "
    "https://www.zotac.com/eu/faq/sli-nvlink-spacing-recommendations; " + guide("Cooling")
)

# --- NVLink bridges -----------------------------------------------------------------------------
# Bridges come in fixed spacings: GeForce RTX 3090 bridges 3- and 4-slot, RTX A6000 bridges 2-
# and 3-slot; the two cards' slot positions must differ by exactly the bridge's width.
NVLINK_SOURCE = (
    "Puget Systems, NVIDIA NVLink 2021 Update and Compatibility Chart "
    "https://www.pugetsystems.com/labs/articles/NVIDIA-NVLink-2021-Update-and-Compatibility-Chart-2074/"
    "; ZOTAC spacing recommendations (4-slot bridge for 2.5/3-slot open-air cards)"
)

# --- 12V-2x6 connector --------------------------------------------------------------------------
# 600 W sustained per connector; the adapter's count of 8-pin inputs sets the sense level:
# 150 W per 8-pin cable (4 -> 600 W, 3 -> 450 W, 2 -> 300 W). connectors.csv [V].
CONNECTOR_16PIN_W = 600.0
CONNECTOR_8PIN_W = 150.0
# Below this share of headroom on one 16-pin connector, seating and bending matter (RTX 5090:
# 575 W of 600 W = 4 % headroom).
CONNECTOR_TIGHT_HEADROOM = 0.10
CONNECTOR_16PIN_SOURCE = (
    "Intel ATX 3.0 design guide 336521 Table 3-5 (12VHPWR 600 W, 9.2 A per pin); ATX 3.0 sense "
    "levels 600/450/300/150 W (connectors.csv); PCI-SIG CEM 5.1 12V-2x6"
)

# --- IOMMU / ACS (NCCL troubleshooting) ---------------------------------------------------------
NCCL_ACS_SOURCE = (
    "NCCL User Guide, Troubleshooting: PCI Access Control Services (ACS) and IO virtualization "
    "(VT-d/IOMMU) redirect P2P traffic to the CPU root complex, causing a significant performance "
    "reduction or a hang "
    "https://docs.nvidia.com/deeplearning/nccl/user-guide/docs/troubleshooting.html"
)

# --- NUMA ---------------------------------------------------------------------------------------
NUMA_SOURCE = (
    "NVIDIA GPUDirect RDMA documentation: best performance when the GPU and the NIC share a PCIe "
    "switch or root complex https://docs.nvidia.com/cuda/gpudirect-rdma/; " + ML_ENGINEERING
)

# --- ECC ----------------------------------------------------------------------------------------
# Runs of a week and longer: the DRAM field study saw about a third of machines and over 8 % of
# DIMMs with at least one correctable error per year (Schroeder, Pinheiro, Weber, SIGMETRICS 2009).
ECC_LONG_RUN_HOURS = 168.0
ECC_SOURCE = (
    "Schroeder, Pinheiro, Weber, DRAM Errors in the Wild: A Large-Scale Field Study, "
    "SIGMETRICS 2009 https://www.cs.toronto.edu/~bianca/papers/sigmetrics09.pdf [R]"
)

# --- BAR space ----------------------------------------------------------------------------------
# Datacenter GPUs expose their whole memory as a 64-bit BAR1 and several consumer cards together
# exceed the 32-bit window below 4 GB: without Above 4G decoding the board cannot map them.
BAR_SOURCE = (
    "NVIDIA, Data Center GPU BIOS requirements: 64-bit BAR / Above 4G decoding "
    "https://docs.nvidia.com/datacenter/tesla/ (system BIOS settings) [R]; PCI-SIG Resizable BAR"
)
# Above this many GPUs, enable Above 4G decoding even for consumer cards.
BAR_MANY_GPUS = 2

# --- Risers -------------------------------------------------------------------------------------
RISER_SOURCE = (
    "PCIe CEM: a link trains to the lowest generation the channel supports; riser vendors rate a "
    "cable for one generation at its length [R]"
)

# --- Memory channels ----------------------------------------------------------------------------
# Bandwidth scales with populated channels (MT/s x 8 B x channels, the guide's formula).
MEMORY_CHANNELS_WARN_FRACTION = 0.5

# --- Displays on a compute GPU ------------------------------------------------------------------
DISPLAY_SOURCE = (
    guide("Monitors")
    + "; CUDA Runtime API cudaDeviceProp::kernelExecTimeoutEnabled (a run-time limit on kernels "
    "on a GPU that drives a display) https://docs.nvidia.com/cuda/cuda-runtime-api/; Microsoft, "
    "Timeout Detection and Recovery (TDR, 2 s default) "
    "https://learn.microsoft.com/en-us/windows-hardware/drivers/display/timeout-detection-and-recovery"
)

# --- Dual PSUs ----------------------------------------------------------------------------------
DUAL_PSU_SOURCE = (
    "Intel ATX 3.0 design guide (PCIe slot 12 V comes from the board's PSU); common practice for "
    "two-PSU mining/ML rigs: one PSU per card's cables, add2psu/relay sync, same circuit [R]"
)

# --- Input bounds: what one machine can hold ----------------------------------------------------
# A build file, a probe and an NVML scenario describe one node. Lists longer than hardware allows
# are refused before any work is done (33 000 [[gpus]] tables took 56 s to reject, issue 16).
# NVIDIA's largest single-node servers hold 16 GPUs (DGX-2 / HGX-2, 2018 [R]); mining boards
# with risers take 19-20; 64 is far above any real node and equals the per-group count limit.
MAX_GPUS_PER_NODE = 64
# Each [[gpus]] table holds at least one GPU, so no node needs more tables than GPUs.
MAX_GPU_ENTRIES = MAX_GPUS_PER_NODE
# Drives in one chassis: the densest 4U storage servers take 90 (Supermicro SSG-6049P-E1CR90H
# [R]); 128 leaves room.
MAX_STORAGE_ENTRIES = 128
# GPU slots on one board: as many as expansion slots (build.MAX_SLOTS = 20).
MAX_GPU_SLOTS = 20
# Any other table or array in an input file (a prices file's names -> prices): more entries than
# the catalog has parts, so no honest file comes near it.
MAX_TABLE_ENTRIES = 4096
# Plausible readings from a GPU driver: beyond these a value is a driver or recording fault and
# is reported as out of range, never written into a build file. Each bound is above every card
# NVIDIA ships (B200: 1000 W board power, PCIe 6; GDDR7 memory clocks about 14 000 MHz; HBM3e
# parts 192-288 GB) and matches the build file's own limits where both exist.
NVML_PLAUSIBLE = {
    "power_w": (1.0, 2_000.0),  # build.GpuInput.power_w: at most 2000 W
    "pcie_gen": (1, 6),  # build: pcie_gen at most 6 (PCIe 6.0 is the newest in products)
    "pcie_width": (1, 32),  # the PCIe spec's widest link is x32; GPUs use x16
    "temperature_c": (-40.0, 150.0),  # silicon stops long before 150 °C; -40 °C: cold start
    "clock_mhz": (1.0, 50_000.0),
    "memory_gb": (0.0, 1_024.0),  # build.GpuInput.memory_gb: at most 1024 GB
    "utilization_pct": (0.0, 100.0),
}
