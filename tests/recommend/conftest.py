"""Shared, cached `recommend()` calls for the recommender tests.

A full call costs 0.05-0.7 s, so every test asks `rec(...)` and each distinct request is computed
once per session (the result is frozen pydantic, safe to share).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dlrig.model.recommend import Recommendation
from dlrig.recommend import Request, recommend
from dlrig.recommend.market import apply_prices, catalog_market
from dlrig.recommend.request import parse_workload

PRICES = Path(__file__).resolve().parent.parent / "data" / "prices"

RecFn = Callable[..., Recommendation]


def make_request(workload: str, budget: float, **kw: Any) -> Request:
    model, task = parse_workload(workload)
    return Request(workload=workload, model=model, task=task, budget=budget, **kw)


def fresh(
    workload: str, budget: float, *, prices: dict[str, Any] | None = None, **kw: Any
) -> Recommendation:
    """One uncached call (for the determinism test)."""
    req = make_request(workload, budget, **kw)
    market = catalog_market(req.currency)
    if prices is not None:
        market = apply_prices(market, prices, "prices.toml")
    return recommend(req, market)


@pytest.fixture(scope="session")
def rec() -> RecFn:
    """`rec("llama-3-8b:lora", 5000, job={"seq_len": 2048}, max_gpus=4)`, cached."""
    cache: dict[str, Recommendation] = {}

    def call(workload: str, budget: float, **kw: Any) -> Recommendation:
        key = repr((workload, budget, sorted(kw.items(), key=lambda i: i[0])))
        if key not in cache:
            cache[key] = fresh(workload, budget, **kw)
        return cache[key]

    return call


@pytest.fixture(scope="session")
def uncached() -> RecFn:
    """`fresh` as a fixture: test modules cannot import this conftest by name."""
    return fresh
