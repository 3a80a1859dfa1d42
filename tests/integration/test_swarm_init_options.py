"""``docker swarm init`` options round-trip: stored, reported by ``docker info`` and by the
swarm's inspection (``GET /swarm``, what the SDK's ``client.swarm.attrs`` reads), as dockerd
reports them."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.integration.conftest import Engine
from tests.integration.test_api_errors import call
from tests.integration.test_swarm_join import free_port, start_node


def test_swarm_init_options_are_kept_and_reported(tmp_path: Path) -> None:
    node = start_node(tmp_path, "solo")
    try:
        node.docker(
            "swarm", "init", "--listen-addr", f"127.0.0.1:{free_port()}",
            "--default-addr-pool", "10.30.0.0/16", "--default-addr-pool-mask-length", "26",
            "--data-path-port", "4242", "--task-history-limit", "7",
            "--dispatcher-heartbeat", "7s", "--cert-expiry", "48h", "--availability", "drain",
        )  # fmt: skip
        info = node.docker("info")
        for line in (
            "Default Address Pool: 10.30.0.0/16",
            "SubnetSize: 26",
            "Data Path Port: 4242",
            "Task History Retention Limit: 7",
            "Heartbeat Period: 7 seconds",
            "Expiry Duration: 2 days",
            "Heartbeat Tick: 1",  # the daemon's defaults, for ticks the CLI sends as 0
            "Election Tick: 10",
        ):
            assert line in info, line
        swarm = json.loads(node.docker("info", "--format", "{{json .Swarm.Cluster}}"))
        assert swarm["DefaultAddrPool"] == ["10.30.0.0/16"]
        assert (swarm["SubnetSize"], swarm["DataPathPort"]) == (26, 4242)
        spec = swarm["Spec"]
        assert spec["Orchestration"]["TaskHistoryRetentionLimit"] == 7
        assert spec["Dispatcher"]["HeartbeatPeriod"] == 7_000_000_000
        assert spec["CAConfig"]["NodeCertExpiry"] == 48 * 3600 * 1_000_000_000
        assert (spec["Raft"]["ElectionTick"], spec["Raft"]["HeartbeatTick"]) == (10, 1)
        availability = node.docker("node", "inspect", "self", "--format", "{{.Spec.Availability}}")
        assert availability.strip() == "drain"

        node.docker("swarm", "update", "--task-history-limit", "3")
        spec = json.loads(node.docker("info", "--format", "{{json .Swarm.Cluster.Spec}}"))
        assert spec["Orchestration"]["TaskHistoryRetentionLimit"] == 3
        assert spec["Dispatcher"]["HeartbeatPeriod"] == 7_000_000_000  # the rest kept
    finally:
        assert node.stop() == 0


async def test_docker_info_carries_every_field_of_the_api(engine: Engine) -> None:
    """Every field of the API's ``SystemInfo`` (what dockerd 20.10 reports beside the swarm),
    so tools that read ``docker info`` find them."""
    spec = yaml.safe_load((Path(__file__).parent / "docker-engine-api-v1.41.yaml").read_text())
    fields = set(spec["definitions"]["SystemInfo"]["properties"])
    status, info, _ = await call(engine, "GET", "/v1.41/info")
    assert status == 200 and isinstance(info, dict)
    assert fields <= set(info), sorted(fields - set(info))
    assert info["Plugins"] == {
        "Volume": [],
        "Network": ["bridge", "host", "null", "overlay"],
        "Authorization": [],
        "Log": ["json-file"],
    }
    assert info["Runtimes"] == {"swarmdeck": {"path": "swarmdeck"}}
    assert info["DefaultRuntime"] == "swarmdeck"
    assert int(str(info["NGoroutines"])) > 0 and int(str(info["NFd"])) > 0
    assert "Runtimes: swarmdeck" in engine.docker("info")
