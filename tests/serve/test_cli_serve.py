"""`dlrig serve` as a process: it prints its address, serves the build it was given, refuses a
bad build file or a busy port with exit 2 before serving, warns off loopback, and stops
cleanly on Ctrl-C."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

pytest.importorskip("uvicorn", reason="dlrig serve needs uvicorn (pip install -e .)")

from dlrig.model.load import read_toml
from serve.server import ROOT, running

EXAMPLE = ROOT / "examples" / "llama3-8b-lora-4090.toml"


def get(url: str, host: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_serves_the_build_on_loopback_and_stops_on_ctrl_c():
    with running(str(EXAMPLE)) as (url, proc):
        assert url.startswith("http://127.0.0.1:")
        status, body = get(url + "api/build")
        assert status == 200
        assert json.loads(body) == {"build": read_toml(EXAMPLE, "x")}
        status, page = get(url)
        assert status == 200 and b'<script type="module" src="app.js">' in page
        # A page of another site whose name was rebound to 127.0.0.1 (DNS rebinding).
        port = url.rsplit(":", 1)[1].strip("/")
        assert get(url + "api/build", host=f"rebind.example:{port}")[0] == 400
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0


def test_bad_build_file_is_exit_2_before_serving(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[gpus]]\nmodel = "RTX 4090"\ncount = "two"\n')
    out = subprocess.run(
        [sys.executable, "-m", "dlrig", "serve", str(bad), "--no-browser"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert out.stderr == f"dlrig: error: {bad}: gpus[0].count: expected an integer, got 'two'\n"
    assert out.stdout == ""


def test_busy_port_is_exit_2():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "dlrig", "serve", "--no-browser", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 2
    assert f"--port {port}: cannot listen on 127.0.0.1" in out.stderr


def test_host_off_loopback_names_warns():
    with running("--host", "127.0.0.2") as (url, proc):
        assert url.startswith("http://127.0.0.2:")
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        assert "reachable from other machines" in (proc.stderr.read() if proc.stderr else "")


def test_serve_without_a_build_starts_empty():
    with running() as (url, _):
        assert json.loads(get(url + "api/build")[1]) == {"build": None}


def test_allowed_hosts_are_the_bound_address_and_loopback_names():
    import socket as _socket

    from dlrig.serve.run import allowed_hosts

    assert allowed_hosts("127.0.0.1") == ["127.0.0.1", "[::1]", "localhost"]
    assert allowed_hosts("::1") == ["127.0.0.1", "[::1]", "localhost"]  # IPv6 as Host carries it
    lan = allowed_hosts("192.168.1.20", ("mybox.lan",))
    assert lan == ["192.168.1.20", "mybox.lan"]  # no loopback names off loopback
    wildcard = allowed_hosts("0.0.0.0")
    assert _socket.gethostname() in wildcard and "localhost" in wildcard
    assert "*" not in "".join(wildcard)  # never "any host"
