"""What each rank reads from the launcher's variables (probe/cluster/env.py)."""

from __future__ import annotations

import pytest

from dlrig.errors import DlrigError
from dlrig.probe.cluster.env import fake_probe_path, launch_env, node_name

BASE = {"RANK": "3", "WORLD_SIZE": "4", "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500"}


def test_torchrun_variables():
    env = launch_env(
        BASE
        | {"LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2", "GROUP_RANK": "1"}
        | {"TORCHELASTIC_USE_AGENT_STORE": "True", "DLRIG_CLUSTER_NODE_NAME": "sim{group_rank}"}
    )
    assert (env.rank, env.world_size, env.local_rank, env.group_rank) == (3, 4, 1, 1)
    assert env.agent_store and env.node == "sim1" and env.master_port == 29500


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"RANK": None}, "not launched by torchrun ($RANK unset)"),
        ({"RANK": "four"}, "$RANK='four': expected an integer"),
        ({"RANK": "4"}, "RANK=4 with WORLD_SIZE=4: expected RANK < WORLD_SIZE"),
        ({"MASTER_PORT": "70000"}, "MASTER_PORT=70000: expected 1 to 65535"),
        ({"DLRIG_CLUSTER_NODE_NAME": "n{host}"}, "expected text with optional {rank}"),
        ({"DLRIG_CLUSTER_NODE_NAME": "n\x1b[2J"}, "expected 1 to 64 printable characters"),
        ({"DLRIG_CLUSTER_NODE_NAME": "x" * 65}, "expected 1 to 64 printable characters"),
    ],
)
def test_bad_launch_variables(change, message):
    env = {k: v for k, v in (BASE | change).items() if v is not None}
    with pytest.raises(DlrigError) as err:
        launch_env(env)
    assert message in str(err.value)
    assert "\x1b" not in str(err.value)


def test_node_name_and_fake_probe_path():
    assert node_name("r{rank}-l{local_rank}", 5, 1, 2) == "r5-l1"
    assert node_name(None, 0, 0, 0)  # the host name
    assert fake_probe_path("sim1", {"DLRIG_CLUSTER_FAKE_PROBE": "d/{node}.json"}) == "d/sim1.json"
    assert fake_probe_path("sim1", {}) is None
