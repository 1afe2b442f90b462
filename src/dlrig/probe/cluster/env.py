"""What the launcher (torchrun, or anything that sets its variables) tells each rank.

Simulated nodes on one machine: `DLRIG_CLUSTER_NODE_NAME` overrides the host name, with
`{rank}`, `{local_rank}` and `{group_rank}` replaced per rank (`sim{rank}` makes every rank its
own node); `DLRIG_CLUSTER_FAKE_PROBE` names a `dlrig.probe/1` JSON file (what `dlrig probe -f
json` prints) that a node's lead rank reports instead of probing, with `{node}` replaced by the
node's name. Both exist for tests and demos; a real cluster sets neither.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from dlrig.errors import DlrigError

NODE_NAME_ENV = "DLRIG_CLUSTER_NODE_NAME"
FAKE_PROBE_ENV = "DLRIG_CLUSTER_FAKE_PROBE"
MAX_NODE_NAME = 64
_REQUIRED = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
LAUNCH_HINT = "run it as: torchrun --nnodes N --nproc-per-node G -m dlrig probe --cluster"


@dataclass(frozen=True)
class LaunchEnv:
    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    group_rank: int
    master_addr: str
    master_port: int
    agent_store: bool  # torchrun's agent hosts the store (workers connect as clients)
    node: str


def _int(env: dict[str, str], key: str, default: int | None = None) -> int:
    text = env.get(key)
    if text is None:
        if default is None:
            raise DlrigError(f"probe --cluster: ${key} is not set; {LAUNCH_HINT}")
        return default
    try:
        value = int(text)
    except ValueError:
        raise DlrigError(f"probe --cluster: ${key}={text[:40]!r}: expected an integer") from None
    if value < 0:
        raise DlrigError(f"probe --cluster: ${key}={value}: expected at least 0")
    return value


def node_name(template: str | None, rank: int, local_rank: int, group_rank: int) -> str:
    """The node's name: the template with its placeholders filled, else the host name."""
    if not template:  # a host name is input too: no control characters into the report
        host = "".join(ch for ch in socket.gethostname() if ch.isprintable())
        return host[:MAX_NODE_NAME] or "localhost"
    try:
        name = template.format(rank=rank, local_rank=local_rank, group_rank=group_rank)
    except (KeyError, IndexError, ValueError):
        raise DlrigError(
            f"${NODE_NAME_ENV}={template[:40]!r}: expected text with optional {{rank}}, "
            "{local_rank} or {group_rank}"
        ) from None
    if not name or len(name) > MAX_NODE_NAME or not name.isprintable():
        raise DlrigError(
            f"${NODE_NAME_ENV}: expected 1 to {MAX_NODE_NAME} printable characters, "
            f"got {name[:40].encode('unicode_escape').decode()!r}"
        )
    return name


def launch_env(env: dict[str, str] | None = None) -> LaunchEnv:
    """The launcher's variables, or one `DlrigError` saying how to launch."""
    env = dict(os.environ if env is None else env)
    missing = [k for k in _REQUIRED if k not in env]
    if missing:
        raise DlrigError(
            f"probe --cluster: not launched by torchrun (${missing[0]} unset); " + LAUNCH_HINT
        )
    rank, world = _int(env, "RANK"), _int(env, "WORLD_SIZE")
    if world < 1 or rank >= world:
        raise DlrigError(
            f"probe --cluster: RANK={rank} with WORLD_SIZE={world}: expected RANK < WORLD_SIZE"
        )
    local_rank = _int(env, "LOCAL_RANK", 0)
    group_rank = _int(env, "GROUP_RANK", 0)
    port = _int(env, "MASTER_PORT")
    if not 0 < port < 65536:
        raise DlrigError(f"probe --cluster: MASTER_PORT={port}: expected 1 to 65535")
    return LaunchEnv(
        rank=rank,
        world_size=world,
        local_rank=local_rank,
        local_world_size=_int(env, "LOCAL_WORLD_SIZE", 1),
        group_rank=group_rank,
        master_addr=env["MASTER_ADDR"],
        master_port=port,
        agent_store=env.get("TORCHELASTIC_USE_AGENT_STORE", "").lower() == "true",
        node=node_name(env.get(NODE_NAME_ENV), rank, local_rank, group_rank),
    )


def fake_probe_path(node: str, env: dict[str, str] | None = None) -> str | None:
    template = (os.environ if env is None else env).get(FAKE_PROBE_ENV)
    return template.replace("{node}", node) if template else None
