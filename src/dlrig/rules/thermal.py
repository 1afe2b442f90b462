"""Guide section "Cooling": adjacent cards, passive cards, and power limits as the cheap fix."""

from __future__ import annotations

from dlrig.model import thresholds as t
from dlrig.model.build import Build
from dlrig.model.finding import Severity, qty
from dlrig.rules.base import RuleInfo, RuleResult, fmt, merged_groups, no_pcie_reason, pcie_groups
from dlrig.rules.physical import slots_available
from dlrig.rules.placement import gaps, placed_cards, positions

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
    # Cards on risers hang on a frame or a vertical mount, away from the slot row.
    on_risers = sum(g.count for g in pcie if g.riser is not None)
    pcie = [g for g in pcie if g.riser is None]
    if not pcie:
        text = f"{on_risers} GPU(s) on risers: spacing is set by the frame, not the board."
        if not passive:
            out.append(COOLING.finding(Severity.OK, text))
        return out
    open_air = sum(g.count for g in pcie if g.cooler == "open-air")
    n = sum(g.count for g in pcie)
    numbers = {"open_air_gpus": qty(open_air, "GPUs"), "gpus": qty(n, "GPUs")}
    lo, hi = t.ADJACENT_THROTTLE_LOSS_PCT
    fix = (
        "Leave at least one empty slot between open-air cards (move a card to a lower slot), use "
        "blower-style or liquid-cooled cards, raise fan curves, or power-limit the cards (see "
        "power-limit)."
    )
    placed, missing = placed_cards(build)
    where = (
        ["cards without gpus[i].slots placed in motherboard.slots' free slots in order"]
        if positions(build)[1]
        else []
    )
    if open_air >= 2 and placed and not missing:
        tight = [
            (a, b, gap)
            for a, b, gap in gaps(placed)
            if "open-air" in (a.card.cooler, b.card.cooler) and gap < t.MIN_OPEN_AIR_GAP_SLOTS
        ]
        if tight:
            pairs = "; ".join(
                f"slot {a.position} ({fmt(a.width)}-slot) and slot {b.position}: "
                f"{fmt(max(gap, 0))} slot(s) of air"
                for a, b, gap in tight
            )
            numbers["smallest_gap_slots"] = qty(max(min(g for *_, g in tight), 0), "slots")
            out.append(
                COOLING.finding(
                    Severity.WARNING,
                    f"Open-air cards with less than {fmt(t.MIN_OPEN_AIR_GAP_SLOTS)} empty slot "
                    f"between them: {pairs}. The upper card breathes the lower one's exhaust: "
                    f"expect {lo}-{hi} % slower under sustained load.",
                    fix=fix,
                    numbers=numbers,
                    defaults_used=where,
                )
            )
            return out
        if not passive:
            layout = ", ".join(f"slot {p.position}" for p in placed)
            out.append(
                COOLING.finding(
                    Severity.OK,
                    f"{n} GPU(s) at {layout}: at least {fmt(t.MIN_OPEN_AIR_GAP_SLOTS)} empty slot "
                    "between open-air cards.",
                    numbers=numbers,
                    defaults_used=where,
                )
            )
        return out
    available = slots_available(build)
    widths_known = all(g.slot_width is not None for g in pcie)
    widths = sum((g.slot_width or 0) * g.count for g in pcie)
    # With spare brackets at least one empty slot can separate each pair of cards.
    gaps_possible = available is not None and widths_known and available - widths >= n - 1
    if open_air >= 2 and not gaps_possible:
        defaults = [
            "card positions not given (gpus[i].slots): open-air cards assumed packed slot to slot"
        ]
        if available is None or not widths_known:
            defaults.append("slot counts or card widths unknown")
        out.append(
            COOLING.finding(
                Severity.WARNING,
                f"{open_air} open-air GPUs with no room for a free slot between them: expect them "
                f"to throttle, {lo}-{hi} % slower under sustained load.",
                fix=fix,
                numbers=numbers,
                defaults_used=defaults,
            )
        )
    elif not passive:
        kinds = ", ".join(sorted({g.cooler or "" for g in pcie}))
        defaults = []
        if open_air >= 2:
            defaults = [
                "card positions not given (gpus[i].slots): the board has room for a free slot "
                "between cards, assumed used"
            ]
        out.append(
            COOLING.finding(
                Severity.OK,
                f"{n} GPU(s) with {kinds} cooling.",
                numbers=numbers,
                defaults_used=defaults,
            )
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
