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
# Sanity limits on the command line (not advice): they reject typos and infinities, with the
# build file's own bounds where one exists (model/build.py PowerInput).
MAX_BUDGET = 1e9
MAX_PRICE_PER_KWH = 100.0
MAX_GPU_HOUR_PRICE = 10_000.0
MAX_TOKENS = 1e16
MAX_EPOCHS = 1e6
MAX_ENERGY_HOURS = 1e6
MIN_MAINS_V, MAX_MAINS_V = 90.0, 480.0
MAX_CIRCUIT_A = 400.0
RANKINGS = ("speed", "value")


def _in_range(flag: str, value: float | None, low: float, high: float) -> None:
    if value is not None and not low <= value <= high:  # also refuses nan
        raise DlrigError(f"{flag}: expected a number from {low:g} to {high:g}, got {value:g}")


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
    # "speed": the fastest builds (shortest time for the job) within the budget first;
    # "value": the most throughput per money first.
    rank: str = "speed"
    # Used cards (a second-hand RTX 3090, A100, ...) are proposed only when the user allows them;
    # a card the user priced in a --prices file is always a candidate.
    used: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.budget <= MAX_BUDGET:
            raise DlrigError(
                f"--budget: expected an amount above 0 and at most 1e9, got {self.budget:g}"
            )
        _in_range("--electricity-price", self.electricity_price, 0, MAX_PRICE_PER_KWH)
        _in_range(
            "--cloud-price-per-gpu-hour", self.cloud_price_per_gpu_hour, 0, MAX_GPU_HOUR_PRICE
        )
        _in_range("--tokens", self.tokens, 1, MAX_TOKENS)
        _in_range("--epochs", self.epochs, 1e-6, MAX_EPOCHS)
        _in_range("--mains-voltage", self.mains_voltage, MIN_MAINS_V, MAX_MAINS_V)
        _in_range("--circuit-amps", self.circuit_amps, 1, MAX_CIRCUIT_A)
        if not 1 <= self.max_gpus <= MAX_GPUS_LIMIT:
            raise DlrigError(f"--max-gpus: expected 1 to {MAX_GPUS_LIMIT}, got {self.max_gpus}")
        if self.top < 1:
            raise DlrigError(f"--top: expected at least 1, got {self.top}")
        _in_range("--energy-hours", self.energy_hours, 1e-3, MAX_ENERGY_HOURS)
        if self.rank not in RANKINGS:
            raise DlrigError(f"--rank: expected one of {', '.join(RANKINGS)}, got {self.rank!r}")
        if (self.mains_voltage is None) != (self.circuit_amps is None):
            raise DlrigError("--mains-voltage and --circuit-amps go together: give both or none")
        from dlrig.estimate.applicable import for_fields

        # The same rule and wording as `dlrig estimate` and `check` (issue 16).
        problems = for_fields(self.model, self.task.value, self.job)
        if problems:
            raise DlrigError(f"--workload {self.workload}: {problems[0].text('flag')}")


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
