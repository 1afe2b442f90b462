"""What renting the same GPUs costs: the shipped on-demand GPU-hour prices (catalog/data/
cloud_prices.csv, dated and sourced), or the user's --cloud-price-per-gpu-hour for every GPU."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from dlrig.catalog.load import read_rows
from dlrig.errors import CatalogDataError


@dataclass(frozen=True)
class CloudPrice:
    gpu: str
    usd_per_gpu_hour: float
    kind: str
    provider: str
    price_date: str
    source: str

    def describe(self) -> str:
        return f"{self.provider} {self.kind}, {self.price_date} ({self.source.split(' ')[0]})"


@cache
def cloud_prices() -> dict[str, CloudPrice]:
    out = {}
    for i, row in enumerate(read_rows("cloud_prices.csv"), start=2):
        try:
            price = float(row["usd_per_gpu_hour"])
        except ValueError:
            raise CatalogDataError(
                f"cloud_prices.csv line {i}: usd_per_gpu_hour: expected a number, "
                f"got {row['usd_per_gpu_hour']!r}"
            ) from None
        if not 0 < price < 1000 or not row["source"] or not row["price_date"]:
            raise CatalogDataError(f"cloud_prices.csv line {i}: needs a price, a date and a source")
        out[row["gpu"]] = CloudPrice(
            row["gpu"], price, row["kind"], row["provider"], row["price_date"], row["source"]
        )
    return out
