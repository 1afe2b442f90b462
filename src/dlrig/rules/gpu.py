"""Guide section "GPU": which GPU, how much memory, perf per dollar, and multi-GPU P2P."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dlrig.catalog import load
from dlrig.model import thresholds as t
from dlrig.model.build import Build, GpuGroup
from dlrig.model.finding import Severity, qty
from dlrig.model.parts import GpuSpec
from dlrig.rules.base import RuleInfo, RuleResult, fmt

if TYPE_CHECKING:  # the prices' model loads with the prices (check's start-up: issue 16)
    from dlrig.model.price import MarketPrice

NO_GPU = RuleInfo(
    id="no-gpu",
    section="gpu",
    title="No GPU",
    why="Deep learning training runs on GPUs; without one this machine cannot train at speed.",
    source=t.guide("GPU"),
)
CHOICE = RuleInfo(
    id="gpu-choice",
    section="gpu",
    title="GPU choice",
    why=(
        "Tensor cores matter most, then memory bandwidth, then cache, and only then FLOPS; the "
        "model, batch and activations must fit in the GPU's memory."
    ),
    source=t.GPU_CHOICE_SOURCE,
)
P2P = RuleInfo(
    id="gpu-p2p",
    section="gpu",
    title="GPU-to-GPU communication",
    why=(
        "Data-parallel training all-reduces gradients every step. Without NVLink or PCIe P2P "
        "(GeForce RTX 40/50, and 30 without a bridge) the traffic bounces through CPU and RAM, "
        "which caps multi-GPU scaling."
    ),
    source=t.P2P_SOURCE,
)


def today_price(spec: GpuSpec) -> MarketPrice | None:
    """What the card costs to buy now (market_prices.csv: street, or used where that is how it
    is sold); never the launch MSRP. A card with no current price has none."""
    for row in load.market_prices():
        if row.kind == "gpu" and row.name == spec.name:
            return row
    return None


def tflops_per_kusd(spec: GpuSpec, price: MarketPrice | None = None) -> float | None:
    """Dense FP16/BF16 tensor TFLOPS (FP32 accumulate) per 1000 USD of today's price."""
    price = price or today_price(spec)
    if spec.fp16_tensor_tflops is None or price is None or price.price_kind == "msrp":
        return None
    return spec.fp16_tensor_tflops / price.price_usd * 1000


def _value_rank(spec: GpuSpec) -> tuple[int, int] | None:
    """Rank of a card's tensor TFLOPS per dollar among cards with a current price (1 = best)."""
    mine = tflops_per_kusd(spec)
    if mine is None:
        return None
    values = [v for v in (tflops_per_kusd(g) for g in load.gpus()) if v is not None]
    return sum(1 for v in values if v > mine) + 1, len(values)


def check_no_gpu(build: Build) -> RuleResult:
    if build.gpus:
        return []
    return [
        NO_GPU.finding(
            Severity.ERROR,
            "The build has no [[gpus]].",
            fix="Add a [[gpus]] table with a catalog model (see `dlrig parts gpus`).",
        )
    ]


def _choice(group: GpuGroup, need_gb: float | None) -> list:
    spec = group.spec
    numbers = {
        "memory_gb": qty(group.memory_gb, "GB"),
        "memory_bandwidth_gbs": qty(spec.memory_bandwidth_gbs, "GB/s"),
        "fp32_tflops": qty(spec.fp32_tflops, "TFLOPS"),
    }
    if spec.fp16_tensor_tflops is not None:
        numbers["fp16_tensor_tflops"] = qty(spec.fp16_tensor_tflops, "TFLOPS")
    value = tflops_per_kusd(spec)
    rank = _value_rank(spec)
    if value is not None and rank is not None:
        numbers["tflops_per_1000_usd"] = qty(value, "TFLOPS/$1000")
    if need_gb is not None:
        numbers["memory_needed_gb"] = qty(need_gb, "GB")
        if group.memory_gb < need_gb:
            return [
                CHOICE.finding(
                    Severity.ERROR,
                    f"{spec.name} has {fmt(group.memory_gb)} GB; the workload needs "
                    f"{fmt(need_gb)} GB per GPU.",
                    fix="Choose a GPU with more memory, or cut memory: mixed precision, gradient "
                    "checkpointing, a smaller batch, ZeRO/FSDP sharding, LoRA or quantisation.",
                    numbers=numbers,
                )
            ]
    if spec.fp16_tensor_tflops is None:
        return [
            CHOICE.finding(
                Severity.WARNING,
                f"{spec.name} ({spec.architecture}, {spec.year}) has no tensor cores: "
                f"{fmt(spec.fp32_tflops)} FP32 TFLOPS, {fmt(spec.memory_bandwidth_gbs)} GB/s. "
                "Mixed-precision training runs several times faster on any tensor-core GPU.",
                fix="Prefer a GPU with tensor cores (Volta or newer; a used RTX 3090 is a common "
                "value pick).",
                numbers=numbers,
            )
        ]
    text = (
        f"{spec.name}: {fmt(spec.fp16_tensor_tflops)} TFLOPS FP16/BF16 tensor (FP32 accumulate), "
        f"{fmt(spec.memory_bandwidth_gbs)} GB/s, {fmt(group.memory_gb)} GB."
    )
    price = today_price(spec)
    if value is not None and rank is not None and price is not None:
        bought = "used" if price.condition == "used" else "new"
        text += (
            f" {fmt(value)} TFLOPS per $1000 at today's {bought} price ({fmt(price.price_usd)} "
            f"USD, {price.price_kind}, {price.price_date}), #{rank[0]} of {rank[1]} cards with "
            "a current street or used price."
        )
    return [CHOICE.finding(Severity.INFO, text, numbers=numbers)]


def check_choice(build: Build) -> RuleResult:
    if not build.gpus:
        return [CHOICE.skip("no GPUs")]
    need = build.workload.gpu_memory_gb if build.workload else None
    out: RuleResult = []
    seen: set[str] = set()
    for group in build.gpus:  # one finding per model, even if the file splits it into groups
        if group.name not in seen:
            seen.add(group.name)
            out.extend(_choice(group, need))
    if len({g.name for g in build.gpus}) > 1:
        out.append(
            CHOICE.finding(
                Severity.INFO,
                "Mixed GPU models: data-parallel training runs at the pace of the slowest card "
                "and the smallest memory.",
                fix="Use identical GPUs for one job, or run separate jobs per card.",
                title="Mixed GPU models",
            )
        )
    return out


def check_p2p(build: Build) -> RuleResult:
    if build.n_gpus < 2:
        return [P2P.skip("fewer than 2 GPUs")]
    out: RuleResult = []
    counts: dict[str, int] = {}
    for g in build.gpus:
        counts[g.name] = counts.get(g.name, 0) + g.count
    mixed = len(counts) > 1
    seen: set[str] = set()
    for g in build.gpus:
        spec = g.spec
        if g.name in seen or (counts[g.name] < 2 and mixed):
            continue
        seen.add(g.name)
        g = g.model_copy(update={"count": counts[g.name]})
        if spec.form_factor in ("sxm", "oam") or spec.p2p == "yes":
            if spec.vendor == "AMD" and spec.form_factor == "oam":
                link = "Infinity Fabric"
            elif spec.nvlink:
                speed = f" {fmt(spec.nvlink_gbs)} GB/s" if spec.nvlink_gbs else ""
                link = f"NVLink{speed}"
            else:
                link = "PCIe P2P"
            out.append(
                P2P.finding(Severity.OK, f"{g.count} x {spec.name}: GPUs talk directly ({link}).")
            )
        elif spec.nvlink:
            out.append(
                P2P.finding(
                    Severity.INFO,
                    f"{spec.name} has no P2P over PCIe with the stock driver, but an NVLink bridge "
                    f"({fmt(spec.nvlink_gbs or 0)} GB/s) joins two cards.",
                    fix="Fit an NVLink bridge to each pair of cards (see nvlink_bridges): the two "
                    "cards of a pair then talk directly, while traffic between different pairs "
                    "still goes through the host.",
                )
            )
        elif spec.p2p == "no":
            out.append(
                P2P.finding(
                    Severity.WARNING,
                    f"{g.count} x {spec.name}: no NVLink and no PCIe P2P; all-reduce goes through "
                    "CPU and RAM, so multi-GPU scaling is bounded by host bandwidth.",
                    fix="Expect sub-linear scaling for large models; prefer pro/datacenter cards "
                    "with P2P or NVLink when GPUs must communicate heavily.",
                )
            )
        else:
            out.append(
                P2P.finding(
                    Severity.INFO,
                    f"{spec.name}: P2P support with the stock driver is unknown.",
                    fix="Check with `nvidia-smi topo -p2p r` once the machine runs (dlrig probe).",
                )
            )
    if mixed:
        out.append(
            P2P.finding(
                Severity.INFO,
                "Different GPU models do not talk P2P to each other; traffic between them goes "
                "through the host.",
                title="Mixed GPU models",
            )
        )
    return out
