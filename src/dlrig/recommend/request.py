"""What the user asks `dlrig recommend` for: a workload, a budget and the limits of the search."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dlrig.catalog.lookup import find_model
from dlrig.errors import DlrigError
from dlrig.model.workload import ModelSpec, Task

# One year of round-the-clock use: the period energy costs are given for when the user names
# none (the guide's energy arithmetic assumes full load throughout).
DEFAULT_ENERGY_HOURS = 24 * 365
# Most GPUs one proposal holds: the largest single-node PCIe GPU servers take 8 double-width
# cards (10 with single-width ones); beyond that it is a cluster, not a build.
MAX_GPUS_LIMIT = 8
DEFAULT_TOP = 5


@dataclass(frozen=True)
class Request:
    """A recommend call. Money is in `currency`; `job` holds estimator Job fields the user set
    (seq_len, context, quant, precision, batch_size, ...)."""

    workload: str
    model: ModelSpec
    task: Task
    budget: float
    currency: str = "USD"
    max_gpus: int = MAX_GPUS_LIMIT
    top: int = DEFAULT_TOP
    job: dict[str, Any] = field(default_factory=dict)
    tokens: float | None = None
    epochs: float | None = None
    dataset_size: int | None = None
    electricity_price: float | None = None
    energy_hours: float = DEFAULT_ENERGY_HOURS
    cloud_price_per_gpu_hour: float | None = None
    mains_voltage: float | None = None
    circuit_amps: float | None = None
    gpus: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.budget > 0:
            raise DlrigError(f"--budget: expected a positive amount, got {self.budget:g}")
        if not 1 <= self.max_gpus <= MAX_GPUS_LIMIT:
            raise DlrigError(f"--max-gpus: expected 1 to {MAX_GPUS_LIMIT}, got {self.max_gpus}")
        if self.top < 1:
            raise DlrigError(f"--top: expected at least 1, got {self.top}")
        if not self.energy_hours > 0:
            raise DlrigError(f"--energy-hours: expected a positive number, got {self.energy_hours}")
        if (self.mains_voltage is None) != (self.circuit_amps is None):
            raise DlrigError("--mains-voltage and --circuit-amps go together: give both or none")


def parse_workload(text: str) -> tuple[ModelSpec, Task]:
    """`"llama-3-8b:lora"` → (the preset, Task.LORA); the task after the last colon."""
    model, sep, task = text.rpartition(":")
    tasks = ", ".join(t.value for t in Task)
    if not sep or not model.strip():
        raise DlrigError(
            f"--workload: expected MODEL:TASK (e.g. llama-3-8b:lora), got {text!r}; tasks: {tasks}"
        )
    try:
        parsed = Task(task.strip().lower())
    except ValueError:
        raise DlrigError(
            f"--workload: unknown task {task!r} in {text!r}; expected one of {tasks}"
        ) from None
    return find_model(model.strip()), parsed
