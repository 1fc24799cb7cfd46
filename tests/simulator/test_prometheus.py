"""A real Prometheus scrapes two simulated nodes; rate() gives back the model's rates."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from typing import Any

import pytest

from simulator.model import DAY_S, FleetModel
from simulator.server import ThreadedFleetServer

EVENING = 20_000 * DAY_S + 20 * 3600
# rate() over a 10 s window of 1 s scrapes, extrapolated by Prometheus; the model's listener
# counts drift a little within the window: 5 % covers both.
TOLERANCE = 0.05


def _query(url: str, promql: str, at: float) -> list[dict[str, Any]]:
    params = urllib.parse.urlencode({"query": promql, "time": f"{at:.3f}"})
    with urllib.request.urlopen(f"{url}/api/v1/query?{params}", timeout=10) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return list(body["data"]["result"])


@pytest.mark.timeout(120)
def test_prometheus_rate_of_outgoing_bytes_matches_model(prometheus_server: Any) -> None:
    model = FleetModel("platform-500", nodes=2)
    with ThreadedFleetServer(model, api_port=0, metrics_port=0, sim_start=EVENING) as server:
        prometheus = prometheus_server(server.metrics_targets, scrape_interval="1s")
        promql = 'sum by (instance) (rate(livekit_packet_bytes{direction="outgoing"}[10s]))'
        deadline = time.monotonic() + 60
        result: list[dict[str, Any]] = []
        at = time.time()
        while time.monotonic() < deadline:
            time.sleep(1.0)
            at = time.time() - 1.0
            result = _query(prometheus.url, promql, at)
            up = _query(prometheus.url, "count_over_time(up[10s])", at)
            if len(result) == 2 and up and min(float(r["value"][1]) for r in up) >= 10:
                break
        assert len(result) == 2, f"Prometheus has no rate for both nodes yet: {result}"
        port_to_node = {f"{server.host}:{port}": i for i, port in enumerate(server.metrics_ports)}
        window_mid_sim = server.fleet.to_sim(at - 5.0)
        expected = model.node_load(window_mid_sim)["bytes_out_per_s"]
        for series in result:
            node = port_to_node[series["metric"]["instance"]]
            got = float(series["value"][1])
            assert got == pytest.approx(float(expected.iloc[node]), rel=TOLERANCE), series
        # The node_id label matches the instance, and the room gauge is there.
        rooms = _query(prometheus.url, "livekit_room_total", at)
        assert {r["metric"]["node_id"] for r in rooms} == set(model.node_ids)
        cpu = _query(prometheus.url, "rate(process_cpu_seconds_total[10s])", at)
        assert len(cpu) == 2 and all("node_id" not in r["metric"] for r in cpu)
