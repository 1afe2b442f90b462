"""A probe result as a build file (TOML text) that `dlrig check` reads without edits.

Parts are named by their catalog names where NVML's or /proc/cpuinfo's name matches one; measured
values override the catalog's: each GPU's PCIe lanes and power limit, the host<->GPU copy rate
(what offload moves at), the RAM size, the data disk's read rate. What cannot be measured (PSU,
case, board) is left out, so `check` lists those rules as skipped instead of guessing. Parts that
are not in the catalog are written as comments with the measured numbers, for the user to
complete.
"""

from __future__ import annotations

import json
import platform
import re
import tomllib

from dlrig.catalog.lookup import find_cpu, find_gpu
from dlrig.errors import BuildFileError, CatalogLookupError
from dlrig.model.load import parse_build
from dlrig.model.text import safe_line
from dlrig.probe.models import GpuInfo
from dlrig.probe.result import CpuInfo, DiskInfo, ProbeResult

LINK_WIDTHS = (1, 2, 4, 8, 16)  # the build file's pcie_lanes values
# A card measuring under this share of its catalog row's memory is another variant of it
# (8 vs 16 GB); NVML reports within a few % of the marketed size (24 GB 4090: 25.8e9 B).
MEMORY_MATCH = 0.8
# Words in /proc/cpuinfo model strings that catalog names leave out.
CPU_NOISE = r"\((?:R|TM|tm|r)\)|\bCPU\b|@\s*[\d.]+\s*GHz|\b\d+-Cores?\b|\bProcessor\b"


def _q(text: str) -> str:
    """A TOML basic string (JSON's escapes are valid TOML for what we write); characters a
    terminal would act on are already shown as escapes (`safe_line`)."""
    return json.dumps(safe_line(text))


def clean_cpu_name(model: str) -> str:
    """'Intel(R) Core(TM) i9-13900K' -> 'Intel Core i9-13900K'; 'AMD Ryzen 9 7950X 16-Core
    Processor' -> 'AMD Ryzen 9 7950X'."""
    return " ".join(re.sub(CPU_NOISE, " ", model).split())


def catalog_cpu(model: str | None) -> str | None:
    if not model:
        return None
    try:
        return find_cpu(clean_cpu_name(model)).name
    except CatalogLookupError:
        return None


def catalog_gpu(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return find_gpu(name).name
    except CatalogLookupError:
        return None


def _not_found(name: str) -> str:
    """Why an NVML name gave no catalog card: unknown, or it fits several (name one)."""
    try:
        find_gpu(name)
    except CatalogLookupError as exc:
        if exc.choices:
            listed = ", ".join(exc.choices)
            return f"fits several catalog cards ({listed}): write the model yours is"
    return "is not in dlrig's catalog"


def memory_override(g: GpuInfo, name: str) -> float | None:
    """The measured memory when it is well under the catalog row's: a short NVML name such as
    "RTX 4060 Ti" finds the catalog's 16 GB card while the machine may hold the 8 GB one.
    NVML counts a little under the marketed size, hence the margin."""
    if g.memory_total_gb is None:
        return None
    listed = find_gpu(name).memory_gb
    return round(g.memory_total_gb, 1) if g.memory_total_gb < MEMORY_MATCH * listed else None


def _lanes(g: GpuInfo, result: ProbeResult) -> int | None:
    width = g.pcie_width_current
    if g.index == result.torch.loaded_gpu_index and result.torch.sustained_pcie_width is not None:
        width = result.torch.sustained_pcie_width
    return width if width in LINK_WIDTHS else None


def _cpu(cpu: CpuInfo) -> list[str]:
    sockets = cpu.sockets or 1
    name = catalog_cpu(cpu.model)
    if name is None:
        lines = [
            f"# [cpu] left out: {cpu.model!r} is not in dlrig's catalog (dlrig parts cpus)."
            if cpu.model
            else "# [cpu] left out: the CPU model could not be read.",
            "# Give cpu.model, or all of cores, pcie_lanes, pcie_gen and tdp_w:",
            "# [cpu]",
            f"# count = {sockets}",
        ]
        if cpu.cores_physical:
            lines.append(f"# cores = {cpu.cores_physical // sockets}   # measured, per socket")
        return [*lines, "# pcie_lanes =", "# pcie_gen =", "# tdp_w =", ""]
    lines = ["[cpu]", f"model = {_q(name)}", f"count = {sockets}"]
    if cpu.cores_physical:
        lines.append(f"cores = {cpu.cores_physical // sockets}   # measured, per socket")
    if cpu.threads:
        lines.append(f"threads = {cpu.threads // sockets}   # measured")
    return [*lines, ""]


GroupKey = tuple[str, float | None, float | None]  # model, power limit W, memory override GB


def _gpu_groups(
    result: ProbeResult,
) -> tuple[dict[GroupKey, list[int | None]], list[str]]:
    """Catalog GPUs grouped by (model, power limit) with each card's link width, in NVML order.

    Identical cards make one group whatever their slots: the check rules judge a card once, and
    a slot's width is the board's business (motherboard.gpu_slot_lanes when widths differ).
    """
    groups: dict[GroupKey, list[int | None]] = {}
    notes: list[str] = []
    if not result.gpus:
        status = "NVML lists none" if result.gpu_status == "ok" else result.gpu_status
        notes += [f"# [[gpus]] left out: no NVIDIA GPU measured ({status})", ""]
    for g in result.gpus:
        name = catalog_gpu(g.name)
        if name is None and g.name is None:
            why = g.reason("name") or "unreadable"
            notes.append(f"# GPU {g.index} left out: its name is unreadable ({why}).")
            continue
        if name is None:
            notes.append(f"# GPU {g.index} {g.name!r} {_not_found(g.name)}; left out.")
            continue
        key = (name, g.power_limit_w, memory_override(g, name))
        groups.setdefault(key, []).append(_lanes(g, result))
    return groups, notes


def slot_lanes(groups: dict[GroupKey, list[int | None]]) -> list[int] | None:
    """Per-card link widths in the order `check` expands the groups, when a group's cards differ
    (one width per group otherwise goes in the group); None when some width is unknown."""
    widths = [w for ws in groups.values() for w in ws]
    if all(len(set(ws)) == 1 for ws in groups.values()) or None in widths:
        return None
    return [w for w in widths if w is not None]


def host_link_gbs(result: ProbeResult) -> float | None:
    """The measured GPU <-> CPU copy rate offload traffic moves at: the slower direction of
    pinned copies (offload sends gradients down and weights back up), else host->device."""
    t = result.torch
    rates = [r for r in (t.h2d_pinned_gbs, t.d2h_pinned_gbs) if r is not None and r > 0]
    return round(min(rates), 1) if rates else None


def _measured_key(result: ProbeResult) -> GroupKey | None:
    """The group of the card PyTorch measured (only that card's copies are timed)."""
    for g in result.gpus:
        if g.index == result.torch.loaded_gpu_index:
            name = catalog_gpu(g.name)
            return None if name is None else (name, g.power_limit_w, memory_override(g, name))
    return None


def _gpus(result: ProbeResult) -> list[str]:
    groups, lines = _gpu_groups(result)
    per_slot = slot_lanes(groups) is not None
    host = host_link_gbs(result)
    measured = _measured_key(result)
    for key, widths in groups.items():
        name, power_w, memory_gb = key
        lines += ["[[gpus]]", f"model = {_q(name)}", f"count = {len(widths)}"]
        if host is not None and key == measured:
            # One card's copies are timed; its identical siblings sit on the same kind of slot
            # unless their widths differ, which `pcie_lanes` / gpu_slot_lanes then say.
            lines.append(f"host_link_gbs = {host}   # measured pinned host<->GPU copies")
        if memory_gb is not None:
            lines.append(f"memory_gb = {memory_gb}   # measured: less than the catalog's card")
        if power_w is not None:
            lines.append(f"power_w = {power_w:.1f}   # measured power limit")
        if len(set(widths)) == 1 and widths[0] is not None and not per_slot:
            lines.append(f"pcie_lanes = {widths[0]}   # measured link width")
        elif not per_slot and len(set(widths)) > 1:
            lines.append(
                "# pcie_lanes left out: the cards' link widths differ and some are unknown"
            )
        lines.append("")
    return lines


def _storage(disk: DiskInfo) -> list[str]:
    if disk.kind is None:
        why = disk.kind_basis or disk.reason("kind") or "could not tell"
        lines = [f"# [[storage]] left out: the kind of disk under {disk.path} is {why}."]
        lines.append('# Give kind = "hdd" | "sata-ssd" | "nvme" | "network":')
        if disk.read_mbs is not None and disk.read_method != "cached":
            lines.append(f"# read_mbs = {disk.read_mbs:.1f}   # measured, {disk.read_method}")
        return [*lines, ""]
    how = f"   # from the {disk.kind_basis}" if disk.kind_basis else ""
    lines = ["[[storage]]", f"kind = {_q(disk.kind)}{how}"]
    if disk.read_mbs is not None and disk.read_method != "cached":
        lines.append(f"read_mbs = {disk.read_mbs:.1f}   # measured, {disk.read_method}")
    elif disk.read_mbs is not None:
        lines.append(f"# read_mbs = {disk.read_mbs:.1f}   # from the page cache: not the disk's")
    if disk.size_tb:
        lines.append(f"size_tb = {disk.size_tb:.3f}")
    return [*lines, "holds_data = true", ""]


def to_build_toml(result: ProbeResult, host: str | None = None) -> str:
    host = host or platform.node() or "this machine"
    lines = [
        f"# Written by `dlrig probe` on {host}: measured values override the catalog's.",
        "# Not measurable, so left out: [psu], [case], [motherboard] slots, [power], [workload].",
        f"name = {_q('probed: ' + host)}",
        "",
    ]
    lines += _cpu(result.cpu)
    if result.memory.total_gb:
        lines += ["[memory]", f"size_gb = {result.memory.total_gb:.1f}   # as the OS sees it"]
        if result.memory.dimm_speed_mts:
            lines.append(f"speed_mts = {result.memory.dimm_speed_mts:.0f}   # SMBIOS")
        if result.memory.channels_populated:
            lines.append(f"channels = {result.memory.channels_populated}   # SMBIOS slot names")
        lines.append("")
    gens = [g.pcie_gen_max for g in result.gpus if g.pcie_gen_max]
    lanes = slot_lanes(_gpu_groups(result)[0])
    if gens or lanes:
        lines.append("[motherboard]")
        if gens:
            lines.append(f"pcie_gen = {min(gens)}   # best link generation of the GPUs")
        if lanes:
            lines.append(f"gpu_slot_lanes = {lanes}   # measured link widths, card by card")
        lines.append("")
    lines += _gpus(result)
    lines += _storage(result.disk)
    return accepted_by_check(lines)


# Keys `check` might refuse in a measured build, at most one per written line.
MAX_REFUSED_KEYS = 64
_KEY = re.compile(r"^(?P<section>[a-z_]+)(?:\[(?P<index>\d+)\])?\.(?P<field>[a-z_0-9]+)")


def accepted_by_check(lines: list[str]) -> str:
    """The build text, with every value `check` would refuse turned into a comment that says
    why: a measurement outside the build file's bounds (a 700 PB Lustre share, an SMBIOS speed
    of 65 535 MT/s) must not make `dlrig check` reject the file `probe -o` wrote. Validation is
    `parse_build` itself, so the two can never disagree."""
    for _ in range(MAX_REFUSED_KEYS):
        text = "\n".join(lines).rstrip("\n") + "\n"
        try:
            parse_build(tomllib.loads(text), "probe")
            return text
        except BuildFileError as exc:
            at = _line_of(lines, exc.key)
            if at is None:  # not a single key: a bug in this module, not in the machine
                raise
            lines[at] = f"# {lines[at]}   (left out: {exc.problem})"
    raise AssertionError("probe wrote a build file check refuses")  # pragma: no cover


def _line_of(lines: list[str], key: str) -> int | None:
    """Index of the line that sets `key` ('storage[0].size_tb', 'memory.speed_mts')."""
    m = _KEY.match(key)
    if m is None:
        return None
    section, index, field = m["section"], int(m["index"] or 0), m["field"]
    headers = (f"[[{section}]]",) if m["index"] is not None else (f"[{section}]",)
    seen, inside = -1, False
    for i, line in enumerate(lines):
        if line.startswith("["):
            if line in headers:
                seen += 1
            inside = line in headers and seen == index
        elif inside and line.split("=", 1)[0].strip() == field:
            return i
    return None
