"""The node's network ports, from sysfs (what `ibstat` and `ethtool` print): the bound an
inter-node collective is compared with."""

from __future__ import annotations

import re
from pathlib import Path

SYS = Path("/sys/class")
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*Gb/sec")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[:200].strip()
    except OSError:
        return None


def infiniband_ports(root: Path = SYS) -> list[tuple[str, float]]:
    """(device/port, Gb/s) of every ACTIVE InfiniBand or RoCE port ("400 Gb/sec (4X NDR)")."""
    out = []
    base = root / "infiniband"
    try:
        devices = sorted(p for p in base.iterdir() if p.is_dir())
    except OSError:
        return out
    for dev in devices[:64]:
        try:
            ports = sorted((dev / "ports").iterdir())[:8]
        except OSError:
            continue
        for port in ports:
            state, rate = _read(port / "state"), _read(port / "rate")
            match = _RATE.match(rate or "")
            if state and "ACTIVE" in state and match:
                out.append((f"{dev.name}/{port.name} {rate}", float(match.group(1))))
    return out


def node_nics(root: Path = SYS) -> tuple[list[str], float | None]:
    """Port descriptions and the sum of their rates in GB/s (None without RDMA ports)."""
    ports = infiniband_ports(root)
    if not ports:
        return [], None
    return [name for name, _ in ports], round(sum(g for _, g in ports) / 8, 3)
