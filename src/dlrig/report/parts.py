"""`dlrig parts gpus|cpus|models`: the catalog as a table or as JSON."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from dlrig.model.parts import CpuSpec, GpuSpec
from dlrig.model.workload import ModelSpec
from dlrig.report.json import dumps


def _num(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}".removesuffix(".0") if digits else f"{value:,.0f}"


def _print(table: Table) -> str:
    buf = io.StringIO()
    Console(file=buf, width=160, no_color=True, force_terminal=False).print(table)
    return buf.getvalue()


def gpu_record(g: GpuSpec) -> dict[str, Any]:
    """A GPU as a JSON object with the catalog's field names."""
    record = g.model_dump(mode="json", exclude={"power_connectors", "power_connectors_text"})
    record["power_connectors"] = g.power_connectors_text
    record["aliases"] = list(g.aliases)
    return record


def gpus_json(rows: Sequence[GpuSpec]) -> str:
    return dumps([gpu_record(g) for g in rows])


def cpus_json(rows: Sequence[CpuSpec]) -> str:
    records = [c.model_dump(mode="json") for c in rows]
    return dumps(records)


def gpus_table(rows: Sequence[GpuSpec]) -> str:
    table = Table(title=f"GPUs ({len(rows)})")
    for col in (
        "name",
        "arch",
        "year",
        "GB",
        "GB/s",
        "FP16 TC",
        "FP8",
        "W",
        "PCIe",
        "form",
        "P2P",
        "USD",
    ):
        table.add_column(col, justify="left" if col in ("name", "arch", "form", "P2P") else "right")
    for g in rows:
        table.add_row(
            g.name,
            g.architecture.split(" (")[0],
            str(g.year),
            _num(g.memory_gb),
            _num(g.memory_bandwidth_gbs, 0),
            _num(g.fp16_tensor_tflops),
            _num(g.fp8_tensor_tflops),
            _num(g.tdp_w, 0),
            f"{g.pcie_gen}.0 x{g.pcie_lanes}",
            g.form_factor,
            "nvlink" if g.nvlink else g.p2p,
            _num(g.price_usd, 0),
        )
    caption = "FP16 TC: dense FP16/BF16 tensor TFLOPS with FP32 accumulate; USD: launch price."
    table.caption = caption
    return _print(table)


def cpus_table(rows: Sequence[CpuSpec]) -> str:
    table = Table(title=f"CPUs ({len(rows)})")
    for col in (
        "name",
        "socket",
        "year",
        "cores",
        "threads",
        "lanes",
        "PCIe",
        "channels",
        "MT/s",
        "W",
        "USD",
    ):
        table.add_column(col, justify="left" if col in ("name", "socket") else "right")
    for c in rows:
        table.add_row(
            c.name,
            c.socket,
            str(c.year),
            str(c.cores),
            str(c.threads),
            str(c.pcie_lanes),
            f"{c.pcie_gen}.0",
            str(c.memory_channels),
            _num(c.max_memory_mts, 0),
            _num(c.tdp_w, 0),
            _num(c.price_usd, 0),
        )
    table.caption = "lanes: CPU PCIe lanes usable for slots and M.2 (chipset link excluded)."
    return _print(table)


def models_json(rows: Sequence[ModelSpec]) -> str:
    records = [m.model_dump(mode="json") for m in rows]
    return dumps(records)


def models_table(rows: Sequence[ModelSpec]) -> str:
    table = Table(title=f"Model presets ({len(rows)})")
    for col in ("name", "kind", "params (B)", "active (B)", "layers", "hidden", "heads", "KV"):
        table.add_column(col, justify="left" if col in ("name", "kind") else "right")
    for m in rows:
        table.add_row(
            m.name,
            m.kind.value,
            _num(m.params_total / 1e9, 2),
            _num(m.active_params / 1e9, 2),
            _num(m.n_layers, 0),
            _num(m.hidden_size, 0),
            _num(m.n_heads, 0),
            _num(m.n_kv_heads, 0),
        )
    table.caption = "Architectures from each model's config.json / paper: see models.csv sources."
    return _print(table)
