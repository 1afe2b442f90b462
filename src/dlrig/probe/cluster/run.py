"""One rank of `dlrig probe --cluster` (every rank runs this; rank 0 reports).

1. join: each rank writes its node name to the launcher's store and waits (bounded) for all;
2. per-rank matmul on the rank's device; the node probe (probe/run.py) on the lowest rank of
   each node; both sent to rank 0 as JSON through the store and validated there (not
   gather_object: it would unpickle bytes from other machines);
3. collectives over every message size: all ranks, inside each node, and between nodes (one
   rail per local rank), NCCL on GPUs, gloo on CPUs;
4. rank 0 aggregates (aggregate.py). A fault at any step: the survivors name the node at fault
   (control.py), rank 0 writes what it has as *partial*, every rank exits with status 1.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dlrig.errors import DlrigError
from dlrig.model.cluster import (
    ClusterProbeResult,
    CollectiveSeries,
    Fault,
    NodeFigures,
    RankFigures,
)
from dlrig.probe.cluster import aggregate
from dlrig.probe.cluster.control import ClusterFault, Control, connect
from dlrig.probe.cluster.env import LaunchEnv, fake_probe_path, launch_env

OPS = ("all_reduce", "all_gather", "reduce_scatter", "send_recv")
DEFAULT_TIMEOUT_S = 300.0
DEFAULT_MIN_BYTES = 1 << 10
DEFAULT_MAX_BYTES = 1 << 30
# gloo on CPUs: a 1 GiB all-reduce per rank costs GBs of RAM per process and minutes on a
# laptop; CPU runs stop at 64 MiB unless --max-bytes says otherwise.
DEFAULT_MAX_BYTES_GLOO = 64 << 20
MAX_FAKE_PROBE_BYTES = 4_000_000


@dataclass(frozen=True)
class Options:
    quick: bool = True
    data_dir: Path = Path(".")
    timeout_s: float = DEFAULT_TIMEOUT_S
    min_bytes: int = DEFAULT_MIN_BYTES
    max_bytes: int | None = None
    backend: str = "auto"  # auto | gloo | nccl
    matmul_n: int = 1024


@dataclass
class State:
    """What rank 0 has gathered so far (a partial report is built from it)."""

    env: LaunchEnv
    backend: str = "gloo"
    max_bytes: int = 0
    t0: float = field(default_factory=time.perf_counter)
    ranks: list[RankFigures] = field(default_factory=list)
    nodes: list[NodeFigures] = field(default_factory=list)
    series: list[CollectiveSeries] = field(default_factory=list)

    def result(self, faults: list[Fault], status: str | None) -> ClusterProbeResult:
        return aggregate.assemble(
            world_size=self.env.world_size,
            backend=self.backend,
            nodes=self.nodes,
            ranks=self.ranks,
            collectives=[s for s in self.series if s.points],
            faults=faults,
            status=status,
            duration_s=time.perf_counter() - self.t0,
            max_bytes=self.max_bytes,
        )


def run_cluster(
    opts: Options, on_partial: Callable[[ClusterProbeResult], None]
) -> ClusterProbeResult | None:
    """This rank's part; rank 0 returns the result, other ranks None. A fault ends the process
    (status 1) after `on_partial` got rank 0's partial result."""
    env = launch_env()
    if opts.backend not in ("auto", "gloo", "nccl"):
        raise DlrigError(f"--backend {opts.backend}: expected auto, gloo or nccl")

    # c10d logs each broken store connection with a C++ stack trace; the one-line errors say it
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")
    # NCCL: a collective that outlasts the process group's timeout raises in this thread (so the
    # diagnosis can name the node) instead of only tearing the process down from the watchdog
    os.environ.setdefault("TORCH_NCCL_BLOCKING_WAIT", "1")
    import torch
    import torch.distributed as dist

    state = State(env=env)
    store = connect(env, opts.timeout_s)
    ctl = Control(env=env, store=store, timeout_s=opts.timeout_s)

    def partial(message: str) -> None:
        if env.rank == 0:
            faults = _faults_from_store(ctl) or [
                Fault(rank=None, node=None, what="failed", phase=ctl.phase)
            ]
            on_partial(state.result(faults, f"partial: {message}"))

    ctl.on_abort = partial

    def on_sigterm(*_: object) -> None:
        """torchrun stops every local rank when one fails: say which one, if the store knows."""
        why, faults = ctl.diagnose(RuntimeError("stopped by SIGTERM"))
        named = why if any(f.rank != env.rank for f in faults) else "no other rank named"
        ctl.abort(f"{ctl.me()} stopped by SIGTERM during {ctl.phase} ({named})", faults)

    signal.signal(signal.SIGTERM, on_sigterm)
    ctl.start_watchdog()
    try:
        nodes = ctl.join()
    except ClusterFault as fault:
        ctl.abort(str(fault), fault.faults)
    try:
        return _measure(opts, env, ctl, state, torch, dist, nodes)
    except Exception as exc:
        message, faults = ctl.diagnose(exc)
        ctl.abort(message, faults)
    return None  # not reached: abort exits


def _faults_from_store(ctl: Control) -> list[Fault]:
    try:
        text = ctl._get("faults")
        return [Fault.model_validate(f) for f in json.loads(text)] if text else []
    except Exception:
        return []


def _measure(
    opts: Options,
    env: LaunchEnv,
    ctl: Control,
    state: State,
    torch: Any,
    dist: Any,
    nodes: dict[int, str],
) -> ClusterProbeResult | None:
    from dlrig.probe.cluster.bench import Setup, rank_matmul, run_series

    use_nccl = opts.backend == "nccl" or (opts.backend == "auto" and torch.cuda.is_available())
    backend = "nccl" if use_nccl else "gloo"
    if use_nccl:
        device = torch.device("cuda", env.local_rank % max(torch.cuda.device_count(), 1))
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
        # ranks of one node share its cores: one pool each, not one pool per rank fighting
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(env.local_world_size, 1)))
    state.backend = backend
    max_bytes = opts.max_bytes or (DEFAULT_MAX_BYTES if use_nccl else DEFAULT_MAX_BYTES_GLOO)
    state.max_bytes = max_bytes
    sizes = aggregate.message_sizes(opts.min_bytes, max_bytes)
    ctl.enter("init_process_group")
    dist.init_process_group(
        backend,
        store=dist.PrefixStore("pg/", ctl.store),
        rank=env.rank,
        world_size=env.world_size,
        timeout=timedelta(seconds=opts.timeout_s),
    )
    control = dist.new_group(backend="gloo") if use_nccl else None
    setup = Setup(torch=torch, dist=dist, device=device, backend=backend)

    by_node: dict[str, list[int]] = {}
    for r, name in sorted(nodes.items()):
        by_node.setdefault(name, []).append(r)
    leader = min(by_node[env.node]) == env.rank

    ctl.enter("per-rank matmul")
    fig = rank_matmul(setup, env.rank, env.node, env.local_rank, opts.matmul_n)
    ctl.enter("node probe" if leader else "waiting for the node probes")
    payload = _node_probe(opts, env) if leader else None
    ctl.enter("gathering node results")
    # Through the store as JSON, validated on rank 0: another machine's bytes are input, and
    # gather_object would unpickle them.
    report = RankReport(rank=fig, node=None if payload is None else NodePayload(**payload))
    ctl.put(f"result/{env.rank}", report.model_dump_json())
    if env.rank == 0:
        texts = ctl.collect("result", opts.timeout_s)
        _collect(state, [RankReport.model_validate_json(t) for t in texts], by_node)

    # groups: every rank creates every group, in the same order (torch requires it)
    node_groups = {name: dist.new_group(ranks) for name, ranks in sorted(by_node.items())}
    local = {r: by_node[n].index(r) for r, n in nodes.items()}
    rails: dict[int, list[int]] = {}
    for r in sorted(nodes):
        rails.setdefault(local[r], []).append(r)
    rail_groups = {k: dist.new_group(v) for k, v in sorted(rails.items())}
    plans: list[tuple[str, Any, list[int], int]] = []
    if env.world_size > 1:
        plans.append(("all", None, sorted(nodes), 1))
    if len(by_node) > 1 and any(len(v) > 1 for v in by_node.values()):  # one node: = all
        mine = by_node[env.node]
        plans.append(("intra-node", node_groups[env.node], mine, len(by_node)))
    if len(by_node) > 1 and len(by_node) < env.world_size:  # one rank per node: same as all
        rail = rails[local[env.rank]]
        plans.append(("inter-node", rail_groups[local[env.rank]], rail, len(rails)))
    for op in OPS:
        for scope, group, ranks, n_groups in plans:
            # every rank runs every plan, even in a group of one (its node's only rank), so
            # the control collectives inside stay matched across ranks
            # each node's own bus bandwidth: every rank takes part in gathering the times
            per_node = scope == "intra-node" and op == "all_reduce"
            series = run_series(
                setup,
                op=op,
                scope=scope,
                sizes=sizes,
                group=group,
                ranks=ranks,
                groups=n_groups,
                me=env.rank,
                control=control,
                enter=ctl.enter,
                on_point=(lambda s: None if s in state.series else state.series.append(s))
                if env.rank == 0
                else None,
                on_last=(
                    lambda times: (
                        _intra_busbw(state, by_node, times, sizes[-1]) if env.rank == 0 else None
                    )
                )
                if per_node
                else None,
            )
            if env.rank == 0:
                aggregate.set_bound(series, state.nodes)
    ctl.enter("done")
    dist.barrier(group=control)
    ctl.stop.set()
    if env.rank != 0:
        dist.destroy_process_group()
        return None
    result = state.result([], None)
    dist.destroy_process_group()
    return result


class NodePayload(BaseModel):
    """What a node's lead rank reports besides its own figures."""

    model_config = ConfigDict(extra="forbid")

    probe: dict[str, Any] | None = None
    nics: list[str] = Field(default_factory=list, max_length=512)
    nic_gbs: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    error: str | None = Field(default=None, max_length=400)


class RankReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rank: RankFigures
    node: NodePayload | None = None


def _intra_busbw(
    state: State, by_node: dict[str, list[int]], times: list[float], size: int
) -> None:
    """Each node's own all-reduce bus bandwidth at the largest size (its slowest rank's time):
    a node with a degraded NVLink or PCIe link stands out among the others."""
    from dlrig.probe.cluster.bench import ELEMENT_BYTES, _elements

    for fig in state.nodes:
        ranks = by_node.get(fig.node, [])
        if len(ranks) < 2:
            continue
        took = max(times[r] for r in ranks)
        nbytes = _elements(size, len(ranks)) * ELEMENT_BYTES
        fig.intra_busbw_gbs = aggregate.bus_point("all_reduce", len(ranks), nbytes, took).busbw_gbs


def _collect(state: State, reports: list[RankReport], by_node: dict[str, list[int]]) -> None:
    figs = {r.rank.rank: r.rank for r in reports}
    payloads = {r.rank.node: r.node for r in reports if r.node is not None}
    state.ranks = [figs[r] for r in sorted(figs)]
    for name, ranks in sorted(by_node.items()):
        pay = payloads.get(name) or NodePayload(error="its lead rank sent no node probe")
        state.nodes.append(
            aggregate.node_figures(
                name,
                [figs[r] for r in ranks if r in figs],
                pay.probe,
                nic_gbs=pay.nic_gbs,
                nics=pay.nics,
                probe_error=pay.error,
            )
        )


def _node_probe(opts: Options, env: LaunchEnv) -> dict[str, Any]:
    """The node's probe as a `dlrig.probe/1` dict (or the fake file's), and its NICs."""
    from dlrig.probe.cluster.nics import node_nics

    nics, nic_gbs = node_nics()
    out: dict[str, Any] = {"nics": nics, "nic_gbs": nic_gbs}
    fake = fake_probe_path(env.node)
    try:
        if fake:
            out["probe"] = _read_fake(fake)
        else:
            from dlrig.probe.run import run_probe

            out["probe"] = run_probe(quick=opts.quick, data_dir=opts.data_dir).to_json_dict()
    except DlrigError as exc:
        out["error"] = exc.one_line()
    except Exception as exc:  # the node still takes part in the collectives
        out["error"] = f"probe failed: {type(exc).__name__}: {str(exc)[:160]}"
    return out


def _read_fake(path: str) -> dict[str, Any]:
    from dlrig.model.files import read_bounded

    raw = read_bounded(Path(path), path, MAX_FAKE_PROBE_BYTES, "a dlrig.probe/1 JSON file")
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError as exc:
        raise DlrigError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != "dlrig.probe/1":
        raise DlrigError(f"{path}: expected a dlrig.probe/1 JSON object (dlrig probe -f json)")
    return data
