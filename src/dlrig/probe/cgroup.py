"""CPU and memory limits of this process's control group, cgroup v2 or v1 (pure file parsing).

`root` is where the cgroup filesystem is mounted (`/sys/fs/cgroup`) and `proc_cgroup` the text of
`/proc/self/cgroup`; tests pass fixture trees for both versions. Cross-check:
`cat /sys/fs/cgroup/cpu.max` (v2) or `cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us` (v1), and
`systemd-cgls` / `docker inspect --format '{{.HostConfig.NanoCpus}}'`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")
# cgroup v1 reports "no limit" as the largest page-aligned signed 64-bit value.
V1_UNLIMITED_BYTES = 2**62
# cgroup v2 cpu.max reads "$MAX $PERIOD"; should the period be missing, the kernel's default
# of 100000 us applies (Documentation/admin-guide/cgroup-v2.rst, "cpu.max").
CPU_MAX_DEFAULT_PERIOD_US = 100_000


@dataclass(frozen=True)
class Limit:
    """A limit (`value`) or None with why there is none (`note`: "no limit" or an error)."""

    value: float | None
    note: str


def _paths(proc_cgroup: str) -> dict[str, str]:
    """controller -> cgroup path; the v2 unified hierarchy is under the key ''."""
    out: dict[str, str] = {}
    for line in proc_cgroup.splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        for name in controllers.split(",") if controllers else [""]:
            out[name] = path
    return out


def _dirs(root: Path, controller_dirs: list[str], path: str) -> list[Path]:
    """This process's group and each ancestor up to the (namespaced) hierarchy root: a limit
    set on a parent (a systemd slice, a Kubernetes pod) binds the child too."""
    parts = [p for p in path.strip("/").split("/") if p]
    out = []
    for d in controller_dirs:
        base = root / d if d else root
        if base.is_dir():
            out += [base.joinpath(*parts[:n]) for n in range(len(parts), -1, -1)]
    return out


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cpu_quota(root: Path = CGROUP_ROOT, proc_cgroup: str | None = None) -> Limit:
    """CPUs the group may use per period (quota / period), e.g. 4.0 or 1.5: the tightest
    along the path from this process's group to the root."""
    try:
        return _cpu_quota(root, proc_cgroup)
    except (ValueError, ZeroDivisionError) as exc:
        return Limit(None, f"unparsable cgroup cpu limit: {exc}")


def _cpu_quota(root: Path, proc_cgroup: str | None) -> Limit:
    text = _proc_text(proc_cgroup)
    if text is None:
        return Limit(None, f"cannot read {PROC_CGROUP}")
    paths = _paths(text)
    found: list[tuple[float, Path]] = []
    seen: list[Path] = []
    if "cpu" in paths:  # v1 (the controller may be mounted as cpu,cpuacct)
        for d in _dirs(root, ["cpu", "cpu,cpuacct"], paths["cpu"]):
            quota, period = _read(d / "cpu.cfs_quota_us"), _read(d / "cpu.cfs_period_us")
            if quota is None or period is None:
                continue
            seen.append(d / "cpu.cfs_quota_us")
            if int(quota) > 0:
                found.append((int(quota) / int(period), d / "cpu.cfs_quota_us"))
        version = "v1 cpu.cfs_quota_us"
    elif "" in paths:  # v2
        for d in _dirs(root, [""], paths[""]):
            line = _read(d / "cpu.max")
            if line is None:
                continue
            seen.append(d / "cpu.max")
            quota, _, period = line.partition(" ")
            if quota != "max":
                found.append((int(quota) / int(period or CPU_MAX_DEFAULT_PERIOD_US), d / "cpu.max"))
        version = "v2 cpu.max (cpu controller not enabled?)"
    else:
        return Limit(None, "no cpu cgroup for this process")
    if found:
        value, where = min(found)
        return Limit(value, str(where))
    if seen:
        return Limit(None, f"no limit ({seen[0]} and its parents)")
    return Limit(None, f"cgroup {version} not readable")


def memory_limit_bytes(root: Path = CGROUP_ROOT, proc_cgroup: str | None = None) -> Limit:
    """The group's memory limit in bytes (`memory.max` v2, `memory.limit_in_bytes` v1), the
    tightest along the path to the root."""
    try:
        return _memory_limit(root, proc_cgroup)
    except ValueError as exc:
        return Limit(None, f"unparsable cgroup memory limit: {exc}")


def _memory_limit(root: Path, proc_cgroup: str | None) -> Limit:
    text = _proc_text(proc_cgroup)
    if text is None:
        return Limit(None, f"cannot read {PROC_CGROUP}")
    paths = _paths(text)
    if "memory" in paths:
        dirs, name = _dirs(root, ["memory"], paths["memory"]), "memory.limit_in_bytes"
    elif "" in paths:
        dirs, name = _dirs(root, [""], paths[""]), "memory.max"
    else:
        return Limit(None, "no memory cgroup for this process")
    found: list[tuple[float, Path]] = []
    seen: list[Path] = []
    for d in dirs:
        value = _read(d / name)
        if value is None:
            continue
        seen.append(d / name)
        if value != "max" and int(value) < V1_UNLIMITED_BYTES:
            found.append((float(value), d / name))
    if found:
        limit, where = min(found)
        return Limit(limit, str(where))
    if seen:
        return Limit(None, f"no limit ({seen[0]} and its parents)")
    return Limit(None, f"cgroup {name} not readable")


def _proc_text(proc_cgroup: str | None) -> str | None:
    if proc_cgroup is not None:
        return proc_cgroup
    try:
        return PROC_CGROUP.read_text()
    except OSError:
        return None
