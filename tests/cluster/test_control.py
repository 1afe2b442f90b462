"""The store handle's lock: a SIGTERM handler runs in the main thread between two bytecodes,
possibly while that thread holds the lock; reading the store from the handler must not hang
(was: a plain Lock deadlocked there, torchrun SIGKILLed the rank and no line named the node
that failed: tests/cluster/test_torchrun.py::test_killed_rank_under_one_torchrun, 1 run in 10)."""

from __future__ import annotations

import threading

from dlrig.probe.cluster.control import Control
from dlrig.probe.cluster.env import LaunchEnv


class DictStore:
    """The three TCPStore calls Control makes, on a dict."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def set(self, key: str, value: str) -> None:
        self.data[key] = value.encode()

    def get(self, key: str) -> bytes:
        return self.data[key]

    def check(self, keys: list[str]) -> bool:
        return all(k in self.data for k in keys)


def test_store_read_from_a_handler_while_the_thread_holds_the_lock():
    env = LaunchEnv(0, 2, 0, 2, 0, "127.0.0.1", 29500, False, "sim0")
    ctl = Control(env=env, store=DictStore(), timeout_s=5)
    ctl.put("faults", "[]")
    got: list[str | None] = []

    def main_thread_interrupted_inside_the_lock() -> None:
        with ctl.lock:  # where the signal lands
            got.append(ctl._get("faults"))  # what the handler then does

    worker = threading.Thread(target=main_thread_interrupted_inside_the_lock, daemon=True)
    worker.start()
    worker.join(timeout=5)
    assert not worker.is_alive(), "reading the store inside the held lock deadlocked"
    assert got == ["[]"]
