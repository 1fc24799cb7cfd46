"""The test and benchmark harness, apart from the product (not shipped in the wheel): real
components on loopback ports (realparts.py, alertmanager.py), a livekit-server with real
WebRTC clients (livekit.py), a browser's websocket client for a real ``streamlit run``
(streamlit_ws.py), a signed-in dashboard behind the shipped nginx (served.py) and the known
fixture fleet (fixture_store.py). Shared by tests/ and bench/; bench never imports tests."""
