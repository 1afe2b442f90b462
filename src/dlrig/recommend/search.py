"""Every combination of GPUs x host (platform + CPU) x PSU x RAM kit x drive, priced and checked
against the guide's hard limits with numpy, one GPU configuration at a time.

The masks use the rules' own constants and formulas (model/thresholds.py, rules/power.py,
rules/cpu.py), conservatively: a combination that passes them passes `dlrig check` without
errors, which `assemble` then confirms on the few that are proposed. For each GPU configuration
and host only the cheapest valid PSU, RAM and drive matter (they do not change the speed), so
the search keeps one candidate per (configuration, host).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dlrig.catalog.lookup import find_cpu
from dlrig.estimate import params as p
from dlrig.model import thresholds as t
from dlrig.model.build import GpuGroup
from dlrig.model.market import Drive, Market, MemoryKit, Platform
from dlrig.model.parts import CpuSpec, GpuSpec
from dlrig.model.workload import Task
from dlrig.recommend.configs import GpuConfig
from dlrig.recommend.request import Request
from dlrig.rules.cpu import cores_for_loaders
from dlrig.rules.energy import circuit_limit_w, psu_efficiency
from dlrig.rules.power import cables_needed, psu_allowance_pct, spike_windows

# Catalog cards without a reference design have no width or length; a typical partner card of
# those classes (RTX 4070 Ti SUPER, 5070 Ti, 4060 Ti) is up to 3 slots and 340 mm. The build
# file carries these as overrides, so `check` sees the same figures and the user knows what to buy.
ASSUMED_SLOT_WIDTH = 3.0
ASSUMED_LENGTH_MM = 340.0
# Data loader workers per GPU written into the build: ML Engineering's "about 2 for NLP"; vision
# keeps the rule's default of 4.
LM_NUM_WORKERS = 2
# Smallest data drive proposed: room for a dataset, checkpoints and the OS (1 TB NVMe is the
# entry size in 2026).
MIN_DRIVE_TB = 1.0
# Passively cooled datacenter cards need a server chassis' forced airflow (guide, "Cooling").
SERVER_ONLY_COOLERS = ("passive",)


@dataclass(frozen=True)
class Host:
    platform: Platform
    cpu: CpuSpec
    cpu_price_usd: float

    @property
    def price_usd(self) -> float:
        return self.platform.price_usd + self.cpu_price_usd

    @property
    def cpu_power_w(self) -> float:
        return self.cpu.max_power_w or self.cpu.tdp_w

    @property
    def is_server(self) -> bool:
        return self.platform.psu_included_w is not None


@dataclass(frozen=True)
class PsuOption:
    """A retail PSU, or the supplies a server chassis ships with (`platform_id` set, price 0)."""

    name: str
    watts: float
    rating: str
    atx3: bool
    pcie_8pin: int
    pcie_16pin: int
    price_usd: float
    platform_id: str | None = None


@dataclass(frozen=True)
class Candidate:
    config: GpuConfig
    host: Host
    psu: PsuOption
    kit: MemoryKit
    drive: Drive
    price_usd: float
    throughput: float
    gpu_price_usd: float


@dataclass(frozen=True)
class Cheapest:
    """The cheapest valid build of one GPU configuration, whatever the budget: what "the next
    step up" costs when the budget stops short of it."""

    config: GpuConfig
    price_usd: float
    throughput: float


@dataclass(frozen=True)
class SearchResult:
    candidates: list[Candidate]
    evaluated: int
    rejected: dict[str, str]
    cheapest_usd: float | None = None
    cheapest_per_config: tuple[Cheapest, ...] = ()


def hosts(market: Market) -> list[Host]:
    out = []
    for platform in market.platforms:
        for name, price in sorted(market.cpu_prices.items()):
            cpu = find_cpu(name)
            if cpu.socket == platform.socket and (not platform.cpus or cpu.name in platform.cpus):
                out.append(Host(platform, cpu, price.price_usd))
    return out


def psu_options(market: Market) -> list[PsuOption]:
    out = [
        PsuOption(s.name, s.watts, s.rating, s.atx3, s.pcie_8pin, s.pcie_16pin, s.price_usd)
        for s in market.psus
    ]
    for pf in market.platforms:
        if pf.psu_included_w is not None:
            out.append(
                PsuOption(
                    f"{pf.name} supplies",
                    pf.psu_included_w,
                    pf.psu_included_rating or "none",
                    True,
                    pf.psu_included_pcie_8pin or 0,
                    pf.psu_included_pcie_16pin or 0,
                    0.0,
                    pf.id,
                )
            )
    return out


def card_width(gpu: GpuSpec) -> float:
    return gpu.slot_width if gpu.slot_width is not None else ASSUMED_SLOT_WIDTH


def card_length(gpu: GpuSpec) -> float:
    return gpu.length_mm if gpu.length_mm is not None else ASSUMED_LENGTH_MM


def num_workers(config: GpuConfig, task: Task) -> int:
    """Loader workers per GPU the build file states (and the CPU-cores rule counts): none for
    inference (prompts in, tokens out), 2 for text, the rule's default 4 for images."""
    if task == Task.INFER:
        return 0
    if config.data is not None and config.data.cpu_cores is None:
        return LM_NUM_WORKERS
    return t.DEFAULT_NUM_WORKERS


def _cables(gpu: GpuSpec, n: int, psu16: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """8-pin and 16-pin cables `n` cards take from PSUs with `psu16` native 16-pin cables
    (rules/power.py: native cables first, then the card's adapter on 8-pins)."""
    card = GpuGroup(
        spec=gpu,
        count=1,
        memory_gb=gpu.memory_gb,
        power_w=gpu.tdp_w,
        slot_width=None,
        length_mm=None,
        cooler=None,
        slot_lanes=None,
    )
    if gpu.power_connectors.board:
        return np.zeros_like(psu16), np.zeros_like(psu16)
    native8, native16 = cables_needed(card, True)
    adapter8, _ = cables_needed(card, False)
    if native16 == 0:
        return np.full_like(psu16, native8 * n), np.zeros_like(psu16)
    native_cards = np.minimum(n, psu16 // native16)
    need8 = native_cards * native8 + (n - native_cards) * adapter8
    return need8, native_cards * native16


def host_limits(
    config: GpuConfig, hs: list[Host], req: Request
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(host valid, throughput on that host, why each invalid host is left out)."""
    gpu, n = config.gpu, config.n
    ok = np.ones(len(hs), dtype=bool)
    rate = np.full(len(hs), config.throughput)
    why = [""] * len(hs)
    workers = num_workers(config, req.task)
    # A core per loader worker and per GPU process: below that `check` warns; the OS reserve on
    # top (n x (workers + 1) + 4) is comfort, not a requirement, for one or two GPUs.
    need_cores = cores_for_loaders(n, workers)
    decode = config.data.cpu_cores if config.data is not None else None
    for i, h in enumerate(hs):
        pf = h.platform
        if n > pf.max_gpus:
            why[i] = f"{pf.name} holds at most {pf.max_gpus} GPUs"
        elif min(pf.gpu_lanes[n - 1]) < t.PCIE_LANES_OK:
            why[i] = f"{pf.name} gives x{min(pf.gpu_lanes[n - 1])} to a GPU with {n} installed"
        elif sum(pf.gpu_lanes[n - 1]) > h.cpu.pcie_lanes:
            why[i] = (
                f"{h.cpu.name} has {h.cpu.pcie_lanes} PCIe lanes; the GPU slots need "
                f"{sum(pf.gpu_lanes[n - 1])}"
            )
        elif n * card_width(gpu) > min(
            pf.board_expansion_slots + t.OVERHANG_SLOTS, pf.case_expansion_slots
        ):
            assumed = " (width assumed: no reference card)" if gpu.slot_width is None else ""
            why[i] = f"{n} x {card_width(gpu):g}-slot cards{assumed} do not fit {pf.name}"
        elif card_length(gpu) > pf.case_max_gpu_length_mm:
            assumed = (
                f" (assumed {card_length(gpu):g} mm: no reference card)"
                if gpu.length_mm is None
                else ""
            )
            why[i] = f"{gpu.name}{assumed} is longer than {pf.case} takes"
        elif gpu.cooler in SERVER_ONLY_COOLERS and not h.is_server:
            why[i] = f"passively cooled {gpu.name} needs a server chassis' airflow"
        elif h.cpu.cores < need_cores:
            why[i] = f"{h.cpu.name} has {h.cpu.cores} cores; {n} GPUs need {need_cores}"
        if why[i]:
            ok[i] = False
            continue
        if decode:
            # Vision: the CPU decodes JPEGs; the cores left after the main processes and the
            # OS cap the samples per second the GPUs can get.
            spare = h.cpu.cores - n * t.CPU_CORES_PER_GPU_MAIN - t.CPU_CORES_RESERVED
            rate[i] = min(config.throughput, spare * p.value("jpeg_decode_images_per_core_s"))
    return ok, rate, why


def search(configs: list[GpuConfig], market: Market, req: Request) -> SearchResult:
    hs = hosts(market)
    psus = psu_options(market)
    kits = list(market.memory_kits)
    drives = list(market.drives)
    budget_usd = req.budget / market.per_usd

    host_cost = np.array([h.price_usd for h in hs])
    cpu_w = np.array([h.cpu_power_w for h in hs])
    host_server = np.array([h.platform.id if h.is_server else "" for h in hs])
    psu_cost = np.array([s.price_usd for s in psus])
    psu_w = np.array([s.watts for s in psus])
    psu8 = np.array([s.pcie_8pin for s in psus])
    psu16 = np.array([s.pcie_16pin for s in psus])
    psu_atx3 = np.array([s.atx3 for s in psus])
    psu_for = np.array([s.platform_id or "" for s in psus])
    # A server host takes only its own supplies; a desktop host only retail PSUs.
    psu_fits_host = psu_for[None, :] == host_server[:, None]
    kit_cost = np.array([k.price_usd for k in kits])
    kit_gb = np.array([k.size_gb for k in kits])
    kit_type = np.array([k.memory_type for k in kits])
    kit_modules = np.array([k.modules for k in kits])
    host_type = np.array([h.platform.memory_type for h in hs])
    host_slots = np.array([h.platform.memory_slots for h in hs])
    # One DIMM per wired channel (platforms.csv memory_modules_min): a 12-channel SP5 board
    # with 4 DIMMs would run at a third of its memory bandwidth.
    host_min_modules = np.array(
        [min(h.platform.memory_modules_min, h.cpu.memory_channels) for h in hs]
    )
    host_max_gb = np.array(
        [min(h.platform.max_memory_gb, h.cpu.max_memory_gb or math.inf) for h in hs]
    )
    ram_fits_host = (
        (kit_type[None, :] == host_type[:, None])
        & (kit_modules[None, :] <= host_slots[:, None])
        & (kit_modules[None, :] >= host_min_modules[:, None])
        & (kit_gb[None, :] <= host_max_gb[:, None])
    )
    drive_cost = np.array([d.price_usd for d in drives])
    drive_mbs = np.array([d.read_mbs for d in drives])
    drive_tb = np.array([d.size_tb for d in drives])
    limit_w = (
        circuit_limit_w(req.mains_voltage, req.circuit_amps)
        if req.mains_voltage is not None and req.circuit_amps is not None
        else math.inf
    )

    candidates: list[Candidate] = []
    rejected: dict[str, str] = {}
    cheapest_usd = math.inf
    per_config: list[Cheapest] = []
    evaluated = 0
    for config in configs:
        if not config.fits:
            continue
        gpu, n = config.gpu, config.n
        label = f"{n} x {gpu.name}" + (
            " (used)" if market.gpu_prices[gpu.name].condition == "used" else ""
        )
        gpu_price_usd = market.gpu_prices[gpu.name].price_usd
        gpu_cost = gpu_price_usd * n
        ok_h, rate_h, why_h = host_limits(config, hs, req)
        # PSU (host x psu): the rules' sizing, cables and spikes.
        load_w = cpu_w + gpu.tdp_w * n + t.DEFAULT_OTHER_W  # (H,)
        need_w = np.maximum(load_w / t.PSU_MAX_LOAD_FRACTION, gpu.recommended_psu_w or 0.0)
        need8, need16 = _cables(gpu, n, psu16)
        ok_s = (
            psu_fits_host
            & (psu_w[None, :] >= need_w[:, None])
            & (need8 <= psu8)[None, :]
            & (need16 <= psu16)[None, :]
        )
        if gpu.form_factor == "pcie" and gpu.tdp_w >= t.TRANSIENT_GPU_W:
            ok_s &= psu_atx3[None, :]
        spikes = spike_windows(gpu, gpu.tdp_w)
        if gpu.form_factor == "pcie" and spikes.measured:
            # psu-transients: the system at the GPUs' measured peaks within what each PSU
            # promises for that window (ATX 3.x excursion table, else its rating).
            for ms, peak_w in spikes.peaks:
                allow = np.array(
                    [psu_allowance_pct(s.atx3, ms, s.watts) / 100 * s.watts for s in psus]
                )
                peak = cpu_w + t.DEFAULT_OTHER_W + peak_w * n  # (H,)
                ok_s &= peak[:, None] <= allow[None, :]
        if math.isfinite(limit_w):
            eff = np.array(
                [
                    [psu_efficiency(s.rating, lw / s.watts, req.mains_voltage) for s in psus]
                    for lw in load_w
                ]
            )
            ok_s &= (load_w[:, None] / eff) <= limit_w
        # RAM (host x kit): at least the GPUs' memory (rules/memory.py).
        ok_r = ram_fits_host & (kit_gb[None, :] >= gpu.memory_gb * n)
        # Drive: read at the needed rate with the rule's headroom.
        disk_need = config.data.disk_mbs if config.data is not None else 0.0
        ok_d = (drive_mbs * t.DISK_WARN_FRACTION >= disk_need) & (drive_tb >= MIN_DRIVE_TB)

        cost = (
            gpu_cost
            + host_cost[:, None, None, None]
            + psu_cost[None, :, None, None]
            + kit_cost[None, None, :, None]
            + drive_cost[None, None, None, :]
        )
        valid = (
            ok_h[:, None, None, None]
            & ok_s[:, :, None, None]
            & ok_r[:, None, :, None]
            & ok_d[None, None, None, :]
        )
        if valid.any():
            anywhere = np.where(valid, cost, np.inf)
            at = np.unravel_index(anywhere.argmin(), anywhere.shape)
            cheapest_usd = min(cheapest_usd, float(anywhere[at]))
            per_config.append(Cheapest(config, float(anywhere[at]), float(rate_h[at[0]])))
        ok = valid & (cost <= budget_usd)
        evaluated += ok.size
        masked = np.where(ok, cost, np.inf).reshape(len(hs), -1)
        best = masked.argmin(axis=1)
        found = False
        for h in np.flatnonzero(np.isfinite(masked[np.arange(len(hs)), best])):
            s, r, d = np.unravel_index(best[h], ok.shape[1:])
            candidates.append(
                Candidate(
                    config,
                    hs[h],
                    psus[s],
                    kits[r],
                    drives[d],
                    float(masked[h, best[h]]),
                    float(rate_h[h]),
                    gpu_price_usd,
                )
            )
            found = True
        if not found:
            rejected[label] = _why_none(ok_h, why_h, ok_s, ok_r, ok_d, valid, cost, market)
    return SearchResult(
        candidates,
        evaluated,
        rejected,
        cheapest_usd if math.isfinite(cheapest_usd) else None,
        tuple(per_config),
    )


def _why_none(ok_h, why_h, ok_s, ok_r, ok_d, valid, cost, market: Market) -> str:
    """The first constraint that leaves no valid build for a GPU configuration."""
    if not ok_h.any():
        return "; ".join(sorted({w for w in why_h if w}))
    if not (ok_s & ok_h[:, None]).any():
        return (
            f"no PSU in the catalog carries the load at <= {t.PSU_MAX_LOAD_FRACTION * 100:.0f} % "
            "with enough cables"
        )
    if not (ok_r & ok_h[:, None]).any():
        return "no RAM kit in the catalog fits the boards and matches the GPU memory"
    if not ok_d.any():
        return "no drive in the catalog reads fast enough"
    cheapest = float(cost[valid].min()) * market.per_usd
    return f"the cheapest valid build costs {cheapest:,.0f} {market.currency}, over the budget"
