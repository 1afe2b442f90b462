"""probe -> build file -> `dlrig check`: the file reads without edits; exit is 0 or 1, never 2."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from dlrig.catalog.resolve import resolve
from dlrig.cli import run
from dlrig.model.load import parse_build
from dlrig.probe.result import CpuInfo, TorchBench
from dlrig.probe.to_build import catalog_cpu, clean_cpu_name, to_build_toml
from probe_helpers import SCENARIOS, result_for


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_round_trip_through_check(
    scenario: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    text = to_build_toml(result_for(scenario), host="box")
    path = tmp_path / "probed.toml"
    path.write_text(text)
    resolve(parse_build(tomllib.loads(text), str(path)), str(path))  # raises on any problem
    assert run(["check", str(path)]) in (0, 1)
    assert "dlrig: error" not in capsys.readouterr().err


def test_measured_values_override_the_catalog():
    data = tomllib.loads(to_build_toml(result_for("x4-link"), host="box"))
    assert data["name"] == "probed: box"
    # Identical cards make one group; their differing slots go to the board's lane map.
    assert data["gpus"] == [{"model": "GeForce RTX 4090", "count": 2, "power_w": 450.0}]
    assert (
        data["storage"] == [{"kind": "hdd", "read_mbs": 3000.0, "holds_data": True}]
        or data["storage"][0]["read_mbs"] == 3000.0
    )
    assert data["memory"]["size_gb"] == 256.0
    assert data["motherboard"] == {"pcie_gen": 4, "gpu_slot_lanes": [16, 4]}


@pytest.mark.parametrize("scenario", ["identical-2x4090", "x4-link"])
def test_two_identical_gpus_are_one_model_in_check(
    scenario: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """Issue 16: two identical RTX 4090s gave "Mixed GPU models" and every card finding twice."""
    text = to_build_toml(result_for(scenario), host="box")
    data = tomllib.loads(text)
    assert [(g["model"], g["count"]) for g in data["gpus"]] == [("GeForce RTX 4090", 2)]
    path = tmp_path / "probed.toml"
    path.write_text(text)
    run(["check", "--format", "json", str(path)])
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert not [f for f in findings if "Mixed" in f["title"]]
    for rule in ("gpu-choice", "power-limit", "gpu-p2p"):
        assert len([f for f in findings if f["id"] == rule]) == 1, rule


def test_identical_gpus_are_grouped_and_power_limits_kept():
    data = tomllib.loads(to_build_toml(result_for("healthy-4gpu"), host="box"))
    assert data["gpus"] == [{"model": "RTX A6000", "count": 4, "power_w": 300.0, "pcie_lanes": 16}]
    lowered = tomllib.loads(to_build_toml(result_for("throttling"), host="box"))
    assert lowered["gpus"][0]["power_w"] == 250.0


def test_lanes_measured_under_load_win():
    r = result_for("x4-link")
    r.torch = TorchBench(sustained_pcie_width=8, sustained_pcie_gen=4, loaded_gpu_index=0)
    data = tomllib.loads(to_build_toml(r, host="box"))
    assert data["motherboard"]["gpu_slot_lanes"] == [8, 4]  # GPU 0 loaded: its under-load width


def test_catalog_cpu_is_named_and_unknown_cpu_left_as_comment():
    known = result_for(
        "nvml-missing",
        cpu=CpuInfo(
            model="AMD Ryzen 9 7950X 16-Core Processor", sockets=1, cores_physical=16, threads=32
        ),
    )
    data = tomllib.loads(to_build_toml(known, host="box"))
    assert data["cpu"] == {"model": "Ryzen 9 7950X", "count": 1, "cores": 16, "threads": 32}
    unknown = result_for(
        "nvml-missing", cpu=CpuInfo(model="Intel(R) Xeon(R) Processor", cores_physical=2, threads=2)
    )
    text = to_build_toml(unknown, host="box")
    assert "cpu" not in tomllib.loads(text)
    assert "# [cpu] left out: 'Intel(R) Xeon(R) Processor' is not in dlrig's catalog" in text
    assert "# [[gpus]] left out: no NVIDIA GPU measured (unavailable: NVML" in text


def test_cached_disk_read_is_not_written_as_the_disk_rate():
    r = result_for("nvml-missing")
    r.disk.read_method = "cached"
    text = to_build_toml(r, host="box")
    assert "read_mbs" not in tomllib.loads(text).get("storage", [{}])[0]


@pytest.mark.parametrize(
    ("model", "catalog"),
    [
        ("Intel(R) Core(TM) i9-13900K", "Core i9-13900K"),
        ("AMD Ryzen 9 7950X 16-Core Processor", "Ryzen 9 7950X"),
        ("AMD Ryzen Threadripper PRO 5975WX 32-Cores", "Ryzen Threadripper PRO 5975WX"),
        ("Intel(R) Xeon(R) Processor", None),
        (None, None),
    ],
)
def test_cpu_names(model: str | None, catalog: str | None):
    assert catalog_cpu(model) == catalog


def test_clean_cpu_name():
    assert clean_cpu_name("Intel(R) Core(TM) i7-5930K CPU @ 3.50GHz") == "Intel Core i7-5930K"


def test_unreadable_cpu_model():
    text = to_build_toml(result_for("nvml-missing", cpu=CpuInfo(cores_physical=4)), host="box")
    assert "# [cpu] left out: the CPU model could not be read." in text


def test_dimm_speed_and_channels_feed_the_ram_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    r = result_for("x4-link")
    r.memory.dimm_speed_mts, r.memory.channels_populated = 4800.0, 2
    text = to_build_toml(r, host="box")
    assert tomllib.loads(text)["memory"] == {"size_gb": 256.0, "speed_mts": 4800, "channels": 2}
    path = tmp_path / "box.toml"
    path.write_text(text)
    assert run(["check", str(path), "--format", "json"]) in (0, 1)
    found = {f["id"] for f in json.loads(capsys.readouterr().out)["findings"]}
    assert "ram-bandwidth" in found  # runs now that speed and channels are known


def test_gpu_without_a_readable_name_is_left_out_with_the_reason():
    text = to_build_toml(result_for("permission-denied"), host="box")
    assert (
        "# GPU 1 left out: its name is unreadable (nvmlDeviceGetHandleByIndex: Insufficient Permissions)."
        in text
    )
    assert [g["count"] for g in tomllib.loads(text)["gpus"]] == [1]


def test_short_nvml_name_of_a_smaller_variant_keeps_its_measured_memory():
    """'RTX 4060 Ti' now finds the catalog's 16 GB card by its words; an 8 GB card must not
    become 16 GB in the build file."""
    from dlrig.probe.models import GpuInfo

    r = result_for("identical-2x4090")
    r.gpus = [GpuInfo(index=0, name="NVIDIA GeForce RTX 4060 Ti", memory_total_gb=8.59)]
    data = tomllib.loads(to_build_toml(r, host="box"))
    assert data["gpus"] == [{"model": "GeForce RTX 4060 Ti 16GB", "count": 1, "memory_gb": 8.6}]
    r.gpus = [GpuInfo(index=0, name="NVIDIA GeForce RTX 4060 Ti", memory_total_gb=17.18)]
    assert "memory_gb" not in tomllib.loads(to_build_toml(r, host="box"))["gpus"][0]


def test_an_ambiguous_nvml_name_is_left_out_with_the_choices():
    from dlrig.probe.models import GpuInfo

    r = result_for("identical-2x4090")
    r.gpus = [GpuInfo(index=0, name="NVIDIA H100")]
    text = to_build_toml(r, host="box")
    assert "[[gpus]]" not in text.replace("# [[gpus]]", "")
    assert "fits several catalog cards (" in text and "H100 PCIe" in text and "H100 SXM" in text


def test_measured_host_copies_go_to_the_measured_cards_group(tmp_path: Path):
    from dlrig.rules.workload import job_for

    r = result_for("identical-2x4090")
    r.torch = TorchBench(h2d_pinned_gbs=24.9, d2h_pinned_gbs=26.3, loaded_gpu_index=0)
    text = to_build_toml(r, host="box")
    data = tomllib.loads(text)
    assert data["gpus"][0]["host_link_gbs"] == 24.9  # the slower direction of pinned copies
    data["workload"] = {"model": "llama-3-8b", "task": "train", "offload": "optimizer"}
    job = job_for(resolve(parse_build(data, "probed.toml"), "probed.toml"))
    assert job is not None and job.host_link_gbs == 24.9


def test_no_host_link_without_a_pinned_copy_measurement():
    r = result_for("identical-2x4090")
    r.torch = TorchBench(h2d_pageable_gbs=9.0, loaded_gpu_index=0)
    data = tomllib.loads(to_build_toml(r, host="box"))
    assert "host_link_gbs" not in data["gpus"][0]
