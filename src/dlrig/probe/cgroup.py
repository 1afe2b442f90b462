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


def _candidates(root: Path, controller_dirs: list[str], path: str, name: str) -> list[Path]:
    """The file in this process's own group first, then at the (namespaced) hierarchy root."""
    rel = path.lstrip("/")
    out = []
    for d in controller_dirs:
        base = root / d if d else root
        out += [base / rel / name, base / name] if rel else [base / name]
    return out


def _read_first(files: list[Path]) -> tuple[str, Path] | None:
    for f in files:
        try:
            return f.read_text().strip(), f
        except OSError:
            continue
    return None


def cpu_quota(root: Path = CGROUP_ROOT, proc_cgroup: str | None = None) -> Limit:
    """CPUs the group may use per period (quota / period), e.g. 4.0 or 1.5."""
    try:
        return _cpu_quota(root, proc_cgroup)
    except (ValueError, ZeroDivisionError) as exc:
        return Limit(None, f"unparsable cgroup cpu limit: {exc}")


def _cpu_quota(root: Path, proc_cgroup: str | None) -> Limit:
    text = _proc_text(proc_cgroup)
    if text is None:
        return Limit(None, f"cannot read {PROC_CGROUP}")
    paths = _paths(text)
    if "cpu" in paths:  # v1 (controller may be mounted as cpu,cpuacct)
        quota = _read_first(
            _candidates(root, ["cpu", "cpu,cpuacct"], paths["cpu"], "cpu.cfs_quota_us")
        )
        period = _read_first(
            _candidates(root, ["cpu", "cpu,cpuacct"], paths["cpu"], "cpu.cfs_period_us")
        )
        if quota is None or period is None:
            return Limit(None, "cgroup v1 cpu.cfs_quota_us not readable")
        if int(quota[0]) < 0:
            return Limit(None, f"no limit ({quota[1]} = -1)")
        return Limit(int(quota[0]) / int(period[0]), str(quota[1]))
    if "" in paths:  # v2
        found = _read_first(_candidates(root, [""], paths[""], "cpu.max"))
        if found is None:
            return Limit(None, "cgroup v2 cpu.max not readable (cpu controller not enabled)")
        quota_s, _, period_s = found[0].partition(" ")
        if quota_s == "max":
            return Limit(None, f"no limit ({found[1]} = max)")
        return Limit(int(quota_s) / int(period_s or 100_000), str(found[1]))
    return Limit(None, "no cpu cgroup for this process")


def memory_limit_bytes(root: Path = CGROUP_ROOT, proc_cgroup: str | None = None) -> Limit:
    """The group's memory limit in bytes (`memory.max` v2, `memory.limit_in_bytes` v1)."""
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
        found = _read_first(_candidates(root, ["memory"], paths["memory"], "memory.limit_in_bytes"))
        if found is None:
            return Limit(None, "cgroup v1 memory.limit_in_bytes not readable")
        if int(found[0]) >= V1_UNLIMITED_BYTES:
            return Limit(None, f"no limit ({found[1]})")
        return Limit(float(found[0]), str(found[1]))
    if "" in paths:
        found = _read_first(_candidates(root, [""], paths[""], "memory.max"))
        if found is None:
            return Limit(None, "cgroup v2 memory.max not readable")
        if found[0] == "max":
            return Limit(None, f"no limit ({found[1]} = max)")
        return Limit(float(found[0]), str(found[1]))
    return Limit(None, "no memory cgroup for this process")


def _proc_text(proc_cgroup: str | None) -> str | None:
    if proc_cgroup is not None:
        return proc_cgroup
    try:
        return PROC_CGROUP.read_text()
    except OSError:
        return None
