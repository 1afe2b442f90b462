"""What the probe measures, as pydantic models: values are `float | None` (or int/str/bool),
and every None has its reason in the section's `unavailable` map (`{"field": "reason"}`).

Each field's description ends with the command that cross-checks it on the same machine.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

PROBE_SCHEMA = "dlrig.probe/1"


class Section(BaseModel):
    """Base of every probe section: the fields that could not be read, with why."""

    model_config = ConfigDict(extra="forbid")

    unavailable: dict[str, str] = Field(
        default_factory=dict, description="field name -> why it could not be measured"
    )

    def missing(self, field: str, reason: str) -> None:
        """Record that `field` is None because of `reason`."""
        self.unavailable[field] = reason

    def drop_malformed(self) -> None:
        """Fields were filled by assignment, unchecked: any value of the wrong type (a driver or
        a replayed scenario answering "garbage" for a width) becomes None with the reason."""
        for name, info in type(self).model_fields.items():
            value = getattr(self, name)
            if name == "unavailable" or value is None:
                continue
            try:
                setattr(self, name, TypeAdapter(info.annotation).validate_python(value))
            except ValidationError:
                setattr(self, name, None)
                self.missing(name, f"malformed value {str(value)[:40]!r}")

    def reason(self, field: str) -> str | None:
        return self.unavailable.get(field)


def _d(text: str, check: str) -> str:
    return f"{text} (cross-check: {check})"


class GpuInfo(Section):
    """One NVIDIA GPU as NVML reports it."""

    index: int
    name: str | None = Field(None, description=_d("marketing name", "nvidia-smi -L"))
    uuid: str | None = Field(None, description=_d("GPU UUID", "nvidia-smi -L"))
    pci_bus_id: str | None = Field(None, description=_d("PCI address", "nvidia-smi -q -d PCI"))
    memory_total_gb: float | None = Field(
        None, description=_d("device memory, GB (1e9 B)", "nvidia-smi -q -d MEMORY")
    )
    memory_used_gb: float | None = Field(None, description=_d("in use", "nvidia-smi -q -d MEMORY"))
    pcie_gen_current: int | None = Field(
        None, description=_d("PCIe generation now (idle GPUs downshift)", "lspci -vv: LnkSta")
    )
    pcie_gen_max: int | None = Field(None, description=_d("best generation", "lspci -vv: LnkCap"))
    pcie_width_current: int | None = Field(
        None, description=_d("lanes in use now", "lspci -vv: LnkSta Width")
    )
    pcie_width_max: int | None = Field(
        None, description=_d("lanes the card and slot support", "lspci -vv: LnkCap Width")
    )
    temperature_c: float | None = Field(
        None, description=_d("core temperature", "nvidia-smi -q -d TEMPERATURE")
    )
    slowdown_temp_c: float | None = Field(
        None, description=_d("clocks drop above this", "nvidia-smi -q -d TEMPERATURE")
    )
    shutdown_temp_c: float | None = Field(
        None, description=_d("the GPU shuts down above this", "nvidia-smi -q -d TEMPERATURE")
    )
    sm_clock_mhz: float | None = Field(None, description=_d("SM clock", "nvidia-smi -q -d CLOCK"))
    sm_clock_max_mhz: float | None = Field(
        None, description=_d("highest SM clock", "nvidia-smi -q -d CLOCK")
    )
    mem_clock_mhz: float | None = Field(
        None, description=_d("memory clock", "nvidia-smi -q -d CLOCK")
    )
    throttle_reasons: list[str] | None = Field(
        None, description=_d("decoded clock event reasons", "nvidia-smi -q -d PERFORMANCE")
    )
    power_draw_w: float | None = Field(None, description=_d("board draw", "nvidia-smi -q -d POWER"))
    power_limit_w: float | None = Field(
        None, description=_d("power limit in force", "nvidia-smi -q -d POWER")
    )
    power_default_limit_w: float | None = Field(
        None, description=_d("factory power limit", "nvidia-smi -q -d POWER")
    )
    power_max_limit_w: float | None = Field(
        None, description=_d("highest settable limit", "nvidia-smi -q -d POWER")
    )
    persistence_mode: bool | None = Field(
        None, description=_d("driver kept loaded between jobs", "nvidia-smi -q | grep Persistence")
    )
    ecc_enabled: bool | None = Field(None, description=_d("ECC on", "nvidia-smi -q -d ECC"))
    mig_enabled: bool | None = Field(
        None, description=_d("MIG mode on", "nvidia-smi -q | grep MIG")
    )
    nvlink_active_links: int | None = Field(
        None, description=_d("NVLink links up", "nvidia-smi nvlink --status")
    )
    utilization_pct: float | None = Field(
        None, description=_d("kernel-busy share", "nvidia-smi --query-gpu=utilization.gpu")
    )


class GpuSystem(Section):
    """What NVML says about the machine rather than one GPU."""

    driver_version: str | None = Field(None, description=_d("driver", "nvidia-smi"))
    cuda_driver_version: str | None = Field(
        None, description=_d("CUDA version the driver supports", "nvidia-smi")
    )
    p2p_read: list[list[str]] = Field(
        default_factory=list,
        description=_d("P2P read status per pair ('OK' or why not)", "nvidia-smi topo -p2p r"),
    )
    topology: list[list[str]] = Field(
        default_factory=list,
        description=_d(
            "closest common PCIe ancestor per pair (PIX, PXB, PHB, NODE, SYS)", "nvidia-smi topo -m"
        ),
    )
