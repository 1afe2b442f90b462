"""The result of `dlrig check`: the resolved build, its findings and the rules skipped."""

from typing import Any

from pydantic import BaseModel, Field

from dlrig.model import empty_list
from dlrig.model.build import Build
from dlrig.model.finding import Finding, Severity, Skip

CHECK_SCHEMA = "dlrig.check/1"


class Summary(BaseModel):
    errors: int
    warnings: int
    info: int
    ok: int
    skipped: list[Skip] = Field(default_factory=empty_list)


class CheckReport(BaseModel):
    build: Build
    findings: list[Finding]
    skipped: list[Skip] = Field(default_factory=empty_list)

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    @property
    def has_errors(self) -> bool:
        return self.count(Severity.ERROR) > 0

    def summary(self) -> Summary:
        return Summary(
            errors=self.count(Severity.ERROR),
            warnings=self.count(Severity.WARNING),
            info=self.count(Severity.INFO),
            ok=self.count(Severity.OK),
            skipped=self.skipped,
        )

    def by_severity(self) -> list[Finding]:
        """Findings sorted errors first, keeping rule order within a severity."""
        return sorted(self.findings, key=lambda f: f.severity.rank)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "schema": CHECK_SCHEMA,
            "build": self.build.model_dump(mode="json"),
            "findings": [f.model_dump(mode="json") for f in self.by_severity()],
            "summary": self.summary().model_dump(mode="json"),
        }
