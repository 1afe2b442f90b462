"""Cluster models: fabrics from the network table (catalog/data/networks.csv)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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
