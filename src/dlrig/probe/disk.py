"""The disk under `--data-dir`: filesystem, block device, rotational or not, measured sequential
read without the page cache, random 4 KiB read IOPS (full mode) and the size of /dev/shm.

The read test writes a file of `test_mb` MB in the directory (less if writing takes longer than
`write_budget_s`: a slow share must not blow the quick mode's time), syncs it, and reads it back
with O_DIRECT into page-aligned buffers (an anonymous mmap), bypassing the page cache. Where the
filesystem refuses O_DIRECT (tmpfs, some FUSE and network filesystems) it drops the file's pages
with posix_fadvise(DONTNEED) and reads normally (`read_method = "fadvise_dontneed"`); where even
that cannot work (tmpfs lives in RAM) the reads are from memory and `read_method = "cached"` says
so. Cross-check: `fio --name=r --rw=read --bs=4M --direct=1 --size=256M --directory=PATH`.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import random
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from dlrig.probe.result import DiskInfo

BYTES_PER_MB = 1e6
BYTES_PER_GB = 1e9
BYTES_PER_TB = 1e12
BLOCK_BYTES = 4 * 1024 * 1024  # 4 MiB per read: large sequential requests, as fio --bs=4M
IOPS_BLOCK_BYTES = 4096
IOPS_BATCH = 256  # random reads between two looks at the clock
# The test runs only with this many times the file's size free, so it never fills the disk.
FREE_SPACE_FACTOR = 2
SYNC_EVERY_BLOCKS = 8  # flush every 32 MB while writing, so the time budget sees the disk
# Filesystems whose data lives on another machine (findmnt -t lists these types).
NETWORK_FS = {
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "fuse.sshfs", "lustre", "gpfs", "beegfs",
    "ceph", "fuse.ceph", "glusterfs", "fuse.glusterfs", "fuse.s3fs", "fuse.gcsfuse", "afs",
}  # fmt: skip
RAM_FS = {"tmpfs", "ramfs"}
SHM = Path("/dev/shm")
TEST_FILE_PREFIX = ".dlrig-probe-"
CLEANUP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

Progress = Callable[[float], None]


def _open_direct(path: str) -> int:
    """Open for O_DIRECT reads; tests replace this to simulate filesystems that refuse it."""
    return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_DIRECT", 0))


def probe_disk(
    path: Path,
    *,
    test_mb: float,
    iops_s: float | None = None,
    write_budget_s: float | None = None,
    shm: Path = SHM,
    progress: Progress | None = None,
) -> DiskInfo:
    info = DiskInfo(path=str(path))
    _mount(info, path)
    _block_device(info, path)
    try:
        info.size_tb = round(shutil.disk_usage(path).total / BYTES_PER_TB, 3)
    except OSError as exc:
        info.missing("size_tb", f"statvfs: {exc.strerror}")
    _read_speed(info, path, test_mb, iops_s, write_budget_s, progress)
    _kind(info)  # again: the measured read outranks the rotational flag
    try:
        info.shm_gb = round(shutil.disk_usage(shm).total / BYTES_PER_GB, 2)
    except OSError as exc:
        info.missing("shm_gb", f"{shm}: {exc.strerror or exc}")
    return info


def _mount(info: DiskInfo, path: Path) -> None:
    import psutil

    real = os.path.realpath(path)
    try:
        parts = psutil.disk_partitions(all=True)
    except OSError as exc:
        for f in ("filesystem", "mountpoint", "network"):
            info.missing(f, f"mount table: {exc}")
        return
    mine = [
        p for p in parts if real == p.mountpoint or real.startswith(p.mountpoint.rstrip("/") + "/")
    ]
    if not mine:
        for f in ("filesystem", "mountpoint", "network"):
            info.missing(f, f"no mount found for {real}")
        return
    best = max(mine, key=lambda p: len(p.mountpoint))
    info.filesystem, info.mountpoint = best.fstype, best.mountpoint
    info.network = best.fstype in NETWORK_FS or best.device.startswith("//")
    if best.device.startswith("/dev/"):
        info.device = best.device


def _block_device(info: DiskInfo, path: Path, sys_dev: Path = Path("/sys/dev/block")) -> None:
    dev = os.stat(path).st_dev
    if os.major(dev) == 0 and info.device:  # overlay and friends: try the mount's device
        with contextlib.suppress(OSError):
            dev = os.stat(info.device).st_rdev
    node = sys_dev / f"{os.major(dev)}:{os.minor(dev)}"
    try:
        real = node.resolve(strict=True)
    except OSError:
        reason = f"no block device for {path} ({info.filesystem or 'unknown'} filesystem)"
        info.missing("device", reason)
        info.missing("rotational", reason)
        _kind(info)
        return
    disk = real.parent if (real / "partition").exists() else real
    info.device = f"/dev/{real.name}"
    try:
        info.rotational = (disk / "queue" / "rotational").read_text().strip() == "1"
    except OSError as exc:
        info.missing("rotational", f"{disk.name}: queue/rotational unreadable: {exc.strerror}")
    _kind(info, disk.name)


# Fastest sequential read a hard disk reaches: dual-actuator drives (Seagate Exos 2X18 data sheet,
# 554 MB/s max sustained transfer, 2021) [R]; single-actuator 7200 rpm drives stay under 300.
HDD_MAX_READ_MBS = 554.0
# SATA III carries 6 Gb/s with 8b/10b coding: 600 MB/s of data at most (SATA-IO, SATA Revision
# 3.0, 2009) [R]. A disk read faster than this is not on SATA, whatever else it claims.
SATA_MAX_READ_MBS = 600.0


def classify_kind(
    *,
    network: bool | None,
    device: str,
    rotational: bool | None,
    read_mbs: float | None,
    read_method: str | None,
) -> tuple[str | None, str]:
    """(build file's storage kind or None, how it was told or why it cannot be).

    The measurement outranks the kernel's rotational flag: virtual disks often report 1, and a
    disk read faster than any hard disk (or than SATA) cannot be one. A read from the page cache
    says nothing about the disk.
    """
    if network:
        return "network", "network filesystem"
    if device.startswith("nvme"):
        return "nvme", "NVMe device"
    measured = read_mbs if read_method not in (None, "cached") else None
    if measured is not None and measured > SATA_MAX_READ_MBS:
        flag = "; the kernel's rotational flag says HDD: a virtual disk?" if rotational else ""
        return "nvme", (
            f"measured {measured:,.0f} MB/s, beyond SATA's {SATA_MAX_READ_MBS:,.0f} MB/s, so "
            f"NVMe-class{flag}"
        )
    if rotational and measured is not None and measured > HDD_MAX_READ_MBS:
        return "sata-ssd", (
            f"measured {measured:,.0f} MB/s, beyond any hard disk's {HDD_MAX_READ_MBS:,.0f} MB/s "
            "(the kernel's rotational flag says HDD: a virtual disk?)"
        )
    if rotational is not None:
        return ("hdd" if rotational else "sata-ssd"), "kernel's rotational flag"
    if measured is not None:
        return None, (
            f"unknown: no rotational flag, and {measured:,.0f} MB/s fits a hard disk or a SATA SSD"
        )
    return None, "unknown: neither a network filesystem nor a block device with queue info"


def _kind(info: DiskInfo, disk: str = "") -> None:
    """The build file's storage kind, from what was found (run again once the read is measured)."""
    kind, how = classify_kind(
        network=info.network,
        device=disk or (info.device or "").removeprefix("/dev/"),
        rotational=info.rotational,
        read_mbs=info.read_mbs,
        read_method=info.read_method,
    )
    info.kind, info.kind_basis = kind, how
    if kind is None:
        info.missing("kind", how.removeprefix("unknown: "))
    else:
        info.unavailable.pop("kind", None)


def _read_speed(
    info: DiskInfo,
    path: Path,
    test_mb: float,
    iops_s: float | None,
    write_budget_s: float | None,
    progress: Progress | None,
) -> None:
    nbytes = max(1, round(test_mb * BYTES_PER_MB / BLOCK_BYTES)) * BLOCK_BYTES
    try:
        free = shutil.disk_usage(path).free
    except OSError as exc:
        free = 0
        reason = f"statvfs: {exc.strerror}"
    else:
        need_mb = FREE_SPACE_FACTOR * nbytes / BYTES_PER_MB
        reason = f"only {free / BYTES_PER_MB:.0f} MB free; the test needs {need_mb:.0f} MB"
    if free < FREE_SPACE_FACTOR * nbytes:
        info.missing("read_mbs", reason)
        info.missing("iops_4k", reason)
        return
    try:
        with scratch_file(path) as (fd, name):
            _measure(info, fd, name, nbytes, iops_s, write_budget_s, progress)
    except OSError as exc:
        why = f"cannot write or read a test file in {path}: {exc.strerror or exc}"
        for f in ("read_mbs", "iops_4k"):
            info.unavailable.setdefault(f, why)
    finally:
        if progress:
            progress(1.0)


def _measure(
    info: DiskInfo,
    fd: int,
    target: str,
    nbytes: int,
    iops_s: float | None,
    write_budget_s: float | None,
    progress: Progress | None,
) -> None:
    nbytes = _write_test_file(fd, nbytes, write_budget_s)
    if progress:
        progress(0.4)
    mbs, method, note = read_uncached(str(target), nbytes, info.filesystem)
    if info.filesystem in RAM_FS:
        note = f"{info.filesystem} lives in RAM: this is memory speed, not a disk's"
    info.read_mbs, info.read_method, info.read_note = round(mbs, 1), method, note
    info.read_test_mb = round(nbytes / BYTES_PER_MB, 1)
    if progress:
        progress(0.7 if iops_s else 1.0)
    if not iops_s:
        info.missing("iops_4k", "measured in full mode only (drop --quick)")
    elif method != "o_direct":
        info.missing("iops_4k", f"needs O_DIRECT, which {info.filesystem} refused")
    else:
        info.iops_4k = round(random_read_iops(target, nbytes, iops_s))


@contextlib.contextmanager
def scratch_file(directory: Path) -> Iterator[tuple[int, str]]:
    """A new test file in `directory`, open for writing, removed when the block ends, also on
    SIGTERM, SIGINT and SIGHUP (a killed full probe would otherwise leave 1 GB behind).

    `tempfile.mkstemp` gives an unpredictable name and opens it with O_CREAT | O_EXCL (and
    O_NOFOLLOW), so a file or symlink planted in the data directory is never written through
    or truncated: at worst mkstemp picks another name. While the file exists, the signals'
    handlers remove it, put the previous handlers back and deliver the signal again, so the
    process ends (or, for SIGINT, raises KeyboardInterrupt) as it would have. A signal the
    process ignores (`nohup` ignores SIGHUP; a shell's background job, SIGINT) stays ignored:
    it would not end the probe, so it must not remove the file under the running test."""
    fd, name = tempfile.mkstemp(prefix=TEST_FILE_PREFIX, suffix=".tmp", dir=directory)
    previous: dict[int, Any] = {}

    def remove() -> None:
        with contextlib.suppress(OSError):
            os.unlink(name)

    def on_signal(signum: int, _frame: Any) -> None:
        remove()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        previous.clear()
        os.kill(os.getpid(), signum)  # now with the old handler: exit, or KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():  # handlers only go there
        for sig in CLEANUP_SIGNALS:
            if signal.getsignal(sig) is signal.SIG_IGN:
                continue
            old = signal.signal(sig, on_signal)
            previous[sig] = signal.SIG_DFL if old is None else old  # None: set outside Python
    try:
        yield fd, name
    finally:
        os.close(fd)
        remove()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _write_test_file(fd: int, nbytes: int, budget_s: float | None = None) -> int:
    """Write up to `nbytes` of incompressible data to `fd`, synced to the disk; stop early once
    `budget_s` seconds have passed (a slow network share). Returns the bytes written."""
    block = bytearray(os.urandom(BLOCK_BYTES))  # random: compressing filesystems cannot cheat
    t0, written = time.perf_counter(), 0
    for i in range(nbytes // BLOCK_BYTES):
        block[:8] = i.to_bytes(8, "little")  # no two blocks alike: no dedup either
        written += os.write(fd, block)
        if (i + 1) % SYNC_EVERY_BLOCKS == 0:
            os.fdatasync(fd)
            if budget_s is not None and time.perf_counter() - t0 > budget_s:
                break
    os.fsync(fd)
    return written


def read_uncached(target: str, nbytes: int, fstype: str | None) -> tuple[float, str, str | None]:
    """(MB/s, method, note) reading `target` sequentially without the page cache if possible."""
    try:
        fd = _open_direct(target)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
            raise
        return _read_after_fadvise(target, fstype, f"O_DIRECT refused ({exc.strerror})")
    buf = mmap.mmap(-1, BLOCK_BYTES)  # page-aligned, as O_DIRECT needs
    try:
        t0 = time.perf_counter()
        done = 0
        while done < nbytes:
            try:
                n = os.preadv(fd, [buf], done)
            except OSError as exc:
                if done == 0 and exc.errno == errno.EINVAL:  # flag accepted, reads refused
                    return _read_after_fadvise(target, fstype, "O_DIRECT reads refused (EINVAL)")
                raise
            if n <= 0:
                break
            done += n
        seconds = time.perf_counter() - t0
    finally:
        os.close(fd)
        buf.close()
    return done / seconds / BYTES_PER_MB, "o_direct", None


def _read_after_fadvise(target: str, fstype: str | None, why: str) -> tuple[float, str, str]:
    fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        if fstype in RAM_FS:
            method, note = "cached", f"{why}; {fstype} lives in RAM: this is memory speed"
        else:
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                method = "fadvise_dontneed"
                note = f"{why}; page cache dropped with posix_fadvise(DONTNEED) before reading"
            except (OSError, AttributeError) as exc:
                method, note = "cached", f"{why}; could not drop the page cache ({exc})"
        t0 = time.perf_counter()
        done = 0
        while chunk := os.read(fd, BLOCK_BYTES):
            done += len(chunk)
        seconds = time.perf_counter() - t0
    finally:
        os.close(fd)
    return done / seconds / BYTES_PER_MB, method, note


def random_read_iops(target: str, nbytes: int, seconds: float, seed: int = 0) -> float:
    """Random aligned 4 KiB O_DIRECT reads per second at queue depth 1 for `seconds`.

    Offsets are drawn up front and the clock is read once per batch, so the Python loop adds
    as little as possible to each read (compare `fio --rw=randread --bs=4k --direct=1`)."""
    rng = random.Random(seed)
    blocks = nbytes // IOPS_BLOCK_BYTES
    offsets = [rng.randrange(blocks) * IOPS_BLOCK_BYTES for _ in range(IOPS_BATCH)]
    buf = mmap.mmap(-1, IOPS_BLOCK_BYTES)
    bufs, preadv = [buf], os.preadv
    fd = _open_direct(target)
    try:
        count, t0 = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - t0) < seconds:
            for offset in offsets:
                preadv(fd, bufs, offset)
            count += len(offsets)
    finally:
        os.close(fd)
        buf.close()
    return count / elapsed
