"""NVIDIA GPUs through NVML: the one module that imports `pynvml` (nvidia-ml-py).

Interface (also used by `dlrig.pipeline` to sample utilisation)::

    from dlrig.probe.nvml import open_backend
    from dlrig.model.text import safe_line
from dlrig.model.thresholds import NVML_PLAUSIBLE
from dlrig.probe.backend import Unavailable

    backend = open_backend()                 # NvmlBackend, or Unavailable(reason)
    if isinstance(backend, Unavailable):
        print(backend)                       # "unavailable: NVML library not found ..."
    else:
        for i in range(backend.device_count()):
            backend.utilization_pct(i)       # float | None (nvmlDeviceGetUtilizationRates().gpu)
        backend.gpu(0)                       # GpuInfo: every field, None + reason when unreadable
        backend.system()                     # GpuSystem: driver, CUDA, P2P matrix, topology
        backend.close()                      # nvmlShutdown; also `with open_backend() as b:`

`open_backend(nv=...)` takes any object shaped like the pynvml module (tests pass
`dlrig.probe.fake.FakeNvml`). pynvml is imported lazily, `nvmlInit` runs once per backend, bytes
are decoded, and every call is wrapped on its own (gpustat's `safenvml`): an `NVMLError` becomes
a None field with the reason in `unavailable`, so one unsupported counter never loses a row.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any, TypeVar

from dlrig.model.text import safe_line
from dlrig.model.thresholds import NVML_PLAUSIBLE
from dlrig.probe.backend import Unavailable
from dlrig.probe.models import GpuInfo, GpuSystem

T = TypeVar("T")
MW_PER_W = 1000.0
BYTES_PER_GB = 1e9

# nvmlClocksEventReason* bits (nvml.h) -> what nvidia-smi -q -d PERFORMANCE calls them.
THROTTLE_BITS = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}
# Newer drivers call them clock event reasons; older nvidia-ml-py only has the throttle name.
THROTTLE_FUNCTIONS = (
    "nvmlDeviceGetCurrentClocksEventReasons",
    "nvmlDeviceGetCurrentClocksThrottleReasons",
)
# nvmlGpuP2PStatus_t (nvml.h), as nvidia-smi topo -p2p prints them.
P2P_STATUS = {
    0: "OK",
    1: "chipset not supported",
    2: "GPU not supported",
    3: "topology not supported",
    4: "disabled by regkey",
    5: "not supported",
    6: "unknown",
}
# nvmlGpuTopologyLevel_t (nvml.h) -> nvidia-smi topo -m legend.
TOPOLOGY = {0: "BOARD", 10: "PIX", 20: "PXB", 30: "PHB", 40: "NODE", 50: "SYS"}
# Arguments from nvml.h, so fakes need not define them.
TEMPERATURE_GPU = 0
THRESHOLD_SHUTDOWN, THRESHOLD_SLOWDOWN = 0, 1
CLOCK_SM, CLOCK_MEM = 1, 2
P2P_CAPS_READ = 0
NVML_ERROR_NOT_SUPPORTED = 3  # used when the module does not name it
NVLINK_MAX_LINKS = 18  # NVLink 4 (H100): 18 links per GPU
MAX_TEXT = 256  # NVML names, UUIDs and versions fit in 96 bytes (NVML_DEVICE_NAME_V2_BUFFER_SIZE)
# GpuInfo field -> its plausible range (model/thresholds.NVML_PLAUSIBLE): outside it the value
# is a fault of the driver (or of a recorded scenario) and is dropped as out of range.
PLAUSIBLE_FIELDS = {
    "power_draw_w": "power_w",
    "power_limit_w": "power_w",
    "power_default_limit_w": "power_w",
    "power_max_limit_w": "power_w",
    "pcie_gen_current": "pcie_gen",
    "pcie_gen_max": "pcie_gen",
    "pcie_width_current": "pcie_width",
    "pcie_width_max": "pcie_width",
    "temperature_c": "temperature_c",
    "slowdown_temp_c": "temperature_c",
    "shutdown_temp_c": "temperature_c",
    "sm_clock_mhz": "clock_mhz",
    "sm_clock_max_mhz": "clock_mhz",
    "mem_clock_mhz": "clock_mhz",
    "memory_total_gb": "memory_gb",
    "memory_used_gb": "memory_gb",
    "utilization_pct": "utilization_pct",
}
# What decoding a reply of the wrong shape raises (a short tuple, a string for a number, ...).
DECODE_ERRORS = (AttributeError, LookupError, TypeError, ValueError, ArithmeticError)


def _text(value: Any) -> str:
    """A driver string, decoded, with control characters escaped (it reaches the terminal)."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return safe_line(text[:MAX_TEXT])


def decode_throttle(mask: int) -> list[str]:
    """Names of the set bits of an NVML clock-event mask; unknown bits as hex."""
    names = [name for bit, name in THROTTLE_BITS.items() if mask & bit]
    rest = mask & ~sum(THROTTLE_BITS)
    return names + ([f"0x{rest:x}"] if rest else [])


def cuda_version_text(code: int) -> str:
    """nvmlSystemGetCudaDriverVersion's 12040 -> '12.4'."""
    return f"{code // 1000}.{code % 1000 // 10}"


class NvmlBackend:
    """`GpuBackend` over the pynvml module `nv` (already initialised)."""

    def __init__(self, nv: Any) -> None:
        self._nv = nv
        self._errors: tuple[type[BaseException], ...] = (
            nv.NVMLError,
            AttributeError,  # a function this nvidia-ml-py version lacks
            TypeError,
            ValueError,
            OSError,
            LookupError,  # a reply short of an element or key (malformed: see reason)
        )
        self._handles: dict[int, Any] = {}

    def __enter__(self) -> NvmlBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(*self._errors):
            self._nv.nvmlShutdown()

    def _call(self, fn: str, *args: Any) -> Any:
        return getattr(self._nv, fn)(*args)

    def _try(
        self, row: Any, field: str, fn: str, *args: Any, conv: Callable[[Any], T] = lambda v: v
    ) -> T | None:
        """Call `nv.<fn>(*args)` and decode the reply with `conv`; if either fails, record why
        under `field` and return None (a malformed reply loses that field, not the row)."""
        try:
            reply = self._call(fn, *args)
        except self._errors as exc:
            row.missing(field, self.reason(fn, exc))
            return None
        try:
            return conv(reply)
        except DECODE_ERRORS as exc:
            row.missing(field, f"{fn}: {_malformed(exc)}")
            return None

    def reason(self, fn: str, exc: BaseException) -> str:
        text = _text(exc) or type(exc).__name__
        if isinstance(exc, AttributeError):
            text = "not in this nvidia-ml-py version"
        elif isinstance(exc, LookupError):
            text = _malformed(exc)
        return f"{fn}: {text}"

    def _handle(self, index: int) -> Any:
        if index not in self._handles:
            self._handles[index] = self._call("nvmlDeviceGetHandleByIndex", index)
        return self._handles[index]

    def device_count(self) -> int:
        try:
            return int(self._call("nvmlDeviceGetCount"))
        except self._errors:
            return 0

    def uuid(self, index: int) -> str | None:
        try:
            return _text(self._call("nvmlDeviceGetUUID", self._handle(index)))
        except (*self._errors, *DECODE_ERRORS):
            return None

    def utilization_pct(self, index: int) -> float | None:
        try:
            return float(self._call("nvmlDeviceGetUtilizationRates", self._handle(index)).gpu)
        except self._errors:
            return None

    def gpu(self, index: int) -> GpuInfo:
        row = GpuInfo(index=index)
        try:
            h = self._handle(index)
        except self._errors as exc:
            row.missing("name", self.reason("nvmlDeviceGetHandleByIndex", exc))
            return row
        t = self._try
        row.name = t(row, "name", "nvmlDeviceGetName", h, conv=_text)
        row.uuid = t(row, "uuid", "nvmlDeviceGetUUID", h, conv=_text)
        row.pci_bus_id = t(row, "pci_bus_id", "nvmlDeviceGetPciInfo", h, conv=_bus_id)
        mem = t(row, "memory_total_gb", "nvmlDeviceGetMemoryInfo", h, conv=_memory_gb)
        if mem is not None:
            row.memory_total_gb, row.memory_used_gb = mem
        else:
            row.missing("memory_used_gb", row.unavailable["memory_total_gb"])
        row.pcie_gen_current = t(row, "pcie_gen_current", "nvmlDeviceGetCurrPcieLinkGeneration", h)
        row.pcie_gen_max = t(row, "pcie_gen_max", "nvmlDeviceGetMaxPcieLinkGeneration", h)
        row.pcie_width_current = t(row, "pcie_width_current", "nvmlDeviceGetCurrPcieLinkWidth", h)
        row.pcie_width_max = t(row, "pcie_width_max", "nvmlDeviceGetMaxPcieLinkWidth", h)
        row.temperature_c = t(
            row, "temperature_c", "nvmlDeviceGetTemperature", h, TEMPERATURE_GPU, conv=float
        )
        row.slowdown_temp_c = t(
            row,
            "slowdown_temp_c",
            "nvmlDeviceGetTemperatureThreshold",
            h,
            THRESHOLD_SLOWDOWN,
            conv=float,
        )
        row.shutdown_temp_c = t(
            row,
            "shutdown_temp_c",
            "nvmlDeviceGetTemperatureThreshold",
            h,
            THRESHOLD_SHUTDOWN,
            conv=float,
        )
        row.sm_clock_mhz = t(row, "sm_clock_mhz", "nvmlDeviceGetClockInfo", h, CLOCK_SM, conv=float)
        row.sm_clock_max_mhz = t(
            row, "sm_clock_max_mhz", "nvmlDeviceGetMaxClockInfo", h, CLOCK_SM, conv=float
        )
        row.mem_clock_mhz = t(
            row, "mem_clock_mhz", "nvmlDeviceGetClockInfo", h, CLOCK_MEM, conv=float
        )
        row.throttle_reasons = self._throttle(row, h)
        watts = _per_mw
        row.power_draw_w = t(row, "power_draw_w", "nvmlDeviceGetPowerUsage", h, conv=watts)
        row.power_limit_w = t(
            row, "power_limit_w", "nvmlDeviceGetEnforcedPowerLimit", h, conv=watts
        )
        row.power_default_limit_w = t(
            row, "power_default_limit_w", "nvmlDeviceGetPowerManagementDefaultLimit", h, conv=watts
        )
        row.power_max_limit_w = t(
            row,
            "power_max_limit_w",
            "nvmlDeviceGetPowerManagementLimitConstraints",
            h,
            conv=lambda mm: _per_mw(mm[1]),
        )
        row.persistence_mode = t(
            row, "persistence_mode", "nvmlDeviceGetPersistenceMode", h, conv=bool
        )
        row.ecc_enabled = t(
            row, "ecc_enabled", "nvmlDeviceGetEccMode", h, conv=lambda m: bool(m[0])
        )
        row.mig_enabled = t(
            row, "mig_enabled", "nvmlDeviceGetMigMode", h, conv=lambda m: bool(m[0])
        )
        row.nvlink_active_links = self._nvlinks(row, h)
        row.utilization_pct = t(
            row, "utilization_pct", "nvmlDeviceGetUtilizationRates", h, conv=lambda u: float(u.gpu)
        )
        row.drop_malformed()
        drop_implausible(row)
        return row

    def _throttle(self, row: GpuInfo, h: Any) -> list[str] | None:
        for fn in THROTTLE_FUNCTIONS:
            if hasattr(self._nv, fn):
                return self._try(row, "throttle_reasons", fn, h, conv=decode_throttle)
        row.missing("throttle_reasons", "clock event reasons: not in this nvidia-ml-py version")
        return None

    def _nvlinks(self, row: GpuInfo, h: Any) -> int | None:
        """Active NVLink links; 0 when the first link reports Not Supported (no NVLink)."""
        active = 0
        for link in range(NVLINK_MAX_LINKS):
            try:
                active += bool(self._call("nvmlDeviceGetNvLinkState", h, link))
            except self._errors as exc:
                if link == 0 and not _not_supported(self._nv, exc):
                    row.missing("nvlink_active_links", self.reason("nvmlDeviceGetNvLinkState", exc))
                    return None
                break  # links past the last one, or no NVLink at all
        return active

    def system(self) -> GpuSystem:
        sysinfo = GpuSystem()
        t = self._try
        sysinfo.driver_version = t(
            sysinfo, "driver_version", "nvmlSystemGetDriverVersion", conv=_text
        )
        sysinfo.cuda_driver_version = t(
            sysinfo, "cuda_driver_version", "nvmlSystemGetCudaDriverVersion", conv=cuda_version_text
        )
        n = self.device_count()
        sysinfo.p2p_read = self._matrix(n, "nvmlDeviceGetP2PStatus", P2P_STATUS, P2P_CAPS_READ)
        sysinfo.topology = self._matrix(n, "nvmlDeviceGetTopologyCommonAncestor", TOPOLOGY)
        return sysinfo

    def _matrix(self, n: int, fn: str, names: dict[int, str], *extra: Any) -> list[list[str]]:
        """n x n table of `fn(h_i, h_j, *extra)` decoded by `names`; 'X' on the diagonal,
        'unavailable: <reason>' in a cell NVML refuses."""
        out: list[list[str]] = []
        for i in range(n):
            cells = []
            for j in range(n):
                if i == j:
                    cells.append("X")
                    continue
                try:
                    code = int(self._call(fn, self._handle(i), self._handle(j), *extra))
                    cells.append(names.get(code, f"code {code}"))
                except self._errors as exc:
                    cells.append(f"unavailable: {self.reason(fn, exc)}")
            out.append(cells)
        return out


def drop_implausible(row: GpuInfo) -> None:
    """Readings no GPU can give (a power limit of -450, 0, NaN or 1e27 W; PCIe gen 99) become
    None with 'out of range' as the reason, so no report or build file carries them."""
    for field, kind in PLAUSIBLE_FIELDS.items():
        value = getattr(row, field)
        if value is None:
            continue
        low, high = NVML_PLAUSIBLE[kind]
        if isinstance(value, bool) or not (math.isfinite(value) and low <= value <= high):
            setattr(row, field, None)
            row.missing(field, f"out of range: NVML reported {value!r}; expected {low}..{high}")
    if row.memory_total_gb is not None and row.memory_total_gb <= 0:
        row.missing("memory_total_gb", "out of range: NVML reported 0 GB of device memory")
        row.memory_total_gb = None


def _malformed(exc: BaseException) -> str:
    return f"malformed reply ({type(exc).__name__}: {exc})"


def _memory_gb(mem: Any) -> tuple[float, float]:
    """nvmlDeviceGetMemoryInfo's reply -> (total, used) in GB."""
    return round(mem.total / BYTES_PER_GB, 2), round(mem.used / BYTES_PER_GB, 2)


def _per_mw(milliwatts: Any) -> float:
    return round(float(milliwatts) / MW_PER_W, 1)


def _bus_id(pci: Any) -> str:
    return _text(getattr(pci, "busId", None) or getattr(pci, "busIdLegacy", ""))


def _not_supported(nv: Any, exc: BaseException) -> bool:
    return getattr(exc, "value", None) == getattr(
        nv, "NVML_ERROR_NOT_SUPPORTED", NVML_ERROR_NOT_SUPPORTED
    )


def open_backend(nv: Any | None = None) -> NvmlBackend | Unavailable:
    """Initialise NVML and return a backend, or `Unavailable(reason)`; never raises."""
    if nv is None:
        try:
            import pynvml as nv  # the only import of pynvml in dlrig
        except ImportError as exc:
            return Unavailable(f"nvidia-ml-py is not installed ({exc})")
    try:
        nv.nvmlInit()
    except nv.NVMLError as exc:
        return Unavailable(f"NVML: {_text(exc)} (no NVIDIA driver loaded, or no NVIDIA GPU)")
    except OSError as exc:
        return Unavailable(f"NVML: {exc}")
    return NvmlBackend(nv)
