"""CLI edges of the cluster features that need no launch: option checks of probe --cluster and
`check --measured` with a cluster report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dlrig.cli import run
from dlrig.cli.probe_cluster import parse_bytes
from dlrig.errors import DlrigError
from dlrig.model.cluster import BusPoint, CollectiveSeries, NodeFigures
from dlrig.probe.cluster import aggregate as agg

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cluster-8x-h100.toml"
TORCHRUN_ENV = {"RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}


def test_parse_bytes():
    assert parse_bytes("1K", "--x") == 1024
    assert parse_bytes("64M", "--x") == 64 << 20
    assert parse_bytes("1GiB", "--x") == 1 << 30
    for bad in ("1T", "-4", "lots", "2"):
        with pytest.raises(DlrigError):
            parse_bytes(bad, "--max-bytes")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "report.txt"], "-o report.txt: expected a name ending in .json"),
        (["--max-bytes", "1T"], "--max-bytes '1T': expected a size like"),
        (["--min-bytes", "64K", "--max-bytes", "1K"], "expected at least --min-bytes 64K"),
        (["--backend", "mpi"], "--backend mpi: expected auto, nccl or gloo"),
    ],
)
def test_probe_cluster_bad_options_exit_2(args, message, capsys, monkeypatch):
    for k, v in TORCHRUN_ENV.items():
        monkeypatch.setenv(k, v)
    assert run(["probe", "--cluster", *args]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and message in err


def test_markdown_only_with_cluster(capsys):
    assert run(["probe", "-f", "markdown"]) == 2
    assert "--format markdown: only with --cluster" in capsys.readouterr().err


def _report(nodes: int, busbw: float, complete: bool = True) -> dict:
    series = CollectiveSeries(
        op="all_reduce",
        scope="all",
        backend="nccl",
        ranks=8 * nodes,
        points=[BusPoint(size_bytes=1 << 30, time_us=1e4, algbw_gbs=busbw / 1.9, busbw_gbs=busbw)],
    )
    result = agg.assemble(
        world_size=8 * nodes,
        backend="nccl",
        nodes=[NodeFigures(node=f"n{i}", ranks=[i]) for i in range(nodes)],
        ranks=[],
        collectives=[series],
        faults=[],
        status=None if complete else "partial: test",
    )
    return result.to_json_dict()


def test_check_measured_replaces_the_table_figure(tmp_path, capsys):
    measured = tmp_path / "cluster.json"
    measured.write_text(json.dumps(_report(8, 120.0)))
    out = tmp_path / "r.json"
    assert run(
        ["check", str(EXAMPLE), "--measured", str(measured), "-f", "json", "-o", str(out)]
    ) in (0, 1)
    data = json.loads(out.read_text())
    assert data["measured_busbw_gbs"] == 120.0
    allreduce = next(f for f in data["findings"] if f["id"] == "cluster-allreduce")
    assert allreduce["numbers"]["network_gbs"]["value"] == 120.0
    assert allreduce["numbers"]["network_per_gpu_gbs"]["value"] == 15.0  # 8 GPUs share it
    assert "measured" in allreduce["message"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (lambda: _report(1, 100.0), "nodes: one node: no network between nodes was measured"),
        (lambda: _report(4, 100.0, complete=False), "complete: a partial report (partial: test)"),
        (lambda: {"schema": "dlrig.probe/1"}, "schema: expected 'dlrig.cluster/1'"),
        (lambda: '{"schema": "dlrig.cluster/1", "x": NaN}', "not valid JSON"),
    ],
)
def test_check_measured_refuses_what_is_not_a_multi_node_report(tmp_path, capsys, content, message):
    measured = tmp_path / "cluster.json"
    value = content()
    measured.write_text(value if isinstance(value, str) else json.dumps(value))
    assert run(["check", str(EXAMPLE), "--measured", str(measured)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and message in err, err


def test_measured_needs_a_cluster_file(capsys):
    single = Path(__file__).resolve().parents[2] / "examples" / "budget-1gpu.toml"
    assert run(["check", str(single), "--measured", "x.json"]) == 2
    assert "--measured: only for cluster files" in capsys.readouterr().err
