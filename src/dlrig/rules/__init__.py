"""All rules, in guide order, and `check(build)` that runs them."""

from __future__ import annotations

from dlrig.model.build import Build
from dlrig.model.finding import Finding, Skip
from dlrig.model.report import CheckReport
from dlrig.rules import (
    board,
    cpu,
    energy,
    gpu,
    memory,
    pcie,
    physical,
    platform,
    power,
    software,
    storage,
    thermal,
    workload,
)
from dlrig.rules.base import Rule

ALL_RULES: tuple[Rule, ...] = (
    gpu.check_no_gpu,
    gpu.check_choice,
    workload.check_memory,
    gpu.check_p2p,
    board.check_nvlink,
    board.check_iommu,
    platform.check_display,
    software.check_stack,
    cpu.check_cores,
    cpu.check_cache,
    cpu.check_clock,
    platform.check_numa,
    pcie.check_lanes,
    board.check_sharing,
    board.check_chipset,
    board.check_risers,
    board.check_bar,
    pcie.check_transfer,
    memory.check_size,
    memory.check_channels,
    memory.check_bandwidth,
    platform.check_ecc,
    storage.check_disk,
    power.check_capacity,
    power.check_connectors,
    power.check_transients,
    power.check_connector16,
    power.check_dual,
    energy.check_energy,
    energy.check_circuit,
    thermal.check_cooling,
    thermal.check_power_limit,
    physical.check_slots,
    physical.check_length,
)


def check(build: Build, rules: tuple[Rule, ...] = ALL_RULES) -> CheckReport:
    """Run every rule; findings keep rule order, skips are collected apart.

    A workload that names a model and task but no step time gets the estimator's step time,
    so the transfer, disk and energy rules can run.
    """
    build = workload.with_estimated_step_time(build)
    findings: list[Finding] = []
    skipped: list[Skip] = []
    for rule in rules:
        for item in rule(build):
            (findings if isinstance(item, Finding) else skipped).append(item)
    return CheckReport(build=build, findings=findings, skipped=skipped)
