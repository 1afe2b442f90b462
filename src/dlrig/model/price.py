"""What a GPU or CPU of the spec catalog costs to buy now: a row of
`catalog/data/market_prices.csv` (documented in `catalog/data/MARKET.md`).

Apart from the rest of the market (`model/market.py`) because `dlrig check` needs these prices
(the gpu-choice rule) and nothing else of the market: it does not build the market's other
models at start-up (issue 16).
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Condition = Literal["new", "used", "refurbished"]
# What a price is: a launch list price (MSRP, RCP, SEP, 1kU), a seen new street price, or a seen
# used price. "user" marks a price from the user's --prices file.
PriceKind = Literal["msrp", "street", "used", "user"]


class MarketPrice(BaseModel):
    """What one GPU or CPU of the spec catalog costs to buy now."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: Literal["gpu", "cpu"]
    name: str
    price_usd: float = Field(gt=0)
    price_date: str
    condition: Condition = "new"
    price_kind: PriceKind = "msrp"
    source: str
    notes: str = ""
