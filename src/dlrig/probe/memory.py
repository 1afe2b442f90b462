"""Memory: total, available, cgroup limit, swap, DIMMs where readable, and measured copy bandwidth.

Bandwidth follows the STREAM "Copy" convention: (bytes read + bytes written) / time, the best of
several runs of a large NumPy copy, single-threaded and split over the usable CPUs. Cross-check
with `mbw -t0 SIZE_MiB` (which counts the copied bytes once: multiply its MiB/s by 2 x 1.048576
to compare) or STREAM.
"""

from __future__ import annotations

import re
import struct
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

from dlrig.probe import cgroup
from dlrig.probe.result import MemoryInfo

BYTES_PER_GB = 1e9
BYTES_PER_MB = 1e6
MB_PER_GB = 1000
COPY_BUFFERS = 2  # source and destination
DMI_ENTRIES = Path("/sys/firmware/dmi/entries")
# SMBIOS type 17 (Memory Device) offsets: size (WORD) at 0x0C, speed at 0x15, configured speed at
# 0x20 (DMTF DSP0134 3.x, 7.18).
DMI17_SIZE, DMI17_SPEED, DMI17_CONFIGURED_SPEED = 0x0C, 0x15, 0x20
# String numbers of the device locator (the slot) and bank locator at 0x10 and 0x11.
DMI17_DEVICE_LOCATOR, DMI17_BANK_LOCATOR = 0x10, 0x11

# Both copy buffers together take at most this share of the memory budget (the rest belongs to
# whatever else runs, in a container to its cgroup limit); below MIN_BUFFER_MB per buffer the
# copy would partly run in a large L3 cache (up to ~100 MB per socket today) and overstate RAM.
BUFFER_BUDGET_SHARE = 0.25
MIN_BUFFER_MB = 64

Progress = Callable[[float], None]


def probe_memory(
    *,
    buffer_mb: float,
    runs: int,
    threads: int,
    cgroup_root: Path = cgroup.CGROUP_ROOT,
    proc_cgroup: str | None = None,
    dmi_entries: Path = DMI_ENTRIES,
    progress: Progress | None = None,
) -> MemoryInfo:
    """Read the memory figures and measure copy bandwidth on `buffer_mb` MB buffers."""
    import psutil

    info = MemoryInfo()
    vm = psutil.virtual_memory()
    info.total_gb = round(vm.total / BYTES_PER_GB, 2)
    info.available_gb = round(vm.available / BYTES_PER_GB, 2)
    limit = cgroup.memory_limit_bytes(cgroup_root, proc_cgroup)
    if limit.value is None:
        info.missing("cgroup_limit_gb", limit.note)
    else:
        info.cgroup_limit_gb = round(limit.value / BYTES_PER_GB, 2)
    try:
        swap = psutil.swap_memory()
        info.swap_total_gb = round(swap.total / BYTES_PER_GB, 2)
        info.swap_used_gb = round(swap.used / BYTES_PER_GB, 2)
    except (OSError, RuntimeError) as exc:
        info.missing("swap_total_gb", f"psutil.swap_memory: {exc}")
        info.missing("swap_used_gb", f"psutil.swap_memory: {exc}")
    _dimms(info, dmi_entries)
    _bandwidth(info, buffer_mb, runs, threads, progress)
    return info


class Dimm(NamedTuple):
    size_mb: int | None  # None: an empty slot
    speed_mts: int | None  # configured speed, else rated speed
    device_locator: str  # e.g. "DIMM_A1", "Controller0-ChannelA-DIMM0", "P1-DIMMC1"
    bank_locator: str  # e.g. "BANK 0", "P0 CHANNEL A"


def _dmi_strings(raw: bytes) -> list[str]:
    """The string table after an SMBIOS structure's formatted area (1-based in the entry)."""
    return [s.decode("ascii", "replace") for s in raw[raw[1] :].split(b"\0")]


def parse_dmi17(raw: bytes) -> Dimm | None:
    """One SMBIOS type-17 (Memory Device) entry, or None if it is not one."""
    if len(raw) < DMI17_SPEED + 2 or raw[0] != 17:
        return None
    size = struct.unpack_from("<H", raw, DMI17_SIZE)[0]
    speed = struct.unpack_from("<H", raw, DMI17_SPEED)[0]
    if len(raw) >= DMI17_CONFIGURED_SPEED + 2 and raw[1] >= DMI17_CONFIGURED_SPEED + 2:
        speed = struct.unpack_from("<H", raw, DMI17_CONFIGURED_SPEED)[0] or speed
    size_mb = None if size in (0, 0xFFFF) else (size & 0x7FFF) * (1 if size & 0x8000 else 1024)
    strings = _dmi_strings(raw)

    def text(offset: int) -> str:
        n = raw[offset] if len(raw) > offset else 0
        return strings[n - 1].strip() if 0 < n <= len(strings) else ""

    return Dimm(
        size_mb or None,
        speed if speed not in (0, 0xFFFF) else None,
        text(DMI17_DEVICE_LOCATOR),
        text(DMI17_BANK_LOCATOR),
    )


def channel_of(dimm: Dimm) -> str | None:
    """A key naming the memory channel a DIMM sits on, from its locator strings (the same
    naming dmidecode prints), or None when the board's names do not say. Heuristic by design:
    boards name slots "DIMM_A1", "ChannelA-DIMM0", "P0 CHANNEL A" or "CPU1_DIMM_B2"."""
    text = f"{dimm.bank_locator} {dimm.device_locator}".upper()
    channel = re.search(r"CHANNEL\s*([A-Z0-9]+)", text) or re.search(r"DIMM[\s_-]?([A-Z])\d", text)
    if channel is None:
        return None
    socket = re.search(r"\b(?:P|CPU|NODE|SOCKET)\s*(\d+)", text)
    controller = re.search(r"CONTROLLER\s*(\d+)", text)
    return "/".join(
        [
            socket.group(1) if socket else "",
            controller.group(1) if controller else "",
            channel.group(1),
        ]
    )


def _dimms(info: MemoryInfo, entries: Path) -> None:
    files = sorted(entries.glob("17-*/raw")) if entries.is_dir() else []
    readable: list[Dimm] = []
    for f in files:
        try:
            dimm = parse_dmi17(f.read_bytes())
        except OSError:
            continue
        if dimm is not None:
            readable.append(dimm)
    if not readable:
        why = f"{entries} not readable (run as root on bare metal; VMs often hide it)"
        for field in ("dimm_speed_mts", "dimms_populated", "channels_populated"):
            info.missing(field, why)
        return
    populated = [d for d in readable if d.size_mb]
    info.dimms_populated = len(populated)
    speeds = [d.speed_mts for d in populated if d.speed_mts]
    if speeds:
        info.dimm_speed_mts = float(min(speeds))
    else:
        info.missing("dimm_speed_mts", "SMBIOS lists no configured speed")
    channels = [channel_of(d) for d in populated]
    if populated and all(channels):
        info.channels_populated = len(set(channels))
    else:
        info.missing("channels_populated", "the DIMM slot names do not say which channel")


def copy_gbs(nbytes: int, seconds: float) -> float:
    """STREAM Copy convention: each byte is read once and written once."""
    return 2 * nbytes / seconds / BYTES_PER_GB


def measure_copy(
    buffer_mb: float, runs: int, threads: int, progress: Progress | None = None
) -> tuple[float, float]:
    """(best single-thread GB/s, best `threads`-thread GB/s) copying a `buffer_mb` MB array."""
    import numpy as np

    n = int(buffer_mb * BYTES_PER_MB)
    src = np.ones(n, dtype=np.uint8)
    dst = np.zeros(n, dtype=np.uint8)  # both touched: page faults stay out of the timing
    np.copyto(dst, src)
    chunks = [slice(i * n // threads, (i + 1) * n // threads) for i in range(threads)]

    def best(copy: Callable[[], object], step: int) -> float:
        fastest = float("inf")
        for i in range(runs):
            t0 = time.perf_counter()
            copy()
            fastest = min(fastest, time.perf_counter() - t0)
            if progress:
                progress((step * runs + i + 1) / (2 * runs))
        return copy_gbs(n, fastest)

    one = best(lambda: np.copyto(dst, src), 0)
    with ThreadPoolExecutor(threads) as pool:
        many = best(lambda: list(pool.map(lambda s: np.copyto(dst[s], src[s]), chunks)), 1)
    return one, many


def fit_buffer_mb(requested_mb: float, budget_gb: float | None) -> float | None:
    """The buffer size to copy: the request, shrunk so both buffers take at most a quarter of
    the memory budget (available RAM, or the cgroup limit if lower); None if shrinking leaves
    less than MIN_BUFFER_MB, too small to get past the caches."""
    room_mb = (
        None if budget_gb is None else budget_gb * MB_PER_GB * BUFFER_BUDGET_SHARE / COPY_BUFFERS
    )
    if room_mb is None or requested_mb <= room_mb:
        return requested_mb  # a small request (tests) is the caller's choice
    return round(room_mb) if room_mb >= MIN_BUFFER_MB else None


def _bandwidth(
    info: MemoryInfo, buffer_mb: float, runs: int, threads: int, progress: Progress | None
) -> None:
    budgets = [b for b in (info.available_gb, info.cgroup_limit_gb) if b is not None]
    fitted = fit_buffer_mb(buffer_mb, min(budgets) if budgets else None)
    if fitted is None:
        least_mb = COPY_BUFFERS * MIN_BUFFER_MB / BUFFER_BUDGET_SHARE
        why = f"less than {least_mb:g} MB of memory free for two copy buffers"
        info.missing("bandwidth_gbs", why)
        info.missing("bandwidth_1t_gbs", why)
        return
    try:
        one, many = measure_copy(fitted, runs, max(1, threads), progress)
    except (MemoryError, ImportError) as exc:
        info.missing("bandwidth_gbs", f"copy failed: {exc}")
        info.missing("bandwidth_1t_gbs", f"copy failed: {exc}")
        return
    info.bandwidth_1t_gbs = round(one, 2)
    info.bandwidth_gbs = round(max(one, many), 2)
    info.bandwidth_threads = max(1, threads)
    info.bandwidth_buffer_mb = fitted
