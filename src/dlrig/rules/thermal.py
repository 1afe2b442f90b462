"""Guide section "Cooling": adjacent cards, passive cards, and power limits as the cheap fix."""

from __future__ import annotations

from dlrig.model import thresholds as t
from dlrig.model.build import Build
from dlrig.model.finding import Severity, qty
from dlrig.rules.base import RuleInfo, RuleResult, fmt, merged_groups, no_pcie_reason, pcie_groups
from dlrig.rules.physical import slots_available

COOLING = RuleInfo(
    id="cooling",
    section="thermal",
    title="GPU cooling",
    why=(
        "GPUs slow down at about 84-90 °C. Open-air coolers blow hot air into the case, so cards "
        "stacked slot to slot heat each other and lose 10-25 %; blower cards exhaust out of the "
        "back; passive datacenter cards need a server chassis's forced airflow."
    ),
    source=t.COOLING_SOURCE,
)
POWER_LIMIT = RuleInfo(
    id="power-limit",
    section="thermal",
    title="GPU power limit",
    why=(
        "Performance per watt rises steeply below the stock limit: 4 x RTX 3090 limited from 350 W "
        "to ~280 W kept over 95 % of their speed while running cooler and drawing less."
    ),
    source=t.COOLING_SOURCE,
)


def check_cooling(build: Build) -> RuleResult:
    pcie = [g for _, g in pcie_groups(build)]
    if not pcie:
        return [COOLING.skip(no_pcie_reason(build))]
    if any(g.cooler is None for g in pcie):
        return [COOLING.skip("cooler type unknown; set gpus[i].cooler")]
    out: RuleResult = []
    passive = [g for g in pcie if g.cooler == "passive"]
    if passive:
        out.append(
            COOLING.finding(
                Severity.WARNING,
                f"{', '.join(sorted({g.name for g in passive}))} has no fan: it relies on the "
                "front-to-back airflow of a server chassis and overheats in a desktop case.",
                fix="Use a server chassis certified for the card, or add ducted fans that force "
                "air through its fins.",
                title="Passive GPU cooling",
            )
        )
    open_air = sum(g.count for g in pcie if g.cooler == "open-air")
    n = sum(g.count for g in pcie)
    available = slots_available(build)
    widths_known = all(g.slot_width is not None for g in pcie)
    widths = sum((g.slot_width or 0) * g.count for g in pcie)
    # With spare brackets at least one empty slot can separate each pair of cards.
    gaps = available is not None and widths_known and available - widths >= n - 1
    numbers = {"open_air_gpus": qty(open_air, "GPUs"), "gpus": qty(n, "GPUs")}
    if open_air >= 2 and not gaps:
        lo, hi = t.ADJACENT_THROTTLE_LOSS_PCT
        defaults = []
        if available is None or not widths_known:
            defaults = ["slot counts or card widths unknown: cards assumed adjacent"]
        out.append(
            COOLING.finding(
                Severity.WARNING,
                f"{open_air} open-air GPUs sit in adjacent slots: expect them to throttle, "
                f"{lo}-{hi} % slower under sustained load.",
                fix="Use blower-style or liquid-cooled cards, leave a slot free between cards, "
                "raise fan curves, or power-limit the cards (see power-limit).",
                numbers=numbers,
                defaults_used=defaults,
            )
        )
    elif not passive:
        kinds = ", ".join(sorted({g.cooler or "" for g in pcie}))
        out.append(
            COOLING.finding(Severity.OK, f"{n} GPU(s) with {kinds} cooling.", numbers=numbers)
        )
    return out


def check_power_limit(build: Build) -> RuleResult:
    pcie = merged_groups([g for _, g in pcie_groups(build)])
    if not pcie:
        return [POWER_LIMIT.skip(no_pcie_reason(build))]
    out: RuleResult = []
    for g in pcie:
        numbers = {"tdp_w": qty(g.spec.tdp_w, "W"), "power_w": qty(g.power_w, "W")}
        if g.power_limited:
            share = g.power_w / g.spec.tdp_w * 100
            text = (
                f"{g.name} limited to {fmt(g.power_w)} W ({fmt(share)} % of {fmt(g.spec.tdp_w)} W)."
            )
            out.append(POWER_LIMIT.finding(Severity.OK, text, numbers=numbers))
            continue
        step = t.POWER_LIMIT_STEP_W
        suggested = round(g.spec.tdp_w * t.SUGGESTED_POWER_LIMIT_FRACTION / step) * step
        numbers["suggested_w"] = qty(suggested, "W")
        numbers["expected_perf_loss_pct"] = qty(t.POWER_LIMIT_PERF_LOSS_PCT, "%")
        saved = (g.spec.tdp_w - suggested) * g.count
        text = (
            f"{g.name} runs at its stock {fmt(g.spec.tdp_w)} W. "
            f"A limit of {fmt(suggested)} W "
            f"saves {fmt(saved)} W over {g.count} card(s) for about "
            f"{t.POWER_LIMIT_PERF_LOSS_PCT} % less speed."
        )
        out.append(
            POWER_LIMIT.finding(
                Severity.INFO,
                text,
                fix=f"sudo nvidia-smi -pl {fmt(suggested)} (per GPU; set power_w = "
                f"{fmt(suggested)} in the build file to check with it).",
                numbers=numbers,
            )
        )
    return out
