"""From priced candidates to proposals: the cost/throughput Pareto front and the top N by
throughput per money, each confirmed by `dlrig check` and explained."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from dlrig.estimate.perf import inverse_interval, scaled_interval
from dlrig.model.finding import Finding, Severity
from dlrig.model.market import Market
from dlrig.model.recommend import Proposal, Rejection, StepUp
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
from dlrig.recommend.cloud import cloud_prices
from dlrig.recommend.configs import throughput_unit
from dlrig.recommend.request import Request
from dlrig.recommend.search import (
    ASSUMED_LENGTH_MM,
    ASSUMED_SLOT_WIDTH,
    Candidate,
    SearchResult,
)

PER_THOUSAND = 1000.0
HOUR_S = 3600.0
HOURS_PER_MONTH = 24 * 365 / 12
# The best proposal "leaves the budget unused" when it spends less than this share of it: then
# the result says why, and what the next step up would cost (issue 17).
BUDGET_USED_FRACTION = 2 / 3


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


def order_key(req: Request) -> Callable[[Candidate], tuple]:
    """The proposals' order: fastest first (then cheapest), or most throughput per money first;
    `_key` last, so ties always rank the same way."""
    if req.rank == "value":
        return lambda c: (-score(c), c.price_usd, _key(c))
    return lambda c: (-c.throughput, c.price_usd, _key(c))


def best_per_config(cands: list[Candidate], req: Request) -> list[Candidate]:
    """One candidate per (GPU, count): the host that ranks first by the request's order."""
    key = order_key(req)
    best: dict[tuple[str, int], Candidate] = {}
    for c in cands:
        k = (c.config.gpu.name, c.config.n)
        if k not in best or key(c) < key(best[k]):
            best[k] = c
    return sorted(best.values(), key=key)


def gpu_memory_gb(c: Candidate) -> float:
    return c.config.gpu.memory_gb * c.config.n


def dominates(a: Candidate, b: Candidate) -> bool:
    """`a` is at least as fast, holds at least as much GPU memory and costs no more than `b`,
    and is better in one of them: nobody should buy `b`. GPU memory counts only while the job
    needs it: when the job fits `a` with room to spare (even at the top of the estimator's
    interval), `b`'s extra memory buys nothing for it."""
    memory_ok = gpu_memory_gb(a) >= gpu_memory_gb(b) or getattr(a.config, "roomy", False)
    no_worse = a.throughput >= b.throughput and memory_ok and a.price_usd <= b.price_usd
    better = (
        a.throughput > b.throughput
        or gpu_memory_gb(a) > gpu_memory_gb(b)
        or a.price_usd < b.price_usd
    )
    return no_worse and better


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
    dominated: list[Rejection] = []
    for c in best_per_config(cands, req):
        if len(top) == req.top:
            break
        if verify(c) is None:
            continue
        # Any build that passes check and is no worse in speed, GPU memory and price.
        better = next(
            (d for d in cands if dominates(d, c) and verify(d) is not None),
            None,
        )
        if better is not None:
            dominated.append(
                Rejection(
                    what=verify.name(c),
                    reason=f"dominated by {verify.name(better)}: as fast or faster, as much GPU "
                    f"memory or more, for {local_price(better, market):,.0f} instead of "
                    f"{local_price(c, market):,.0f} {market.currency}",
                )
            )
            continue
        top.append(c)
    on_front = {_key(c) for c in front}
    value_rank = {_key(c): i for i, c in enumerate(sorted(top, key=order_key_value), start=1)}
    make = _Maker(req, market, verify, on_front, value_rank, front)
    made = {_key(c): make(c) for c in [*top, *front]}  # a build both on top and on the front once
    return Ranked(
        proposals=[made[_key(c)] for c in top],
        front=[made[_key(c)] for c in front],
        rejected=verify.rejected + dominated,
    )


def order_key_value(c: Candidate) -> tuple:
    return (-score(c), c.price_usd, _key(c))


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
        cloud_rate, cloud_source = cloud_rate_for(c, req, market)
        break_even = break_even_hours(price, c.config.n, kwh_per_h, req, cloud_rate)
        hours = work_hours(c, req)
        time_iv = inverse_interval(hours, c.config.throughput_interval, c.throughput)
        rent = cloud_cost(c, req, cloud_rate)
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
            throughput_interval=c.config.throughput_interval,
            score=c.throughput / price * PER_THOUSAND,
            score_unit=score_unit(req, market),
            on_pareto_front=_key(c) in self.on_front,
            value_rank=self.value_rank.get(_key(c)),
            time_hours=hours,
            time_hours_interval=time_iv,
            wall_power_w=round(wall_w, 1),
            energy_kwh=round(kwh, 1),
            energy_cost=round(energy_cost, 2) if energy_cost is not None else None,
            cloud_price_per_gpu_hour=cloud_rate,
            cloud_price_source=cloud_source,
            cloud_break_even_hours=break_even,
            cloud_break_even_months=(
                round(break_even / HOURS_PER_MONTH, 1) if break_even is not None else None
            ),
            cloud_cost=rent,
            # the rent scales with the time
            cloud_cost_interval=scaled_interval(rent, hours, time_iv),
            price_lines=price_lines(c, market),
            findings=findings,
            reasons=self.reasons(c, price),
            build=data,
        )

    def within_error_below(self, c: Candidate) -> str | None:
        """The next cheaper build on the front, when its rate is within the estimator's error
        of this one's: paying more for a difference the estimate cannot resolve is a choice
        the user should see."""
        i = [_key(f) for f in self.front].index(_key(c))
        if i == 0:
            return None
        cheaper = self.front[i - 1]
        iv = cheaper.config.throughput_interval
        # where the cheaper build's measured rate may lie (Interval.band): up to this one's?
        if iv is None or (iv.high is not None and iv.high < c.throughput):
            return None
        saved = local_price(c, self.market) - local_price(cheaper, self.market)
        return (
            f"{cheaper.config.n} x {cheaper.config.gpu.name} is within the estimator's "
            f"± {iv.frac:.0%} of its rate ({cheaper.throughput / c.throughput:.0%} of it) for "
            f"{saved:,.0f} {self.market.currency} less"
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
                close = self.within_error_below(c)
                if close:
                    out.append(close)
            else:
                out.append("on the Pareto front: no cheaper build is faster")
        out.append(f"uses {price / req.budget:.0%} of the budget")
        savers = {k: v for k, v in c.config.settings.items() if k != "tp"}
        if savers:
            changes = ", ".join(f"{k} = {_toml(v)}" for k, v in savers.items())
            out.append(f"fits {c.config.gpu.memory_gb:g} GB cards with {changes}")
        if "tp" in c.config.settings:
            out.append(
                f"tensor parallel across its {c.config.n} cards (tp = {c.config.settings['tp']}): "
                "each card reads its share of the weights per token"
            )
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


def cloud_rate_for(c: Candidate, req: Request, market: Market) -> tuple[float | None, str | None]:
    """The GPU-hour price of renting this GPU, in the market's currency, and where it is from:
    the user's --cloud-price-per-gpu-hour, else the shipped on-demand price, else none."""
    if req.cloud_price_per_gpu_hour is not None:
        return req.cloud_price_per_gpu_hour, "--cloud-price-per-gpu-hour"
    listed = cloud_prices().get(c.config.gpu.name)
    if listed is None:
        return None, None
    return round(listed.usd_per_gpu_hour * market.per_usd, 4), listed.describe()


def break_even_hours(
    price: float, n: int, kwh_per_h: float, req: Request, cloud_rate: float | None = None
) -> float | None:
    """Hours of use at which buying costs less than renting n GPUs: price / (cloud − power)."""
    rate = cloud_rate if cloud_rate is not None else req.cloud_price_per_gpu_hour
    if rate is None:
        return None
    own_per_h = kwh_per_h * (req.electricity_price or 0.0)
    saved_per_h = rate * n - own_per_h
    return price / saved_per_h if saved_per_h > 0 else None


def cloud_cost(c: Candidate, req: Request, cloud_rate: float | None = None) -> float | None:
    """Renting the same GPUs for the same work: hours x GPUs x the cloud's GPU-hour price."""
    rate = cloud_rate if cloud_rate is not None else req.cloud_price_per_gpu_hour
    hours = work_hours(c, req)
    if hours is None or rate is None:
        return None
    return round(hours * c.config.n * rate, 2)


def budget_note(
    best: Proposal | None, found: SearchResult, req: Request, market: Market
) -> tuple[str | None, StepUp | None]:
    """When the fastest proposal spends under two thirds of the budget: why more money would not
    help (the workload is bound elsewhere), or what the next, faster step up costs."""
    if best is None or best.price >= req.budget * BUDGET_USED_FRACTION:
        return None, None
    spent = f"the fastest build uses {best.price / req.budget:.0%} of the budget"
    faster = [ch for ch in found.cheapest_per_config if ch.throughput > best.throughput]
    if faster:
        up = min(faster, key=lambda ch: (ch.price_usd, -ch.throughput, ch.config.gpu.name))
        price = round(up.price_usd * market.per_usd, 2)
        step = StepUp(
            gpu=up.config.gpu.name, n_gpus=up.config.n, price=price, throughput=up.throughput
        )
        gain = up.throughput / best.throughput - 1
        unit = throughput_unit(req.model)
        if price > req.budget:
            why = "is over the budget"
        else:
            why = "did not pass dlrig check (see --explain)"
        return (
            f"{spent}: the next step up, {up.config.n} x {up.config.gpu.name} "
            f"({up.throughput:,.0f} {unit}, {gain:+.0%}), costs {price:,.0f} {market.currency} "
            f"and {why}",
            step,
        )
    if best.n_gpus >= req.max_gpus:
        bound = f"--max-gpus {req.max_gpus} caps it; allow more GPUs"
    else:
        bound = (
            "no faster build exists in the catalog at any price: the workload is bound by "
            "what fits one machine (more cards do not fit the catalog's platforms, or do not "
            "speed it up); see --explain"
        )
    return f"{spent}: {bound}", None


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
    out.append(
        f"cards without a reference design (no width or length in the catalog): a typical "
        f"partner card assumed, {ASSUMED_SLOT_WIDTH:g} slots and {ASSUMED_LENGTH_MM:g} mm; the "
        "build files mark these, put your card's size there"
    )
    if req.task == Task.INFER:
        out.append("inference throughput is decode tokens/s at the given batch (default 1)")
    if req.cloud_price_per_gpu_hour is None:
        out.append(
            "cloud: the shipped on-demand GPU-hour price of each GPU where one is listed "
            "(catalog/data/cloud_prices.csv, dated); --cloud-price-per-gpu-hour sets your own"
        )
    if req.electricity_price is None:
        out.append("cloud break-even leaves out electricity: give --electricity-price")
    return out


def sources(market: Market) -> list[str]:
    out = sorted(
        {p.source for p in market.gpu_prices.values()}
        | {p.source for p in market.cpu_prices.values()}
    )
    return out
