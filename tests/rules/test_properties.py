"""Property tests: monotonic rules stay monotonic, and no valid build makes a rule crash."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlrig.catalog import load
from helpers import findings, run_check

GPU_NAMES = [g.name for g in load.gpus()]
CPU_NAMES = [c.name for c in load.cpus()]

gpu_group = st.fixed_dictionaries(
    {"model": st.sampled_from(GPU_NAMES), "count": st.integers(1, 8)},
    optional={
        "power_w": st.floats(50, 1000),
        "slot_width": st.sampled_from([1, 2, 2.5, 3, 3.5]),
        "cooler": st.sampled_from(["open-air", "blower", "passive", "liquid"]),
        "pcie_lanes": st.sampled_from([1, 2, 4, 8, 16]),
    },
)

builds = st.fixed_dictionaries(
    {
        "cpu": st.fixed_dictionaries(
            {"model": st.sampled_from(CPU_NAMES)}, optional={"count": st.integers(1, 2)}
        ),
        "memory": st.fixed_dictionaries(
            {"size_gb": st.floats(4, 4096)},
            optional={"speed_mts": st.floats(800, 8000), "channels": st.integers(1, 12)},
        ),
        "gpus": st.lists(gpu_group, min_size=1, max_size=3),
        "psu": st.fixed_dictionaries(
            {"watts": st.floats(300, 5000)},
            optional={
                "rating": st.sampled_from(
                    ["none", "white", "bronze", "gold", "platinum", "titanium"]
                ),
                "atx3": st.booleans(),
                "pcie_8pin": st.integers(0, 16),
                "pcie_16pin": st.integers(0, 4),
            },
        ),
    },
    optional={
        "motherboard": st.fixed_dictionaries(
            {},
            optional={
                "expansion_slots": st.integers(1, 10),
                "gpu_slot_lanes": st.lists(st.sampled_from([1, 4, 8, 16]), max_size=8),
                "pcie_gen": st.integers(1, 6),
            },
        ),
        "storage": st.lists(
            st.fixed_dictionaries(
                {"kind": st.sampled_from(["hdd", "sata-ssd", "nvme", "network"])},
                optional={"read_mbs": st.floats(1, 30000), "holds_data": st.booleans()},
            ),
            max_size=3,
        ),
        "case": st.fixed_dictionaries(
            {},
            optional={
                "max_gpu_length_mm": st.floats(100, 500),
                "expansion_slots": st.integers(1, 12),
            },
        ),
        "power": st.fixed_dictionaries(
            {},
            optional={
                "mains_voltage": st.sampled_from([100, 120, 230, 240]),
                "circuit_amps": st.sampled_from([10, 13, 15, 16, 20]),
                "price_per_kwh": st.floats(0, 1),
                "other_w": st.floats(0, 500),
            },
        ),
        "workload": st.fixed_dictionaries(
            {},
            optional={
                "batch_size": st.integers(1, 4096),
                "sample_bytes": st.floats(1, 1e7),
                "tensor_bytes": st.floats(1, 1e7),
                "step_time_s": st.floats(0.001, 10),
                "num_workers": st.integers(0, 32),
                "hours": st.floats(1, 10000),
                "gpu_memory_gb": st.floats(1, 200),
            },
        ),
    },
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def severity_of(data: dict[str, Any], rule_id: str) -> set[str]:
    return {f.severity.value for f in findings(run_check(data), rule_id)}


@SETTINGS
@given(builds)
def test_no_valid_build_makes_a_rule_crash(data):
    report = run_check(data)
    assert report.findings
    for f in report.findings:
        assert all(q.value == q.value for q in f.numbers.values())  # no NaN


@SETTINGS
@given(builds, st.sampled_from(GPU_NAMES))
def test_adding_a_gpu_never_removes_a_psu_capacity_error(data, extra_gpu):
    if "error" not in severity_of(data, "psu-capacity"):
        return
    more = copy.deepcopy(data)
    more["gpus"].append({"model": extra_gpu})
    assert "error" in severity_of(more, "psu-capacity")


@SETTINGS
@given(builds, st.floats(1, 5000))
def test_more_psu_watts_never_adds_a_psu_capacity_error(data, extra_w):
    if "error" in severity_of(data, "psu-capacity"):
        return
    more = copy.deepcopy(data)
    more["psu"]["watts"] += extra_w
    assert "error" not in severity_of(more, "psu-capacity")


@SETTINGS
@given(builds, st.floats(1, 4096))
def test_more_ram_never_adds_a_ram_size_warning(data, extra_gb):
    if "warning" in severity_of(data, "ram-size"):
        return
    more = copy.deepcopy(data)
    more["memory"]["size_gb"] += extra_gb
    assert "warning" not in severity_of(more, "ram-size")
