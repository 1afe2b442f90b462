"""`dlrig parts ...`: the catalog and the market as a table or as JSON.

Every price is shown with its currency, its kind (launch MSRP, new street, used), its date, and
a mark when it is more than 6 months older than `today` (the CLI passes the real date; tests
pass a fixed one). Part names are the catalog names, exactly as `--gpu` / build files take them.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from rich.console import Console
from rich.table import Table

from dlrig.model.market import (
    STALE_AFTER_MONTHS,
    Case,
    Drive,
    MarketPrice,
    MemoryKit,
    Platform,
    Psu,
    is_stale,
    price_label,
)
from dlrig.model.parts import CpuSpec, GpuSpec
from dlrig.model.workload import ModelSpec
from dlrig.report.json import dumps

WIDTH = 200
STALE_MARK = "!"


@dataclass(frozen=True)
class PriceContext:
    """How prices are shown: currency units per USD (VAT included), the VAT note, today."""

    currency: str = "USD"
    per_usd: float = 1.0
    vat_note: str = "prices before VAT and sales tax"
    today: date | None = None
    used_only: frozenset[str] = frozenset()
    stacks: dict[str, str] | None = None  # GPU name -> "cuda sm_89" (gpu_support.csv)


@dataclass(frozen=True)
class Price:
    amount: float
    currency: str
    kind: str
    date: str | None
    condition: str
    stale: bool
    source: str

    def cell(self) -> str:
        return f"{self.amount:,.0f} {self.currency}"

    def note(self) -> str:
        parts = [price_label(self.kind, self.condition)]
        if self.date:
            parts.append(self.date)
        return ", ".join(parts) + (f" {STALE_MARK}" if self.stale else "")

    def record(self) -> dict[str, Any]:
        return {
            "amount": self.amount,
            "currency": self.currency,
            "kind": self.kind,
            "condition": self.condition,
            "date": self.date,
            "older_than_6_months": self.stale,
            "source": self.source,
        }


def price(
    usd: float | None,
    kind: str,
    when: str | None,
    source: str,
    ctx: PriceContext,
    condition: str = "new",
) -> Price | None:
    if usd is None:
        return None
    stale = ctx.today is not None and is_stale(when, ctx.today)
    amount = round(usd * ctx.per_usd, 2)
    return Price(amount, ctx.currency, kind, when, condition, stale, source)


def _num(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}".removesuffix(".0") if digits else f"{value:,.0f}"


def _print(table: Table) -> str:
    buf = io.StringIO()
    # markup=False: catalog text such as "[platforms]" is printed as written.
    Console(file=buf, width=WIDTH, no_color=True, force_terminal=False, markup=False).print(table)
    return buf.getvalue()


def _dumps(records: list[dict[str, Any]]) -> str:
    return dumps(records)  # the shared strict JSON writer (report/json.py)


def _table(title: str, columns: Sequence[str], left: Sequence[str]) -> Table:
    table = Table(title=title)
    for col in columns:
        # Names never wrap: the table shows them exactly as JSON and --gpu do.
        table.add_column(
            col,
            justify="left" if col in left else "right",
            no_wrap=col == "name",
        )
    return table


def _caption(ctx: PriceContext, prices: Sequence[Price | None], extra: str = "") -> str:
    stale = sum(1 for p in prices if p is not None and p.stale)
    bits = [extra] if extra else []
    bits.append(ctx.vat_note)
    if stale and ctx.today is not None:
        bits.append(
            f"{STALE_MARK} {stale} prices are more than {STALE_AFTER_MONTHS} months old on "
            f"{ctx.today.isoformat()}: check them or pass a --prices file to recommend"
        )
    return "; ".join(bits) + "."


def _cells(p: Price | None) -> tuple[str, str]:
    return (p.cell(), p.note()) if p is not None else ("—", "")


# --- GPUs and CPUs: spec rows with their launch price and, where sold, a market price --------


def _market_price(market: dict[str, MarketPrice], name: str, ctx: PriceContext) -> Price | None:
    row = market.get(name)
    if row is None:
        return None
    return price(row.price_usd, row.price_kind, row.price_date, row.source, ctx, row.condition)


def _launch_price(part: GpuSpec | CpuSpec, ctx: PriceContext) -> Price | None:
    return price(part.price_usd, "msrp", part.price_date, "catalog launch price", ctx)


def gpu_record(g: GpuSpec) -> dict[str, Any]:
    """A GPU as a JSON object with the catalog's field names."""
    record = g.model_dump(mode="json", exclude={"power_connectors", "power_connectors_text"})
    record["power_connectors"] = g.power_connectors_text
    record["aliases"] = list(g.aliases)
    return record


def _with_prices(
    record: dict[str, Any], launch: Price | None, now: Price | None, used: bool
) -> dict[str, Any]:
    record["launch_price"] = launch.record() if launch else None
    record["market_price"] = now.record() if now else None
    record["sold_used_only"] = used
    return record


def _with_stack(record: dict[str, Any], ctx: PriceContext) -> dict[str, Any]:
    stack = (ctx.stacks or {}).get(record["name"], "")
    record["software_stack"], _, record["software_target"] = stack.partition(" ")
    return record


def gpus_json(rows: Sequence[GpuSpec], market: dict[str, MarketPrice], ctx: PriceContext) -> str:
    return _dumps(
        [
            _with_stack(
                _with_prices(
                    gpu_record(g),
                    _launch_price(g, ctx),
                    _market_price(market, g.name, ctx),
                    g.name in ctx.used_only,
                ),
                ctx,
            )
            for g in rows
        ]
    )


def gpus_table(rows: Sequence[GpuSpec], market: dict[str, MarketPrice], ctx: PriceContext) -> str:
    cols = ("name", "year", "GB", "GB/s", "FP16 TC", "FP8", "W", "PCIe", "form", "P2P", "stack")
    cols += ("launch", "price now", "kind, date")
    left = ("name", "form", "P2P", "stack", "kind, date")
    table = _table(f"GPUs ({len(rows)})", cols, left)
    shown: list[Price | None] = []
    for g in rows:
        launch, now = _launch_price(g, ctx), _market_price(market, g.name, ctx)
        shown.append(now)
        note = _cells(now)[1] or ("sold used only" if g.name in ctx.used_only else "")
        table.add_row(
            g.name,
            str(g.year),
            _num(g.memory_gb),
            _num(g.memory_bandwidth_gbs, 0),
            _num(g.fp16_tensor_tflops),
            _num(g.fp8_tensor_tflops),
            _num(g.tdp_w, 0),
            f"{g.pcie_gen}.0 x{g.pcie_lanes}",
            g.form_factor,
            "nvlink" if g.nvlink else g.p2p,
            (ctx.stacks or {}).get(g.name, "").split(" ")[0] or "—",
            launch.cell() if launch else "—",
            _cells(now)[0],
            note,
        )
    table.caption = _caption(
        ctx,
        shown,
        "FP16 TC: dense FP16/BF16 tensor TFLOPS with FP32 accumulate; launch: launch MSRP; "
        "price now: what market_prices.csv says it costs to buy (used where marked); "
        "stack: the software it needs (cuda, rocm, oneapi, synapseai; catalog/data/"
        "stack_support.csv says what runs on it)",
    )
    return _print(table)


def cpus_json(rows: Sequence[CpuSpec], market: dict[str, MarketPrice], ctx: PriceContext) -> str:
    return _dumps(
        [
            _with_prices(
                c.model_dump(mode="json"),
                _launch_price(c, ctx),
                _market_price(market, c.name, ctx),
                False,
            )
            for c in rows
        ]
    )


def cpus_table(rows: Sequence[CpuSpec], market: dict[str, MarketPrice], ctx: PriceContext) -> str:
    cols = ("name", "socket", "year", "cores", "threads", "lanes", "PCIe", "channels", "MT/s")
    cols += ("W", "launch", "price now", "kind, date")
    table = _table(f"CPUs ({len(rows)})", cols, ("name", "socket", "kind, date"))
    shown: list[Price | None] = []
    for c in rows:
        launch, now = _launch_price(c, ctx), _market_price(market, c.name, ctx)
        shown.append(now)
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
            launch.cell() if launch else "—",
            *_cells(now),
        )
    table.caption = _caption(
        ctx, shown, "lanes: CPU PCIe lanes usable for slots and M.2 (chipset link excluded)"
    )
    return _print(table)


# --- market files: every row is a priced part ------------------------------------------------


@dataclass(frozen=True)
class Column:
    title: str
    value: Callable[[Any], str]


def _row_price(row: Any, ctx: PriceContext, usd: float | None = None) -> Price | None:
    return price(
        row.price_usd if usd is None else usd, row.price_kind, row.price_date, row.source, ctx
    )


def _market_table(
    title: str, rows: Sequence[Any], cols: Sequence[Column], ctx: PriceContext, note: str
) -> str:
    titles = ("name", *(c.title for c in cols), "price", "kind, date")
    table = _table(f"{title} ({len(rows)})", titles, ("name", "kind, date", "type", "case"))
    shown = []
    for row in rows:
        p = _row_price(row, ctx)
        shown.append(p)
        table.add_row(row.name, *(c.value(row) for c in cols), *_cells(p))
    table.caption = _caption(ctx, shown, note)
    return _print(table)


def _market_json(rows: Sequence[Any], ctx: PriceContext) -> str:
    records = []
    for row in rows:
        record = row.model_dump(mode="json")
        p = _row_price(row, ctx)
        record["price"] = p.record() if p else None
        records.append(record)
    return _dumps(records)


PSU_COLUMNS = (
    Column("W", lambda r: _num(r.watts, 0)),
    Column("80 PLUS", lambda r: r.rating),
    Column("ATX", lambda r: r.atx_version or ("3.x" if r.atx3 else "2.x")),
    Column("8-pin", lambda r: str(r.pcie_8pin)),
    Column("12V-2x6", lambda r: str(r.pcie_16pin)),
)
CASE_COLUMNS = (
    Column("type", lambda r: r.kind),
    Column("slots", lambda r: str(r.expansion_slots)),
    Column("GPU mm", lambda r: _num(r.max_gpu_length_mm, 0)),
    Column("GPUs", lambda r: str(r.max_gpus)),
    Column("mount", lambda r: r.gpu_mount),
    Column("PSUs", lambda r: str(r.psu_bays)),
)
MEMORY_COLUMNS = (
    Column("type", lambda r: r.memory_type),
    Column("GB", lambda r: _num(r.size_gb, 0)),
    Column("DIMMs", lambda r: str(r.modules)),
    Column("MT/s", lambda r: _num(r.speed_mts, 0)),
)
DRIVE_COLUMNS = (
    Column("type", lambda r: r.kind),
    Column("TB", lambda r: _num(r.size_tb)),
    Column("read MB/s", lambda r: _num(r.read_mbs, 0)),
)


def psus_table(rows: Sequence[Psu], ctx: PriceContext) -> str:
    note = "ATX 3.1 units ship a 12V-2x6 cable; 12V-2x6: native 16-pin cables"
    return _market_table("PSUs", rows, PSU_COLUMNS, ctx, note)


def cases_table(rows: Sequence[Case], ctx: PriceContext) -> str:
    note = "mount risers: cards on an open frame over riser cables; 0 price: part of a barebone"
    return _market_table("Cases", rows, CASE_COLUMNS, ctx, note)


def memory_table(rows: Sequence[MemoryKit], ctx: PriceContext) -> str:
    return _market_table("Memory kits", rows, MEMORY_COLUMNS, ctx, "GB: the whole kit")


def drives_table(rows: Sequence[Drive], ctx: PriceContext) -> str:
    return _market_table("Drives", rows, DRIVE_COLUMNS, ctx, "read: maker's sequential read")


def psus_json(rows: Sequence[Psu], ctx: PriceContext) -> str:
    return _market_json(rows, ctx)


cases_json = memory_json = drives_json = psus_json


def platforms_table(rows: Sequence[Platform], ctx: PriceContext) -> str:
    cols = ("name", "socket", "board", "case", "DIMMs", "GPUs", "lanes", "price", "kind, date")
    table = _table(f"Platforms ({len(rows)})", cols, ("name", "socket", "board", "case"))
    shown = []
    for pf in rows:
        p = price(pf.price_usd, pf.price_kind, pf.price_date, pf.source, ctx)
        shown.append(p)
        lanes = "/".join(str(x) for x in pf.gpu_lanes[-1])
        table.add_row(
            pf.id,
            pf.socket,
            pf.board,
            pf.case,
            f"{pf.memory_modules_min}-{pf.memory_slots}",
            str(pf.max_gpus),
            lanes,
            *_cells(p),
        )
    table.caption = _caption(
        ctx,
        shown,
        "name: the platform id (--prices [platforms]); price: board + case + CPU cooler; "
        "DIMMs: one per channel up to the board's slots; lanes: with the most GPUs",
    )
    return _print(table)


def platforms_json(rows: Sequence[Platform], ctx: PriceContext) -> str:
    records = []
    for pf in rows:
        record = pf.model_dump(mode="json")
        p = price(pf.price_usd, pf.price_kind, pf.price_date, pf.source, ctx)
        record["price"] = p.record() if p else None
        records.append(record)
    return _dumps(records)


# --- model presets -------------------------------------------------------------------------


def models_json(rows: Sequence[ModelSpec]) -> str:
    return _dumps([m.model_dump(mode="json") for m in rows])


def models_table(rows: Sequence[ModelSpec]) -> str:
    table = _table(
        f"Model presets ({len(rows)})",
        ("name", "kind", "params (B)", "active (B)", "layers", "hidden", "heads", "KV"),
        ("name", "kind"),
    )
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
