"""A search candidate as a proposal: the build file it would be, its price lines, and what
`dlrig check` says of it (a candidate with an error is not proposed)."""

from __future__ import annotations

from typing import Any

from dlrig.catalog.resolve import resolve
from dlrig.estimate import data_rate
from dlrig.model.build import Build
from dlrig.model.finding import Finding, Severity
from dlrig.model.load import parse_build
from dlrig.model.market import Market, is_stale
from dlrig.model.recommend import PriceLine
from dlrig.model.workload import ModelSpec, Task
from dlrig.recommend.request import Request
from dlrig.recommend.search import Candidate, card_length, card_width, num_workers
from dlrig.rules import check
from dlrig.rules.energy import draw, energy_kwh

# [workload] keys taken from the user's request (estimator Job field = build file key).
REQUEST_KEYS = ("precision", "quant", "optimizer", "lora_rank", "seq_len", "context", "batch_size")


def _workload(c: Candidate, m: ModelSpec, req: Request) -> dict[str, Any]:
    config = c.config
    w: dict[str, Any] = {"model": m.name, "task": req.task.value}
    for key in REQUEST_KEYS:
        if req.job.get(key) is not None:
            w[key] = req.job[key]
    w.update(config.settings)
    if req.task != Task.INFER and config.data is not None:
        w["batch_size"] = config.batch_size
        if m.is_language_model and config.tokens_per_sample:
            # bytes_per_sample is per token for language models (estimate/data_rate.py).
            w["sample_bytes"] = config.tokens_per_sample * config.data.bytes_per_sample
            w["tensor_bytes"] = config.tokens_per_sample * data_rate.TOKEN_TENSOR_BYTES
        elif not m.is_language_model:
            w["sample_bytes"] = config.data.bytes_per_sample
            w["tensor_bytes"] = data_rate.image_tensor_bytes(m)
    w["num_workers"] = num_workers(config, req.task)
    w["hours"] = req.energy_hours
    return w


def build_dict(
    c: Candidate, m: ModelSpec, req: Request, market: Market, name: str
) -> dict[str, Any]:
    """The build file, as `dlrig check` reads it."""
    pf, gpu, n = c.host.platform, c.config.gpu, c.config.n
    gpus: dict[str, Any] = {"model": gpu.name, "count": n}
    if gpu.slot_width is None:
        gpus["slot_width"] = card_width(gpu)
    if gpu.length_mm is None:
        gpus["length_mm"] = card_length(gpu)
    modules = c.kit.modules
    speed = min(c.kit.speed_mts, c.host.cpu.max_memory_mts or c.kit.speed_mts)
    data: dict[str, Any] = {
        "name": name,
        "cpu": {"model": c.host.cpu.name},
        "memory": {
            "size_gb": c.kit.size_gb,
            "speed_mts": speed,
            "channels": min(modules, pf.memory_channels),
        },
        "gpus": [gpus],
        "motherboard": {
            "model": pf.board,
            "expansion_slots": pf.board_expansion_slots,
            "gpu_slot_lanes": list(pf.gpu_lanes[n - 1]),
            "pcie_gen": pf.pcie_gen,
        },
        "psu": {
            "watts": c.psu.watts,
            "rating": c.psu.rating,
            "atx3": c.psu.atx3,
            "pcie_8pin": c.psu.pcie_8pin,
            "pcie_16pin": c.psu.pcie_16pin,
        },
        "storage": [
            {
                "kind": c.drive.kind,
                "read_mbs": c.drive.read_mbs,
                "size_tb": c.drive.size_tb,
                "holds_data": True,
                "model": c.drive.name,
            }
        ],
        "case": {
            "model": pf.case,
            "max_gpu_length_mm": pf.case_max_gpu_length_mm,
            "expansion_slots": pf.case_expansion_slots,
        },
        "power": {"currency": market.currency},
        "workload": _workload(c, m, req),
    }
    if req.electricity_price is not None:
        data["power"]["price_per_kwh"] = req.electricity_price
    if req.mains_voltage is not None and req.circuit_amps is not None:
        data["power"]["mains_voltage"] = req.mains_voltage
        data["power"]["circuit_amps"] = req.circuit_amps
    return data


# part, name, count, unit USD, date, source, condition, price kind
Line = tuple[str, str, int, float, str | None, str, str, str]


def _part_line(part: str, row: Any) -> Line:
    return (part, row.name, 1, row.price_usd, row.price_date, row.source, "new", row.price_kind)


def _lines(c: Candidate, market: Market) -> list[Line]:
    pf = c.host.platform
    gpu_row = market.gpu_prices[c.config.gpu.name]
    cpu_row = market.cpu_prices[c.host.cpu.name]
    rows: list[Line] = [
        (
            "gpu",
            c.config.gpu.name,
            c.config.n,
            gpu_row.price_usd,
            gpu_row.price_date,
            gpu_row.source,
            gpu_row.condition,
            gpu_row.price_kind,
        ),
        (
            "cpu",
            c.host.cpu.name,
            1,
            cpu_row.price_usd,
            cpu_row.price_date,
            cpu_row.source,
            cpu_row.condition,
            cpu_row.price_kind,
        ),
        *(
            (part, name, 1, usd, pf.price_date, pf.source, "new", pf.price_kind)
            for part, name, usd in (
                ("board", pf.board, pf.board_price_usd),
                ("case", pf.case, pf.case_price_usd),
                ("cooler", f"CPU cooler for {pf.socket}", pf.cpu_cooler_price_usd),
            )
        ),
        _part_line("memory", c.kit),
        _part_line("storage", c.drive),
    ]
    if c.psu.platform_id is None:
        psu = next(s for s in market.psus if s.name == c.psu.name)
        rows.append(_part_line("psu", psu))
    # Parts with no price of their own (a server's included case and supplies) are left out.
    return [r for r in rows if r[3] > 0 or r[0] in ("gpu", "cpu")]


def _cents(usd: float, market: Market) -> float:
    return round(usd * market.per_usd, 2)


def local_price(c: Candidate, market: Market) -> float:
    """What the build costs in the user's currency: the sum of its lines, each in cents."""
    return round(sum(_cents(line[3], market) * line[2] for line in _lines(c, market)), 2)


def price_lines(c: Candidate, market: Market) -> list[PriceLine]:
    return [
        PriceLine(
            part=part,
            name=name,
            count=count,
            unit_price=_cents(usd, market),
            price=round(_cents(usd, market) * count, 2),
            price_date=date,
            source=source,
            condition=condition,
            price_kind=kind,
            stale=market.today is not None and is_stale(date, market.today),
        )
        for part, name, count, usd, date, source, condition, kind in _lines(c, market)
    ]


def checked(data: dict[str, Any], name: str) -> tuple[Build, list[Finding]]:
    build = resolve(parse_build(data, name), name)
    report = check(build)
    return report.build, report.by_severity()


def has_errors(findings: list[Finding]) -> bool:
    return any(f.severity == Severity.ERROR for f in findings)


def wall_power(build: Build) -> tuple[float, float]:
    """(watts at the wall under load, kWh per hour) by the energy rule's own arithmetic."""
    dc, eff, _ = draw(build)
    return dc / eff, energy_kwh(dc, 1.0, eff)
