"""Whatever `probe -o` writes, `check` accepts (issue 16): hypothesis draws NVML scenarios,
including impossible readings (negative, zero, huge or fractional watts, PCIe gen 99, 450 W of
memory clock), and the build file written from the replayed probe must parse, resolve against
the catalog and run through every rule without a `BuildFileError` (exit 2)."""

from __future__ import annotations

import tomllib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlrig.catalog.resolve import resolve
from dlrig.errors import BuildFileError
from dlrig.model.load import parse_build
from dlrig.probe.fake import FakeNvml, validate_scenario
from dlrig.probe.nvml import NvmlBackend, open_backend
from dlrig.probe.result import ProbeResult
from dlrig.probe.to_build import to_build_toml
from dlrig.rules import check
from probe_helpers import host

NAMES = [
    "NVIDIA GeForce RTX 4090",
    "NVIDIA RTX A6000",
    "NVIDIA H100 80GB HBM3",
    "NVIDIA GeForce RTX 3090",
    "Tesla V100-SXM2-16GB",
    "NVIDIA\x1b[2J GeForce RTX 4090",
    "",
    "x" * 300,
]
numbers = (
    st.integers(-(10**12), 10**12)
    | st.floats(-1e30, 1e30, allow_nan=False, allow_infinity=False)
    | st.sampled_from([0, -450000, 10**30, 99, 450000, 16, 4, 5, 6, 7])
)
error = st.builds(lambda c: {"error": c}, st.sampled_from([1, 2, 3, 4, 15, 999]))
reply = numbers | error | st.booleans() | st.none()
keyed = st.dictionaries(st.sampled_from(["0", "1", "2"]), numbers | error, max_size=3)
device = st.fixed_dictionaries(
    {},
    optional={
        "nvmlDeviceGetName": st.sampled_from(NAMES) | error,
        "nvmlDeviceGetMemoryInfo": st.fixed_dictionaries(
            {"total": numbers, "used": numbers, "free": numbers}
        )
        | error,
        "nvmlDeviceGetCurrPcieLinkGeneration": reply,
        "nvmlDeviceGetMaxPcieLinkGeneration": reply,
        "nvmlDeviceGetCurrPcieLinkWidth": reply,
        "nvmlDeviceGetMaxPcieLinkWidth": reply,
        "nvmlDeviceGetTemperature": keyed | error,
        "nvmlDeviceGetTemperatureThreshold": keyed | error,
        "nvmlDeviceGetClockInfo": keyed | error,
        "nvmlDeviceGetMaxClockInfo": keyed | error,
        "nvmlDeviceGetCurrentClocksEventReasons": reply,
        "nvmlDeviceGetPowerUsage": reply,
        "nvmlDeviceGetEnforcedPowerLimit": reply,
        "nvmlDeviceGetPowerManagementDefaultLimit": reply,
        "nvmlDeviceGetPowerManagementLimitConstraints": st.lists(numbers, max_size=3) | error,
        "nvmlDeviceGetUtilizationRates": st.fixed_dictionaries({"gpu": numbers}) | error,
    },
)
scenarios = st.lists(device, max_size=4).map(lambda ds: {"init_error": None, "devices": ds})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios)
def test_what_probe_writes_check_accepts(scenario: dict) -> None:
    validate_scenario(scenario, "drawn")  # the drawn scenario is well formed
    backend = open_backend(FakeNvml(scenario))
    assert isinstance(backend, NvmlBackend)
    gpus = [backend.gpu(i) for i in range(backend.device_count())]
    result = ProbeResult(
        quick=True,
        duration_s=0.0,
        gpu_status="ok",
        gpus=gpus,
        **host(),  # type: ignore[arg-type]
    )
    text = to_build_toml(result, host="drawn")
    try:
        build = resolve(parse_build(tomllib.loads(text), "drawn.toml"), "drawn.toml")
    except BuildFileError as exc:  # exit 2 for a file dlrig wrote itself
        raise AssertionError(f"{exc}\n{text}") from None
    check(build)
    for g in gpus:  # nothing implausible survives into the result either
        assert g.power_limit_w is None or 1 <= g.power_limit_w <= 2000
        assert g.pcie_gen_max is None or 1 <= g.pcie_gen_max <= 6
