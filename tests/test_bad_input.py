"""Bad input of any kind gives exactly one line on stderr, exit code 2, and never a traceback.

Each file in tests/data/bad/ is a small valid build (the guide's 2015 four-GPU shape) with one
thing broken; its regex names the file, the key and what was expected. Binary, non-UTF-8,
directory and missing-file cases are made in tmp_path instead of being committed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dlrig.cli import run

BAD = Path(__file__).parent / "data" / "bad"

NO_SECTIONS = r"no build sections; expected at least one of \[cpu\], .*\[\[gpus\]\]"

# file name -> regex the one stderr line must match (re.search).
CASES: dict[str, str] = {
    # whole file
    "build.empty.toml": r"build\.empty\.toml: " + NO_SECTIONS,
    "build.name-only.toml": r"build\.name-only\.toml: " + NO_SECTIONS,
    "build.comments-only.toml": r"build\.comments-only\.toml: " + NO_SECTIONS,
    # TOML syntax
    "build.syntax-unclosed-string.toml": (
        r"build\.syntax-unclosed-string\.toml: line 14, column \d+: not valid TOML: "
        r"line break inside a string \(a missing closing quote\?\)$"
    ),
    "build.syntax-duplicate-key.toml": (
        r"build\.syntax-duplicate-key\.toml: line 16, column \d+: not valid TOML: "
        r"key 'count' is set twice$"
    ),
    "build.syntax-duplicate-table.toml": (
        r"build\.syntax-duplicate-table\.toml: line 33, column \d+: not valid TOML: "
        r"table \[psu\] is declared twice$"
    ),
    "build.syntax-missing-value.toml": (
        r"build\.syntax-missing-value\.toml: line 23, column \d+: not valid TOML: "
        r"invalid value; expected a number, .*, got nothing$"
    ),
    "build.syntax-bare-word.toml": (
        r"build\.syntax-bare-word\.toml: line 29, column \d+: not valid TOML: "
        r'invalid value; expected a number, true/false, a "quoted string", .*, got hdd$'
    ),
    "build.syntax-unclosed-array.toml": (
        r"build\.syntax-unclosed-array\.toml: line \d+, column \d+: not valid TOML: "
        r"unclosed array"
    ),
    # top level
    "build.top-unknown-key.toml": (
        r"build\.top-unknown-key\.toml: nmae: unknown key; did you mean 'name'\?$"
    ),
    "build.top-unknown-section.toml": (
        r"build\.top-unknown-section\.toml: gpu: unknown section; did you mean 'gpus'\?$"
    ),
    "build.top-unknown-section-no-match.toml": (
        r"build\.top-unknown-section-no-match\.toml: network: unknown section; "
        r"expected one of: bios, case, cpu, display, gpus, memory, motherboard, name, nics, "
        r"nvlink_bridges, power, psu, second_psu, storage, workload$"
    ),
    "build.name-int.toml": r"build\.name-int\.toml: name: expected a \"quoted string\", got 2015$",
    # [cpu]
    "build.cpu-unknown.toml": (
        r"build\.cpu-unknown\.toml: cpu\.model: unknown CPU 'Core i7-5390K'; "
        r"did you mean 'Core i7-5930K'"
    ),
    "build.cpu-model-int.toml": (
        r"build\.cpu-model-int\.toml: cpu\.model: expected a \"quoted string\", got 5930$"
    ),
    "build.cpu-count-zero.toml": (
        r"build\.cpu-count-zero\.toml: cpu\.count: expected at least 1, got 0$"
    ),
    "build.cpu-count-negative.toml": (
        r"build\.cpu-count-negative\.toml: cpu\.count: expected at least 1, got -2$"
    ),
    "build.cpu-count-float.toml": (
        r"build\.cpu-count-float\.toml: cpu\.count: expected an integer, got 1\.0$"
    ),
    "build.cpu-count-string.toml": (
        r"build\.cpu-count-string\.toml: cpu\.count: expected an integer, got '1'; "
        r"write it without quotes$"
    ),
    "build.cpu-count-bool.toml": (
        r"build\.cpu-count-bool\.toml: cpu\.count: expected an integer, got true$"
    ),
    "build.cpu-count-absurd.toml": (
        r"build\.cpu-count-absurd\.toml: cpu\.count: expected at most 8, got 1000$"
    ),
    "build.cpu-no-model-no-cores.toml": (
        r"build\.cpu-no-model-no-cores\.toml: cpu\.cores: required when cpu\.model is left out; "
        r"give cpu\.model .* or all of cores, pcie_lanes, pcie_gen, tdp_w$"
    ),
    "build.cpu-unknown-key.toml": (
        r"build\.cpu-unknown-key\.toml: cpu\.cors: unknown key; did you mean 'cores'\?$"
    ),
    "build.cpu-pcie-gen-absurd.toml": (
        r"build\.cpu-pcie-gen-absurd\.toml: cpu\.pcie_gen: expected at most 6, got 7$"
    ),
    "build.cpu-as-string.toml": (
        r"build\.cpu-as-string\.toml: cpu: expected a table \[cpu\], got 'Core i7-5930K'$"
    ),
    # [memory]
    "build.memory-size-zero.toml": (
        r"build\.memory-size-zero\.toml: memory\.size_gb: expected more than 0, got 0$"
    ),
    "build.memory-size-string.toml": (
        r"build\.memory-size-string\.toml: memory\.size_gb: expected a number, got '64GB'$"
    ),
    "build.memory-size-nan.toml": (
        r"build\.memory-size-nan\.toml: memory\.size_gb: expected a finite number, got nan$"
    ),
    "build.memory-size-missing.toml": (
        r"build\.memory-size-missing\.toml: memory\.size_gb: required key is missing$"
    ),
    "build.memory-speed-inf.toml": (
        r"build\.memory-speed-inf\.toml: memory\.speed_mts: expected a finite number, got inf$"
    ),
    "build.memory-channels-float.toml": (
        r"build\.memory-channels-float\.toml: memory\.channels: expected an integer, got 4\.5$"
    ),
    "build.memory-unknown-key.toml": (
        r"build\.memory-unknown-key\.toml: memory\.size_gbs: unknown key; "
        r"did you mean 'size_gb'\?$"
    ),
    # [[gpus]]
    "build.gpu-unknown.toml": (
        r"build\.gpu-unknown\.toml: gpus\[0\]\.model: unknown GPU 'RTX 4009'; "
        r"did you mean 'GeForce RTX 4090'"
    ),
    "build.gpu-second-unknown.toml": (
        r"build\.gpu-second-unknown\.toml: gpus\[1\]\.model: unknown GPU 'Titan Z'; "
        r"did you mean .*'GeForce GTX Titan X'"
    ),
    "build.gpu-model-int.toml": (
        r"build\.gpu-model-int\.toml: gpus\[0\]\.model: expected a \"quoted string\", got 4090$"
    ),
    "build.gpu-model-missing.toml": (
        r"build\.gpu-model-missing\.toml: gpus\[0\]\.model: required key is missing$"
    ),
    "build.gpu-unknown-key.toml": (
        r"build\.gpu-unknown-key\.toml: gpus\[0\]\.modle: unknown key; did you mean 'model'\?$"
    ),
    "build.gpu-count-zero.toml": (
        r"build\.gpu-count-zero\.toml: gpus\[0\]\.count: expected at least 1, got 0$"
    ),
    "build.gpu-count-negative.toml": (
        r"build\.gpu-count-negative\.toml: gpus\[0\]\.count: expected at least 1, got -4$"
    ),
    "build.gpu-count-absurd.toml": (
        r"build\.gpu-count-absurd\.toml: gpus\[0\]\.count: expected at most 64, got 1000000$"
    ),
    "build.gpu-count-float.toml": (
        r"build\.gpu-count-float\.toml: gpus\[0\]\.count: expected an integer, got 4\.0$"
    ),
    "build.gpu-count-string.toml": (
        r"build\.gpu-count-string\.toml: gpus\[0\]\.count: expected an integer, got '4'; "
        r"write it without quotes$"
    ),
    "build.gpu-count-bool.toml": (
        r"build\.gpu-count-bool\.toml: gpus\[0\]\.count: expected an integer, got true$"
    ),
    "build.gpu-count-table.toml": (
        r"build\.gpu-count-table\.toml: gpus\[0\]\.count: expected an integer, got a table$"
    ),
    "build.gpu-cooler-enum.toml": (
        r"build\.gpu-cooler-enum\.toml: gpus\[0\]\.cooler: "
        r"expected 'open-air', 'blower', 'passive' or 'liquid', got 'water'$"
    ),
    "build.gpu-power-nan.toml": (
        r"build\.gpu-power-nan\.toml: gpus\[0\]\.power_w: expected a finite number, got nan$"
    ),
    "build.gpu-power-negative.toml": (
        r"build\.gpu-power-negative\.toml: gpus\[0\]\.power_w: expected more than 0, got -250$"
    ),
    "build.gpu-pcie-lanes-3.toml": (
        r"build\.gpu-pcie-lanes-3\.toml: gpus\[0\]\.pcie_lanes: "
        r"expected 1, 2, 4, 8 or 16, got 3$"
    ),
    "build.gpu-slot-width-absurd.toml": (
        r"build\.gpu-slot-width-absurd\.toml: gpus\[0\]\.slot_width: expected at most 5, got 10$"
    ),
    "build.gpus-as-table.toml": (
        r"build\.gpus-as-table\.toml: gpus: expected an array of tables, written \[\[gpus\]\], "
        r"got a table$"
    ),
    # [motherboard]
    "build.mobo-slot-lanes-3.toml": (
        r"build\.mobo-slot-lanes-3\.toml: motherboard\.gpu_slot_lanes\[1\]: "
        r"expected 1, 2, 4, 8 or 16, got 3$"
    ),
    "build.mobo-slot-lanes-string.toml": (
        r"build\.mobo-slot-lanes-string\.toml: motherboard\.gpu_slot_lanes: "
        r"expected an array, got '16,8,8,8'$"
    ),
    "build.mobo-slot-lanes-table.toml": (
        r"build\.mobo-slot-lanes-table\.toml: motherboard\.gpu_slot_lanes: "
        r"expected an array, got a table$"
    ),
    "build.mobo-unknown-key.toml": (
        r"build\.mobo-unknown-key\.toml: motherboard\.expansion_slot: unknown key; "
        r"did you mean 'expansion_slots'\?$"
    ),
    "build.mobo-expansion-slots-zero.toml": (
        r"build\.mobo-expansion-slots-zero\.toml: motherboard\.expansion_slots: "
        r"expected at least 1, got 0$"
    ),
    "build.mobo-pcie-gen-string.toml": (
        r"build\.mobo-pcie-gen-string\.toml: motherboard\.pcie_gen: "
        r"expected an integer, got '3\.0'$"
    ),
    # [psu]
    "build.psu-watts-missing.toml": (
        r"build\.psu-watts-missing\.toml: psu\.watts: required key is missing$"
    ),
    "build.psu-watts-typo.toml": (
        r"build\.psu-watts-typo\.toml: psu\.wats: unknown key; did you mean 'watts'\?$"
    ),
    "build.psu-watts-absurd.toml": (
        r"build\.psu-watts-absurd\.toml: psu\.watts: expected at most 20000, got 1000000000\.0$"
    ),
    "build.psu-watts-zero.toml": (
        r"build\.psu-watts-zero\.toml: psu\.watts: expected more than 0, got 0$"
    ),
    "build.psu-watts-negative.toml": (
        r"build\.psu-watts-negative\.toml: psu\.watts: expected more than 0, got -1600$"
    ),
    "build.psu-watts-string.toml": (
        r"build\.psu-watts-string\.toml: psu\.watts: expected a number, got '1600W'$"
    ),
    "build.psu-watts-bool.toml": (
        r"build\.psu-watts-bool\.toml: psu\.watts: expected a number, got true$"
    ),
    "build.psu-watts-inf.toml": (
        r"build\.psu-watts-inf\.toml: psu\.watts: expected a finite number, got inf$"
    ),
    "build.psu-watts-nan.toml": (
        r"build\.psu-watts-nan\.toml: psu\.watts: expected a finite number, got nan$"
    ),
    "build.psu-watts-date.toml": (
        r"build\.psu-watts-date\.toml: psu\.watts: expected a number, got 2015-06-01$"
    ),
    "build.psu-rating-enum.toml": (
        r"build\.psu-rating-enum\.toml: psu\.rating: expected 'none', 'white', 'bronze', "
        r"'silver', 'gold', 'platinum' or 'titanium', got 'golden'; did you mean 'gold'\?$"
    ),
    "build.psu-atx3-string.toml": (
        r"build\.psu-atx3-string\.toml: psu\.atx3: expected true or false, got 'no'$"
    ),
    "build.psu-pcie8-negative.toml": (
        r"build\.psu-pcie8-negative\.toml: psu\.pcie_8pin: expected at least 0, got -1$"
    ),
    "build.psu-as-array.toml": (
        r"build\.psu-as-array\.toml: psu: expected a table \[psu\], got an array$"
    ),
    "build.psu-scalar.toml": r"build\.psu-scalar\.toml: psu: expected a table \[psu\], got 1600$",
    # [[storage]]
    "build.storage-kind-missing.toml": (
        r"build\.storage-kind-missing\.toml: storage\[0\]\.kind: required key is missing$"
    ),
    "build.storage-kind-enum.toml": (
        r"build\.storage-kind-enum\.toml: storage\[0\]\.kind: "
        r"expected 'hdd', 'sata-ssd', 'nvme' or 'network', got 'ssd'; did you mean 'sata-ssd'\?$"
    ),
    "build.storage-read-zero.toml": (
        r"build\.storage-read-zero\.toml: storage\[0\]\.read_mbs: expected more than 0, got 0$"
    ),
    "build.storage-holds-data-int.toml": (
        r"build\.storage-holds-data-int\.toml: storage\[0\]\.holds_data: "
        r"expected true or false, got 1$"
    ),
    "build.storage-unknown-key.toml": (
        r"build\.storage-unknown-key\.toml: storage\[0\]\.read_mb: unknown key; "
        r"did you mean 'read_mbs'\?$"
    ),
    "build.storage-as-table.toml": (
        r"build\.storage-as-table\.toml: storage: expected an array of tables, "
        r"written \[\[storage\]\], got a table$"
    ),
    # [case]
    "build.case-length-string.toml": (
        r"build\.case-length-string\.toml: case\.max_gpu_length_mm: "
        r"expected a number, got '330mm'$"
    ),
    "build.case-unknown-key.toml": (
        r"build\.case-unknown-key\.toml: case\.max_gpu_length: unknown key; "
        r"did you mean 'max_gpu_length_mm'\?$"
    ),
    "build.case-slots-zero.toml": (
        r"build\.case-slots-zero\.toml: case\.expansion_slots: expected at least 1, got 0$"
    ),
    # [power]
    "build.power-voltage-low.toml": (
        r"build\.power-voltage-low\.toml: power\.mains_voltage: expected at least 90, got 12$"
    ),
    "build.power-currency-empty.toml": (
        r"build\.power-currency-empty\.toml: power\.currency: "
        r"expected a non-empty string, got ''$"
    ),
    "build.power-unknown-key.toml": (
        r"build\.power-unknown-key\.toml: power\.price_per_kw: unknown key; "
        r"did you mean 'price_per_kwh'\?$"
    ),
    "build.power-price-negative.toml": (
        r"build\.power-price-negative\.toml: power\.price_per_kwh: "
        r"expected at least 0, got -0\.2$"
    ),
    "build.power-other-absurd.toml": (
        r"build\.power-other-absurd\.toml: power\.other_w: "
        r"expected at most 20000, got 1000000000\.0$"
    ),
    # [workload]
    "build.workload-batch-zero.toml": (
        r"build\.workload-batch-zero\.toml: workload\.batch_size: expected at least 1, got 0$"
    ),
    "build.workload-batch-float.toml": (
        r"build\.workload-batch-float\.toml: workload\.batch_size: "
        r"expected an integer, got 128\.5$"
    ),
    "build.workload-step-inf.toml": (
        r"build\.workload-step-inf\.toml: workload\.step_time_s: "
        r"expected a finite number, got inf$"
    ),
    "build.workload-hours-negative.toml": (
        r"build\.workload-hours-negative\.toml: workload\.hours: "
        r"expected more than 0, got -336$"
    ),
    "build.workload-unknown-key.toml": (
        r"build\.workload-unknown-key\.toml: workload\.num_worker: unknown key; "
        r"did you mean 'num_workers'\?$"
    ),
    # a union field (true / false or a word): one error at the field's own key
    "build.workload-checkpointing-word.toml": (
        r"build\.workload-checkpointing-word\.toml: workload\.checkpointing: expected true, "
        r"false, 'none', 'full', 'selective' or 'offload', got 'offlod'; "
        r"did you mean 'offload'\?$"
    ),
    "build.workload-checkpointing-quoted.toml": (
        r"build\.workload-checkpointing-quoted\.toml: workload\.checkpointing: "
        r"expected true or false, got 'true'; write it without quotes$"
    ),
    "build.workload-as-array.toml": (
        r"build\.workload-as-array\.toml: workload: expected a table \[workload\], "
        r"got an array$"
    ),
    # workload naming a model for the estimator (gpu-memory)
    "build.workload-unknown-model.toml": (
        r"build\.workload-unknown-model\.toml: workload\.model: unknown model 'llama-3-9b'; "
        r"did you mean 'llama-3-8b'"
    ),
    "build.workload-task-without-model.toml": (
        r"build\.workload-task-without-model\.toml: workload\.model: required with workload\.task"
    ),
    "build.workload-model-without-task.toml": (
        r"build\.workload-model-without-task\.toml: workload\.task: required with workload\.model: "
        r"one of 'train', 'lora', 'qlora', 'infer'$"
    ),
    "build.workload-task-enum.toml": (
        r"build\.workload-task-enum\.toml: workload\.task: expected 'train', 'lora', 'qlora' or "
        r"'infer', got 'finetune'$"
    ),
    "build.workload-loss-enum.toml": (
        r"build\.workload-loss-enum\.toml: workload\.loss: expected 'standard', 'chunked' or "
        r"'fused', got 'chunk'; did you mean 'chunked'\?$"
    ),
    "build.workload-zero-out-of-range.toml": (
        r"build\.workload-zero-out-of-range\.toml: workload\.zero: expected 0, 1, 2 or 3, got 4$"
    ),
    "build.workload-zero-quoted.toml": (
        r"build\.workload-zero-quoted\.toml: workload\.zero: expected 0, 1, 2 or 3, got '3'; "
        r"write it without quotes$"
    ),
    "build.workload-seq-len-negative.toml": (
        r"build\.workload-seq-len-negative\.toml: workload\.seq_len: expected at least 1, got -2048$"
    ),
}


def check_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run `dlrig`, assert exit 2 / one stderr line / empty stdout / no traceback; the line."""
    code = run(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert code == 2, err
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert err.endswith("\n")
    assert lines[0].startswith("dlrig: error: "), err
    return lines[0]


def test_every_bad_file_is_in_the_table() -> None:
    on_disk = {p.name for p in BAD.iterdir()}
    assert on_disk == set(CASES), (
        f"not in CASES: {sorted(on_disk - set(CASES))}; "
        f"no such file: {sorted(set(CASES) - on_disk)}"
    )


def test_corpus_is_big_enough() -> None:
    assert len(CASES) >= 50


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_build_file(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = BAD / name
    line = check_one_line(["check", str(path)], capsys)
    assert line.startswith(f"dlrig: error: {path}: "), line
    assert re.search(CASES[name], line), f"\n{line}\ndoes not match\n{CASES[name]}"


@pytest.mark.parametrize("fmt", ["json", "markdown", "terminal"])
def test_bad_input_is_the_same_for_every_format(
    fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = BAD / "build.psu-watts-typo.toml"
    line = check_one_line(["check", "--format", fmt, str(path)], capsys)
    assert line.endswith("psu.wats: unknown key; did you mean 'watts'?")


def test_bad_input_does_not_write_the_output_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.json"
    check_one_line(["check", "-f", "json", "-o", str(out), str(BAD / "build.empty.toml")], capsys)
    assert not out.exists()


# --------------------------------------------------------------- cases made in tmp_path


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "build.nope.toml"
    line = check_one_line(["check", str(path)], capsys)
    assert line == f"dlrig: error: {path}: file not found"


def test_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = check_one_line(["check", str(tmp_path)], capsys)
    assert line == f"dlrig: error: {tmp_path}: is a directory; expected a TOML build file"


def test_binary_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "build.binary.toml"
    path.write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00" + bytes(range(256)))
    line = check_one_line(["check", str(path)], capsys)
    assert line == f"dlrig: error: {path}: binary content; expected a UTF-8 TOML text file"


def test_non_utf8_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "build.latin1.toml"
    path.write_bytes('name = "Müller\'s rig"\n[psu]\nwatts = 1600\n'.encode("latin-1"))
    line = check_one_line(["check", str(path)], capsys)
    assert re.fullmatch(
        rf"dlrig: error: {re.escape(str(path))}: not UTF-8 text \(byte 9\); "
        r"expected a UTF-8 TOML file",
        line,
    )


def test_utf16_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "build.utf16.toml"
    path.write_bytes("[psu]\nwatts = 1600\n".encode("utf-16"))
    line = check_one_line(["check", str(path)], capsys)
    assert f"{path}: " in line
    assert "UTF-8" in line


def test_too_large_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "build.huge.toml"
    path.write_text("# padding\n" * 200_000 + "[psu]\nwatts = 1600\n")
    line = check_one_line(["check", str(path)], capsys)
    assert re.fullmatch(rf"dlrig: error: {re.escape(str(path))}: \d+ bytes is too large.*", line)


def test_deeply_nested_toml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "build.deep.toml"
    path.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    line = check_one_line(["check", str(path)], capsys)
    assert line == f"dlrig: error: {path}: not valid TOML: nested too deeply"


def test_file_name_too_long(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / ("x" * 5000 + ".toml")
    line = check_one_line(["check", str(path)], capsys)
    assert line.startswith(f"dlrig: error: {path}: ")


def test_typo_with_other_problems_counts_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The unknown key comes first; the missing key it stands for is not counted again."""
    path = tmp_path / "build.two.toml"
    path.write_text('[psu]\nwats = 1600\nrating = "golden"\n')
    line = check_one_line(["check", str(path)], capsys)
    assert line.endswith("psu.wats: unknown key; did you mean 'watts'? (and 1 more problem)")
