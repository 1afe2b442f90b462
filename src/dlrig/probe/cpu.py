"""CPU: model, sockets, cores, threads, the CPUs this process may use, clocks, caches, NUMA.

Sources: /proc/cpuinfo, /sys/devices/system/{cpu,node}, sched_getaffinity, the cgroup quota and
psutil. Each field of `CpuInfo` names the command that cross-checks it (`lscpu`, `nproc`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from dlrig.probe import cgroup
from dlrig.probe.result import CpuInfo

SYS_CPU = Path("/sys/devices/system/cpu")
SYS_NODE = Path("/sys/devices/system/node")
PROC_CPUINFO = Path("/proc/cpuinfo")


def probe_cpu(
    sys_cpu: Path = SYS_CPU,
    sys_node: Path = SYS_NODE,
    cpuinfo: Path = PROC_CPUINFO,
    cgroup_root: Path = cgroup.CGROUP_ROOT,
    proc_cgroup: str | None = None,
) -> CpuInfo:
    """Read everything about the CPUs; unreadable fields are None with a reason."""
    info = CpuInfo()
    text = _read(cpuinfo)
    if text is None:
        info.missing("model", f"cannot read {cpuinfo}")
        info.missing("sockets", f"cannot read {cpuinfo}")
    else:
        info.model = _model(text, info)
        info.sockets = _sockets(text, sys_cpu, info)
    _counts(info)
    _usable(info, cgroup_root, proc_cgroup)
    _freq(info)
    _caches(info, sys_cpu / "cpu0" / "cache")
    nodes = sorted(sys_node.glob("node[0-9]*")) if sys_node.is_dir() else []
    if nodes:
        info.numa_nodes = len(nodes)
    else:
        info.missing("numa_nodes", f"{sys_node} not readable")
    return info


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


def _model(text: str, info: CpuInfo) -> str | None:
    for key in ("model name", "Model", "Hardware", "cpu model"):
        m = re.search(rf"^{key}\s*:\s*(.+)$", text, re.MULTILINE)
        if m:
            return m.group(1).strip()
    info.missing("model", "no 'model name' line in /proc/cpuinfo")
    return None


def _sockets(text: str, sys_cpu: Path, info: CpuInfo) -> int | None:
    ids = set(re.findall(r"^physical id\s*:\s*(\d+)", text, re.MULTILINE))
    if not ids:
        for f in sys_cpu.glob("cpu[0-9]*/topology/physical_package_id"):
            value = _read(f)
            if value is not None:
                ids.add(value.strip())
    if ids:
        return len(ids)
    info.missing("sockets", "no 'physical id' in /proc/cpuinfo and no topology in /sys")
    return None


def _counts(info: CpuInfo) -> None:
    import psutil

    info.threads = os.cpu_count()
    if info.threads is None:
        info.missing("threads", "os.cpu_count() returned None")
    try:
        info.cores_physical = psutil.cpu_count(logical=False)
    except (OSError, RuntimeError) as exc:
        info.missing("cores_physical", f"psutil: {exc}")
        return
    if info.cores_physical is None:
        info.missing("cores_physical", "psutil cannot tell physical cores on this platform")


def _usable(info: CpuInfo, cgroup_root: Path, proc_cgroup: str | None) -> None:
    try:
        info.affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError) as exc:
        info.missing("affinity", f"sched_getaffinity: {exc}")
    quota = cgroup.cpu_quota(cgroup_root, proc_cgroup)
    info.cgroup_cpus = quota.value
    if quota.value is None:
        info.missing("cgroup_cpus", quota.note)
    limits = [v for v in (info.affinity, quota.value, info.threads) if v is not None]
    if limits:
        info.usable = float(min(limits))
    else:
        info.missing("usable", "neither affinity, cgroup quota nor CPU count readable")


def _freq(info: CpuInfo) -> None:
    import psutil

    try:
        freq = psutil.cpu_freq()
    except (OSError, RuntimeError, NotImplementedError) as exc:
        freq = None
        reason = f"psutil.cpu_freq: {exc}"
    else:
        reason = "psutil.cpu_freq() returned nothing (no cpufreq in this VM or container)"
    if freq is None or not freq.current:
        info.missing("freq_mhz", reason)
    else:
        info.freq_mhz = round(freq.current, 1)
    if freq is None or not freq.max:
        info.missing("freq_max_mhz", "no cpufreq maximum (common in VMs)")
    else:
        info.freq_max_mhz = round(freq.max, 1)


def parse_size_kb(text: str) -> float | None:
    """'48K' -> 48, '2048K' -> 2048, '32M' -> 32768 (sysfs cache sizes)."""
    m = re.fullmatch(r"\s*(\d+)\s*([KMG]?)\s*", text)
    if not m:
        return None
    return int(m.group(1)) * {"": 1 / 1024, "K": 1, "M": 1024, "G": 1024**2}[m.group(2)]


def _caches(info: CpuInfo, cache_dir: Path) -> None:
    found: dict[str, float] = {}
    for index in sorted(cache_dir.glob("index[0-9]*")):
        level, kind, size = (_read(index / f) for f in ("level", "type", "size"))
        kb = parse_size_kb(size) if size else None
        if level is None or kind is None or kb is None:
            continue
        key = {"1": "l1d_kb" if kind.strip() == "Data" else "", "2": "l2_kb", "3": "l3_mb"}.get(
            level.strip(), ""
        )
        if key:
            found[key] = kb / 1024 if key == "l3_mb" else kb
    for key in ("l1d_kb", "l2_kb", "l3_mb"):
        if key in found:
            setattr(info, key, round(found[key], 2))
        else:
            info.missing(key, f"not listed in {cache_dir}")
