"""What a rule says about a build: a Finding, or a Skip when its inputs are missing."""

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from dlrig.model import empty_list


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    OK = "ok"

    @property
    def rank(self) -> int:
        """Sort key: errors first."""
        return _RANK[self]


_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2, Severity.OK: 3}


class Quantity(BaseModel):
    """A named number behind a finding, with its unit (`GB/s`, `W`, `lanes`, …)."""

    model_config = ConfigDict(frozen=True)

    value: float
    unit: str


class Finding(BaseModel):
    """One result of one rule for one build."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="stable rule id, e.g. 'pcie-lanes'")
    severity: Severity
    section: str = Field(description="guide section the rule comes from, e.g. 'pcie'")
    title: str
    message: str = Field(description="what was found, with the numbers")
    why: str = Field(description="the guide's reason this matters")
    fix: str = Field(description="what to do about it; empty when nothing is needed")
    numbers: dict[str, Quantity] = Field(default_factory=dict)
    source: str = Field(description="where the rule and its thresholds come from")
    defaults_used: list[str] = Field(
        default_factory=empty_list,
        description="inputs the rule assumed because the build left them out",
    )


class Skip(BaseModel):
    """A rule that could not run because the build lacks its inputs (never guessed silently)."""

    model_config = ConfigDict(frozen=True)

    rule: str
    reason: str


def qty(value: float, unit: str) -> Quantity:
    """Short constructor used by rules: `numbers={"psu_w": qty(1600, "W")}`."""
    return Quantity(value=round(float(value), 4), unit=unit)
