"""Cluster models: fabrics (catalog/data/networks.csv), the cluster build file as written and as
resolved, the report of `dlrig check` on it, and what `dlrig probe --cluster` measures."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dlrig.model.build import Build, BuildFile, WorkloadInput
from dlrig.model.finding import Finding, Severity, Skip
from dlrig.model.report import CheckReport
from dlrig.model.workload import MAX_NICS_PER_NODE

Fabric = Literal["infiniband", "roce", "ethernet", "nvlink", "pcie"]
LinkScope = Literal["inter-node", "intra-node"]


class NetworkSpec(BaseModel):
    """One row of networks.csv: a fabric's line rate and what NCCL achieves on it.

    `line_gbs` is GB/s one way per port (per GPU for NVLink/PCIe); `effective_gbs` is the
    nccl-tests bus bandwidth one port reaches at large messages (sourced or marked [R]).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    fabric: Fabric
    scope: LinkScope
    rdma: bool
    gbps_per_port: float = Field(gt=0)
    line_gbs: float = Field(gt=0)
    effective_gbs: float = Field(gt=0)
    latency_us: float | None = Field(default=None, ge=0)
    notes: str = ""
    source: str
    confidence: str


# --------------------------------------------------------------------------- cluster build file
#
# A cluster file names its node builds (a path or an inline build), how many of each, the racks
# and the network. Bounds are sanity limits well outside real machines (the largest published
# AI clusters have ~100,000 GPUs; a node has at most 64 NICs); lists are capped so a hostile
# file cannot make `check` slow (a 1,024-node file checks in well under a second).

MAX_NODES = 100_000
MAX_NODE_GROUPS = 4_096
MAX_RACKS = 10_000
MAX_GPUS_PER_NODE = 64

_STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)

GpuIndex = Annotated[int, Field(ge=0, lt=MAX_GPUS_PER_NODE)]
NumaNode = Annotated[int, Field(ge=0, le=63)]
Topology = Literal["rail-optimized", "rail-optimised", "fat-tree", "single-switch", "other"]


class NicInput(BaseModel):
    """One NIC of a node: where it sits on PCIe and which GPUs share its PCIe switch."""

    model_config = _STRICT

    numa_node: int | None = Field(default=None, ge=0, le=63)
    pcie_switch: str | None = Field(default=None, min_length=1, max_length=64)
    gpus: list[GpuIndex] = Field(
        default_factory=list,
        max_length=MAX_GPUS_PER_NODE,
        description="GPU indices behind the same PCIe switch (nvidia-smi topo -m: PIX/PXB)",
    )


class NetworkInput(BaseModel):
    """`[network]`: the compute fabric between nodes, and the storage network."""

    model_config = _STRICT

    fabric: str = Field(min_length=1, max_length=64, description="an id of networks.csv")
    nics_per_node: int = Field(ge=1, le=MAX_NICS_PER_NODE)
    gpudirect_rdma: bool | None = None
    topology: Topology | None = None
    oversubscription: float = Field(
        default=1.0, ge=1.0, le=64.0, description="leaf down:up ratio; 1 = non-blocking"
    )
    nics: list[NicInput] | None = Field(default=None, max_length=MAX_NICS_PER_NODE)
    gpu_numa: list[NumaNode] | None = Field(
        default=None, max_length=MAX_GPUS_PER_NODE, description="NUMA node of each GPU, in order"
    )
    storage_fabric: str | None = Field(default=None, min_length=1, max_length=64)
    storage_nics_per_node: int | None = Field(default=None, ge=1, le=MAX_NICS_PER_NODE)
    shared_fs_read_gbs: float | None = Field(
        default=None, gt=0, le=1_000_000, description="aggregate read rate of the shared FS"
    )


class NodeGroupInput(BaseModel):
    """`[[cluster.nodes]]`: `count` nodes built alike, from a build file or inline."""

    model_config = _STRICT

    kind: str | None = Field(default=None, min_length=1, max_length=64)
    count: int = Field(default=1, ge=1, le=MAX_NODES)
    build: str | None = Field(
        default=None, min_length=1, max_length=4_096, description="relative to the cluster file"
    )
    node: BuildFile | None = Field(default=None, description="an inline build")
    rack: int | None = Field(default=None, ge=0, lt=MAX_RACKS)
    names: list[str] | None = Field(default=None, max_length=MAX_NODES)


class ClusterInput(BaseModel):
    """`[cluster]`: node groups and racks."""

    model_config = _STRICT

    nodes: list[NodeGroupInput] = Field(min_length=1, max_length=MAX_NODE_GROUPS)
    racks: int | None = Field(default=None, ge=1, le=MAX_RACKS)
    rack_power_kw: float | None = Field(default=None, gt=0, le=1_000)
    rack_cooling_kw: float | None = Field(default=None, gt=0, le=1_000)
    train_tokens: float | None = Field(
        default=None, gt=0, le=1e16, description="tokens the job trains on (time-to-train)"
    )


class ClusterFile(BaseModel):
    """A cluster build file as written, validated but not looked up."""

    model_config = _STRICT

    name: str | None = Field(default=None, max_length=200)
    cluster: ClusterInput
    network: NetworkInput | None = None
    workload: WorkloadInput | None = None


# --------------------------------------------------------------------------- resolved cluster


class NodeKind(BaseModel):
    """One distinct node build and how many nodes are built like it."""

    model_config = ConfigDict(frozen=True)

    kind: str
    count: int
    build: Build
    racks: dict[int, int] = Field(default_factory=dict, description="rack -> nodes of this kind")


class Cluster(BaseModel):
    """What the cluster rules take."""

    model_config = ConfigDict(frozen=True)

    name: str | None = None
    kinds: list[NodeKind]
    network: NetworkInput | None = None
    fabric: NetworkSpec | None = None
    storage_fabric: NetworkSpec | None = None
    racks: int = 1
    rack_power_kw: float | None = None
    rack_cooling_kw: float | None = None
    train_tokens: float | None = None
    measured_busbw_gbs: float | None = Field(
        default=None, description="inter-node all-reduce bus bandwidth from a cluster probe"
    )
    measured_source: str | None = None

    @property
    def n_nodes(self) -> int:
        return sum(k.count for k in self.kinds)

    @property
    def n_gpus(self) -> int:
        return sum(k.count * k.build.n_gpus for k in self.kinds)


class NodeKindReport(BaseModel):
    kind: str
    count: int
    report: CheckReport


class ClusterCheckReport(BaseModel):
    """`dlrig check` of a cluster file: the node rules per distinct node kind, then the
    cluster rules."""

    cluster: Cluster
    kinds: list[NodeKindReport]
    findings: list[Finding]
    skipped: list[Skip] = Field(default_factory=list)

    def all_findings(self) -> list[Finding]:
        return [*self.findings, *(f for k in self.kinds for f in k.report.findings)]

    @property
    def has_errors(self) -> bool:
        return any(f.severity == Severity.ERROR for f in self.all_findings())

    def to_json_dict(self) -> dict[str, Any]:
        def summary(findings: list[Finding]) -> dict[str, int]:
            return {s.value: sum(1 for f in findings if f.severity == s) for s in Severity}

        return {
            "schema": CLUSTER_CHECK_SCHEMA,
            "name": self.cluster.name,
            "nodes": self.cluster.n_nodes,
            "gpus": self.cluster.n_gpus,
            "network": self.cluster.network.model_dump(mode="json")
            if self.cluster.network
            else None,
            "fabric": self.cluster.fabric.model_dump(mode="json") if self.cluster.fabric else None,
            "measured_busbw_gbs": self.cluster.measured_busbw_gbs,
            "findings": [
                f.model_dump(mode="json")
                for f in sorted(self.findings, key=lambda f: f.severity.rank)
            ],
            "skipped": [s.model_dump(mode="json") for s in self.skipped],
            "node_kinds": [
                {"kind": k.kind, "count": k.count, "check": k.report.to_json_dict()}
                for k in self.kinds
            ],
            "summary": summary(self.all_findings()),
        }


CLUSTER_CHECK_SCHEMA = "dlrig.cluster-check/1"


# --------------------------------------------------------------------------- cluster probe result

CLUSTER_PROBE_SCHEMA = "dlrig.cluster/1"
CollectiveOp = Literal["all_reduce", "all_gather", "reduce_scatter", "send_recv"]
CollectiveScope = Literal["all", "intra-node", "inter-node"]


class BusPoint(BaseModel):
    """One message size: nccl-tests' algorithm and bus bandwidth (doc/PERFORMANCE.md)."""

    size_bytes: int
    time_us: float
    algbw_gbs: float
    busbw_gbs: float


class CollectiveSeries(BaseModel):
    op: CollectiveOp
    scope: CollectiveScope
    backend: str
    ranks: int = Field(description="ranks taking part in one collective")
    groups: int = Field(default=1, description="collectives run at once (one per node or rail)")
    points: list[BusPoint] = Field(default_factory=list)
    bound_gbs: float | None = Field(default=None, description="the link's rate, one way")
    bound_what: str = ""

    @property
    def peak_busbw_gbs(self) -> float | None:
        return max((p.busbw_gbs for p in self.points), default=None)


class RankFigures(BaseModel):
    rank: int
    node: str
    local_rank: int
    device: str
    matmul_tflops: float | None = None
    matmul_what: str = ""
    unavailable: dict[str, str] = Field(default_factory=dict)


class NodeFigures(BaseModel):
    """One node: the figures the outlier analysis compares, and its full probe result."""

    node: str
    ranks: list[int]
    gpus: int = 0
    gpu_name: str | None = None
    gpu_tflops: float | None = Field(default=None, description="lowest rank matmul on the node")
    pcie_width_min: int | None = None
    pcie_gen_min: int | None = None
    disk_read_mbs: float | None = None
    memory_bandwidth_gbs: float | None = None
    sm_clock_pct: float | None = Field(
        default=None, description="lowest SM clock / its maximum, %, over the node's GPUs"
    )
    throttled_gpus: int | None = Field(
        default=None, description="GPUs reporting a clock-slowing reason other than idle"
    )
    nic_gbs: float | None = Field(default=None, description="sum of active NIC port rates")
    intra_busbw_gbs: float | None = Field(
        default=None, description="this node's own all-reduce bus bandwidth, largest size"
    )
    nics: list[str] = Field(default_factory=list)
    probe: dict[str, Any] | None = Field(default=None, description="the node's dlrig.probe/1")
    unavailable: dict[str, str] = Field(default_factory=dict)


class Outlier(BaseModel):
    node: str
    metric: str
    value: float
    median: float
    mad: float
    robust_z: float | None = Field(description="0.6745 (x - median) / MAD; None when MAD = 0")


class Fault(BaseModel):
    rank: int | None
    node: str | None
    what: str = Field(description="died | stuck | never joined | failed")
    phase: str = ""


class ClusterProbeResult(BaseModel):
    """Everything `dlrig probe --cluster` measured (JSON schema `dlrig.cluster/1`)."""

    complete: bool
    status: str = Field(description='"complete" or "partial: <why>"')
    world_size: int
    backend: str
    duration_s: float = 0.0
    max_bytes: int = 0
    nodes: list[NodeFigures] = Field(default_factory=list)
    ranks: list[RankFigures] = Field(default_factory=list)
    collectives: list[CollectiveSeries] = Field(default_factory=list)
    outliers: list[Outlier] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    faults: list[Fault] = Field(default_factory=list)

    def series(self, op: str, scope: str) -> CollectiveSeries | None:
        return next((s for s in self.collectives if s.op == op and s.scope == scope), None)

    def to_json_dict(self) -> dict[str, Any]:
        return {"schema": CLUSTER_PROBE_SCHEMA, **self.model_dump(mode="json")}
