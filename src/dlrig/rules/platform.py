"""The host around the GPUs: NUMA placement of GPUs and NICs, ECC memory for long runs, and
the guide's monitor section (a display on a training GPU)."""

from __future__ import annotations

from dlrig.model import thresholds as t
from dlrig.model.build import Build
from dlrig.model.finding import Severity, qty
from dlrig.rules.base import RuleInfo, RuleResult, fmt

NUMA = RuleInfo(
    id="numa",
    section="cpu",
    title="GPUs and NIC across CPU sockets",
    why=(
        "On a two-socket board each slot belongs to one socket. GPUs on different sockets "
        "exchange gradients over the inter-socket link, and a NIC on the other socket than its "
        "GPUs sends every GPUDirect RDMA transfer across it."
    ),
    source=t.NUMA_SOURCE,
)
ECC = RuleInfo(
    id="ecc",
    section="memory",
    title="ECC memory for long runs",
    why=(
        "DRAM errors are common in the field: about a third of machines saw a correctable error "
        "in a year. A flipped bit in host memory silently corrupts a batch, a checkpoint or an "
        "optimizer state; runs of weeks are when it happens."
    ),
    source=t.ECC_SOURCE,
)
DISPLAY = RuleInfo(
    id="display-gpu",
    section="gpu",
    title="Monitors on a training GPU",
    why=(
        "The guide's monitor section recommends several monitors; plugged into a training GPU "
        "they cost it memory (the desktop's framebuffers and compositor) and, where a display "
        "watchdog runs (Windows TDR, X on Linux), long kernels are killed."
    ),
    source=t.DISPLAY_SOURCE,
)


def _socket_of(build: Build, position: int | None) -> int | None:
    board = build.motherboard
    if position is None or board is None or not board.slots:
        return None
    return next((s.socket for s in board.slots if s.position == position), None)


def check_numa(build: Build) -> RuleResult:
    if build.cpu is None or build.cpu.count < 2:
        return [NUMA.skip("single-socket CPU")]
    gpu_sockets = {_socket_of(build, p) for p in build.card_slots()}
    if None in gpu_sockets or not gpu_sockets:
        return [NUMA.skip("needs gpus[i].slots and motherboard.slots[].socket")]
    out: RuleResult = []
    numbers = {"gpu_sockets": qty(len(gpu_sockets), "sockets")}
    if len(gpu_sockets) > 1:
        out.append(
            NUMA.finding(
                Severity.INFO,
                f"GPUs sit on sockets {', '.join(map(str, sorted(gpu_sockets)))}: all-reduce "
                "between them crosses the inter-socket link (UPI / xGMI).",
                fix="Bind each process to its GPU's socket (numactl / torchrun with "
                "--local-ranks-filter, or NCCL's topology detection); keep tightly coupled "
                "GPUs on one socket.",
                numbers=numbers,
            )
        )
    for j, nic in enumerate(build.nics):
        sock = nic.socket if nic.socket is not None else _socket_of(build, nic.slot)
        if sock is None:
            continue
        far = sorted(s for s in gpu_sockets if s != sock)
        if far:
            severity = Severity.WARNING if nic.rdma else Severity.INFO
            out.append(
                NUMA.finding(
                    severity,
                    f"nics[{j}] ({nic.model or 'NIC'}) hangs off socket {sock}, GPUs sit on "
                    f"socket(s) {', '.join(map(str, far))}: "
                    + (
                        "GPUDirect RDMA crosses the inter-socket link or is disabled."
                        if nic.rdma
                        else "traffic to those GPUs crosses the inter-socket link."
                    ),
                    fix="Put the NIC in a slot of the GPUs' socket (one NIC per socket for "
                    "GPUs on both).",
                    numbers=numbers,
                )
            )
    if not out:
        out.append(NUMA.finding(Severity.OK, "GPUs and NICs share one socket.", numbers=numbers))
    return out


def check_ecc(build: Build) -> RuleResult:
    w = build.workload
    if w is None or w.hours is None:
        return [ECC.skip("needs workload.hours")]
    if build.memory is None:
        return [ECC.skip("needs [memory]")]
    hours = w.hours
    numbers = {"hours": qty(hours, "h")}
    if build.memory.ecc:
        return [ECC.finding(Severity.OK, f"ECC memory for a {fmt(hours)} h run.", numbers=numbers)]
    if hours < t.ECC_LONG_RUN_HOURS:
        return [ECC.skip(f"runs shorter than {fmt(t.ECC_LONG_RUN_HOURS)} h")]
    defaults = [] if build.memory.ecc is False else ["memory.ecc not given: treated as no ECC"]
    return [
        ECC.finding(
            Severity.INFO,
            f"A {fmt(hours)} h run ({fmt(hours / 24)} days) on memory without ECC: a bit flip "
            "goes unnoticed until a loss spike or a corrupt checkpoint.",
            fix="Use ECC RDIMMs/UDIMMs on a platform that enables ECC (Threadripper, Xeon W, "
            "EPYC; AM5 with ECC UDIMMs on boards that support it), and checkpoint often.",
            numbers=numbers,
            defaults_used=defaults,
        )
    ]


def check_display(build: Build) -> RuleResult:
    d = build.display
    per_gpu = sum((g.displays or 0) * 1 for g in build.gpus)
    on_gpu = (d is not None and d.attached_to == "compute-gpu" and d.monitors > 0) or per_gpu > 0
    if d is None and per_gpu == 0:
        return [DISPLAY.skip("needs [display] attached_to (or gpus[i].displays)")]
    if not build.gpus:
        return [DISPLAY.skip("no GPUs")]
    if not on_gpu and (d is None or d.monitors == 0 or d.attached_to == "compute-gpu"):
        return [DISPLAY.finding(Severity.OK, "No monitor on a training GPU.")]
    if not on_gpu:
        where = {
            "integrated": "the CPU's integrated graphics",
            "display-card": f"a separate display card ({d.display_card or 'named'})" if d else "",
            "none": "nothing (headless)",
        }.get(d.attached_to if d else "none", "")
        text = f"Monitors on {where}: the training GPUs keep all their memory."
        if d is not None and d.attached_to == "integrated" and build.integrated_graphics is False:
            return [
                DISPLAY.finding(
                    Severity.ERROR,
                    "Monitors are attached to integrated graphics, but the CPU has none "
                    "(cpu.integrated_graphics = false).",
                    fix="Use a small display card, or a CPU with integrated graphics.",
                )
            ]
        return [DISPLAY.finding(Severity.OK, text)]
    monitors = per_gpu or (d.monitors if d else 0)
    training = build.workload is None or build.workload.task != "infer"
    return [
        DISPLAY.finding(
            Severity.WARNING if training else Severity.INFO,
            f"{monitors} monitor(s) on a training GPU: the desktop takes part of its memory "
            "(see nvidia-smi's process list), and a display watchdog (Windows TDR, 2 s; X on "
            "Linux) can kill long kernels.",
            fix="Plug the monitors into the CPU's integrated graphics or a small display card "
            "(any low-power card), or run headless and work over SSH; set [display] "
            "attached_to accordingly.",
            numbers={"monitors": qty(monitors, "monitors")},
        )
    ]
