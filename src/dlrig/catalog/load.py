"""Typed loading of the shipped CSV spec files (cached: each file is parsed once per process)."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from dlrig.errors import CatalogDataError
from dlrig.model.parts import (
    ConnectorSpec,
    CpuSpec,
    GpuFabricSpec,
    GpuSpec,
    PcieGenSpec,
    PowerConnectors,
    PsuEfficiencySpec,
    StorageSpec,
)
from dlrig.model.workload import ModelSpec

if TYPE_CHECKING:  # market and cluster models load with the functions that use them: `check`
    from dlrig.model.cluster import NetworkSpec  # never needs them (issue 16: start-up time)
    from dlrig.model.market import (
        Case,
        Currency,
        Drive,
        DualPsu,
        MemoryKit,
        Platform,
        Psu,
        Riser,
        VatRate,
    )
    from dlrig.model.price import MarketPrice

Row = TypeVar("Row", bound=BaseModel)

_CONNECTOR_TOKEN = re.compile(r"^(\d+)x(6pin|8pin|16pin|eps8pin)$")
_CONNECTOR_FIELD = {"6pin": "pin6", "8pin": "pin8", "16pin": "pin16", "eps8pin": "eps8"}
_YES_NO = {"yes": True, "no": False}


def read_rows(filename: str) -> list[dict[str, str]]:
    """Rows of a shipped data file as dicts of stripped strings."""
    text = resources.files("dlrig.catalog").joinpath("data", filename).read_text("utf-8")
    return [
        {k.strip(): (v or "").strip() for k, v in row.items()}
        for row in csv.DictReader(text.splitlines())
    ]


def parse_power_connectors(text: str) -> PowerConnectors:
    """`"1x6pin+1x8pin"` → PowerConnectors(pin6=1, pin8=1).

    `"none"` means slot power only; `"board"` an SXM/OAM module powered by its baseboard.
    """
    text = text.strip().lower()
    if text == "board":
        return PowerConnectors(board=True)
    if text in ("none", ""):
        return PowerConnectors()
    counts: dict[str, int] = {}
    for token in text.split("+"):
        match = _CONNECTOR_TOKEN.match(token.strip())
        if match is None:
            raise ValueError(f"bad power connector token {token!r} in {text!r}")
        field = _CONNECTOR_FIELD[match.group(2)]
        counts[field] = counts.get(field, 0) + int(match.group(1))
    return PowerConnectors(**counts)


def _blank_to_none(row: dict[str, str]) -> dict[str, Any]:
    return {k: (None if v == "" else v) for k, v in row.items()}


def _aliases(text: str | None) -> tuple[str, ...]:
    return tuple(a.strip() for a in (text or "").split(";") if a.strip())


def _build(
    filename: str, model: type[Row], convert: Callable[[dict[str, Any]], dict[str, Any]]
) -> tuple[Row, ...]:
    out = []
    for line, raw in enumerate(read_rows(filename), start=2):
        try:
            out.append(model.model_validate(convert(_blank_to_none(raw))))
        except (ValidationError, ValueError) as exc:
            first = str(exc).splitlines()[0:3]
            raise CatalogDataError(f"catalog {filename}: line {line}: {' '.join(first)}") from exc
    return tuple(out)


def _with_notes(row: dict[str, Any]) -> dict[str, Any]:
    """A row whose blank notes cell (None after _blank_to_none) reads as ''."""
    return {**row, "notes": row.get("notes") or ""}


def _named_row(row: dict[str, Any]) -> dict[str, Any]:
    """GPU and CPU rows: aliases as a tuple, empty notes and confidence as ''."""
    row = _with_notes(row)
    row["aliases"] = _aliases(row.get("aliases"))
    row["confidence"] = row.get("confidence") or ""
    return row


def _gpu_row(row: dict[str, Any]) -> dict[str, Any]:
    row = _named_row(row)
    text = row.get("power_connectors") or ""
    row["power_connectors_text"] = text
    row["power_connectors"] = parse_power_connectors(text)
    row["nvlink"] = _YES_NO.get((row.get("nvlink") or "no").lower(), False)
    return row


def _keep(*fields: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda row: {k: row[k] for k in fields}


def _psu_row(row: dict[str, Any]) -> dict[str, Any]:
    loads = {"load_10pct": 0.10, "load_20pct": 0.20, "load_50pct": 0.50, "load_100pct": 1.00}
    points = tuple((frac, float(row[col]) / 100) for col, frac in loads.items() if row.get(col))
    return {"tier": row["tier"], "input": row["input"], "points": points, "source": row["source"]}


@cache
def gpus() -> tuple[GpuSpec, ...]:
    return _build("gpus.csv", GpuSpec, _gpu_row)


@cache
def cpus() -> tuple[CpuSpec, ...]:
    return _build("cpus.csv", CpuSpec, _named_row)


@cache
def gpu_fabrics() -> dict[str, GpuFabricSpec]:
    """GPU-to-GPU meshes other than NVLink by GPU name (gpu_fabrics.csv: Infinity Fabric)."""
    rows = _build("gpu_fabrics.csv", GpuFabricSpec, _with_notes)
    return {row.gpu: row for row in rows}


@cache
def pcie_gens() -> dict[int, PcieGenSpec]:
    fields = ("gen", "transfer_rate_gts", "encoding", "per_lane_gbs", "x16_gbs", "year", "source")
    return {row.gen: row for row in _build("pcie.csv", PcieGenSpec, _keep(*fields))}


@cache
def psu_efficiencies() -> tuple[PsuEfficiencySpec, ...]:
    return _build("psu_efficiency.csv", PsuEfficiencySpec, _psu_row)


@cache
def connectors() -> dict[str, ConnectorSpec]:
    rows = _build("connectors.csv", ConnectorSpec, _keep("connector", "max_w", "source"))
    return {row.connector: row for row in rows}


@cache
def storage_kinds() -> dict[str, StorageSpec]:
    rows = _build("storage.csv", StorageSpec, _keep("kind", "typical_read_mbs", "source"))
    return {row.kind: row for row in rows}


_MODEL_FIELDS = set(ModelSpec.model_fields)


def _model_row(row: dict[str, Any]) -> dict[str, Any]:
    # Blank cells take ModelSpec's defaults (first_dense_layers 0, ...).
    row = {k: v for k, v in _named_row(row).items() if k in _MODEL_FIELDS and v is not None}
    for flag in ("tied_embeddings", "gated_mlp"):
        row[flag] = (row.get(flag) or "false").lower() == "true"
    return row


@cache
def models() -> tuple[ModelSpec, ...]:
    """Model presets (models.csv): architecture and FLOPs per sample, each with its source."""
    return _build("models.csv", ModelSpec, _model_row)


def _network_row(row: dict[str, Any]) -> dict[str, Any]:
    row = _with_notes(row)
    row["rdma"] = _YES_NO[(row.get("rdma") or "").lower()]
    return row


@cache
def networks() -> dict[str, NetworkSpec]:
    """Fabrics by id (networks.csv): line rate, NCCL bus bandwidth per port, latency, source."""
    from dlrig.model.cluster import NetworkSpec

    return {row.id: row for row in _build("networks.csv", NetworkSpec, _network_row)}


# --- market data: what `dlrig recommend` can buy (catalog/data/MARKET.md) ---------------------


def _market_row(row: dict[str, Any]) -> dict[str, Any]:
    row["notes"] = row.get("notes") or ""
    for flag in ("atx3",):
        if flag in row:
            row[flag] = _YES_NO.get((row[flag] or "no").lower(), False)
    return row


def parse_gpu_lanes(text: str) -> tuple[tuple[int, ...], ...]:
    """`"16|8;8"` → ((16,), (8, 8)): the n-th layout is the slots' lanes with n GPUs."""
    layouts = tuple(
        tuple(int(lanes) for lanes in layout.split(";")) for layout in text.strip().split("|")
    )
    for n, layout in enumerate(layouts, start=1):
        if len(layout) != n:
            raise ValueError(f"gpu_lanes layout {n} lists {len(layout)} slots, expected {n}")
    return layouts


def _platform_row(row: dict[str, Any]) -> dict[str, Any]:
    row = _market_row(row)
    row["gpu_lanes"] = parse_gpu_lanes(row.get("gpu_lanes") or "")
    row["cpus"] = _aliases(row.get("cpus"))
    return row


@cache
def market_prices() -> tuple[MarketPrice, ...]:
    from dlrig.model.price import MarketPrice

    return _build("market_prices.csv", MarketPrice, _market_row)


@cache
def platforms() -> tuple[Platform, ...]:
    from dlrig.model.market import Platform

    return _build("platforms.csv", Platform, _platform_row)


@cache
def psus() -> tuple[Psu, ...]:
    from dlrig.model.market import Psu

    return _build("psus.csv", Psu, _market_row)


@cache
def memory_kits() -> tuple[MemoryKit, ...]:
    from dlrig.model.market import MemoryKit

    return _build("memory_kits.csv", MemoryKit, _market_row)


@cache
def drives() -> tuple[Drive, ...]:
    from dlrig.model.market import Drive

    return _build("drives.csv", Drive, _market_row)


@cache
def currencies() -> dict[str, Currency]:
    from dlrig.model.market import Currency

    return {row.code: row for row in _build("currencies.csv", Currency, _market_row)}


@cache
def cases() -> tuple[Case, ...]:
    from dlrig.model.market import Case

    return _build("cases.csv", Case, _market_row)


@cache
def risers() -> tuple[Riser, ...]:
    from dlrig.model.market import Riser

    return _build("risers.csv", Riser, _market_row)


@cache
def dual_psus() -> tuple[DualPsu, ...]:
    from dlrig.model.market import DualPsu

    return _build("dual_psu.csv", DualPsu, _market_row)


@cache
def vat_rates() -> dict[str, VatRate]:
    """Standard VAT by region code (DE, FR, UK, ...)."""
    from dlrig.model.market import VatRate

    return {row.region: row for row in _build("vat_rates.csv", VatRate, _market_row)}
