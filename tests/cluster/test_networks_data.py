"""networks.csv: the fabric rate table (read with the csv module, then through the loader)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from dlrig.catalog.load import networks

CSV = Path(__file__).resolve().parents[2] / "src" / "dlrig" / "catalog" / "data" / "networks.csv"
HEADER = (
    "id,name,fabric,scope,rdma,gbps_per_port,line_gbs,effective_gbs,latency_us,notes,source,"
    "confidence"
)
REQUIRED = {
    "ib-ndr", "ib-ndr200", "ib-hdr", "ib-hdr100", "ib-edr",
    "roce-100", "roce-200", "roce-400", "eth-10", "eth-25", "eth-100",
    "nvlink3", "nvlink4", "nvlink5", "pcie4-x16", "pcie5-x16",
}  # fmt: skip


def _rows() -> list[dict[str, str]]:
    with CSV.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_header_and_required_ids():
    assert CSV.read_text("utf-8").splitlines()[0] == HEADER
    ids = [r["id"] for r in _rows()]
    assert len(ids) == len(set(ids))
    assert set(ids) >= REQUIRED


@pytest.mark.parametrize("row", _rows(), ids=lambda r: r["id"])
def test_every_row_is_sourced_and_consistent(row):
    assert None not in row and all(v is not None for v in row.values())
    assert row["source"].strip()
    assert re.search(r"\[[VR]\]", row["confidence"])
    gbps, line, eff = (
        float(row["gbps_per_port"]),
        float(row["line_gbs"]),
        float(row["effective_gbs"]),
    )
    # line_gbs is the Gb/s line rate in bytes, one way
    assert line == pytest.approx(gbps / 8, rel=0.01)
    assert eff > 0
    if row["scope"] == "inter-node":
        # a NIC cannot beat its own line rate (NVLink SHARP can, on one node: nvlink4)
        assert eff <= line
    # RDMA is what InfiniBand and RoCE are for; TCP Ethernet and intra-node links carry none
    assert (row["rdma"] == "yes") == (row["fabric"] in ("infiniband", "roce"))


def test_loader_golden_rows():
    table = networks()
    assert set(table) == {r["id"] for r in _rows()}
    ndr = table["ib-ndr"]
    assert (ndr.gbps_per_port, ndr.line_gbs, ndr.effective_gbs, ndr.rdma) == (400, 50, 48, True)
    assert table["ib-hdr"].effective_gbs == 24  # nccl#1048: one HDR HCA reaches 24 GB/s
    assert table["ib-edr"].effective_gbs == 12.2  # nccl-tests#29
    assert table["eth-100"].rdma is False
    assert table["nvlink4"].line_gbs == 450
    assert table["pcie4-x16"].latency_us is None
