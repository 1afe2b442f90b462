"""The numbers behind the check page's charts, taken from the report: the resolved build, the
findings' `numbers` and the rules' own functions and thresholds (nothing re-derived here)."""

from __future__ import annotations

from markupsafe import Markup

from dlrig.model import thresholds as t
from dlrig.model.finding import Finding
from dlrig.model.report import CheckReport
from dlrig.report.html import charts
from dlrig.rules.base import pcie_groups
from dlrig.rules.power import other_w

MS_PER_S = 1e3
# GPU power spikes (< 1 ms) as a multiple of board power: model/thresholds.py, with its source.
GPU_SPIKE_FACTOR = t.GPU_SPIKE_FACTOR
# At most this many GPUs get a bar each in the memory chart; more are one bar "each of N".
MAX_GPU_ROWS = 4


def _finding(report: CheckReport, rule_id: str) -> Finding | None:
    return next((f for f in report.findings if f.id == rule_id), None)


def _number(f: Finding | None, name: str) -> float | None:
    if f is None or name not in f.numbers:
        return None
    return f.numbers[name].value


def power_budget(report: CheckReport) -> charts.PowerBudget | None:
    """CPU, each GPU and the rest, as the psu-capacity rule adds them; the spike when the
    psu-transients rule ran (PCIe cards); the wall draw and circuit when wall-circuit ran."""
    b = report.build
    if not b.gpus and b.cpu is None:
        return None
    parts: list[tuple[str, float]] = []
    if b.cpu is not None:
        parts.append((f"CPU ({b.cpu.name})", b.cpu.total_power_w))
    for g in b.gpus:  # one segment per card; a group's cards share a legend entry
        label = f"{g.count} x {g.name}, {g.power_w:g} W each" if g.count > 1 else g.name
        parts += [(f"GPU: {label}", g.power_w)] * g.count
    other, notes = other_w(b)
    parts.append(("other (board, RAM, drives, fans)", other))
    load = sum(w for _, w in parts)
    transient = None
    spikes = _finding(report, "psu-transients")
    if spikes is not None:
        # The rule's own system peak (measured per-generation GPU spikes) when it gives one.
        transient = _number(spikes, "peak_w")
        if transient is None:
            pcie_w = sum(g.power_w * g.count for _, g in pcie_groups(b))  # as the rule: PCIe
            transient = load + (GPU_SPIKE_FACTOR - 1) * pcie_w
    circuit = _finding(report, "wall-circuit")
    psu_w = b.psu.watts if b.psu is not None else None
    return charts.PowerBudget(
        parts=parts,
        psu_w=psu_w,
        psu_max_load_w=psu_w * t.PSU_MAX_LOAD_FRACTION if psu_w is not None else None,
        transient_peak_w=transient,
        wall_w=_number(circuit, "wall_w"),
        circuit_w=_number(circuit, "circuit_w"),
        notes=notes,
    )


def data_chain(report: CheckReport) -> Markup | None:
    """Disk, loader CPUs and PCIe as samples/s, from the disk-throughput, cpu-cores and
    pcie-transfer findings, against the samples/s the GPUs consume (batch x GPUs / step).

    Each rule states needed against available; a stage delivers demand x available / needed.
    """
    w = report.build.workload
    if w is None or w.batch_size is None or w.step_time_s is None or not report.build.gpus:
        return None
    n = report.build.n_gpus
    demand = n * w.batch_size / w.step_time_s
    stages: list[charts.Stage] = []
    disk = _finding(report, "disk-throughput")
    need, have = _number(disk, "required_mbs"), _number(disk, "available_mbs")
    if need and have:
        stages.append(
            charts.Stage(
                "Disk read",
                demand * have / need,
                f"{charts.rate_text(have)} MB/s available, {charts.rate_text(need)} MB/s needed",
            )
        )
    cpu = _finding(report, "cpu-cores")
    need, have = _number(cpu, "cores_needed"), _number(cpu, "cores")
    if need and have:
        detail = f"{have:g} cores, {need:g} cores needed (loader workers + main + OS)"
        stages.append(charts.Stage("CPU decode", demand * have / need, detail))
    pcie = _finding(report, "pcie-transfer")
    copy_ms, step_ms = _number(pcie, "transfer_ms"), _number(pcie, "step_ms")
    rate, batch_gb = _number(pcie, "dma_gbs"), _number(pcie, "batch_gb")
    if copy_ms and step_ms and rate and batch_gb is not None:
        need_gbs = batch_gb / (step_ms / MS_PER_S)
        detail = f"{charts.rate_text(rate)} GB/s per GPU, {charts.rate_text(need_gbs)} GB/s needed"
        stages.append(charts.Stage("PCIe copy", demand * step_ms / copy_ms, detail))
    if not stages:
        return None
    demand_detail = f"{n} GPU(s) x {w.batch_size} every {w.step_time_s:,.3g} s"
    return charts.data_chain(stages, demand, "samples", demand_detail)


def memory(report: CheckReport) -> Markup | None:
    """The gpu-memory rule's estimate, part by part, when the workload names model and task."""
    if _finding(report, "gpu-memory") is None:
        return None
    from dlrig.estimate.job import memory as estimate_memory
    from dlrig.rules.workload import OutOfRange, job_for

    b = report.build
    try:
        job = job_for(b)
    except OutOfRange:
        return None
    if job is None or b.model_spec is None:
        return None
    from dlrig.errors import DlrigError

    try:
        est = estimate_memory(b.model_spec, job)
    except DlrigError:  # a plan the job cannot run: the gpu-memory finding says why
        return None
    parts = [(label, getattr(est, name)) for label, name in charts.MEMORY_PARTS]
    names = [f"GPU {i} ({g.name})" for i, g in enumerate(b.cards())]
    if len(names) > MAX_GPU_ROWS:
        names = [f"each of {len(names)} GPUs"]
    return charts.memory_stack(names, parts, est.capacity_gb, verdict=est.verdict)


def lanes(report: CheckReport) -> Markup | None:
    """The pcie-lanes rule's links (rules/pcie.card_links), identical cards on identical links
    as one bar; none when the rule was skipped."""
    from dlrig.rules.base import pcie_name
    from dlrig.rules.pcie import card_links, link_gbs

    if _finding(report, "pcie-lanes") is None:
        return None
    links, _, missing = card_links(report.build)
    if missing or not links:
        return None
    groups: dict[tuple[str, int, int], int] = {}
    for link in links:
        key = (link.card.name, link.lanes, link.gen)
        groups[key] = groups.get(key, 0) + 1
    rows = [
        charts.LinkRow(
            label=f"{n} x {name}" if n > 1 else name,
            lanes=lanes,
            gen_name=pcie_name(gen),
            link_gbs=link_gbs(gen, lanes) if lanes else 0.0,
            x16_gbs=link_gbs(gen, 16),
        )
        for (name, lanes, gen), n in groups.items()
    ]
    return charts.pcie_links(rows)


def all_charts(report: CheckReport) -> list[Markup]:
    budget = power_budget(report)
    out = [charts.power_budget(budget)] if budget is not None else []
    out += [c for c in (lanes(report), data_chain(report), memory(report)) if c is not None]
    return out
