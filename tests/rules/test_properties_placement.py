"""Property tests for the issue-17 keys: slot maps, positions, bridges, risers, BIOS, displays,
a second PSU and NICs never make a rule crash; a bad combination is bad input (exit 2), never a
traceback; and the transient rule is monotone in PSU watts."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlrig.catalog import load
from dlrig.errors import BuildFileError
from helpers import findings, run_check

GPU_NAMES = [g.name for g in load.gpus()]
POS = st.integers(1, 10)

slot = st.fixed_dictionaries(
    {"position": POS, "lanes": st.sampled_from([1, 2, 4, 8, 16])},
    optional={
        "gen": st.integers(1, 6),
        "source": st.sampled_from(["cpu", "chipset", "switch"]),
        "socket": st.integers(0, 1),
        "name": st.sampled_from(["PCIEX16_1", "PCIEX16_2", "PCIEX16_3"]),
    },
)
m2 = st.fixed_dictionaries(
    {"name": st.sampled_from(["M.2_1", "M.2_2", "M.2_3"])},
    optional={"lanes": st.sampled_from([2, 4]), "source": st.sampled_from(["cpu", "chipset"])},
)
sharing = st.fixed_dictionaries(
    {"when": st.sampled_from(["M.2_1", "M.2_2", "PCIEX16_3", "3"])},
    optional={
        "slot": POS,
        "lanes": st.sampled_from([0, 1, 2, 4, 8]),
        "sata_ports": st.lists(st.integers(1, 8), max_size=4),
    },
)


@st.composite
def builds(draw: Any) -> dict[str, Any]:
    groups = draw(
        st.lists(
            st.fixed_dictionaries(
                {"model": st.sampled_from(GPU_NAMES), "count": st.integers(1, 3)},
                optional={
                    "displays": st.integers(0, 3),
                    "adapter_8pin": st.integers(1, 4),
                    "riser": st.fixed_dictionaries(
                        {"gen": st.integers(1, 6)}, optional={"length_mm": st.floats(50, 900)}
                    ),
                    "psu": st.sampled_from(["main", "second"]),
                    "cooler": st.sampled_from(["open-air", "blower", "passive", "liquid"]),
                },
            ),
            min_size=1,
            max_size=3,
        )
    )
    free = list(range(1, 11))
    for g in groups:
        if draw(st.booleans()) and len(free) >= g["count"]:
            picked = draw(st.permutations(free))[: g["count"]]
            g["slots"] = sorted(picked)
            free = [p for p in free if p not in picked]
    data: dict[str, Any] = {
        "cpu": {"model": draw(st.sampled_from([c.name for c in load.cpus()]))},
        "memory": {"size_gb": 128, "channels": draw(st.integers(1, 12))},
        "gpus": groups,
        "psu": {"watts": draw(st.floats(300, 5000)), "atx3": draw(st.booleans())},
    }
    if draw(st.booleans()):
        data["motherboard"] = {
            "slots": draw(st.lists(slot, max_size=8, unique_by=lambda s: s["position"])),
            "m2": draw(st.lists(m2, max_size=3, unique_by=lambda m: m["name"])),
            "lane_sharing": draw(st.lists(sharing, max_size=4)),
            "expansion_slots": draw(st.integers(1, 10)),
        }
    if draw(st.booleans()):
        data["second_psu"] = {"watts": 1000.0, "sync": "add2psu"}
    if draw(st.booleans()):
        data["bios"] = {
            "above_4g_decoding": draw(st.booleans()),
            "resizable_bar": draw(st.booleans()),
            "iommu": draw(st.sampled_from(["off", "on", "passthrough"])),
            "acs": draw(st.booleans()),
        }
    if draw(st.booleans()):
        data["display"] = {
            "attached_to": draw(
                st.sampled_from(["compute-gpu", "integrated", "display-card", "none"])
            )
        }
    if draw(st.booleans()):
        data["nvlink_bridges"] = [
            {
                "slots": draw(st.lists(POS, min_size=2, max_size=2)),
                "width": draw(st.sampled_from([2, 3, 4])),
            }
        ]
    if draw(st.booleans()):
        data["nics"] = [{"slot": draw(POS), "rdma": draw(st.booleans())}]
        data["cpu"]["count"] = draw(st.integers(1, 2))
    if draw(st.booleans()):
        data["storage"] = [
            {"kind": "nvme", "m2_slot": draw(st.sampled_from(["M.2_1", "M.2_2"]))},
            {"kind": "hdd", "sata_port": draw(st.integers(1, 8))},
        ]
    data["workload"] = {"hours": draw(st.floats(1, 2000))}
    return data


SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(builds())
def test_new_keys_never_crash_a_rule(data):
    try:
        report = run_check(data)
    except BuildFileError as exc:  # inconsistent positions: one clear line, exit 2
        assert exc.key and "\n" not in exc.one_line()
        return
    assert report.findings
    for f in report.findings:
        assert all(q.value == q.value for q in f.numbers.values())


@SETTINGS
@given(builds(), st.floats(1, 5000))
def test_more_psu_watts_never_adds_a_transient_error(data, extra_w):
    try:
        before = {f.severity.value for f in findings(run_check(data), "psu-transients")}
    except BuildFileError:
        return
    if "error" in before:
        return
    more = copy.deepcopy(data)
    more["psu"]["watts"] += extra_w
    assert "error" not in {f.severity.value for f in findings(run_check(more), "psu-transients")}
