"""`dlrig probe --cluster` for real, without a cluster: torchrun on this machine, gloo on the
CPU, every rank or launcher its own simulated node (DLRIG_CLUSTER_NODE_NAME), each node's probe
replayed from a dlrig.probe/1 file (DLRIG_CLUSTER_FAKE_PROBE); then a killed rank, a hung rank
and a rank that never joins (tests/cluster/fault_rank.py injects them). Every process must end
on its own within the stated timeout, and the report must say partial.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dlrig.probe.result import CpuInfo, DiskInfo, MemoryInfo, ProbeResult

ROOT = Path(__file__).resolve().parents[2]
FAULT_RANK = Path(__file__).with_name("fault_rank.py")
TIMEOUT_S = 5  # --timeout of the fault runs: every rank must be gone well within 3x this
pytestmark = pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun not on PATH")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fake_probes(tmp: Path, nodes: list[str], slow_disk: str | None = None) -> str:
    for name in nodes:
        probe = ProbeResult(
            quick=True,
            duration_s=1.0,
            cpu=CpuInfo(model="AMD Ryzen 9 7950X", cores_physical=16, threads=32),
            memory=MemoryInfo(total_gb=128.0, bandwidth_gbs=60.0),
            disk=DiskInfo(
                path="/data", kind="nvme", read_mbs=900.0 if name == slow_disk else 5000.0
            ),
            gpu_status="unavailable: no NVIDIA GPU",
        )
        (tmp / f"{name}.json").write_text(json.dumps(probe.to_json_dict()))
    return str(tmp / "{node}.json")


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def _wait_all(procs: list[subprocess.Popen], limit_s: float) -> list[int]:
    """Exit codes; any process still alive after limit_s is killed and fails the test."""
    deadline = time.monotonic() + limit_s
    codes = []
    for p in procs:
        try:
            codes.append(p.wait(timeout=max(0.1, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail(f"pid {p.pid} still running after {limit_s} s: an orphan")
    return codes


def test_torchrun_two_launchers_two_ranks_each(tmp_path):
    """The CPU run of the issue's 'done when', as two simulated nodes of two ranks (so all three
    scopes run): per-rank matmul, per-node probe, gloo bus bandwidth; the JSON is complete."""
    fake = _fake_probes(tmp_path, ["sim0", "sim1"])
    port = _port()
    out = tmp_path / "cluster.json"
    procs = []
    for node in (0, 1):
        cmd = [
            "torchrun", "--nnodes", "2", "--nproc-per-node", "2", "--node-rank", str(node),
            "--master-addr", "127.0.0.1", "--master-port", str(port),
            "-m", "dlrig", "probe", "--cluster", "--max-bytes", "16K", "--timeout", "60",
        ]  # fmt: skip
        if node == 0:
            cmd += ["-o", str(out), "--build-file", str(tmp_path / "cluster.toml")]
        env = _env(
            tmp_path, DLRIG_CLUSTER_NODE_NAME="sim{group_rank}", DLRIG_CLUSTER_FAKE_PROBE=fake
        )
        procs.append(
            subprocess.Popen(
                cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    codes = _wait_all(procs, 150)
    stdout = procs[0].stdout.read()
    assert codes == [0, 0], procs[0].stderr.read()[-2000:] + procs[1].stderr.read()[-2000:]
    data = json.loads(out.read_text())
    assert data["schema"] == "dlrig.cluster/1" and data["complete"] is True
    assert [n["node"] for n in data["nodes"]] == ["sim0", "sim1"]
    assert [n["ranks"] for n in data["nodes"]] == [[0, 1], [2, 3]]
    assert [n["disk_read_mbs"] for n in data["nodes"]] == [5000.0, 5000.0]  # from the fake probes
    assert all(r["matmul_tflops"] > 0 and r["device"] == "cpu" for r in data["ranks"])
    assert all(n["intra_busbw_gbs"] > 0 for n in data["nodes"])  # each node's own all-reduce
    scopes = {(s["op"], s["scope"]) for s in data["collectives"]}
    ops = ("all_reduce", "all_gather", "reduce_scatter", "send_recv")
    assert scopes == {(op, sc) for op in ops for sc in ("all", "intra-node", "inter-node")}
    for s in data["collectives"]:
        assert s["backend"] == "gloo"
        assert [p["size_bytes"] for p in s["points"]] == [1024, 2048, 4096, 8192, 16384]
        n = s["ranks"]
        factor = {"all_reduce": 2 * (n - 1) / n, "send_recv": 1.0}.get(s["op"], (n - 1) / n)
        for p in s["points"]:
            assert p["busbw_gbs"] == pytest.approx(p["algbw_gbs"] * factor, rel=1e-9)
    assert "sim1" in stdout and "busbw GB/s" in stdout
    from dlrig.cli import run

    # the cluster build file it wrote is one `check` reads: two nodes of one kind
    assert run(
        ["check", str(tmp_path / "cluster.toml"), "-f", "json", "-o", str(tmp_path / "c")]
    ) in (0, 1)
    checked = json.loads((tmp_path / "c").read_text())
    assert checked["nodes"] == 2 and [k["count"] for k in checked["node_kinds"]] == [2]


def _direct(tmp_path: Path, fault: str, n: int = 2) -> tuple[list[int], list[str], Path]:
    """n ranks started with the variables torchrun sets (each its own node), one faulty."""
    fake = _fake_probes(tmp_path, [f"sim{r}" for r in range(n)])
    port = _port()
    out = tmp_path / "partial.json"
    procs = []
    for r in range(n):
        env = _env(
            tmp_path,
            RANK=str(r), WORLD_SIZE=str(n), LOCAL_RANK="0", LOCAL_WORLD_SIZE="1", GROUP_RANK=str(r),
            MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), DLRIG_CLUSTER_NODE_NAME=f"sim{r}",
            DLRIG_CLUSTER_FAKE_PROBE=fake, DLRIG_TEST_FAULT=fault, DLRIG_TEST_ABSENT_UNTIL=str(out),
        )  # fmt: skip
        cmd = [sys.executable, str(FAULT_RANK), "probe", "--cluster", "--max-bytes", "8K"]
        cmd += ["--timeout", str(TIMEOUT_S), "-o", str(out)]
        procs.append(
            subprocess.Popen(
                cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    started = time.monotonic()
    codes = _wait_all(procs, 60)
    assert time.monotonic() - started < 60
    errs = [p.stderr.read() for p in procs]
    return codes, errs, out


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("dlrig: error:")]


def test_killed_rank(tmp_path):
    codes, errs, out = _direct(tmp_path, "kill:1:all_reduce")
    assert codes[1] == -9  # SIGKILL
    assert codes[0] == 1
    (line,) = _error_lines(errs[0])
    assert "node sim1 (rank 1) stopped responding (no heartbeat)" in line
    data = json.loads(out.read_text())
    assert data["complete"] is False and data["status"].startswith("partial: ")
    assert data["faults"] == [
        {"rank": 1, "node": "sim1", "what": "died", "phase": "gathering node results"}
    ]
    assert [n["node"] for n in data["nodes"]] == ["sim0", "sim1"]  # gathered before the kill


def test_killed_rank_under_one_torchrun(tmp_path):
    """One launcher, two ranks: torchrun SIGTERMs the survivor, which still names the dead rank
    (its heartbeat stopped) and leaves a partial report."""
    out = tmp_path / "partial.json"
    cmd = ["torchrun", "--nproc-per-node", "2", "--master-port", str(_port()), str(FAULT_RANK)]
    cmd += ["probe", "--cluster", "--max-bytes", "8K", "--timeout", "30", "-o", str(out)]
    env = _env(
        tmp_path,
        DLRIG_CLUSTER_NODE_NAME="sim{rank}",
        DLRIG_CLUSTER_FAKE_PROBE=_fake_probes(tmp_path, ["sim0", "sim1"]),
        DLRIG_TEST_FAULT="kill:1:all_reduce",
    )
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert _wait_all([proc], 90) != [0]
    (line,) = _error_lines(proc.stderr.read() + proc.stdout.read())
    assert "node sim0 (rank 0) stopped by SIGTERM" in line
    assert "node sim1 (rank 1) stopped responding (no heartbeat)" in line
    data = json.loads(out.read_text())
    assert data["complete"] is False
    assert [(f["node"], f["what"]) for f in data["faults"]] == [("sim1", "died")]


def test_hung_rank_every_rank_exits(tmp_path):
    codes, errs, out = _direct(tmp_path, "hang:1:all_gather")
    assert codes == [1, 1]  # the hung rank too: its watchdog sees the abort
    (line,) = _error_lines(errs[0])
    assert "node sim1 (rank 1) is alive but stuck (its last step: all_reduce" in line
    assert _error_lines(errs[1])  # one line from the stuck rank as well
    data = json.loads(out.read_text())
    assert not data["complete"]
    assert {(f["node"], f["what"]) for f in data["faults"]} == {("sim1", "stuck")}
    assert data["collectives"][0]["op"] == "all_reduce"  # what finished is kept


def test_rank_that_never_joins(tmp_path):
    codes, errs, out = _direct(tmp_path, "absent:1")
    # rank 0 gives up on rank 1 after the timeout; rank 1 starts late and either finds no
    # rendezvous (rank 0 hosted it and is gone: exit 2) or reads the abort (exit 1), within its
    # own timeout: no process is left
    assert codes[0] == 1 and codes[1] in (1, 2)
    (line,) = _error_lines(errs[0])
    assert f"rendezvous: rank(s) 1 of 2 never joined within {TIMEOUT_S} s" in line
    (late,) = _error_lines(errs[1])
    assert "node sim1 (rank 1)" in late
    data = json.loads(out.read_text())
    assert data["complete"] is False
    assert data["faults"][0]["what"] == "never joined"


def test_not_launched_by_torchrun(capsys):
    from dlrig.cli import run

    env_keys = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
    saved = {k: os.environ.pop(k) for k in env_keys if k in os.environ}
    try:
        assert run(["probe", "--cluster"]) == 2
    finally:
        os.environ.update(saved)
    err = capsys.readouterr().err
    assert "not launched by torchrun ($RANK unset); run it as: torchrun" in err
