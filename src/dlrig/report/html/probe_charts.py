"""The probe page's chart: what was measured against what the parts are rated for (PCIe link,
host memory bandwidth, disk read, GPU memory bandwidth), each where both sides are known."""

from __future__ import annotations

from contextlib import suppress

from markupsafe import Markup

from dlrig.errors import DlrigError
from dlrig.probe.result import ProbeResult
from dlrig.report.html.charts_compare import BarKind, Panel, measured_vs_rated


def _pcie(result: ProbeResult) -> Panel | None:
    """Each GPU's link now against its best (theoretical GB/s, rules.pcie.link_gbs), and the
    pinned host-to-device copy PyTorch measured on the GPU it loaded."""
    from dlrig.rules.pcie import link_gbs

    bars: list[tuple[str, float, BarKind]] = []
    for g in result.gpus:
        gen, width = g.pcie_gen_current, g.pcie_width_current
        best_gen, best_width = g.pcie_gen_max, g.pcie_width_max
        if None in (gen, width, best_gen, best_width):
            continue
        assert gen and width and best_gen and best_width
        try:
            now, best = link_gbs(gen, width), link_gbs(best_gen, best_width)
        except KeyError:  # a generation the catalog does not know
            continue
        bars += [
            (f"GPU {g.index} link now (gen {gen} x{width})", now, BarKind.MEASURED),
            (f"GPU {g.index} rated (gen {best_gen} x{best_width})", best, BarKind.RATED),
        ]
    pinned = result.torch.h2d_pinned_gbs
    if pinned is not None:
        bars.insert(0, ("host to GPU copy, pinned", pinned, BarKind.MEASURED))
    return Panel("PCIe bandwidth", "GB/s", bars) if bars else None


def _memory(result: ProbeResult) -> Panel | None:
    """The copy bandwidth against DIMM speed x 8 B x channels (rules.memory)."""
    from dlrig.rules.memory import ram_bandwidth_gbs

    m = result.memory
    if m.bandwidth_gbs is None:
        return None
    bars = [("copy (STREAM convention)", m.bandwidth_gbs, BarKind.MEASURED)]
    if m.dimm_speed_mts and m.channels_populated:
        rated = ram_bandwidth_gbs(m.dimm_speed_mts, m.channels_populated)
        bars.append(
            (f"{m.channels_populated} ch x {m.dimm_speed_mts:g} MT/s", rated, BarKind.RATED)
        )
    return Panel("Host memory bandwidth", "GB/s", bars)


def _disk(result: ProbeResult) -> Panel | None:
    """The sequential read against the typical rate of its kind (catalog storage.csv) and what
    the disk-slow finding says the GPUs need."""
    from dlrig.catalog import load
    from dlrig.rules.base import STORAGE_NAMES

    d = result.disk
    if d.read_mbs is None:
        return None
    bars = [(f"read under {d.path}", d.read_mbs, BarKind.MEASURED)]
    # The typical rate of the disk's kind, when the kind was told by the device itself (a kind
    # inferred from this very read would only compare the read with itself): never a share of
    # it, as it is no rating of this disk.
    told = d.kind_basis is None or not d.kind_basis.startswith("measured")
    if d.kind is not None and d.kind in load.storage_kinds() and told:
        typical = load.storage_kinds()[d.kind].typical_read_mbs
        bars.append((f"typical {STORAGE_NAMES[d.kind]}", typical, BarKind.TYPICAL))
    slow = next((f for f in result.findings if f.id == "disk-slow"), None)
    if slow is not None and "needed" in slow.numbers:
        bars.append(("needed by the GPUs", slow.numbers["needed"].value, BarKind.NEEDED))
    return Panel("Disk read", "MB/s", bars)


def _gpu_memory(result: ProbeResult) -> Panel | None:
    """The on-device copy PyTorch measured against the catalog's memory bandwidth."""
    from dlrig.catalog.lookup import find_gpu

    measured = result.torch.device_bandwidth_gbs
    index = result.torch.loaded_gpu_index
    if measured is None or index is None or index >= len(result.gpus):
        return None
    name = result.gpus[index].name
    bars = [(f"GPU {index} on-device copy", measured, BarKind.MEASURED)]
    if name:
        with suppress(DlrigError):  # a GPU the catalog does not list: measured only
            bars.append((f"{name} rated", find_gpu(name).memory_bandwidth_gbs, BarKind.RATED))
    return Panel("GPU memory bandwidth", "GB/s", bars)


def all_charts(result: ProbeResult) -> list[Markup]:
    panels = [p for p in (_pcie(result), _memory(result), _disk(result), _gpu_memory(result)) if p]
    return [measured_vs_rated(panels)] if panels else []
