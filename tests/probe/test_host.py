"""CPU, memory and cgroup probing from fixture files, and tiny real measurements."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from dlrig.probe import cgroup
from dlrig.probe.cpu import parse_size_kb, probe_cpu
from dlrig.probe.memory import (
    Dimm,
    channel_of,
    copy_gbs,
    fit_buffer_mb,
    parse_dmi17,
    probe_memory,
)
from probe_helpers import DATA

CGROUP = DATA / "cgroup"


def limits(name: str) -> tuple[cgroup.Limit, cgroup.Limit]:
    d = CGROUP / name
    text = (d / "proc_self_cgroup").read_text()
    return cgroup.cpu_quota(d / "fs", text), cgroup.memory_limit_bytes(d / "fs", text)


@pytest.mark.parametrize(
    ("name", "cpus", "memory_bytes"),
    [
        ("v2-limited", 4.0, 8 * 2**30),
        ("v2-namespaced", 1.5, None),
        ("v2-unlimited", None, None),
        ("v2-parent-limit", 2.0, 4 * 2**30),  # the pod's limit binds its container
        ("v1-limited", 2.5, 16 * 2**30),
        ("v1-unlimited", None, None),
    ],
)
def test_cgroup_limits(name: str, cpus: float | None, memory_bytes: int | None):
    cpu, mem = limits(name)
    assert cpu.value == cpus
    assert mem.value == memory_bytes
    if cpus is None:
        assert cpu.note.startswith("no limit")


def test_cgroup_garbage_is_a_reason_not_a_crash():
    cpu, mem = limits("garbage")
    assert cpu.value is None and cpu.note.startswith("unparsable cgroup cpu limit")
    assert mem.value is None and mem.note.startswith("unparsable cgroup memory limit")


def test_no_cgroup_at_all(tmp_path: Path):
    cpu = cgroup.cpu_quota(tmp_path, "")
    assert cpu.value is None and cpu.note == "no cpu cgroup for this process"
    assert cgroup.cpu_quota(tmp_path, "0::/\n").note.startswith("cgroup v2 cpu.max")


def test_usable_cpus_take_the_cgroup_quota():
    d = CGROUP / "v2-namespaced"
    info = probe_cpu(cgroup_root=d / "fs", proc_cgroup=(d / "proc_self_cgroup").read_text())
    assert info.cgroup_cpus == 1.5
    assert info.usable == 1.5  # min(affinity, quota, threads)
    assert info.affinity == len(os.sched_getaffinity(0))


def test_cpu_from_fixture_files(tmp_path: Path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: AMD EPYC 9554 64-Core Processor\nphysical id\t: 0\n\n"
        "processor\t: 1\nmodel name\t: AMD EPYC 9554 64-Core Processor\nphysical id\t: 1\n"
    )
    cache = tmp_path / "cpu" / "cpu0" / "cache"
    for i, (level, kind, size) in enumerate(
        [
            ("1", "Data", "32K"),
            ("1", "Instruction", "32K"),
            ("2", "Unified", "1024K"),
            ("3", "Unified", "32768K"),
        ]
    ):
        (cache / f"index{i}").mkdir(parents=True)
        for f, v in (("level", level), ("type", kind), ("size", size)):
            (cache / f"index{i}" / f).write_text(v + "\n")
    nodes = tmp_path / "node"
    for n in ("node0", "node1"):
        (nodes / n).mkdir(parents=True)
    info = probe_cpu(sys_cpu=tmp_path / "cpu", sys_node=nodes, cpuinfo=cpuinfo, proc_cgroup="")
    assert info.model == "AMD EPYC 9554 64-Core Processor"
    assert info.sockets == 2 and info.numa_nodes == 2
    assert (info.l1d_kb, info.l2_kb, info.l3_mb) == (32, 1024, 32)


def test_cpu_without_proc_or_sys(tmp_path: Path):
    info = probe_cpu(
        sys_cpu=tmp_path / "x", sys_node=tmp_path / "y", cpuinfo=tmp_path / "z", proc_cgroup=""
    )
    assert info.model is None and "cannot read" in info.unavailable["model"]
    assert info.numa_nodes is None and info.l3_mb is None and "l3_mb" in info.unavailable
    assert info.threads == os.cpu_count()  # what is readable is still there


def test_parse_size_kb():
    assert parse_size_kb("48K") == 48
    assert parse_size_kb("32M") == 32 * 1024
    assert parse_size_kb("weird") is None


def dmi17(size_mb: int, speed: int, configured: int, device: str = "", bank: str = "") -> bytes:
    """A type-17 entry as /sys/firmware/dmi/entries/17-*/raw holds it: formatted area, strings."""
    raw = bytearray(0x28)
    raw[0], raw[1] = 17, 0x28
    struct.pack_into("<H", raw, 0x0C, size_mb // 1024 if size_mb >= 1024 else size_mb | 0x8000)
    struct.pack_into("<H", raw, 0x15, speed)
    struct.pack_into("<H", raw, 0x20, configured)
    strings = [s for s in (device, bank) if s]
    raw[0x10] = 1 if device else 0
    raw[0x11] = (2 if device else 1) if bank else 0
    return bytes(raw) + b"".join(s.encode() + b"\0" for s in strings) + b"\0"


def test_parse_dmi17():
    d = parse_dmi17(dmi17(32768, 4800, 4400, "DIMM_A1", "BANK 0"))
    assert d == Dimm(32768, 4400, "DIMM_A1", "BANK 0")  # configured speed wins
    assert parse_dmi17(dmi17(512, 3200, 0)) == Dimm(512, 3200, "", "")
    assert parse_dmi17(dmi17(0, 0, 0, "DIMM_B2")) == Dimm(None, None, "DIMM_B2", "")  # empty
    assert parse_dmi17(b"\x10\x05") is None  # not a type-17 entry


@pytest.mark.parametrize(
    ("device", "bank", "channel"),
    [
        ("DIMM_A1", "BANK 0", "//A"),
        ("DIMM_A2", "BANK 1", "//A"),  # the second slot of channel A
        ("Controller1-ChannelA-DIMM0", "BANK 0", "/1/A"),  # DDR5 desktop: one per controller
        ("P1-DIMMC1", "P1_Node1_Channel2_Dimm0", "1//2"),
        ("CPU1_DIMM_B2", "NODE 1", "1//B"),
        ("ChannelB-DIMM1", "BANK 3", "//B"),
        ("Slot 3", "Bank 1", None),  # names that do not say
    ],
)
def test_channel_from_slot_names(device: str, bank: str, channel: str | None):
    assert channel_of(Dimm(16384, 3200, device, bank)) == channel


def test_dimms_from_fixture_entries(tmp_path: Path):
    slots = [
        dmi17(32768, 4800, 4800, "Controller0-ChannelA-DIMM0", "BANK 0"),
        dmi17(0, 0, 0, "Controller0-ChannelA-DIMM1", "BANK 0"),
        dmi17(32768, 4800, 4400, "Controller1-ChannelA-DIMM0", "BANK 0"),
    ]
    for i, entry in enumerate(slots):
        (tmp_path / f"17-{i}").mkdir()
        (tmp_path / f"17-{i}" / "raw").write_bytes(entry)
    info = probe_memory(buffer_mb=1, runs=1, threads=1, dmi_entries=tmp_path, proc_cgroup="")
    assert info.dimms_populated == 2 and info.dimm_speed_mts == 4400
    assert info.channels_populated == 2


def test_memory_tiny_measurement(tmp_path: Path):
    info = probe_memory(
        buffer_mb=4, runs=2, threads=2, dmi_entries=tmp_path / "none", proc_cgroup=""
    )
    assert info.total_gb and info.total_gb > 0
    assert info.bandwidth_gbs and info.bandwidth_1t_gbs
    assert info.bandwidth_gbs >= info.bandwidth_1t_gbs  # best of single and multi-threaded
    assert "dimm_speed_mts" in info.unavailable


def test_memory_buffer_too_large_is_unavailable(monkeypatch: pytest.MonkeyPatch):
    import psutil

    tiny = psutil.virtual_memory()._replace(available=300 * 10**6)
    monkeypatch.setattr(psutil, "virtual_memory", lambda: tiny)
    info = probe_memory(buffer_mb=256, runs=1, threads=1, proc_cgroup="")
    assert info.bandwidth_gbs is None
    assert (
        info.unavailable["bandwidth_gbs"] == "less than 512 MB of memory free for two copy buffers"
    )


def test_copy_buffers_fit_the_memory_budget():
    assert fit_buffer_mb(1024, None) == 1024
    assert fit_buffer_mb(1024, 256.0) == 1024
    assert fit_buffer_mb(1024, 2.0) == 250  # a 2 GB container: two 250 MB buffers
    assert fit_buffer_mb(1024, 0.4) is None  # 50 MB buffers would sit in the cache
    assert fit_buffer_mb(4, 0.4) == 4  # a small request is kept


def test_copy_gbs_counts_read_and_write():
    assert copy_gbs(1_000_000_000, 1.0) == 2.0  # STREAM Copy convention
