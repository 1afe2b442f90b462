"""The control plane of a cluster probe: the launcher's key-value store (torchrun's TCPStore),
a heartbeat and watchdog thread per rank, and the diagnosis that names the node at fault.

Every rank writes `join/<rank>` (its node), `phase/<rank>` (the step it is entering) and bumps
`hb/<rank>` once a second. When a collective fails or times out, the rank reads these keys:
a rank whose heartbeat stopped died; a rank still beating but at an earlier step is stuck. The
first rank to know sets `abort`; every other rank's watchdog sees it within a second and exits
with the same one-line error, so a stuck rank does not outlive the job (no orphans). A rank that
loses the store (the process hosting it is gone) exits too.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from dlrig.model.cluster import Fault
from dlrig.probe.cluster.env import LaunchEnv

HEARTBEAT_S = 1.0
# A heartbeat that does not move for this many intervals means the process is gone.
DEAD_AFTER_BEATS = 3.5
EXIT_FAULT = 1


def printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)


def say(line: str) -> None:
    """One line on stderr, written at once (several ranks share a terminal)."""
    try:
        sys.stderr.write(printable(line) + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


@dataclass
class Control:
    """One rank's handle on the store, plus what it knows about the others."""

    env: LaunchEnv
    store: Any
    timeout_s: float
    step: int = 0
    phase: str = "rendezvous"
    nodes: dict[int, str] = field(default_factory=dict)
    # Re-entrant: the SIGTERM handler (run.py) reads the store from the main thread, which the
    # signal may have interrupted while it held this lock; a plain Lock deadlocks there and
    # torchrun then SIGKILLs the rank before it says which node failed.
    lock: threading.RLock = field(default_factory=threading.RLock)
    stop: threading.Event = field(default_factory=threading.Event)
    on_abort: Any = None  # called (with the reason) before a watchdog exit: rank 0's partial report
    aborting: bool = False

    # -- keys
    def _set(self, key: str, value: str) -> None:
        with self.lock:
            self.store.set(key, value)

    def _get(self, key: str) -> str | None:
        with self.lock:
            if not self.store.check([key]):
                return None
            return self.store.get(key).decode("utf-8", "replace")

    def put(self, key: str, value: str) -> None:
        self._set(key, value)

    def collect(self, prefix: str, timeout_s: float) -> list[str]:
        """Every rank's `prefix/<rank>`, in rank order; `TimeoutError` naming the ranks that
        did not write theirs in time (the caller's diagnosis says died or stuck)."""
        keys = [f"{prefix}/{r}" for r in range(self.env.world_size)]
        deadline = time.monotonic() + timeout_s
        while True:
            with self.lock:
                missing = [k for k in keys if not self.store.check([k])]
            if not missing:
                break
            if time.monotonic() > deadline:
                shown = ", ".join(k.rsplit("/", 1)[1] for k in missing[:16])
                raise TimeoutError(f"rank(s) {shown} sent no {prefix} within {timeout_s:g} s")
            time.sleep(0.05)
        return [self._get(k) or "" for k in keys]

    def enter(self, label: str) -> None:
        """Record the step this rank is entering (the diagnosis compares steps)."""
        self.step += 1
        self.phase = label
        self._set(f"phase/{self.env.rank}", json.dumps([self.step, label]))

    def node_of(self, rank: int | None) -> str | None:
        return None if rank is None else self.nodes.get(rank)

    def me(self) -> str:
        return f"node {self.env.node} (rank {self.env.rank})"

    # -- join
    def join(self) -> dict[int, str]:
        """Write this rank's node and wait (bounded) for every rank's; name who never joined."""
        info = {"node": self.env.node, "local_rank": self.env.local_rank, "pid": os.getpid()}
        self._set(f"join/{self.env.rank}", json.dumps(info))
        keys = [f"join/{r}" for r in range(self.env.world_size)]
        deadline = time.monotonic() + self.timeout_s
        while True:
            with self.lock:
                present = [k for k in keys if self.store.check([k])]
            if len(present) == len(keys):
                break
            if time.monotonic() > deadline:
                missing = sorted(set(range(self.env.world_size)) - {int(k[5:]) for k in present})
                self.nodes = self._read_nodes()
                shown = ", ".join(str(r) for r in missing[:16])
                raise ClusterFault(
                    f"rendezvous: rank(s) {shown} of {self.env.world_size} never joined within "
                    f"{self.timeout_s:g} s (their nodes did not start dlrig, or cannot reach "
                    f"{self.env.master_addr}:{self.env.master_port})",
                    [
                        Fault(rank=r, node=None, what="never joined", phase="rendezvous")
                        for r in missing
                    ],
                )
            time.sleep(0.05)
        self.nodes = self._read_nodes()
        return self.nodes

    def _read_nodes(self) -> dict[int, str]:
        out = {}
        for r in range(self.env.world_size):
            text = self._get(f"join/{r}")
            if text:
                try:
                    out[r] = str(json.loads(text)["node"])
                except (ValueError, KeyError, TypeError):
                    out[r] = f"rank{r}"
        return out

    # -- watchdog
    def start_watchdog(self) -> None:
        threading.Thread(target=self._watch, name="dlrig-watchdog", daemon=True).start()

    def _watch(self) -> None:
        beats = 0
        while not self.stop.wait(HEARTBEAT_S):
            try:
                beats += 1
                self._set(f"hb/{self.env.rank}", str(beats))
                reason = self._get("abort")
            except Exception as exc:  # the store's host is gone: nobody can coordinate any more
                if self.stop.is_set() or self.aborting:
                    return
                self.exit(
                    f"lost the rendezvous store at {self.env.master_addr}:{self.env.master_port} "
                    f"({type(exc).__name__}): the rank or launcher hosting it stopped; "
                    f"{self.me()} exits"
                )
                return
            if reason and not self.aborting:
                self.exit(f"{reason}; {self.me()} exits")
                return

    def exit(self, message: str) -> None:
        """The one-line error, rank 0's partial report if it can, then a hard exit (a process
        group with a dead peer can hang in its destructor)."""
        self.aborting = True
        say(f"dlrig: error: cluster probe: {message}")
        if self.on_abort is not None:
            try:
                self.on_abort(message)
            except Exception as exc:  # the partial report is best effort; the exit is not
                say(f"dlrig: error: could not write the partial report: {exc}")
        os._exit(EXIT_FAULT)

    def abort(self, message: str, faults: list[Fault] | None = None) -> None:
        """Tell every rank (first writer wins) and exit."""
        self.aborting = True
        try:
            with self.lock:
                if faults:
                    text = json.dumps([f.model_dump(mode="json") for f in faults])
                    self.store.compare_set("faults", "", text)
                self.store.compare_set("abort", "", message)
        except Exception:
            pass
        if not self.env.agent_store and self.env.rank == 0:
            # this process hosts the store: keep it up until every watchdog has read `abort`
            time.sleep(2 * HEARTBEAT_S)
        self.exit(message)

    # -- diagnosis
    def diagnose(self, exc: BaseException) -> tuple[str, list[Fault]]:
        """Who is at fault after a failed or timed-out collective, as one sentence."""
        self.aborting = True  # the watchdog must not race this rank to the exit
        try:
            first = self._beats()
            time.sleep(HEARTBEAT_S * DEAD_AFTER_BEATS)
            second = self._beats()
            steps = self._steps()
        except Exception:
            return (
                f"{self.phase} failed and the rendezvous store is gone ({_short(exc)})",
                [Fault(rank=None, node=None, what="failed", phase=self.phase)],
            )
        faults = []
        for r in range(self.env.world_size):
            if r == self.env.rank:
                continue
            if first.get(r) == second.get(r):
                faults.append(
                    Fault(rank=r, node=self.node_of(r), what="died", phase=_label(steps.get(r)))
                )
            elif steps.get(r, (0, ""))[0] < self.step:
                faults.append(
                    Fault(rank=r, node=self.node_of(r), what="stuck", phase=_label(steps.get(r)))
                )
        if not faults:
            return (
                f"{self.phase} failed on {self.me()}: {_short(exc)}",
                [Fault(rank=self.env.rank, node=self.env.node, what="failed", phase=self.phase)],
            )
        named = "; ".join(
            f"node {f.node or '?'} (rank {f.rank}) "
            + (
                "stopped responding (no heartbeat)"
                if f.what == "died"
                else f"is alive but stuck (its last step: {f.phase})"
            )
            for f in faults[:8]
        )
        more = f" and {len(faults) - 8} more" if len(faults) > 8 else ""
        return f"{named}{more}; this rank was in {self.phase}", faults

    def _beats(self) -> dict[int, str | None]:
        return {r: self._get(f"hb/{r}") for r in range(self.env.world_size)}

    def _steps(self) -> dict[int, tuple[int, str]]:
        out = {}
        for r in range(self.env.world_size):
            text = self._get(f"phase/{r}")
            if text:
                try:
                    step, label = json.loads(text)
                    out[r] = (int(step), str(label))
                except (ValueError, TypeError):
                    pass
        return out


def _label(step: tuple[int, str] | None) -> str:
    return step[1] if step else "start-up"


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:160]}"


class ClusterFault(Exception):
    def __init__(self, message: str, faults: list[Fault]) -> None:
        super().__init__(message)
        self.faults = faults


def connect(env: LaunchEnv, timeout_s: float) -> Any:
    """The launcher's store: torchrun's agent store (every rank a client), else one hosted by
    rank 0, as torch's `env://` rendezvous does, except that rank 0 does not wait for the
    others here (`join` does, and names who is missing). `DlrigError` if unreachable in time."""
    import torch.distributed as dist

    from dlrig.errors import DlrigError

    try:
        store = dist.TCPStore(
            env.master_addr,
            env.master_port,
            world_size=None,
            is_master=not env.agent_store and env.rank == 0,
            timeout=timedelta(seconds=timeout_s),
            wait_for_workers=False,
            multi_tenant=True,
        )
    except Exception as exc:
        raise DlrigError(
            f"probe --cluster: node {env.node} (rank {env.rank}) cannot reach the rendezvous at "
            f"{env.master_addr}:{env.master_port} within {timeout_s:g} s ({_short(exc)})"
        ) from None
    return dist.PrefixStore("dlrig/", store)
