"""Cluster rules: a rule is a pure function `Cluster -> list[Finding | Skip]` (the single-node
rules run once per distinct node kind; see `check_cluster`).

The all-reduce across nodes is the estimator's model (`dlrig.estimate.comm`: NCCL's
hierarchical all-reduce, ring steps at nccl-tests' bus bandwidth plus a latency per step;
`dlrig.estimate.step`'s overlap with the backward pass) on the estimator's gradient bytes and
single-node compute time. Only the link between nodes is the cluster's: the node's network bus
bandwidth (NICs x what NCCL reaches per NIC in catalog networks.csv / oversubscription, or the
all-reduce bus bandwidth a cluster probe measured, `--measured cluster.json`) shared by its
GPUs.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlrig.model import thresholds as t
from dlrig.model.cluster import Cluster, NodeKind
from dlrig.model.finding import Finding, Severity, Skip, qty
from dlrig.rules.base import RuleInfo, fmt

ClusterResult = list[Finding | Skip]

NETWORK_SOURCE = (
    "nccl-tests doc/PERFORMANCE.md (bus bandwidth); catalog networks.csv (what NCCL reaches per "
    "NIC); the estimator's collectives (dlrig.estimate.comm, hierarchical all-reduce)"
)
GDR_SOURCE = (
    "NCCL maintainers: GPUDirect RDMA is needed when NIC and GPU share a PCIe switch "
    "(github.com/NVIDIA/nccl/issues/465); all-reduce 33 -> 93 GB/s once GDRDMA was enabled "
    "(nccl#1412); +20 % on GH200 (nccl#1579)"
)
LOCALITY_SOURCE = (
    "NCCL_NET_GDR_LEVEL levels PIX/PXB/PHB/SYS (NCCL environment variables docs); 'CPUs are "
    "very, very bad PCI switches' (sjeaugey, github.com/NVIDIA/nccl/issues/465)"
)
OVERSUB_SOURCE = (
    "NVIDIA DGX SuperPOD reference architectures: compute fabric node-leaf cables = leaf-spine "
    "cables (non-blocking fat tree), docs.nvidia.com/dgx-superpod"
)
RACK_SOURCE = t.CIRCUIT_SOURCE + "; all electrical power a rack draws becomes heat to remove"
# A job is called communication-bound when the traffic compute cannot hide exceeds this share
# of the compute time: the estimator's own label (estimate/job.py COMM_BOUND_SHARE).
COMM_BOUND_SHARE = 0.5
RACK_COOLING_WARN = 0.9  # a dlrig choice: under 10 % cooling headroom is worth a warning

ALLREDUCE = RuleInfo(
    id="cluster-allreduce",
    section="cluster",
    title="Network bandwidth per GPU against the job's all-reduce",
    why=(
        "Data-parallel training all-reduces the gradients every step; the part the backward "
        "pass cannot hide adds to every step, and across nodes the NICs are the narrowest link."
    ),
    source=NETWORK_SOURCE,
)
TIME = RuleInfo(
    id="cluster-time-to-train",
    section="cluster",
    title="Time to train across nodes",
    why="More nodes shorten training only as far as the all-reduce lets them scale.",
    source=NETWORK_SOURCE,
)
LOCALITY = RuleInfo(
    id="cluster-nic-locality",
    section="cluster",
    title="NIC placement against the GPUs (PCIe switch, NUMA node)",
    why=(
        "A GPU whose NIC sits behind another PCIe switch or socket sends every byte through "
        "the CPU's root complex or the socket interconnect; NCCL then may not use GPUDirect."
    ),
    source=LOCALITY_SOURCE,
)
GDR = RuleInfo(
    id="cluster-gpudirect",
    section="cluster",
    title="GPUDirect RDMA",
    why=(
        "Without GPUDirect RDMA the NIC cannot read GPU memory: NCCL copies through host "
        "memory, costing bandwidth and CPU memory traffic."
    ),
    source=GDR_SOURCE,
)
OVERSUB = RuleInfo(
    id="cluster-oversubscription",
    section="cluster",
    title="Fabric oversubscription",
    why=(
        "All-reduce runs every node's NICs at full rate at once; a leaf with fewer uplinks than "
        "downlinks divides that rate by its oversubscription."
    ),
    source=OVERSUB_SOURCE,
)
STORAGE = RuleInfo(
    id="cluster-storage",
    section="cluster",
    title="Shared storage read rate against what all GPUs consume",
    why=(
        "Every GPU of every node reads its samples each step; the shared file system and each "
        "node's storage link must deliver the sum."
    ),
    source=t.DISK_SOURCE,
)
RACK_POWER = RuleInfo(
    id="cluster-rack-power",
    section="cluster",
    title="Power per rack",
    why="A rack's PDUs and circuits carry at most 80 % of their rating continuously.",
    source=RACK_SOURCE,
)
RACK_COOLING = RuleInfo(
    id="cluster-rack-cooling",
    section="cluster",
    title="Cooling per rack",
    why="Every watt a rack draws is heat its cooling must remove, continuously.",
    source=RACK_SOURCE,
)


# ----------------------------------------------------------------------------- the network model


def node_network_busbw(cluster: Cluster) -> tuple[float, str] | None:
    """Bus bandwidth one node's NICs carry, GB/s, and where the figure comes from."""
    if cluster.measured_busbw_gbs is not None:
        return (
            cluster.measured_busbw_gbs,
            f"measured ({cluster.measured_source or 'cluster probe'})",
        )
    net, fab = cluster.network, cluster.fabric
    if net is None or fab is None:
        return None
    raw = net.nics_per_node * fab.effective_gbs
    text = f"{net.nics_per_node} x {fab.name} at {fmt(fab.effective_gbs)} GB/s"
    if net.oversubscription > 1:
        raw /= net.oversubscription
        text += f" / {fmt(net.oversubscription)}:1 oversubscription"
    return raw, text


@dataclass(frozen=True)
class Scaling:
    kind: str
    gpus: int
    compute_s: float
    one_node_step_s: float
    comm_s: float
    exposed_s: float
    step_s: float
    busbw_gbs: float
    intra_gbs: float | None
    network_gbs: float
    network_what: str
    grad_gb: float
    tokens_per_step: float | None

    @property
    def efficiency(self) -> float:
        return self.compute_s / self.step_s


def inter_link(cluster: Cluster, gpus_per_node: int):  # -> estimate.comm.Link | None
    """The estimator's link between nodes, per GPU: the node's network bus bandwidth shared by
    its GPUs (one NIC per GPU in DGX/HGX nodes gives the table's per-NIC figure), with the
    fabric's latency per ring step."""
    from dlrig.estimate import comm

    net = node_network_busbw(cluster)
    if net is None:
        return None
    latency_us = cluster.fabric.latency_us if cluster.fabric is not None else None
    per_gpu = comm.net_share_gbs(net[0], gpus_per_node)
    return comm.Link(f"{net[1]}, {fmt(per_gpu)} GB/s per GPU", per_gpu, (latency_us or 0) * 1e-6)


def scaling(cluster: Cluster, kind: NodeKind) -> Scaling | str:
    """One node kind's step on the whole cluster, or why it cannot be estimated.

    The estimator's own model end to end (dlrig.estimate: `comm.group_allreduce_s`, the
    hierarchical all-reduce NCCL uses across nodes, or ZeRO-3's all-gathers, overlapped with
    the backward pass as in `step.train_step`), on the estimator's gradient and weight bytes
    and single-node compute time, with this cluster's link between nodes."""
    from dlrig.estimate import comm, perf, step
    from dlrig.estimate.job import shape, throughput
    from dlrig.rules.workload import OutOfRange, job_for

    if node_network_busbw(cluster) is None:
        return "needs [network] fabric and nics_per_node"
    try:
        job = job_for(kind.build)
    except OutOfRange as exc:
        return f"outside the estimator's range: {exc}"
    if job is None or kind.build.model_spec is None:
        return "needs workload.model and workload.task"
    if job.task.value == "infer":
        return "an inference workload has no all-reduce"
    m = kind.build.model_spec
    one = throughput(m, job)
    g, n = kind.build.n_gpus, cluster.n_gpus
    inter = inter_link(cluster, g)
    assert inter is not None
    intra = comm.intra_node_link(job.gpu, job.interconnect.value) if g > 1 else inter
    work = perf.train_work(shape(m, job), 1.0)  # bytes only: the efficiency sets compute
    group = comm.place(n, 1, g, intra, inter if cluster.n_nodes > 1 else None)
    compute = one.compute_time_s
    if job.zero >= 3:
        comm_s = 2 * comm.group_allgather_s(work.weight_bytes, group) + comm.group_allgather_s(
            work.grad_bytes, group
        )
        exposed = max(0.0, comm_s - compute)
    else:
        comm_s = comm.group_allreduce_s(work.grad_bytes, group)
        share = step.BACKWARD_SHARE_FROZEN if work.frozen_base else step.BACKWARD_SHARE_FULL
        exposed = max(0.0, comm_s - compute * share)
    tokens = one.tokens_per_s_per_gpu * one.step_time_s if one.tokens_per_s_per_gpu else None
    return Scaling(
        kind=kind.kind,
        gpus=n,
        compute_s=compute,
        one_node_step_s=one.step_time_s,
        comm_s=comm_s,
        exposed_s=exposed,
        step_s=compute + exposed,
        busbw_gbs=inter.busbw_gbs,
        intra_gbs=intra.busbw_gbs if g > 1 else None,
        network_gbs=inter.busbw_gbs * g,
        network_what=node_network_busbw(cluster)[1],  # type: ignore[index]
        grad_gb=work.grad_bytes / 1e9,
        tokens_per_step=tokens,
    )


def _worst(cluster: Cluster) -> Scaling | str:
    """The slowest node kind's scaling (a synchronous job runs at its pace)."""
    results = [scaling(cluster, k) for k in cluster.kinds]
    found = [r for r in results if isinstance(r, Scaling)]
    if not found:
        return next(r for r in results if isinstance(r, str))
    return max(found, key=lambda s: s.step_s)


# ----------------------------------------------------------------------------- rules


def check_allreduce(cluster: Cluster) -> ClusterResult:
    s = _worst(cluster)
    if isinstance(s, str):
        return [ALLREDUCE.skip(s)]
    per_gpu = s.busbw_gbs
    numbers = {
        "network_gbs": qty(s.network_gbs, "GB/s"),
        "network_per_gpu_gbs": qty(per_gpu, "GB/s"),
        "busbw_gbs": qty(s.busbw_gbs, "GB/s"),
        "allreduce_s": qty(s.comm_s, "s"),
        "exposed_s": qty(s.exposed_s, "s"),
        "compute_s": qty(s.compute_s, "s"),
        "scaling_efficiency": qty(100 * s.efficiency, "%"),
    }
    inside = f"{fmt(s.intra_gbs)} GB/s" if s.intra_gbs else "no second GPU"
    text = (
        f"{fmt(s.grad_gb)} GB of gradients over {s.gpus} GPUs on {cluster.n_nodes} nodes, "
        f"hierarchical all-reduce (inside a node {inside}; between nodes {s.network_what} = "
        f"{fmt(s.network_gbs)} GB/s per node, {fmt(s.busbw_gbs)} GB/s per GPU): "
        f"{fmt(s.comm_s)} s per step, {fmt(s.exposed_s)} s of it not hidden by the backward "
        f"pass, against {fmt(s.compute_s)} s of compute: {100 * s.efficiency:.0f} % scaling "
        "efficiency."
    )
    bound = s.exposed_s > COMM_BOUND_SHARE * s.compute_s
    return [
        ALLREDUCE.finding(
            Severity.WARNING if bound else Severity.OK,
            text,
            fix=(
                "Communication-bound: more NICs per node (one per GPU), a faster fabric, ZeRO/FSDP "
                "with larger micro-batches, or gradient accumulation to all-reduce less often."
                if bound
                else ""
            ),
            numbers=numbers,
        )
    ]


def check_time_to_train(cluster: Cluster) -> ClusterResult:
    s = _worst(cluster)
    if isinstance(s, str):
        return [TIME.skip(s)]
    if cluster.train_tokens is None or s.tokens_per_step is None:
        return [TIME.skip("needs cluster.train_tokens and a language-model workload")]
    rate = s.tokens_per_step * s.gpus / s.step_s
    hours = cluster.train_tokens / rate / 3600
    ideal = cluster.train_tokens / (s.tokens_per_step * s.gpus / s.compute_s) / 3600
    text = (
        f"{cluster.train_tokens:.3g} tokens at {rate:,.0f} tokens/s on {s.gpus} GPUs: "
        f"{fmt(hours)} h ({fmt(hours / 24)} days); {fmt(ideal)} h if the all-reduce were free."
    )
    numbers = {"hours": qty(hours, "h"), "tokens_per_s": qty(rate, "tokens/s")}
    return [TIME.finding(Severity.INFO, text, numbers=numbers)]


def _gpus_per_node(cluster: Cluster) -> int:
    return max((k.build.n_gpus for k in cluster.kinds), default=0)


def check_locality(cluster: Cluster) -> ClusterResult:
    net = cluster.network
    if net is None or net.nics is None:
        return [LOCALITY.skip("needs [[network.nics]] with each NIC's gpus (nvidia-smi topo -m)")]
    g = _gpus_per_node(cluster)
    bad_index = [i for nic in net.nics for i in nic.gpus if i >= g]
    if bad_index:
        text = (
            f"[[network.nics]] names GPU {bad_index[0]}, but the nodes have {g} GPUs "
            f"(0 to {g - 1})."
        )
        return [LOCALITY.finding(Severity.ERROR, text, fix="Correct the gpus lists.")]
    served = {i for nic in net.nics for i in nic.gpus}
    lonely = [i for i in range(g) if i not in served]
    problems = []
    if lonely:
        problems.append(
            f"GPU(s) {', '.join(map(str, lonely))} share a PCIe switch with no NIC: their "
            "traffic crosses the CPU root complex"
        )
    if net.gpu_numa is not None:
        if len(net.gpu_numa) != g:
            text = f"network.gpu_numa lists {len(net.gpu_numa)} GPUs; the nodes have {g}."
            return [LOCALITY.finding(Severity.ERROR, text, fix="Give one NUMA node per GPU.")]
        for j, nic in enumerate(net.nics):
            far = [
                i
                for i in nic.gpus
                if nic.numa_node is not None and net.gpu_numa[i] != nic.numa_node
            ]
            if far:
                problems.append(
                    f"NIC {j} (NUMA {nic.numa_node}) serves GPU(s) {', '.join(map(str, far))} on "
                    "another NUMA node: every byte crosses the socket interconnect"
                )
    shared = max((len(nic.gpus) for nic in net.nics), default=0)
    numbers = {"nics": qty(len(net.nics), "NICs"), "gpus": qty(g, "GPUs")}
    if problems:
        return [
            LOCALITY.finding(
                Severity.WARNING,
                "; ".join(problems) + ".",
                fix="Put one NIC behind each GPU's PCIe switch (as DGX/HGX boards do), on the "
                "GPU's socket; check with `nvidia-smi topo -m` (PIX/PXB, not SYS).",
                numbers=numbers,
            )
        ]
    text = (
        f"Every GPU has a NIC behind its PCIe switch ({len(net.nics)} NICs, at most {shared} "
        f"GPU{'s' if shared != 1 else ''} per NIC)."
    )
    return [LOCALITY.finding(Severity.OK, text, numbers=numbers)]


def check_gpudirect(cluster: Cluster) -> ClusterResult:
    net, fab = cluster.network, cluster.fabric
    if net is None or fab is None:
        return [GDR.skip("needs [network]")]
    if not fab.rdma:
        text = (
            f"{fab.name} carries no RDMA: NCCL uses its socket transport through host memory, "
            f"{fmt(fab.effective_gbs)} of {fmt(fab.line_gbs)} GB/s per port (networks.csv)."
        )
        return [
            GDR.finding(
                Severity.WARNING,
                text,
                fix="Use InfiniBand or RoCE NICs for the compute fabric.",
                numbers={"effective_gbs": qty(fab.effective_gbs, "GB/s")},
            )
        ]
    if net.gpudirect_rdma is None:
        return [GDR.skip("needs network.gpudirect_rdma (true/false)")]
    if not net.gpudirect_rdma:
        return [
            GDR.finding(
                Severity.WARNING,
                f"GPUDirect RDMA is off on {fab.name}: NCCL stages every transfer through host "
                "memory (NCCL_DEBUG=INFO shows NET/IB without /GDRDMA).",
                fix="Load nvidia-peermem (or use a DMA-BUF capable driver and kernel), disable "
                "PCIe ACS on bare metal, and check the NCCL log for GDRDMA.",
            )
        ]
    return [GDR.finding(Severity.OK, f"GPUDirect RDMA on {fab.name}.")]


def check_oversubscription(cluster: Cluster) -> ClusterResult:
    net = cluster.network
    if net is None:
        return [OVERSUB.skip("needs [network]")]
    ratio = net.oversubscription
    topo = net.topology or "topology not given"
    numbers = {"oversubscription": qty(ratio, ":1")}
    if ratio > 1 and cluster.n_nodes > 1:
        return [
            OVERSUB.finding(
                Severity.WARNING,
                f"{fmt(ratio)}:1 oversubscribed ({topo}): all-reduce traffic that leaves a leaf "
                f"gets 1/{fmt(ratio)} of the NICs' rate (applied in cluster-allreduce).",
                fix="A non-blocking (1:1) fat tree, or a rail-optimized design that keeps each "
                "rail's traffic on its own leaf.",
                numbers=numbers,
            )
        ]
    return [OVERSUB.finding(Severity.OK, f"Non-blocking fabric ({topo}).", numbers=numbers)]


def check_storage(cluster: Cluster) -> ClusterResult:
    from dlrig.rules.storage import required_read_mbs

    net = cluster.network
    need_mbs = 0.0
    for k in cluster.kinds:
        w = k.build.workload
        if w is None or w.batch_size is None or w.sample_bytes is None or w.step_time_s is None:
            return [
                STORAGE.skip(
                    "needs workload.batch_size, workload.sample_bytes, workload.step_time_s"
                )
            ]
        need_mbs += (
            required_read_mbs(w.batch_size, w.sample_bytes, w.step_time_s, k.build.n_gpus) * k.count
        )
    limits = []
    if net is not None and net.shared_fs_read_gbs is not None:
        limits.append(
            (
                net.shared_fs_read_gbs * 1000,
                "the shared file system",
            )
        )
    sf = cluster.storage_fabric
    if net is not None and sf is not None:
        nics = net.storage_nics_per_node or 1
        per_node = nics * cluster.storage_fabric.effective_gbs
        limits.append(
            (
                per_node * 1000 * cluster.n_nodes,
                f"the storage links ({cluster.n_nodes} nodes x {nics} x "
                f"{cluster.storage_fabric.name} at {fmt(sf.effective_gbs)} GB/s)",
            )
        )
    if not limits:
        return [STORAGE.skip("needs network.shared_fs_read_gbs or network.storage_fabric")]
    have, what = min(limits)
    share = need_mbs / have
    text = (
        f"All {cluster.n_gpus} GPUs read {fmt(need_mbs / 1000)} GB/s; the narrower of the "
        f"storage path, {what}, delivers {fmt(have / 1000)} GB/s ({share:.0%})."
    )
    numbers = {
        "required_gbs": qty(need_mbs / 1000, "GB/s"),
        "available_gbs": qty(have / 1000, "GB/s"),
    }
    if share > t.DISK_ERROR_FRACTION:
        sev, fix = (
            Severity.ERROR,
            "Stage the dataset on each node's local NVMe, or add storage bandwidth.",
        )
    elif share > t.DISK_WARN_FRACTION:
        sev, fix = Severity.WARNING, "Little headroom: cache the dataset on local NVMe."
    else:
        sev, fix = Severity.OK, ""
    return [STORAGE.finding(sev, text, fix=fix, numbers=numbers)]


def rack_loads_w(cluster: Cluster) -> tuple[dict[int, float], list[str]]:
    """Wall watts per rack (node DC draw / PSU efficiency, as the energy rule computes it)."""
    from dlrig.rules.energy import draw

    loads: dict[int, float] = {}
    notes: list[str] = []
    for k in cluster.kinds:
        dc, eff, defaults = draw(k.build)
        notes += [f"{k.kind}: {d}" for d in defaults]
        for rack, n in k.racks.items():
            loads[rack] = loads.get(rack, 0.0) + n * dc / eff
    return loads, notes


def check_rack_power(cluster: Cluster) -> ClusterResult:
    if cluster.rack_power_kw is None:
        return [RACK_POWER.skip("needs cluster.rack_power_kw")]
    loads, notes = rack_loads_w(cluster)
    limit = cluster.rack_power_kw * 1000 * t.CIRCUIT_CONTINUOUS_FRACTION
    rack, worst = max(loads.items(), key=lambda kv: kv[1])
    text = (
        f"Fullest rack ({rack} of {cluster.racks}) draws {fmt(worst / 1000)} kW from the wall "
        f"against {fmt(limit / 1000)} kW continuous (80 % of {fmt(cluster.rack_power_kw)} kW)."
    )
    numbers = {"rack_kw": qty(worst / 1000, "kW"), "limit_kw": qty(limit / 1000, "kW")}
    over = [r for r, w in loads.items() if w > limit]
    if over:
        return [
            RACK_POWER.finding(
                Severity.ERROR,
                text + f" {len(over)} rack(s) over.",
                fix="Spread nodes over more racks, raise the rack's PDU/circuit rating, or "
                "power-limit the GPUs.",
                numbers=numbers,
                defaults_used=notes,
            )
        ]
    return [RACK_POWER.finding(Severity.OK, text, numbers=numbers, defaults_used=notes)]


def check_rack_cooling(cluster: Cluster) -> ClusterResult:
    if cluster.rack_cooling_kw is None:
        return [RACK_COOLING.skip("needs cluster.rack_cooling_kw")]
    loads, notes = rack_loads_w(cluster)
    rack, worst = max(loads.items(), key=lambda kv: kv[1])
    share = worst / (cluster.rack_cooling_kw * 1000)
    text = (
        f"Fullest rack ({rack}) gives off {fmt(worst / 1000)} kW of heat against "
        f"{fmt(cluster.rack_cooling_kw)} kW of cooling ({share:.0%})."
    )
    numbers = {"heat_kw": qty(worst / 1000, "kW"), "cooling_kw": qty(cluster.rack_cooling_kw, "kW")}
    if share > 1:
        sev, fix = (
            Severity.ERROR,
            "Fewer nodes per rack, rear-door heat exchangers or liquid cooling.",
        )
    elif share > RACK_COOLING_WARN:
        sev, fix = (
            Severity.WARNING,
            "Under 10 % cooling headroom: hot days or a failed fan tip it over.",
        )
    else:
        sev, fix = Severity.OK, ""
    return [RACK_COOLING.finding(sev, text, fix=fix, numbers=numbers, defaults_used=notes)]


CLUSTER_RULES = (
    check_allreduce,
    check_time_to_train,
    check_locality,
    check_gpudirect,
    check_oversubscription,
    check_storage,
    check_rack_power,
    check_rack_cooling,
)


def check_cluster(cluster: Cluster):  # -> ClusterCheckReport
    """Every single-node rule once per distinct node kind, then the cluster rules."""
    from dlrig.model.cluster import ClusterCheckReport, NodeKindReport
    from dlrig.rules import check

    kinds = [
        NodeKindReport(kind=k.kind, count=k.count, report=check(k.build)) for k in cluster.kinds
    ]
    # the cluster rules see the node builds with the estimated step time filled in
    from dlrig.rules.workload import with_estimated_step_time

    filled = cluster.model_copy(
        update={
            "kinds": [
                k.model_copy(update={"build": with_estimated_step_time(k.build)})
                for k in cluster.kinds
            ]
        }
    )
    findings: list[Finding] = []
    skipped: list[Skip] = []
    for rule in CLUSTER_RULES:
        for item in rule(filled):
            (findings if isinstance(item, Finding) else skipped).append(item)
    return ClusterCheckReport(cluster=cluster, kinds=kinds, findings=findings, skipped=skipped)
