"""The rule seam: a rule is a pure function `Build -> list[Finding | Skip]`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dlrig.model.build import Build, GpuGroup
from dlrig.model.finding import Finding, Quantity, Severity, Skip

RuleResult = list[Finding | Skip]
Rule = Callable[[Build], RuleResult]


@dataclass(frozen=True)
class RuleInfo:
    """What is constant about one rule id: where it comes from and why it matters."""

    id: str
    section: str
    title: str
    why: str
    source: str

    def finding(
        self,
        severity: Severity,
        message: str,
        fix: str = "",
        numbers: dict[str, Quantity] | None = None,
        defaults_used: list[str] | None = None,
        title: str | None = None,
    ) -> Finding:
        return Finding(
            id=self.id,
            severity=severity,
            section=self.section,
            title=title or self.title,
            message=message,
            why=self.why,
            fix=fix,
            numbers=numbers or {},
            source=self.source,
            defaults_used=defaults_used or [],
        )

    def skip(self, reason: str) -> Skip:
        return Skip(rule=self.id, reason=reason)


def pcie_groups(build: Build) -> list[tuple[int, GpuGroup]]:
    """(index in the file, group) of the add-in cards; SXM/OAM modules sit on a baseboard."""
    return [(i, g) for i, g in enumerate(build.gpus) if g.spec.form_factor == "pcie"]


def merged_groups(groups: list[GpuGroup]) -> list[GpuGroup]:
    """Groups of the same card with the same settings merged into one (counts added).

    A probed machine lists one `[[gpus]]` per link width, so identical cards can come as
    several groups; rules that judge the card, not its slot, must see them once.
    """
    merged: dict[tuple, GpuGroup] = {}
    for g in groups:
        key = (g.name, g.memory_gb, g.power_w, g.slot_width, g.length_mm, g.cooler)
        seen = merged.get(key)
        merged[key] = g if seen is None else seen.model_copy(update={"count": seen.count + g.count})
    return list(merged.values())


def no_pcie_reason(build: Build) -> str:
    return "no PCIe GPUs" if build.gpus else "no GPUs"


def fmt(value: float, digits: int | None = None) -> str:
    """A number for a sentence: fixed `digits` if given, else sized to its magnitude.

    1240 → "1,240"; 92.23 → "92.2"; 7.875 → "7.88"; 0.000106 → "0.000106"; 4.0 → "4".
    """
    if digits is None:
        size = abs(value)
        if size >= 100 or value == int(value):
            digits = 0
        elif size >= 10:
            digits = 1
        elif size >= 1:
            digits = 2
        else:
            return f"{value:.3g}"
        text = f"{value:,.{digits}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return f"{value:,.{digits}f}"


def pcie_name(gen: int) -> str:
    return f"PCIe {gen}.0"


STORAGE_NAMES = {
    "hdd": "HDD",
    "sata-ssd": "SATA SSD",
    "nvme": "NVMe SSD",
    "network": "network share",
}
