"""From priced candidates to proposals: the cost/throughput Pareto front and the top N by
throughput per money, each confirmed by `dlrig check` and explained."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from dlrig.model.finding import Finding, Severity
from dlrig.model.market import Market
from dlrig.model.recommend import Proposal, Rejection
from dlrig.model.thresholds import DEFAULT_OTHER_W, DISK_WARN_FRACTION, PSU_MAX_LOAD_FRACTION
from dlrig.model.workload import Task
from dlrig.recommend.assemble import (
    build_dict,
    checked,
    has_errors,
    local_price,
    price_lines,
    wall_power,
)
from dlrig.recommend.configs import throughput_unit
from dlrig.recommend.request import Request
from dlrig.recommend.search import Candidate

PER_THOUSAND = 1000.0
HOUR_S = 3600.0


@dataclass
class Ranked:
    proposals: list[Proposal]
    front: list[Proposal]
    rejected: list[Rejection] = field(default_factory=list)


def score(c: Candidate) -> float:
    """Throughput per 1000 US dollars (the same order in any currency)."""
    return c.throughput / c.price_usd * PER_THOUSAND


def score_unit(req: Request, market: Market) -> str:
    return f"{throughput_unit(req.model)} per {PER_THOUSAND:g} {market.currency}"


def _key(c: Candidate) -> tuple:
    """A total order, so equal scores or prices always rank the same way."""
    return (c.config.gpu.name, c.config.n, c.host.platform.id, c.host.cpu.name)


def pareto(
    cands: list[Candidate], keep: Callable[[Candidate], bool] = lambda c: True
) -> list[Candidate]:
    """Cheapest first; each member is faster than every cheaper candidate that `keep` accepts
    (`keep` is asked only of candidates that would join the front)."""
    front: list[Candidate] = []
    best = 0.0
    for c in sorted(cands, key=lambda c: (c.price_usd, -c.throughput, _key(c))):
        if c.throughput > best and keep(c):
            front.append(c)
            best = c.throughput
    return front


def best_per_config(cands: list[Candidate]) -> list[Candidate]:
    """One candidate per (GPU, count): the host that gives the most throughput per money."""
    best: dict[tuple[str, int], Candidate] = {}
    for c in sorted(cands, key=_key):
        k = (c.config.gpu.name, c.config.n)
        if k not in best or (score(c), -c.price_usd) > (score(best[k]), -best[k].price_usd):
            best[k] = c
    return sorted(best.values(), key=lambda c: (-score(c), c.price_usd, _key(c)))


class _Verifier:
    """Runs `dlrig check` once per candidate; remembers results and the rejections."""

    def __init__(self, req: Request, market: Market) -> None:
        self.req, self.market = req, market
        self.cache: dict[tuple, tuple[dict, list[Finding], object] | None] = {}
        self.rejected: list[Rejection] = []

    def name(self, c: Candidate) -> str:
        used = " (used)" if self.market.gpu_prices[c.config.gpu.name].condition == "used" else ""
        gpu = f"{c.config.gpu.name}{used}"
        return f"{c.config.n}x {gpu} on {c.host.cpu.name} ({c.host.platform.id})"

    def __call__(self, c: Candidate) -> tuple[dict, list[Finding], object] | None:
        k = _key(c)
        if k not in self.cache:
            data = build_dict(c, self.req.model, self.req, self.market, self.name(c))
            build, findings = checked(data, self.name(c))
            if has_errors(findings):
                errors = [f for f in findings if f.severity == Severity.ERROR]
                self.rejected.append(
                    Rejection(
                        what=self.name(c),
                        reason=f"dlrig check: {errors[0].id}: {errors[0].message}",
                    )
                )
                self.cache[k] = None
            else:
                self.cache[k] = (data, findings, build)
        return self.cache[k]


def rank(cands: list[Candidate], req: Request, market: Market) -> Ranked:
    # The search compares in US dollars; a converted price rounded to cents per line can land a
    # cent over the budget, and the budget is a promise.
    cands = [c for c in cands if local_price(c, market) <= req.budget]
    verify = _Verifier(req, market)
    front = pareto(cands, keep=lambda c: verify(c) is not None)
    top: list[Candidate] = []
    for c in best_per_config(cands):
        if len(top) == req.top:
            break
        if verify(c) is not None:
            top.append(c)
    on_front = {_key(c) for c in front}
    value_rank = {_key(c): i for i, c in enumerate(top, start=1)}
    make = _Maker(req, market, verify, on_front, value_rank, front)
    made = {_key(c): make(c) for c in [*top, *front]}  # a build both on top and on the front once
    return Ranked(
        proposals=[made[_key(c)] for c in top],
        front=[made[_key(c)] for c in front],
        rejected=verify.rejected,
    )


@dataclass
class _Maker:
    req: Request
    market: Market
    verify: _Verifier
    on_front: set
    value_rank: dict
    front: list[Candidate]

    def __call__(self, c: Candidate) -> Proposal:
        req, market = self.req, self.market
        checked_build = self.verify(c)
        assert checked_build is not None
        data, findings, build = checked_build
        price = local_price(c, market)
        wall_w, kwh_per_h = wall_power(build)  # type: ignore[arg-type]
        kwh = kwh_per_h * req.energy_hours
        energy_cost = kwh * req.electricity_price if req.electricity_price is not None else None
        return Proposal(
            name=data["name"],
            gpu=c.config.gpu.name,
            gpu_condition=self.market.gpu_prices[c.config.gpu.name].condition,
            n_gpus=c.config.n,
            cpu=c.host.cpu.name,
            platform=c.host.platform.name,
            price=price,
            currency=market.currency,
            throughput=c.throughput,
            throughput_unit=throughput_unit(req.model),
            score=c.throughput / price * PER_THOUSAND,
            score_unit=score_unit(req, market),
            on_pareto_front=_key(c) in self.on_front,
            value_rank=self.value_rank.get(_key(c)),
            time_hours=work_hours(c, req),
            wall_power_w=round(wall_w, 1),
            energy_kwh=round(kwh, 1),
            energy_cost=round(energy_cost, 2) if energy_cost is not None else None,
            cloud_break_even_hours=break_even_hours(price, c.config.n, kwh_per_h, req),
            price_lines=price_lines(c, market),
            findings=findings,
            reasons=self.reasons(c, price),
            build=data,
        )

    def reasons(self, c: Candidate, price: float) -> list[str]:
        req, cur = self.req, self.market.currency
        unit = throughput_unit(req.model)
        out = []
        r = self.value_rank.get(_key(c))
        if r == 1:
            out.append(f"most {unit} per {cur} of the builds that fit the budget")
        elif r is not None:
            out.append(f"#{r} by {unit} per {cur}")
        if _key(c) in self.on_front:
            i = [_key(f) for f in self.front].index(_key(c))
            if i == len(self.front) - 1:
                out.append(f"the fastest build within {req.budget:,.0f} {cur}")
            else:
                out.append("on the Pareto front: no cheaper build is faster")
        out.append(f"uses {price / req.budget:.0%} of the budget")
        if c.config.settings:
            changes = ", ".join(f"{k} = {_toml(v)}" for k, v in c.config.settings.items())
            out.append(f"fits {c.config.gpu.memory_gb:g} GB cards with {changes}")
        if c.throughput < c.config.throughput:
            out.append(
                f"CPU decode caps it at {c.throughput:,.0f} of the GPUs' "
                f"{c.config.throughput:,.0f} {unit}: a CPU with more cores would feed them"
            )
        if c.host.is_server:
            out.append("server chassis: its own power supplies and airflow")
        return out


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f'"{value}"' if isinstance(value, str) else str(value)


def work_hours(c: Candidate, req: Request) -> float | None:
    """Hours for --tokens, or --epochs over --dataset-size samples, at the estimated rate."""
    if c.throughput <= 0:
        return None
    tokens_per_sample = c.config.tokens_per_sample or 1
    if req.tokens is not None:
        units = req.tokens  # tokens for language models, samples otherwise
    elif req.epochs is not None and req.dataset_size is not None:
        units = req.epochs * req.dataset_size
        if req.model.is_language_model:
            units *= tokens_per_sample
    else:
        return None
    return units / c.throughput / HOUR_S


def break_even_hours(price: float, n: int, kwh_per_h: float, req: Request) -> float | None:
    """Hours of use at which buying costs less than renting n GPUs: price / (cloud − power)."""
    if req.cloud_price_per_gpu_hour is None:
        return None
    own_per_h = kwh_per_h * (req.electricity_price or 0.0)
    saved_per_h = req.cloud_price_per_gpu_hour * n - own_per_h
    return price / saved_per_h if saved_per_h > 0 else None


def assumptions(req: Request, market: Market) -> list[str]:
    out = [
        f"prices: {market.price_note}; {market.rate_note}",
        "throughput from dlrig estimate for each GPU and count; the rest of the build does not "
        "change it except CPU decode for vision training",
        "memory savers the recommender may turn on when the settings do not fit: activation "
        "checkpointing, a chunked loss, ZeRO sharding (never a different task or quantisation)",
        f"energy over {req.energy_hours:,.0f} h at full load: GPUs at board power, CPU at its "
        f"package limit, {DEFAULT_OTHER_W:g} W for the rest, through the PSU's 80 PLUS efficiency",
        "PSU, RAM and drive: the cheapest that pass the guide's rules "
        f"({PSU_MAX_LOAD_FRACTION * 100:.0f} % PSU load, RAM >= GPU memory, the drive at <= "
        f"{DISK_WARN_FRACTION * 100:.0f} % of its read rate)",
    ]
    if req.task == Task.INFER:
        out.append("inference throughput is decode tokens/s at the given batch (default 1)")
    if req.cloud_price_per_gpu_hour is not None and req.electricity_price is None:
        out.append("cloud break-even leaves out electricity: give --electricity-price")
    return out


def sources(market: Market) -> list[str]:
    out = sorted(
        {p.source for p in market.gpu_prices.values()}
        | {p.source for p in market.cpu_prices.values()}
    )
    return out
