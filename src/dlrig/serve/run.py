"""Start `dlrig serve`: bind the socket (a free port by default), print the address, open the
browser, serve until interrupted."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from typing import Any

from dlrig.errors import DlrigError
from dlrig.serve.app import LOOPBACK_NAMES, create_app

DEFAULT_HOST = "127.0.0.1"
# How long to wait for the server to start before printing its address (and opening the
# browser) anyway.
START_WAIT_S = 30.0


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free one the system picks)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise DlrigError(f"--host {host}: not an address this machine can bind ({exc})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise DlrigError(f"--port {port}: cannot listen on {host}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


WILDCARDS = ("0.0.0.0", "::", "")


def allowed_hosts(host: str, extra: tuple[str, ...] = ()) -> list[str]:
    """The Host header names served: the bound address, loopback names when it is one, and
    for a wildcard bind (0.0.0.0, ::) this machine's name and addresses, plus `extra` (the
    names others reach it by, --allow-host). Any other name is refused (DNS rebinding)."""
    names = {host, *extra}
    if host in LOOPBACK_NAMES or host in WILDCARDS:
        names.update(LOOPBACK_NAMES)
    if host in WILDCARDS:
        own = {socket.gethostname(), socket.getfqdn()}
        for name in list(own):
            with contextlib.suppress(OSError, UnicodeError):
                own.update(info[4][0] for info in socket.getaddrinfo(name, None))
        names.update(own)
    names.discard("")
    return sorted({n if ":" not in n or n.startswith("[") else f"[{n}]" for n in names})


def server_for(
    sock: socket.socket,
    host: str,
    initial_build: dict[str, Any] | None,
    extra_hosts: tuple[str, ...] = (),
) -> Any:
    """A uvicorn server for the app on `sock` (not started)."""
    import uvicorn

    hosts = allowed_hosts(host, extra_hosts)
    app = create_app(allowed_hosts=hosts, initial_build=initial_build)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    return uvicorn.Server(config)


def serve(
    host: str,
    port: int,
    initial_build: dict[str, Any] | None,
    open_browser: bool,
    extra_hosts: tuple[str, ...] = (),
) -> None:
    sock = bind(host, port)
    server = server_for(sock, host, initial_build, extra_hosts)
    url = url_of(sock)
    # The address is printed once the server has started: its Ctrl-C handling is in place then,
    # so whoever reads the line (a person, a script, a test) may stop it at once.
    threading.Thread(target=_announce, args=(server, url, open_browser), daemon=True).start()
    # Ctrl-C is how a server is stopped: uvicorn shuts down gracefully and then re-raises the
    # signal; that is a normal end here (exit 0), not an interrupted command (130).
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])
    sys.stdout.write("dlrig serve: stopped\n")


def _announce(server: Any, url: str, open_browser: bool) -> None:
    deadline = time.monotonic() + START_WAIT_S
    while not server.started and time.monotonic() < deadline:
        if server.should_exit:
            return
        time.sleep(0.02)
    sys.stdout.write(f"dlrig serve: {url}  (Ctrl-C stops it)\n")
    sys.stdout.flush()
    if open_browser:
        import webbrowser

        webbrowser.open(url)
