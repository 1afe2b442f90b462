"""Guide section "PSU" (energy cost) and the wall circuit (new since 2015)."""

from __future__ import annotations

from itertools import pairwise

from dlrig.catalog import load
from dlrig.model import thresholds as t
from dlrig.model.build import Build
from dlrig.model.finding import Severity, qty
from dlrig.rules.base import RuleInfo, RuleResult, fmt
from dlrig.rules.power import system_dc_w

ENERGY = RuleInfo(
    id="energy-cost",
    section="energy",
    title="Energy use and cost",
    why=(
        "Weeks of training draw hundreds of kWh: the guide's 4 GPUs for two weeks use 300-500 kWh "
        "(€60-100 at €0.20); an inefficient PSU adds a fifth on top."
    ),
    source=t.ENERGY_SOURCE,
)
CIRCUIT = RuleInfo(
    id="wall-circuit",
    section="energy",
    title="Wall circuit",
    why=(
        "A continuous load may use at most 80 % of a circuit's breaker rating: 1440 W on a US "
        "120 V / 15 A circuit, about 2944 W on a European 230 V / 16 A one. Multi-GPU machines "
        "exceed the US figure easily."
    ),
    source=t.CIRCUIT_SOURCE,
)

_RATING_INPUT_HIGH = "230v-eu"
_RATING_INPUT_LOW = "115v"


def psu_efficiency(rating: str, load_fraction: float, mains_voltage: float | None = None) -> float:
    """80 PLUS efficiency at a load, interpolated between the tier's rated points (clamped)."""
    high = mains_voltage is not None and mains_voltage >= t.HIGH_LINE_VOLTS
    wanted = _RATING_INPUT_HIGH if high else _RATING_INPUT_LOW
    rows = [r for r in load.psu_efficiencies() if r.tier == rating and r.input == wanted]
    if not rows:
        return t.DEFAULT_PSU_EFFICIENCY
    points = rows[0].points
    if load_fraction <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in pairwise(points):
        if load_fraction <= x1:
            return y0 + (y1 - y0) * (load_fraction - x0) / (x1 - x0)
    return points[-1][1]


def energy_kwh(dc_w: float, hours: float, efficiency: float) -> float:
    """Energy at the wall: DC watts x hours / 1000 / efficiency. 1000 W x 336 h / 0.9 = 373 kWh."""
    return dc_w * hours / 1000 / efficiency


def circuit_limit_w(volts: float, amps: float) -> float:
    """Continuous limit of a circuit: 0.8 x V x A (120 V x 15 A → 1440 W)."""
    return t.CIRCUIT_CONTINUOUS_FRACTION * volts * amps


def draw(build: Build) -> tuple[float, float, list[str]]:
    """(sustained DC watts, PSU efficiency at that load, defaults noted); wall = DC / efficiency."""
    dc, defaults = system_dc_w(build)
    psu = build.psu
    volts = build.power.mains_voltage if build.power else None
    if psu is None or psu.rating is None:
        eff = t.DEFAULT_PSU_EFFICIENCY
        defaults = [*defaults, f"PSU efficiency {fmt(eff * 100)} % (no psu.rating given)"]
    else:
        eff = psu_efficiency(psu.rating, dc / psu.watts, volts)
    return dc, eff, defaults


def check_energy(build: Build) -> RuleResult:
    w = build.workload
    if w is None or w.hours is None:
        return [ENERGY.skip("needs workload.hours")]
    if not build.gpus and build.cpu is None:
        return [ENERGY.skip("needs [cpu] or [[gpus]]")]
    dc, eff, defaults = draw(build)
    kwh = energy_kwh(dc, w.hours, eff)
    numbers = {
        "dc_w": qty(dc, "W"),
        "psu_efficiency": qty(eff * 100, "%"),
        "hours": qty(w.hours, "h"),
        "kwh": qty(kwh, "kWh"),
    }
    text = (
        f"{fmt(dc)} W DC at {fmt(eff * 100)} % PSU efficiency for {fmt(w.hours)} h = "
        f"{fmt(kwh)} kWh at the wall"
    )
    price = build.power.price_per_kwh if build.power else None
    if price is not None:
        currency = (build.power.currency if build.power else None) or ""
        cost = kwh * price
        numbers["cost"] = qty(cost, currency or "money")
        waste = kwh * (1 - eff) * price
        text += f", {fmt(cost, 2)} {currency} at {price} {currency}/kWh"
        text += f" ({fmt(waste, 2)} of it lost as PSU heat)"
    else:
        defaults.append("no power.price_per_kwh: cost not computed")
    return [
        ENERGY.finding(
            Severity.INFO,
            text + ". Assumes full load throughout.",
            fix="A higher-efficiency PSU and GPU power limits cut this.",
            numbers=numbers,
            defaults_used=defaults,
        )
    ]


def mains(build: Build) -> tuple[float, float, list[str]]:
    """(volts, amps, defaults): the file's mains, else a household circuit of the region that
    power.currency suggests (USD -> US 120 V / 15 A, EUR -> EU 230 V / 16 A), else the US one."""
    p = build.power
    volts = p.mains_voltage if p else None
    amps = p.circuit_amps if p else None
    if volts is not None and amps is not None:
        return volts, amps, []
    if volts is not None:
        region = "EU" if volts >= t.HIGH_LINE_VOLTS else "US"
        how = f"from power.mains_voltage = {fmt(volts)} V"
    else:
        currency = (p.currency or "").upper() if p else ""
        region = t.CURRENCY_REGION.get(currency, t.DEFAULT_REGION)
        how = f"from power.currency = {currency}" if currency in t.CURRENCY_REGION else "default"
    v, a, source = t.REGION_MAINS[region]
    volts = volts if volts is not None else v
    amps = amps if amps is not None else a
    note = (
        f"circuit {fmt(volts)} V / {fmt(amps)} A assumed ({region} household circuit, {how}; "
        f"{source}): set power.mains_voltage and power.circuit_amps"
    )
    return volts, amps, [note]


def check_circuit(build: Build) -> RuleResult:
    if not build.gpus and build.cpu is None:
        return [CIRCUIT.skip("needs [cpu] or [[gpus]]")]
    volts, amps, assumed = mains(build)
    dc, eff, defaults = draw(build)
    defaults = [*assumed, *defaults]
    wall = dc / eff
    limit = circuit_limit_w(volts, amps)
    numbers = {
        "wall_w": qty(wall, "W"),
        "circuit_w": qty(limit, "W"),
        "mains_voltage": qty(volts, "V"),
        "circuit_amps": qty(amps, "A"),
    }
    text = (
        f"{fmt(wall)} W from the wall against {fmt(limit)} W continuous on a "
        f"{fmt(volts)} V / {fmt(amps)} A circuit (80 %)."
    )
    if wall > limit:
        # Over a circuit the file names: an error. Over the assumed household circuit: a
        # warning that says which keys to set (a dedicated 230/240 V circuit may well exist).
        return [
            CIRCUIT.finding(
                Severity.WARNING if assumed else Severity.ERROR,
                text,
                fix="Put the machine on a dedicated higher-rated circuit (e.g. 240 V / 20 A), "
                "split GPUs across machines, or power-limit the GPUs"
                + (
                    "; set power.mains_voltage and power.circuit_amps to your circuit."
                    if assumed
                    else "."
                ),
                numbers=numbers,
                defaults_used=defaults,
            )
        ]
    return [CIRCUIT.finding(Severity.OK, text, numbers=numbers, defaults_used=defaults)]
