"""Pure aggregation of a cluster probe: nccl-tests' bus bandwidth, per-node figures from each
node's probe result, outlier nodes by a robust statistic, and the findings (no torch here).

Bus bandwidth (github.com/NVIDIA/nccl-tests/blob/master/doc/PERFORMANCE.md): algbw = S / t;
busbw = algbw x 2(n-1)/n for all-reduce, x (n-1)/n for all-gather and reduce-scatter (S the
whole array), x 1 for send/receive.

Outliers: the modified z-score of Iglewicz and Hoaglin, M = 0.6745 (x - median) / MAD, with
|M| > 3.5 flagged (NIST/SEMATECH e-Handbook of Statistical Methods, 1.3.5.17 "Detection of
Outliers", https://www.itl.nist.gov/div898/handbook/eda/section3/eda35h.htm). Only the bad side
counts (a slow GPU, not a fast one), and a node must also differ from the median by at least
MIN_RELATIVE_DEVIATION: identical nodes give MAD = 0, where any difference at all would
otherwise be "infinitely" far out.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from dlrig.model.cluster import (
    BusPoint,
    ClusterProbeResult,
    CollectiveSeries,
    Fault,
    NodeFigures,
    Outlier,
    RankFigures,
)
from dlrig.model.finding import Finding, Severity, qty

MODIFIED_Z_CONSTANT = 0.6745
MODIFIED_Z_THRESHOLD = 3.5
OUTLIER_SOURCE = (
    "Iglewicz & Hoaglin modified z-score, |0.6745 (x - median) / MAD| > 3.5 (NIST/SEMATECH "
    "e-Handbook 1.3.5.17, https://www.itl.nist.gov/div898/handbook/eda/section3/eda35h.htm)"
)
# A dlrig choice: differences under 10 % between nodes are run-to-run noise of these benchmarks
# (clock boost, page cache; four ranks probing one disk at once differed by 6 %), not a fault.
MIN_RELATIVE_DEVIATION = 0.10
MIN_NODES_FOR_OUTLIERS = 3
# Below this share of the link's rate a large-message bus bandwidth is reported as low; NCCL
# reaches 46-49 of NDR's 50 GB/s (networks.csv), so 70 % leaves room for protocol overhead.
LOW_BUSBW_FRACTION = 0.70
BUSBW_SOURCE = "nccl-tests doc/PERFORMANCE.md (busbw); catalog networks.csv (what NCCL reaches)"
# Clock event reasons that slow a GPU down (nvidia-smi -q -d PERFORMANCE); idle, application
# clocks, sync boost and display clocks are not faults.
SLOWING_REASONS = frozenset(
    {
        "sw_power_cap",
        "hw_slowdown",
        "sw_thermal_slowdown",
        "hw_thermal_slowdown",
        "hw_power_brake_slowdown",
    }
)


def bus_factor(op: str, n: int) -> float:
    """nccl-tests' correction from algorithm to bus bandwidth for `n` ranks."""
    if op == "all_reduce":
        return 2 * (n - 1) / n
    if op in ("all_gather", "reduce_scatter"):
        return (n - 1) / n
    if op == "send_recv":
        return 1.0
    raise ValueError(f"unknown collective {op!r}")


def bus_point(op: str, n: int, size_bytes: int, seconds: float) -> BusPoint:
    """One measured size: S / t and its bus bandwidth (GB/s = 1e9 B/s, as nccl-tests)."""
    seconds = max(seconds, 1e-9)  # a timer tick of 0 must not become an infinite rate
    algbw = size_bytes / seconds / 1e9
    return BusPoint(
        size_bytes=size_bytes,
        time_us=round(seconds * 1e6, 3),
        algbw_gbs=algbw,
        busbw_gbs=algbw * bus_factor(op, n),
    )


def message_sizes(min_bytes: int, max_bytes: int, factor: int = 2) -> list[int]:
    """1 KiB, 2 KiB, ... up to max_bytes (nccl-tests -b 1K -e 1G -f 2)."""
    if min_bytes < 1 or max_bytes < min_bytes or factor < 2:
        raise ValueError("expected 1 <= min_bytes <= max_bytes and factor >= 2")
    sizes, size = [], min_bytes
    while size <= max_bytes:
        sizes.append(size)
        size *= factor
    return sizes


# ----------------------------------------------------------------------------- per node


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def node_figures(
    node: str,
    ranks: list[RankFigures],
    probe: dict[str, Any] | None,
    nic_gbs: float | None = None,
    nics: list[str] | None = None,
    probe_error: str | None = None,
) -> NodeFigures:
    """The figures outlier detection compares, read from the node's `dlrig.probe/1` dict."""
    fig = NodeFigures(
        node=node, ranks=sorted(r.rank for r in ranks), nic_gbs=nic_gbs, nics=nics or []
    )
    tflops = [r.matmul_tflops for r in ranks if r.matmul_tflops is not None]
    fig.gpu_tflops = min(tflops) if tflops else None
    if not tflops:
        fig.unavailable["gpu_tflops"] = next(
            (v for r in ranks for v in r.unavailable.values()), "no rank measured a matmul"
        )
    if probe is None:
        fig.unavailable["probe"] = probe_error or "the node probe did not run"
        return fig
    fig.probe = probe
    gpus = [g for g in (probe.get("gpus") or []) if isinstance(g, dict)]
    fig.gpus = len(gpus)
    fig.gpu_name = next((g.get("name") for g in gpus if isinstance(g.get("name"), str)), None)
    bench = probe.get("torch") if isinstance(probe.get("torch"), dict) else {}
    widths = [_num(g.get("pcie_width_current")) for g in gpus]
    gens = [_num(g.get("pcie_gen_max")) for g in gpus]
    if _num(bench.get("sustained_pcie_width")) is not None:
        widths.append(_num(bench.get("sustained_pcie_width")))
    if _num(bench.get("sustained_pcie_gen")) is not None:
        gens.append(_num(bench.get("sustained_pcie_gen")))
    widths_known = [w for w in widths if w is not None]
    gens_known = [g for g in gens if g is not None]
    fig.pcie_width_min = int(min(widths_known)) if widths_known else None
    fig.pcie_gen_min = int(min(gens_known)) if gens_known else None
    fig.disk_read_mbs = _num(_get(probe, "disk", "read_mbs"))
    fig.memory_bandwidth_gbs = _num(_get(probe, "memory", "bandwidth_gbs"))
    lo, hi = (
        _num(bench.get("sustained_sm_clock_min_mhz")),
        _num(bench.get("sustained_sm_clock_max_mhz")),
    )
    top = max((_num(g.get("sm_clock_max_mhz")) or 0.0 for g in gpus), default=0.0) or hi
    if lo is not None and top:
        fig.sm_clock_pct = round(100 * lo / top, 2)
    elif gpus:
        fig.unavailable["sm_clock_pct"] = "no sustained load (run without --quick)"
    if gpus:
        fig.throttled_gpus = sum(
            1 for g in gpus if SLOWING_REASONS & set(g.get("throttle_reasons") or [])
        )
    for name, value in (("pcie", fig.pcie_width_min), ("disk_read_mbs", fig.disk_read_mbs)):
        if value is None and name == "disk_read_mbs":
            fig.unavailable[name] = str(
                _get(probe, "disk", "unavailable", "read_mbs") or "not measured"
            )
    return fig


# ----------------------------------------------------------------------------- outliers


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    get: Callable[[NodeFigures], float | None]
    low_is_bad: bool
    what: str


METRICS = (
    Metric("gpu_tflops", "TFLOPS", lambda n: n.gpu_tflops, True, "matmul throughput"),
    Metric("pcie_width_min", "lanes", lambda n: n.pcie_width_min, True, "narrowest GPU PCIe link"),
    Metric("pcie_gen_min", "gen", lambda n: n.pcie_gen_min, True, "lowest GPU PCIe generation"),
    Metric("disk_read_mbs", "MB/s", lambda n: n.disk_read_mbs, True, "data disk read rate"),
    Metric("memory_bandwidth_gbs", "GB/s", lambda n: n.memory_bandwidth_gbs, True, "RAM bandwidth"),
    Metric("sm_clock_pct", "%", lambda n: n.sm_clock_pct, True, "lowest SM clock under load"),
    Metric(
        "throttled_gpus", "GPUs", lambda n: n.throttled_gpus, False, "GPUs slowing their clocks"
    ),
    Metric("nic_gbs", "GB/s", lambda n: n.nic_gbs, True, "NIC port rate"),
    Metric(
        "intra_busbw_gbs", "GB/s", lambda n: n.intra_busbw_gbs, True, "all-reduce inside the node"
    ),
)


def robust_outliers(values: dict[str, float], low_is_bad: bool, metric: str) -> list[Outlier]:
    """Nodes whose value lies on the bad side, |modified z| > 3.5 and >= 10 % off the median."""
    if len(values) < MIN_NODES_FOR_OUTLIERS:
        return []
    xs = list(values.values())
    med = statistics.median(xs)
    mad = statistics.median(abs(x - med) for x in xs)
    out = []
    for node, x in values.items():
        bad = x < med if low_is_bad else x > med
        if not bad:
            continue
        far = abs(x - med) > MIN_RELATIVE_DEVIATION * abs(med) if med else x != med
        z = MODIFIED_Z_CONSTANT * (x - med) / mad if mad else None
        if far and (z is None or abs(z) > MODIFIED_Z_THRESHOLD):
            out.append(
                Outlier(
                    node=node,
                    metric=metric,
                    value=x,
                    median=med,
                    mad=mad,
                    robust_z=round(z, 3) if z is not None else None,
                )
            )
    return out


def find_outliers(nodes: Iterable[NodeFigures]) -> list[Outlier]:
    nodes = list(nodes)
    found: list[Outlier] = []
    for m in METRICS:
        values = {n.node: float(v) for n in nodes if (v := m.get(n)) is not None}
        found += robust_outliers(values, m.low_is_bad, m.name)
    return found


# ----------------------------------------------------------------------------- findings

_METRIC = {m.name: m for m in METRICS}


def _outlier_finding(metric: str, group: list[Outlier], n_nodes: int) -> Finding:
    m = _METRIC[metric]
    shown = ", ".join(
        f"{o.node} {o.value:g} {m.unit}" for o in sorted(group, key=lambda o: o.value)[:8]
    )
    more = f" and {len(group) - 8} more" if len(group) > 8 else ""
    med = group[0].median
    return Finding(
        id=f"cluster-outlier-{metric.replace('_', '-')}",
        severity=Severity.WARNING,
        section="cluster",
        title=f"Outlier nodes: {m.what}",
        message=(
            f"{len(group)} of {n_nodes} nodes stand out on {m.what} (median {med:g} {m.unit}): "
            f"{shown}{more}."
        ),
        why=(
            "A synchronous data-parallel step waits for the slowest rank: one slow node sets "
            "the pace of every node in the job."
        ),
        fix=(
            "Drain the node(s) from the scheduler and check them alone with `dlrig probe` "
            "(reseat or replace the GPU, fix the slot or riser, check cooling and power caps)."
        ),
        numbers={"median": qty(med, m.unit), "outliers": qty(len(group), "nodes")},
        source=OUTLIER_SOURCE,
    )


def findings(result: ClusterProbeResult) -> list[Finding]:
    out: list[Finding] = []
    if not result.complete:
        names = (
            ", ".join(f"{f.node or '?'} (rank {f.rank}) {f.what}" for f in result.faults[:8])
            or "see status"
        )
        out.append(
            Finding(
                id="cluster-partial",
                severity=Severity.ERROR,
                section="cluster",
                title="Cluster probe incomplete",
                message=(
                    f"The probe stopped early ({result.status}): {names}. "
                    "These results are partial."
                ),
                why="A rank that dies or hangs stops every collective of a real job the same way.",
                fix="Check the named node(s): `dlrig probe` there, dmesg, the NIC and its cables.",
                source="dlrig probe --cluster fault handling",
            )
        )
    by_metric: dict[str, list[Outlier]] = {}
    for o in result.outliers:
        by_metric.setdefault(o.metric, []).append(o)
    for metric, group in by_metric.items():
        out.append(_outlier_finding(metric, group, len(result.nodes)))
    for series in result.collectives:
        f = _busbw_finding(series)
        if f is not None:
            out.append(f)
    return out


def _busbw_finding(s: CollectiveSeries) -> Finding | None:
    """Large-message all-reduce bus bandwidth against the link it crosses."""
    if s.op != "all_reduce" or s.bound_gbs is None or not s.points:
        return None
    peak = s.peak_busbw_gbs or 0.0
    share = peak / s.bound_gbs
    low = share < LOW_BUSBW_FRACTION
    return Finding(
        id=f"cluster-busbw-{s.scope}",
        severity=Severity.WARNING if low else Severity.OK,
        section="cluster",
        title=f"All-reduce bus bandwidth ({s.scope})",
        message=(
            f"all_reduce over {s.ranks} ranks ({s.backend}) peaks at {peak:.3g} GB/s bus "
            f"bandwidth, {share:.0%} of {s.bound_what} ({s.bound_gbs:g} GB/s)."
        ),
        why=(
            "Gradients cross this link every step; bus bandwidth well under the link's rate "
            "means a misconfigured fabric (no GPUDirect RDMA, wrong NIC for the GPU, ACS on, a "
            "degraded port)."
        ),
        fix=(
            "Run with NCCL_DEBUG=INFO and check the NIC each GPU uses (NET/IB with GDRDMA), "
            "`nvidia-smi topo -m`, and the port rates (`ibstat`)."
            if low
            else ""
        ),
        numbers={"busbw": qty(peak, "GB/s"), "bound": qty(s.bound_gbs, "GB/s")},
        source=BUSBW_SOURCE,
    )


def assemble(
    *,
    world_size: int,
    backend: str,
    nodes: list[NodeFigures],
    ranks: list[RankFigures],
    collectives: list[CollectiveSeries],
    faults: list[Fault],
    status: str | None = None,
    duration_s: float = 0.0,
    max_bytes: int = 0,
) -> ClusterProbeResult:
    """Rank 0's report: outliers and findings over whatever was gathered (partial when any
    fault was recorded: never reported as complete)."""
    complete = not faults and status in (None, "complete")
    result = ClusterProbeResult(
        complete=complete,
        status="complete" if complete else (status or "partial"),
        world_size=world_size,
        backend=backend,
        duration_s=round(duration_s, 2),
        max_bytes=max_bytes,
        nodes=sorted(nodes, key=lambda n: n.node),
        ranks=sorted(ranks, key=lambda r: r.rank),
        collectives=collectives,
        faults=faults,
    )
    result.outliers = find_outliers(result.nodes)
    result.findings = findings(result)
    return result


def intra_node_link(node: NodeFigures) -> tuple[float | None, str]:
    """GB/s one way between the node's GPUs: NVLink from the catalog when links are up, else
    the narrowest PCIe link (catalog pcie.csv)."""
    from dlrig.catalog import load
    from dlrig.catalog.lookup import find_gpu
    from dlrig.errors import CatalogLookupError

    gpus = [g for g in ((node.probe or {}).get("gpus") or []) if isinstance(g, dict)]
    if not gpus:
        return None, "no GPU information"
    links = min((_num(g.get("nvlink_active_links")) or 0 for g in gpus), default=0)
    if links and node.gpu_name:
        try:
            spec = find_gpu(node.gpu_name)
        except CatalogLookupError:
            spec = None
        if spec is not None and spec.nvlink_gbs:
            return (
                spec.nvlink_gbs / 2,
                f"NVLink of a {spec.name} ({spec.nvlink_gbs / 2:g} GB/s one way)",
            )
    gen, width = node.pcie_gen_min, node.pcie_width_min
    gens = load.pcie_gens()
    if gen in gens and width:
        gbs = gens[gen].per_lane_gbs * width
        return gbs, f"PCIe {gen}.0 x{width} ({gbs:.3g} GB/s one way)"
    return None, "unknown GPU link"


def set_bound(series: CollectiveSeries, nodes: list[NodeFigures]) -> None:
    """The link a series is limited by: the NICs between nodes, NVLink/PCIe inside one; none
    for gloo (TCP or shared memory through the CPU, whose rate dlrig does not know)."""
    if series.backend != "nccl" or not nodes:
        series.bound_what = "gloo (CPU): no link bound"
        return
    nic = [n.nic_gbs for n in nodes if n.nic_gbs is not None]
    intra = [intra_node_link(n) for n in nodes]
    intra_known = [x for x in intra if x[0] is not None]
    nic_bound = (
        (min(nic), f"the slowest node's NIC ports ({min(nic):g} GB/s)")
        if len(nic) == len(nodes)
        else None
    )
    intra_bound = min(intra_known, key=lambda x: x[0]) if intra_known else None
    if series.scope == "inter-node":
        chosen = nic_bound
        if chosen is not None and series.groups:
            # each rail carries its share of the node's ports
            chosen = (chosen[0] / series.groups, f"one rail of {chosen[1]}")
    elif series.scope == "intra-node":
        chosen = intra_bound
    else:
        options = [b for b in (nic_bound if len(nodes) > 1 else None, intra_bound) if b is not None]
        chosen = min(options, key=lambda x: x[0]) if options else None
    if chosen is not None and chosen[0]:
        series.bound_gbs, series.bound_what = round(float(chosen[0]), 3), chosen[1]
