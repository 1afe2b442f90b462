"""Collectives over links: time = latency + bytes / bus bandwidth.

Bus bandwidth follows nccl-tests' definitions (https://github.com/NVIDIA/nccl-tests/blob/master/doc/PERFORMANCE.md):
for n ranks and S bytes, all-reduce moves 2(n-1)/n · S per rank (busbw = algbw · 2(n-1)/n),
all-gather and reduce-scatter (n-1)/n · S (S = the full, gathered size), all-to-all (n-1)/n · S,
send/recv S. A link's `busbw_gbs` is what NCCL reaches on it (a fraction of the line rate, from
efficiencies.csv), so a collective's time is its per-rank bytes over that rate plus one hop's
latency per ring step. Pure functions of explicit numbers: no job, no shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dlrig.catalog import load
from dlrig.errors import DlrigError
from dlrig.estimate import params as p
from dlrig.model.parts import GpuFabricSpec, GpuSpec

GBS = 1e9
US = 1e-6
NVLINK_DIRECTIONS = 2  # catalogs quote NVLink as the sum of both directions


@dataclass(frozen=True)
class Link:
    """One hop of a collective: what it is, NCCL's achieved bus bandwidth, one step's latency."""

    what: str
    busbw_gbs: float
    latency_s: float
    # A full mesh without a switch (AMD's Infinity Fabric between the 8 OAMs of a platform):
    # each GPU has this many point-to-point links, one per peer, and `busbw_gbs` is all of them
    # together; a collective over n ranks runs on the n-1 links each rank has into its group
    # (gpu_fabrics.csv). 0: a switch or a single path (NVLink over NVSwitch, PCIe), whose
    # rate does not depend on the group's size.
    mesh_links: int = 0

    def __post_init__(self) -> None:
        if not (self.busbw_gbs > 0 and self.latency_s >= 0 and self.mesh_links >= 0):
            raise ValueError(
                f"link {self.what}: bandwidth must be > 0, latency and mesh links >= 0"
            )

    def rate_gbs(self, n: int) -> float:
        """The bus bandwidth a collective over n ranks reaches on this link."""
        if not self.mesh_links:
            return self.busbw_gbs
        return self.busbw_gbs * min(max(n - 1, 1), self.mesh_links) / self.mesh_links


# --- collectives --------------------------------------------------------------------------


def allreduce_s(nbytes: float, n: int, link: Link) -> float:
    """Ring all-reduce: 2(n-1) steps, each rank sends and receives 2(n-1)/n · S."""
    if n <= 1 or nbytes <= 0:
        return 0.0
    return 2 * (n - 1) * link.latency_s + 2 * (n - 1) / n * nbytes / (link.rate_gbs(n) * GBS)


def allgather_s(nbytes: float, n: int, link: Link) -> float:
    """Ring all-gather of S bytes in total (each rank holds S/n): (n-1) steps, (n-1)/n · S."""
    if n <= 1 or nbytes <= 0:
        return 0.0
    return (n - 1) * link.latency_s + (n - 1) / n * nbytes / (link.rate_gbs(n) * GBS)


def reduce_scatter_s(nbytes: float, n: int, link: Link) -> float:
    """Ring reduce-scatter of S bytes per rank in, S/n out: the mirror of all-gather."""
    return allgather_s(nbytes, n, link)


def all_to_all_s(nbytes: float, n: int, link: Link) -> float:
    """Every rank sends (n-1)/n of its S bytes to the others (MoE dispatch or combine)."""
    return allgather_s(nbytes, n, link)


def p2p_s(nbytes: float, link: Link) -> float:
    """One send/recv between neighbouring pipeline stages (or one cudaMemcpyPeer: `link` from
    `peer_copy_link`)."""
    if nbytes <= 0:
        return 0.0
    return link.latency_s + nbytes / (link.rate_gbs(2) * GBS)


def oneshot_allreduce_s(nbytes: float, n: int, link: Link) -> float:
    """vLLM's (and SGLang's) custom all-reduce for small tensors: every rank reads the n-1 peer
    buffers over P2P and sums them in one kernel (csrc/custom_all_reduce.cuh,
    cross_device_reduce_1stage), so one hop's latency instead of a ring's 2(n-1) steps, and
    (n-1) · S bytes read per rank."""
    if n <= 1 or nbytes <= 0:
        return 0.0
    return link.latency_s + (n - 1) * nbytes / (link.rate_gbs(n) * GBS)


def twostage_allreduce_s(nbytes: float, n: int, link: Link) -> float:
    """vLLM's custom all-reduce for larger tensors on a full NVLink mesh
    (cross_device_reduce_2stage): a reduce-scatter (each rank reads its 1/n slice from the n-1
    peers) and an all-gather (it reads the n-1 other reduced slices) over P2P, with a barrier
    between: two hops' latency and 2(n-1)/n · S bytes per rank, a ring's bytes at two latencies."""
    if n <= 1 or nbytes <= 0:
        return 0.0
    return 2 * link.latency_s + 2 * (n - 1) / n * nbytes / (link.rate_gbs(n) * GBS)


# vLLM's custom all-reduce only takes tensors below its registered buffer
# (vllm/distributed/device_communicators/custom_all_reduce.py, CustomAllreduce.__init__
# `max_size=8192 * 1024`; should_custom_ar: `return inp_size < self.max_size`); larger ones go
# to NCCL (pynccl).
VLLM_CUSTOM_AR_MAX_BYTES = 8192 * 1024
# csrc/custom_all_reduce.cuh, CustomAllreduce::allreduce (REDUCE_CASE): two GPUs always run the
# one-stage kernel; a full NVLink mesh runs it `(world_size_ <= 4 && bytes < 512 * 1024) ||
# (world_size_ <= 8 && bytes < 256 * 1024)`, otherwise cross_device_reduce_2stage.
VLLM_ONESTAGE_MAX_BYTES = ((4, 512 * 1024), (8, 256 * 1024))


def vllm_custom_allreduce_s(nbytes: float, n: int, link: Link) -> float:
    """One all-reduce as vLLM (and SGLang, which carries the same kernel) issues it where its
    custom all-reduce is on (two P2P GPUs or a full NVLink mesh: perf.tp_comm): the one-stage
    kernel for small tensors, the two-stage one above vLLM's size thresholds, NCCL's ring at and
    above the custom kernel's 8 MiB buffer (constants above, quoted from vLLM's source). The
    same `link` prices all three (its rate and per-hop latency)."""
    if n <= 1 or nbytes <= 0:
        return 0.0
    if nbytes >= VLLM_CUSTOM_AR_MAX_BYTES:
        return allreduce_s(nbytes, n, link)
    if n == 2 or any(n <= k and nbytes < b for k, b in VLLM_ONESTAGE_MAX_BYTES):
        return oneshot_allreduce_s(nbytes, n, link)
    return twostage_allreduce_s(nbytes, n, link)


@dataclass(frozen=True)
class Placement:
    """How a group of `size` ranks lies over nodes: `per_node` of them share a node (and its
    intra-node link), the rest are reached over the network."""

    size: int
    per_node: int
    intra: Link
    inter: Link | None

    @property
    def nodes(self) -> int:
        return math.ceil(self.size / self.per_node)


def place(size: int, stride: int, gpus_per_node: int, intra: Link, inter: Link | None) -> Placement:
    """A group of `size` ranks `stride` apart (Megatron's order tp-cp-ep-dp-pp: the inner
    groups' product is the stride). Members share a node while stride·size fits in one."""
    per_node = max(1, min(size, gpus_per_node // max(stride, 1)))
    if per_node < size and inter is None:
        raise ValueError(f"a group of {size} spans nodes but no network is given")
    return Placement(size, per_node, intra, inter)


def group_allreduce_s(nbytes: float, g: Placement) -> float:
    """All-reduce over a placed group. Across nodes NCCL goes hierarchical: reduce-scatter
    inside the node, all-reduce of the 1/k shard between nodes (each GPU over its own NIC),
    all-gather inside the node."""
    if g.size <= 1:
        return 0.0
    if g.nodes == 1:
        return allreduce_s(nbytes, g.size, g.intra)
    assert g.inter is not None
    k = g.per_node
    return (
        reduce_scatter_s(nbytes, k, g.intra)
        + allreduce_s(nbytes / k, g.nodes, g.inter)
        + allgather_s(nbytes, k, g.intra)
    )


def group_allgather_s(nbytes: float, g: Placement) -> float:
    """All-gather (or reduce-scatter) of S bytes over a placed group, hierarchically: between
    nodes on k rails at once (each GPU gathers its 1/k slice from its peers on the other nodes
    over its own NIC), then inside the node."""
    if g.size <= 1:
        return 0.0
    if g.nodes == 1:
        return allgather_s(nbytes, g.size, g.intra)
    assert g.inter is not None
    k = g.per_node
    return allgather_s(nbytes / k, g.nodes, g.inter) + allgather_s(nbytes, k, g.intra)


def group_all_to_all_s(nbytes: float, g: Placement) -> float:
    if g.size <= 1:
        return 0.0
    if g.nodes == 1:
        return all_to_all_s(nbytes, g.size, g.intra)
    assert g.inter is not None
    # The share of each rank's bytes bound for other nodes crosses the network.
    off_node = nbytes * (g.size - g.per_node) / g.size
    return all_to_all_s(nbytes * g.per_node / g.size, g.per_node, g.intra) + p2p_s(
        off_node, g.inter
    )


# --- links --------------------------------------------------------------------------------


def intra_node_link(gpu: GpuSpec, interconnect: str = "auto") -> Link:
    """The link between two GPUs of one machine, with NCCL's achieved bus bandwidth.

    NVLink when the card has it and the user did not ask for PCIe (SXM/OAM always use it);
    an AMD OAM module's Infinity Fabric mesh (gpu_fabrics.csv: a link to each of its 7 peers,
    so a group of n GPUs all-reduces over n-1 of them, Link.mesh_links) unless the user asked
    for PCIe; otherwise PCIe at the card's generation and width, halved again without P2P
    (NCCL stages through host memory).

    Cross-check of the small-message cost without P2P (GeForce pairs, where vLLM's custom
    all-reduce is off and vLLM all-reduces with NCCL): NCCL's own tuner prices a ring LL
    all-reduce on PCI at a 6.6 us base plus 1.0 us per step (NVIDIA/nccl src/graph/tuning.cc
    at 5067397, baseLatencies line 151 and the PCI hwLatencies line 165), 8.6 us for two
    GPUs; this link's 2 x latency_us_pcie_nop2p_hop = 7.8 us plus a decode step's 16 KB
    hidden state (~1.7 us on PCIe 4.0 x16 at pcie_no_p2p_fraction) gives 9.5 us, and
    benchmarks/collective_latency.py's fit over published 8-byte all-reduce times 8.7 us. So
    a 2x RTX 3090 70B decode step pays 160 x ~9.5 us = 1.5 ms of NCCL, not the tens of ms a
    14-18 tok/s figure would need."""
    if uses_nvlink(gpu, interconnect):
        one_way = gpu.nvlink_gbs / NVLINK_DIRECTIONS
        return Link(
            f"NVLink {one_way:g} GB/s",
            one_way * p.value("allreduce_busbw_fraction_nvlink"),
            p.value("latency_us_nvlink_hop") * US,
        )
    fabric = mesh_fabric(gpu, interconnect)
    if fabric is not None:
        usable = fabric.link_gbs * fabric.usable_fraction
        return Link(
            f"Infinity Fabric mesh, {fabric.peer_links} links x {usable:g} GB/s",
            fabric.peer_links * usable,
            fabric.latency_us * US,
            mesh_links=fabric.peer_links,
        )
    line = load.pcie_gens()[gpu.pcie_gen].per_lane_gbs * gpu.pcie_lanes
    what = f"PCIe {gpu.pcie_gen}.0 x{gpu.pcie_lanes} {line:.1f} GB/s"
    busbw = line * p.value("allreduce_busbw_fraction_pcie")
    latency = p.value("latency_us_pcie_hop") * US
    if gpu.p2p == "no" or interconnect == "pcie-nop2p":
        busbw *= p.value("pcie_no_p2p_fraction")
        latency = p.value("latency_us_pcie_nop2p_hop") * US
        what += ", no P2P: through host memory"
    return Link(what, busbw, latency)


def uses_nvlink(gpu: GpuSpec, interconnect: str = "auto") -> bool:
    """NVLink when the card has it and the user asked for it, or it is an SXM/OAM module."""
    asked = interconnect == "nvlink" or (
        interconnect == "auto" and gpu.form_factor in ("sxm", "oam")
    )
    return bool(asked and gpu.nvlink and gpu.nvlink_gbs)


def mesh_fabric(gpu: GpuSpec, interconnect: str = "auto") -> GpuFabricSpec | None:
    """The module's own GPU-to-GPU mesh where it has one besides NVLink (gpu_fabrics.csv:
    AMD's Infinity Fabric between the 8 OAMs of an MI300X-class platform), used unless the
    user asked for PCIe; None for every other card."""
    if interconnect != "auto":
        return None
    return load.gpu_fabrics().get(gpu.name)


def fully_connected(gpu: GpuSpec, interconnect: str = "auto") -> bool:
    """Whether every pair of the machine's GPUs has a direct link of its own fabric: NVLink
    (uses_nvlink) or a module mesh (mesh_fabric)."""
    return uses_nvlink(gpu, interconnect) or mesh_fabric(gpu, interconnect) is not None


def has_p2p(gpu: GpuSpec, interconnect: str = "auto") -> bool:
    """Whether two such cards in one machine reach each other's memory directly: over NVLink
    or a module mesh, or over PCIe where the card allows P2P (gpus.csv p2p: GeForce cards do
    not with stock drivers) and the user did not say pcie-nop2p."""
    if fully_connected(gpu, interconnect):
        return True
    return gpu.p2p != "no" and interconnect != "pcie-nop2p"


def peer_copy_link(gpu: GpuSpec, interconnect: str = "auto") -> Link:
    """One cudaMemcpyPeer between two GPUs of one machine (what llama.cpp's row split and
    ExLlamaV2's tensor parallelism issue instead of NCCL collectives): the intra-node link's
    rate, and the latency cuda-samples' p2pBandwidthLatencyTest measures for a small copy,
    direct with P2P, staged through host memory without it (efficiencies.csv
    peer_copy_latency_us_p2p / _nop2p)."""
    return _copy_link(gpu, interconnect, has_p2p(gpu, interconnect), "peer copies")


def host_staged_link(gpu: GpuSpec) -> Link:
    """A copy from one GPU to pinned host memory and on to the other GPUs (ExLlamaV2's tensor
    parallelism gathers and broadcasts through a pinned host buffer whatever the link):
    the no-P2P peer copy's latency and rate, which is the same two hops through host memory."""
    return _copy_link(gpu, "pcie-nop2p", False, "through pinned host memory")


def _copy_link(gpu: GpuSpec, interconnect: str, p2p: bool, how: str) -> Link:
    """The intra-node link's rate at the small-copy latency with or without P2P."""
    link = intra_node_link(gpu, interconnect)
    key = "peer_copy_latency_us_p2p" if p2p else "peer_copy_latency_us_nop2p"
    return Link(f"{link.what}; {how}", link.busbw_gbs, p.value(key) * US, link.mesh_links)


def pcie_host_link(gpu: GpuSpec, measured_gbs: float | None = None) -> Link:
    """GPU ↔ CPU memory for offload traffic: the pinned copy rate `probe` measured when the
    build file has it (`gpus.host_link_gbs`, `--host-link-gbs`), else the card's PCIe
    generation x lanes at the share of the line rate host copies reach."""
    if measured_gbs is not None:
        return Link("the measured host link", measured_gbs, 0.0)
    line = load.pcie_gens()[gpu.pcie_gen].per_lane_gbs * gpu.pcie_lanes
    rate = line * p.value("pcie_host_copy_fraction")
    return Link(f"PCIe {gpu.pcie_gen}.0 x{gpu.pcie_lanes} host copies", rate, 0.0)


def inter_node_networks() -> list[str]:
    """Ids of the fabrics between nodes in `catalog/data/networks.csv` (one NIC per GPU, as
    in DGX/HGX nodes)."""
    return sorted(k for k, v in load.networks().items() if v.scope == "inter-node")


def check_network(network_id: str) -> None:
    """--network names a fabric between nodes, or this raises with the closest ids."""
    from dlrig.errors import close_matches

    known = inter_node_networks()
    if network_id not in known:
        close = close_matches(network_id, known)
        hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(known)}"
        raise DlrigError(
            f"--network {network_id!r} is not a network between nodes in networks.csv; {hint}"
        )


def network_link(network_id: str, nics_per_node: int | None = None, gpus_per_node: int = 1) -> Link:
    """The link between nodes, per GPU: the table's per-port rate where each GPU has its own
    port (DGX/HGX nodes: `nics_per_node` None), else the node's ports shared by its GPUs
    (a cloud node's 4 x 100G for 8 GPUs gives each a half port). The same share as the
    cluster rules' (rules/cluster.py inter_link)."""
    check_network(network_id)
    net = load.networks()[network_id]
    if nics_per_node is None:
        per_gpu, what = net.effective_gbs, f"{net.name}, {net.effective_gbs:g} GB/s per GPU"
    else:
        per_gpu = net_share_gbs(nics_per_node * net.effective_gbs, gpus_per_node)
        what = f"{nics_per_node} x {net.name} per node, {per_gpu:.3g} GB/s per GPU"
    return Link(what, per_gpu, net.latency_us * US)


def net_share_gbs(node_busbw_gbs: float, gpus_per_node: int) -> float:
    """Each GPU's share of what its node's network ports carry."""
    return node_busbw_gbs / max(gpus_per_node, 1)
