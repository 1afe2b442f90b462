"""`recommend(request, market)`: the best machines for a budget and a workload.

1. `configs`: every buyable GPU at 1 … max_gpus cards through the estimator (settings that fit).
2. `search`: every GPU configuration x host x PSU x RAM x drive, priced and masked (numpy).
3. `rank`: the cost/throughput Pareto front and the top N by throughput per money, each
   confirmed by `dlrig check` (no errors) before it is proposed.
"""

from __future__ import annotations

from dlrig.catalog import load
from dlrig.catalog.lookup import find_gpu
from dlrig.catalog.stacks import StackVerdict, stack_support
from dlrig.errors import DlrigError
from dlrig.model.market import Market, MarketPrice
from dlrig.model.parts import GpuSpec
from dlrig.model.recommend import GpuValue, Recommendation, Rejection
from dlrig.model.workload import default_precision
from dlrig.recommend import rank
from dlrig.recommend.configs import GpuConfig, configure_all, throughput_unit
from dlrig.recommend.market import market_notes, shown_gpu
from dlrig.recommend.request import Request
from dlrig.recommend.search import search

__all__ = ["Request", "buyable_gpus", "recommend"]

# recommend/market.py dates every price from a --prices file so.
USER_PRICE_DATE = "user"


def buyable_gpus(market: Market, req: Request) -> list[GpuSpec]:
    names = sorted(market.gpu_prices)
    if req.gpus:  # a card named with --gpu is a candidate, used or not
        wanted = {find_gpu(name).name for name in req.gpus}
        missing = sorted(wanted - set(names))
        if missing:
            raise DlrigError(
                f"--gpu: no price for {', '.join(missing)}; give one in a --prices file"
            )
        names = [n for n in names if n in wanted]
    else:
        names = [n for n in names if _allowed(market.gpu_prices[n], req)]
    return [find_gpu(name) for name in names]


def stack_verdict(gpu: GpuSpec, req: Request) -> StackVerdict:
    """Whether the workload's software runs on `gpu` (catalog/stacks.py)."""
    engine = "optimized" if req.task.value == "infer" else "hf"
    # not given: the precision the job on this card runs at (fp16 where it has no BF16)
    precision = req.job.get("precision") or default_precision(gpu)
    return stack_support(
        gpu,
        req.task.value,
        engine=engine,
        precision=str(getattr(precision, "value", precision)),
        quant=str(req.job.get("quant") or "none"),
    )


def software_ready(gpus: list[GpuSpec], req: Request) -> tuple[list[GpuSpec], list[Rejection]]:
    """Keep the GPUs whose software stack fully supports the workload; a GPU the user named
    with --gpu stays unless the stack says no."""
    kept, left = [], []
    for gpu in gpus:
        verdict = stack_verdict(gpu, req)
        if verdict.level == "yes" or (req.gpus and verdict.level == "partial"):
            kept.append(gpu)
        else:
            left.append(
                Rejection(
                    what=shown_gpu(gpu.name), reason=f"software {verdict.level}: {verdict.reason}"
                )
            )
    return kept, left


def _allowed(price: MarketPrice, req: Request) -> bool:
    """New cards always; used ones with --used, or when the user priced them."""
    return req.used or price.condition == "new" or price.price_date == USER_PRICE_DATE


def gpu_value(configs: list[GpuConfig], market: Market) -> list[GpuValue]:
    rows = []
    by_gpu: dict[str, list[GpuConfig]] = {}
    for c in configs:
        by_gpu.setdefault(c.gpu.name, []).append(c)
    for name, cs in by_gpu.items():
        price = market.gpu_prices[name]
        one = cs[0]
        fitting = [c for c in cs if c.fits]
        local = price.price_usd * market.per_usd
        # On the fewest cards that hold the workload: a 70B model is judged on 2 x 24 GB.
        smallest = fitting[0] if fitting else None
        per_gpu = smallest.throughput / smallest.n if smallest else None
        rows.append(
            GpuValue(
                gpu=name,
                memory_gb=one.gpu.memory_gb,
                price=round(local, 2),
                price_date=price.price_date,
                condition=price.condition,
                throughput_per_gpu=per_gpu,
                score=per_gpu / local * rank.PER_THOUSAND if per_gpu else None,
                min_gpus=fitting[0].n if fitting else None,
                fits=one.fits,
                reason=None
                if one.fits
                else (f"needs {fitting[0].n} cards" if fitting else cs[-1].reason),
            )
        )
    return sorted(rows, key=lambda r: (r.score is None, -(r.score or 0), r.gpu))


def recommend(req: Request, market: Market) -> Recommendation:
    if market.currency != req.currency.upper():
        raise DlrigError(f"internal: market in {market.currency}, request in {req.currency}")
    buyable = buyable_gpus(market, req)
    gpus, left_out = software_ready(buyable, req)
    configs = configure_all(req.model, gpus, req)
    found = search(configs, market, req)
    unpriced = [g.name for g in load.gpus() if g.name not in market.gpu_prices]
    rejected = list(left_out)
    if unpriced and not req.gpus:
        rejected.append(
            Rejection(
                what=f"{len(unpriced)} catalog GPUs",
                reason="no current price (old, or sold only in servers): "
                + ", ".join(shown_gpu(name) for name in unpriced)
                + "; give a price in a --prices file to include one",
            )
        )
    used = [] if req.gpus else sorted(set(market.gpu_prices) - {g.name for g in buyable})
    if used:
        rejected.append(
            Rejection(
                what=f"{len(used)} used GPUs",
                reason="second-hand cards are proposed only with --used: "
                + ", ".join(shown_gpu(name, market) for name in used),
            )
        )
    for c in configs:
        if not c.fits and c.n == req.max_gpus:
            what = f"{shown_gpu(c.gpu.name, market)} (up to {c.n})"
            rejected.append(Rejection(what=what, reason=c.reason or ""))
    rejected += [Rejection(what=k, reason=v) for k, v in found.rejected.items()]
    ranked = rank.rank(found.candidates, req, market)
    rejected += ranked.rejected
    fastest = ranked.front[-1] if ranked.front else None
    note, step_up = rank.budget_note(fastest, found, req, market)
    return Recommendation(
        workload=req.workload,
        model=req.model.name,
        task=req.task.value,
        quant=str(req.job.get("quant", "none")),
        seq_len=req.job.get("seq_len"),
        budget=req.budget,
        currency=market.currency,
        throughput_unit=throughput_unit(req.model),
        score_unit=rank.score_unit(req, market),
        energy_hours=req.energy_hours,
        electricity_price=req.electricity_price,
        cloud_price_per_gpu_hour=req.cloud_price_per_gpu_hour,
        candidates_evaluated=found.evaluated,
        candidates_within_budget=len(found.candidates),
        cheapest_valid_price=(
            round(found.cheapest_usd * market.per_usd, 2) if found.cheapest_usd else None
        ),
        rank_by=req.rank,
        proposals=ranked.proposals,
        pareto_front=ranked.front,
        gpu_value=gpu_value(configs, market),
        budget_note=note,
        next_step_up=step_up,
        rejected=rejected,
        assumptions=rank.assumptions(req, market)
        + market_notes(market, [line for p in ranked.proposals for line in p.price_lines]),
        sources=rank.sources(market),
    )
