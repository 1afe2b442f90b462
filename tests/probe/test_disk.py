"""The disk probe: tiny real reads, the O_DIRECT fallback, and every way it can be unavailable."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from dlrig.probe import disk
from dlrig.probe.disk import probe_disk, read_uncached


def refuse_o_direct(path: str) -> int:
    raise OSError(errno.EINVAL, "Invalid argument")


def test_tiny_read_leaves_no_file(tmp_path: Path):
    info = probe_disk(tmp_path, test_mb=4)
    assert info.read_mbs and info.read_mbs > 0
    assert info.read_method in ("o_direct", "fadvise_dontneed", "cached")
    assert info.read_test_mb == pytest.approx(4.19, abs=0.01)  # one 4 MiB block
    assert info.unavailable["iops_4k"] == "measured in full mode only (drop --quick)"
    assert info.filesystem and info.mountpoint and info.shm_gb
    assert list(tmp_path.iterdir()) == []


def test_o_direct_refused_falls_back_to_fadvise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(disk, "_open_direct", refuse_o_direct)
    info = probe_disk(tmp_path, test_mb=4, iops_s=0.05)
    if info.filesystem in disk.RAM_FS:
        assert info.read_method == "cached"
    else:
        assert info.read_method == "fadvise_dontneed"
        assert "O_DIRECT refused" in (info.read_note or "")
        assert "posix_fadvise" in (info.read_note or "")
    assert info.iops_4k is None and "needs O_DIRECT" in info.unavailable["iops_4k"]


def test_ram_filesystem_is_marked_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    target = tmp_path / "f"
    target.write_bytes(b"x" * 8192)
    monkeypatch.setattr(disk, "_open_direct", refuse_o_direct)
    mbs, method, note = read_uncached(str(target), 8192, "tmpfs")
    assert method == "cached" and "memory speed" in note and mbs > 0


def test_other_open_errors_are_not_swallowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def denied(path: str) -> int:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(disk, "_open_direct", denied)
    info = probe_disk(tmp_path, test_mb=4)
    assert info.read_mbs is None
    assert info.unavailable["read_mbs"].endswith("Permission denied")


def test_iops_in_full_mode(tmp_path: Path):
    info = probe_disk(tmp_path, test_mb=4, iops_s=0.05)
    if info.read_method == "o_direct":
        assert info.iops_4k and info.iops_4k > 0
    else:
        assert "iops_4k" in info.unavailable


def test_unwritable_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def fail(target: int, nbytes: int, budget_s: float | None) -> int:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(disk, "_write_test_file", fail)
    info = probe_disk(tmp_path, test_mb=4)
    assert info.read_mbs is None
    assert (
        info.unavailable["read_mbs"]
        == f"cannot write or read a test file in {tmp_path}: Permission denied"
    )


def test_not_enough_free_space(tmp_path: Path):
    info = probe_disk(tmp_path, test_mb=10**12)
    assert info.read_mbs is None and "MB free; the test needs" in info.unavailable["read_mbs"]


def test_missing_shm(tmp_path: Path):
    info = probe_disk(tmp_path, test_mb=4, shm=tmp_path / "no-shm")
    assert info.shm_gb is None and "no-shm" in info.unavailable["shm_gb"]


def test_storage_kind():
    info = disk.DiskInfo(path="/x", network=True)
    disk._kind(info, "sda")
    assert info.kind == "network"
    info = disk.DiskInfo(path="/x", network=False, rotational=False)
    disk._kind(info, "nvme0n1")
    assert info.kind == "nvme"
    info = disk.DiskInfo(path="/x", network=False, rotational=True)
    disk._kind(info, "sdb")
    assert info.kind == "hdd"
    info = disk.DiskInfo(path="/x", network=False)
    disk._kind(info)
    assert info.kind is None and "kind" in info.unavailable


def test_write_budget_shortens_the_test_file(tmp_path: Path):
    target = tmp_path / "f"
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        written = disk._write_test_file(fd, 16 * disk.BLOCK_BYTES, budget_s=0.0)
        assert written == disk.SYNC_EVERY_BLOCKS * disk.BLOCK_BYTES  # stopped at the first sync
        assert target.stat().st_size == written
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        two = disk._write_test_file(fd, 2 * disk.BLOCK_BYTES, budget_s=0.0)
        assert two == 2 * disk.BLOCK_BYTES
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    ("network", "device", "rotational", "read_mbs", "method", "kind"),
    [
        # Issue 16: a VM's virtual disk flagged rotational, read at 1,743 MB/s, was called hdd.
        (False, "vda", True, 1743.0, "o_direct", "nvme"),
        (False, "sda", True, 580.0, "o_direct", "sata-ssd"),  # beyond any HDD, within SATA
        (False, "sda", True, 180.0, "o_direct", "hdd"),
        (False, "sda", False, 520.0, "o_direct", "sata-ssd"),
        (False, "sda", True, 1743.0, "cached", "hdd"),  # the page cache says nothing of the disk
        (False, "nvme0n1p1", False, 300.0, "o_direct", "nvme"),
        (True, "sda", None, 90.0, "fadvise_dontneed", "network"),
        (False, "dm-0", None, 180.0, "o_direct", None),  # no flag: HDD or SSD, unknown
        (False, "", None, None, None, None),
    ],
)
def test_kind_is_classified_from_the_measurement(
    network, device, rotational, read_mbs, method, kind
):
    got, how = disk.classify_kind(
        network=network, device=device, rotational=rotational, read_mbs=read_mbs, read_method=method
    )
    assert got == kind
    if kind is None:
        assert how.startswith("unknown")


def test_unknown_kind_is_said_in_the_build_file():
    from dlrig.probe.to_build import _storage

    info = disk.DiskInfo(path="/data", read_mbs=180.0, read_method="o_direct")
    disk._kind(info, "dm-0")
    text = "\n".join(_storage(info))
    assert "[[storage]]" not in text.replace("# [[storage]]", "")
    assert "unknown" in text and "# read_mbs = 180.0" in text
