"""`dlrig probe` end to end through `dlrig.cli.run`, with tiny sizes and replayed NVML scenarios."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dlrig.cli import run
from dlrig.probe.models import PROBE_SCHEMA
from probe_helpers import NVML

pytestmark = pytest.mark.usefixtures("tiny_quick")


def probe_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    assert run(["probe", "--quick", "--format", "json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_schema_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str], scenario_env):
    scenario_env("nvml-missing")
    data = probe_json(["--data-dir", str(tmp_path)], capsys)
    assert data["schema"] == PROBE_SCHEMA == "dlrig.probe/1"
    cpu, memory, disk = data["cpu"], data["memory"], data["disk"]
    assert cpu["cores_physical"] >= 1 and cpu["threads"] >= cpu["cores_physical"]
    assert 0 < cpu["usable"] <= cpu["threads"]
    assert memory["total_gb"] > 0 and memory["bandwidth_gbs"] > 0
    assert disk["read_mbs"] > 0 and disk["path"] == str(tmp_path.resolve())
    assert data["gpus"] == []
    assert data["gpu_status"].startswith("unavailable: NVML: NVML Shared Library Not Found")
    assert {f["id"] for f in data["findings"]} >= {"cgroup-cpu-limit", "shm-small", "disk-slow"}
    assert data["torch"]["unavailable"]["matmul_tflops"].startswith("no NVIDIA GPU")


def test_json_with_gpus(tmp_path: Path, capsys: pytest.CaptureFixture[str], scenario_env):
    scenario_env("x4-link")
    data = probe_json(["--data-dir", str(tmp_path)], capsys)
    assert data["gpu_status"] == "ok"
    assert [g["pcie_width_current"] for g in data["gpus"]] == [16, 4]
    assert data["gpus"][0]["unavailable"]["ecc_enabled"] == "nvmlDeviceGetEccMode: Not Supported"
    warnings = {f["id"] for f in data["findings"] if f["severity"] == "warning"}
    assert warnings == {"pcie-link-degraded", "p2p-unavailable"}


def test_terminal_report(tmp_path: Path, capsys: pytest.CaptureFixture[str], scenario_env):
    scenario_env("throttling")
    assert run(["probe", "--quick", "--no-color", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("dlrig probe — ")
    for text in (
        "CPU",
        "Memory",
        f"Disk under {tmp_path.resolve()}",
        "GPUs (NVML)",
        "NVIDIA GeForce RTX 3090",
        "gpu-throttling",
        "power-limit-lowered",
        "nvidia-smi -q -d PERFORMANCE",
        "lspci -vv: LnkSta",
    ):
        assert text in out, text
    assert "\x1b[" not in out


def test_output_file_feeds_check(tmp_path: Path, capsys: pytest.CaptureFixture[str], scenario_env):
    scenario_env("healthy-4gpu")
    build = tmp_path / "mybox.toml"
    assert run(["probe", "--quick", "--data-dir", str(tmp_path), "-o", str(build)]) == 0
    assert f"wrote {build}" in capsys.readouterr().err
    assert 'model = "RTX A6000"' in build.read_text()
    assert run(["check", str(build)]) in (0, 1)
    assert "dlrig: error" not in capsys.readouterr().err


def test_this_machine_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    build = tmp_path / "x.toml"  # real NVML: a GPU box or none, either way check reads it
    assert (
        run(["probe", "--quick", "--format", "json", "--data-dir", str(tmp_path), "-o", str(build)])
        == 0
    )
    capsys.readouterr()
    assert run(["check", str(build)]) in (0, 1)


def usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert run(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dlrig: error: "), captured.err
    assert captured.out == ""
    return lines[0]


def test_missing_data_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    line = usage_error(["probe", "--quick", "--data-dir", str(tmp_path / "nope")], capsys)
    assert line == f"dlrig: error: --data-dir {tmp_path / 'nope'}: no such directory"


def test_data_dir_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    f = tmp_path / "file"
    f.write_text("x")
    assert usage_error(["probe", "--data-dir", str(f)], capsys).endswith("not a directory")


def test_bad_format(capsys: pytest.CaptureFixture[str]):
    assert "--format" in usage_error(["probe", "--format", "yaml"], capsys)


def test_bad_fake_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("DLRIG_FAKE_NVML", str(tmp_path / "missing.json"))
    line = usage_error(["probe", "--quick", "--data-dir", str(tmp_path)], capsys)
    assert "DLRIG_FAKE_NVML" in line and line.endswith("missing.json: file not found")


@pytest.mark.parametrize(
    ("text", "got"),
    [
        ("[1, 2]", "an array"),
        ("null", "null"),
        ("3", "a number"),
        ('"x"', "a string"),
        ("true", "a boolean"),
    ],
)
def test_fake_scenario_not_an_object(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    got: str,
):
    """Was exit 3: AttributeError: 'list' object has no attribute 'get'."""
    scenario = tmp_path / "x.json"
    scenario.write_text(text)
    monkeypatch.setenv("DLRIG_FAKE_NVML", str(scenario))
    line = usage_error(["probe", "--quick", "--data-dir", str(tmp_path)], capsys)
    assert line == (
        f"dlrig: error: DLRIG_FAKE_NVML={scenario}: not an NVML scenario:"
        f" expected a JSON object, got {got}"
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{bad", "not an NVML scenario: not valid JSON (Expecting property name"),
        (
            '{"init_error": "x"}',
            'init_error: expected null or an NVML error code (an integer 1..999), got "x"',
        ),
    ],
)
def test_fake_scenario_malformed(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    problem: str,
):
    scenario = tmp_path / "x.json"
    scenario.write_text(text)
    monkeypatch.setenv("DLRIG_FAKE_NVML", str(scenario))
    line = usage_error(["probe", "--quick", "--data-dir", str(tmp_path)], capsys)
    assert line.startswith(f"dlrig: error: DLRIG_FAKE_NVML={scenario}: {problem}")


def test_malformed_nvml_field_loses_that_field_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    """Was: every GPU dropped as 'unavailable: NVML probe failed: IndexError'."""
    data = json.loads((NVML / "x4-link.json").read_text())
    data["devices"][1]["nvmlDeviceGetPowerManagementLimitConstraints"] = [0]
    scenario = tmp_path / "x.json"
    scenario.write_text(json.dumps(data))
    monkeypatch.setenv("DLRIG_FAKE_NVML", str(scenario))
    d = probe_json(["--data-dir", str(tmp_path)], capsys)
    assert d["gpu_status"] == "ok" and len(d["gpus"]) == 2
    g0, g1 = d["gpus"]
    assert g0["power_max_limit_w"] is not None
    assert g1["power_max_limit_w"] is None and g1["name"] == g0["name"]
    assert g1["unavailable"]["power_max_limit_w"] == (
        "nvmlDeviceGetPowerManagementLimitConstraints: malformed reply"
        " (IndexError: tuple index out of range)"
    )


def test_unwritable_output(tmp_path: Path, capsys: pytest.CaptureFixture[str], scenario_env):
    scenario_env("nvml-missing")
    line = usage_error(
        ["probe", "--quick", "--data-dir", str(tmp_path), "-o", str(tmp_path / "no" / "x.toml")],
        capsys,
    )
    assert "cannot write" in line


def test_help_lists_probe(capsys: pytest.CaptureFixture[str]):
    assert run(["probe", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--quick" in out and "--data-dir" in out and "--output" in out
