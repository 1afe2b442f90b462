"""The estimate page's charts: memory per GPU, where a step's time goes, and the data rate the
input pipeline must sustain against typical disks and the GPU's own PCIe link."""

from __future__ import annotations

from markupsafe import Markup

from dlrig.model.estimate import Estimate
from dlrig.report.html import charts
from dlrig.report.html.svg import GREY, SERIES, figure, style, to_svg

MS_PER_S = 1e3
MB = 1e6
MAX_GPU_ROWS = 4  # more GPUs than this: one bar for "each of N" (every GPU holds the same)
STEP_ROUNDING_MS = 1e-6  # a remainder below this is float rounding, not a part


def memory(est: Estimate) -> Markup:
    m = est.memory
    names = [f"GPU {i} ({est.gpu})" for i in range(est.n_gpus)]
    if len(names) > MAX_GPU_ROWS:
        names = [f"each of {est.n_gpus} x {est.gpu}"]
    parts = [(label, getattr(m, name)) for label, name in charts.MEMORY_PARTS]
    return charts.memory_stack(names, parts, m.capacity_gb, verdict=m.verdict)


def step_parts_ms(est: Estimate) -> list[tuple[str, float]]:
    """What the step is made of, in ms, adding up to the step time: the estimator's own split
    when it gives one, else compute plus the traffic compute does not hide. A remainder the
    split leaves (a bound other than compute, e.g. memory bandwidth in decode) is drawn too,
    so the bars always reach the label."""
    t = est.throughput
    parts = [(k, v * MS_PER_S) for k, v in t.step_parts_s.items() if v > 0]
    if not parts:
        parts = [
            ("compute", t.compute_time_s * MS_PER_S),
            ("GPU-to-GPU traffic not hidden", t.exposed_comm_s * MS_PER_S),
        ]
        parts = [(k, v) for k, v in parts if v > 0]
    rest = t.step_time_s * MS_PER_S - sum(v for _, v in parts)
    if rest > STEP_ROUNDING_MS:
        parts.append((f"{t.bound} (rest of the step)", rest))
    return parts


def step_time(est: Estimate, chart_id: str = "chart-step") -> Markup:
    """One step, part by part (the bars add up to the labelled step time); the whole
    GPU-to-GPU traffic as an outline, so the hidden part shows."""
    t = est.throughput
    parts = step_parts_ms(est)
    total_ms = sum(v for _, v in parts)
    comm_ms = t.allreduce_time_s * MS_PER_S
    rate = t.tokens_per_s or t.samples_per_s or 0.0
    unit = "tokens/s" if t.tokens_per_s else "samples/s"
    with style():
        fig, ax = figure(charts.FRAME_IN + charts.ROW_IN * 2)
        left = 0.0
        for i, (label, ms) in enumerate(parts):
            colour = SERIES[i % len(SERIES)]
            ax.barh(1, ms, left=left, height=charts.BAR_HEIGHT, color=colour, label=label)
            left += ms
        ax.text(
            total_ms,
            1,
            f"  {t.step_time_s * MS_PER_S:,.1f} ms per step",
            va="center",
            fontsize="small",
        )
        if comm_ms > 0:
            ax.barh(
                0,
                comm_ms,
                height=charts.BAR_HEIGHT,
                color="white",
                edgecolor=GREY,
                hatch="///",
                label=f"GPU-to-GPU traffic in all, over {t.link}",
            )
            ax.text(comm_ms, 0, f"  {comm_ms:,.1f} ms", va="center", fontsize="small")
        ax.set_yticks([1, 0], ["one step", "traffic" if comm_ms > 0 else ""])
        ax.set_xlim(0, max(total_ms, comm_ms) * charts.HEADROOM * 1.2)
        ax.set_xlabel("time per step (ms)")
        ax.set_title(
            # Two lines: "memory-bandwidth-bound" with a five-digit rate runs past the frame.
            f"Step time: {t.bound}-bound, {charts.rate_text(rate)} {unit} in all,\n"
            f"{t.utilization:.0%} utilisation assumed",
            loc="left",
        )
        ax.grid(axis="y", visible=False)
        fig.legend(loc="outside lower center", ncols=charts.LEGEND_COLUMNS)
        described = ", ".join(f"{k} {v:,.1f} ms" for k, v in parts)
        return to_svg(
            fig,
            chart_id,
            f"Step time {t.step_time_s * MS_PER_S:,.1f} ms: {described}",
        )


def data_rate(est: Estimate) -> Markup | None:
    """What the job reads and copies, as the rate each typical disk kind and the GPU's x16
    link could feed; None when there is no input pipeline to speak of (inference)."""
    from dlrig.catalog import load
    from dlrig.catalog.lookup import find_gpu
    from dlrig.rules.base import STORAGE_NAMES
    from dlrig.rules.pcie import dma_gbs

    d, t = est.data_rate, est.throughput
    demand = t.tokens_per_s or t.samples_per_s
    if not demand or d.disk_mbs <= 0 or d.pcie_gbs <= 0:
        return None
    unit = "tokens" if t.tokens_per_s else "samples"
    stages = [
        charts.Stage(
            f"Disk: {STORAGE_NAMES[kind]}",
            demand * spec.typical_read_mbs / d.disk_mbs,
            f"typical {charts.rate_text(spec.typical_read_mbs)} MB/s, "
            f"{charts.rate_text(d.disk_mbs)} MB/s needed",
        )
        for kind, spec in sorted(
            load.storage_kinds().items(), key=lambda kv: kv[1].typical_read_mbs
        )
    ]
    gpu = find_gpu(est.gpu)
    link = dma_gbs(gpu.pcie_gen, gpu.pcie_lanes)
    stages.append(
        charts.Stage(
            f"PCIe {gpu.pcie_gen}.0 x{gpu.pcie_lanes}",
            demand * link / d.pcie_gbs,
            f"{charts.rate_text(link)} GB/s per GPU, {charts.rate_text(d.pcie_gbs)} GB/s needed",
        )
    )
    detail = f"{est.n_gpus} x {est.gpu}"
    if d.cpu_cores is not None:
        detail += f"; decoding needs {d.cpu_cores:,.1f} CPU cores"
    return charts.data_chain(stages, demand, unit, detail, alternatives=True)


def all_charts(est: Estimate) -> list[Markup]:
    out = [memory(est), step_time(est)]
    chain = data_rate(est)
    return [*out, chain] if chain is not None else out
