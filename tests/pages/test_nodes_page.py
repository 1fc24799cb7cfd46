"""The Nodes page: per-node table with headroom, one node's detail (AppTest)."""

from __future__ import annotations

from typing import Any

from streamlit.testing.v1 import AppTest

from tests.pages.conftest import PAGE_TIMEZONE, page_path

TIMEOUT_S = 30


def run_nodes(query: dict[str, str] | None = None) -> AppTest:
    app = AppTest.from_file(page_path("nodes"), default_timeout=TIMEOUT_S)
    for key, value in (query or {}).items():
        app.query_params[key] = value
    app.run()
    assert not app.exception, app.exception
    return app


def test_nodes_table_shows_load_quality_and_headroom(populated_store: dict[str, Any]) -> None:
    app = run_nodes()
    shown = {metric.label: metric.value for metric in app.metric}
    assert shown["Nodes up"] == "2 / 3"
    table = app.dataframe[0].value.set_index("Node")
    assert list(table.index) == ["node-c", "node-b", "node-a"]  # down first, then by peak CPU
    assert table.loc["node-c", "CPU status"] == "down"
    node_a = table.loc["node-a"]
    assert 35 <= node_a["CPU %"] <= 45
    assert node_a["Headroom to 70 % (pp)"] == 70 - node_a["CPU peak %"]
    assert node_a["API error %"] == 1.0  # 0.1 errors/s of 10 requests/s
    assert node_a["Join success %"] == 99.5
    assert node_a["Out Mbit/s"] == 40.0
    assert f"Last seen ({PAGE_TIMEZONE})" in table.columns
    for column in (
        "Packets out/s",
        "Packet loss p95 %",
        "Jitter p95 ms",
        "RTT p95 ms",
        "Quality score",
        "Memory %",
    ):
        assert column in table.columns


def test_node_detail_follows_the_url(populated_store: dict[str, Any]) -> None:
    app = run_nodes({"node": "2:node-b"})
    assert app.selectbox(key="nodes_node").value == "2:node-b"
    assert any(text.value == "Node: node-b" for text in app.text)
    assert app.query_params["node"] == "2:node-b"
    # One section of charts at a time: Load first (CPU, memory, participants and rooms).
    assert app.segmented_control(key="nodes_section").value == "Load"
    assert chart_titles(app) == ["CPU", "Memory", "Participants and rooms"]
    app.segmented_control(key="nodes_section").set_value("Network").run()
    assert not app.exception, app.exception
    assert chart_titles(app) == ["Bandwidth", "Packets", "Packet loss"]
    assert app.selectbox(key="nodes_node").value == "2:node-b"  # the pick survives the switch
    app.segmented_control(key="nodes_section").set_value("API").run()
    assert chart_titles(app) == ["API requests and errors"]


def chart_titles(app: AppTest) -> list[str]:
    import json

    return [json.loads(chart.proto.spec)["layout"]["title"]["text"] for chart in app.get("plotly_chart")]


def test_nodes_on_an_empty_store(empty_store: str) -> None:
    app = run_nodes()
    assert not app.dataframe
    # No Prometheus source anywhere: what node metrics need, not "pick a longer range".
    assert any("[[prometheus]]" in info.value for info in app.info)
    assert not any("longer time range" in info.value for info in app.info)


def test_missing_node_figures_read_no_data(populated_store: dict[str, Any]) -> None:
    """node-c is down: its figures are missing and read "no data", never "None" or "nan"."""
    from tests.pages.shown import displayed

    app = run_nodes()
    table = displayed(app.dataframe[0]).set_index("Node")
    assert table.loc["node-c", "CPU %"] == "no data"
    assert table.loc["node-c", "Memory %"] == "no data"
    assert table.loc["node-a", "Out Mbit/s"] == "40.0"
    texts = set(table.to_numpy().ravel())
    assert not texts & {"None", "nan", "NaN", "<NA>"}
