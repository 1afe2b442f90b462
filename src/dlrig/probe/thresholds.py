"""Thresholds the probe's findings use, each with its source (the rules' own are reused from
`dlrig.model.thresholds`, so `probe` and `check` judge a machine by the same numbers)."""

from __future__ import annotations

from dlrig.model.thresholds import (
    COOLING_SOURCE,
    CPU_CORES_RESERVED,
    CPU_CORES_SOURCE,
    DEFAULT_NUM_WORKERS,
    DISK_ERROR_FRACTION,
    DISK_SOURCE,
    DISK_WARN_FRACTION,
    IMAGENET_BATCH_MB,
    P2P_SOURCE,
    PCIE_LANES_OK,
    PCIE_LANES_SOURCE,
    PCIE_LANES_WARN,
    RAM_SOURCE,
    SUGGESTED_POWER_LIMIT_FRACTION,
    guide,
)

__all__ = [
    "CPU_CORES_RESERVED",
    "DEFAULT_NUM_WORKERS",
    "DISK_ERROR_FRACTION",
    "DISK_WARN_FRACTION",
    "PCIE_LANES_OK",
    "PCIE_LANES_WARN",
    "SUGGESTED_POWER_LIMIT_FRACTION",
]

# --- PCIe link --------------------------------------------------------------------------------
# Idle NVIDIA GPUs drop the link to a lower generation to save power and raise it under load
# (NVIDIA, nvidia-smi -q "PCIe Generation: Max / Current"); below this utilisation a lower
# generation is expected and the link must be measured under load.
GPU_IDLE_UTIL_PCT = 10.0
PCIE_LINK_SOURCE = (
    PCIE_LANES_SOURCE + "; NVIDIA nvidia-smi docs: idle GPUs lower the link generation "
    "https://docs.nvidia.com/deploy/nvidia-smi/index.html"
)

# --- Temperature and throttling ---------------------------------------------------------------
# Clock event reasons that mean heat or the board's hardware protection, not a chosen limit
# (nvml.h, nvmlClocksEventReason*).
THERMAL_REASONS = (
    "sw_thermal_slowdown",
    "hw_thermal_slowdown",
    "hw_slowdown",
    "hw_power_brake_slowdown",
)
# Within this many °C of the card's own slowdown threshold the GPU is about to throttle.
SLOWDOWN_MARGIN_C = 5.0
# "NVIDIA GPUs slow down around 84-90 °C; aim for <= 75 °C under load" (rules.md, Cooling [R]).
GPU_TARGET_MAX_C = 75.0
# Under a sustained load, an SM clock dipping below this share of its best is throttling.
SUSTAINED_CLOCK_FLOOR_FRACTION = 0.85
THROTTLE_SOURCE = COOLING_SOURCE + "; NVML clock event reasons (nvml.h)"

# --- Power limit ------------------------------------------------------------------------------
# A limit within 1 % of the default is the default (drivers round to whole watts).
POWER_LIMIT_TOLERANCE = 0.01
POWER_SOURCE = COOLING_SOURCE

# --- Persistence mode -------------------------------------------------------------------------
PERSISTENCE_SOURCE = (
    "NVIDIA, Driver Persistence: without it the driver tears down the GPU state when the last "
    "client exits https://docs.nvidia.com/deploy/driver-persistence/index.html"
)

# --- P2P --------------------------------------------------------------------------------------
P2P_PROBE_SOURCE = P2P_SOURCE + "; NVML nvmlDeviceGetP2PStatus (nvidia-smi topo -p2p r)"

# --- Pinned vs pageable copies ----------------------------------------------------------------
# Below this share of the pinned rate, pageable copies are slow enough that pin_memory=True pays.
PAGEABLE_SLOW_FRACTION = 0.7
PINNED_SOURCE = (
    "PyTorch, A guide on good usage of non_blocking and pin_memory() "
    "https://docs.pytorch.org/tutorials/intermediate/pinmem_nonblock.html; "
    + guide("Asynchronous mini-batch loading")
)

# --- CPU limits -------------------------------------------------------------------------------
CGROUP_SOURCE = CPU_CORES_SOURCE

# --- Shared memory ----------------------------------------------------------------------------
# DataLoader workers hand batches to the main process through /dev/shm; PyTorch's default
# prefetch_factor is 2 batches per worker (torch.utils.data.DataLoader docs). Per GPU that is
# workers x 2 x one ImageNet batch (77 MB): 4 x 2 x 77 MB = 0.62 GB.
DATALOADER_PREFETCH_FACTOR = 2
SHM_PER_GPU_GB = DEFAULT_NUM_WORKERS * DATALOADER_PREFETCH_FACTOR * IMAGENET_BATCH_MB / 1000
SHM_SOURCE = (
    "PyTorch README, Docker: data-loader workers use shared memory; the container default "
    "(64 MB) is too small, use --ipc=host or --shm-size https://github.com/pytorch/pytorch; "
    "DataLoader prefetch_factor=2 https://docs.pytorch.org/docs/stable/data.html"
)

# --- Disk -------------------------------------------------------------------------------------
# The guide's JPEG case: 128 images x ~110 KB every 0.3 s = 47 MB/s per GPU (rules.md, Disk).
GUIDE_BATCH = 128
GUIDE_JPEG_BYTES = 110_000
GUIDE_STEP_S = 0.3
GUIDE_JPEG_MBS_PER_GPU = GUIDE_BATCH * GUIDE_JPEG_BYTES / GUIDE_STEP_S / 1e6
DISK_PROBE_SOURCE = DISK_SOURCE

# --- Swap -------------------------------------------------------------------------------------
# dlrig's choice: an idle system may park a few MB in swap; 256 MB in use means the machine ran
# out of RAM at some point, which the guide's "at least as much RAM as GPU memory" is about.
SWAP_ACTIVE_GB = 0.256
SWAP_SOURCE = RAM_SOURCE
