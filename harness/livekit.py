"""A real livekit-server on loopback, and real participants from the ``livekit`` Python SDK.

Used by the e2e tests (tests/e2e/) and by bench/livekit_calibrate.py. Everything listens on
127.0.0.1 only: the HTTP/WebSocket port, the Prometheus port, ICE/TCP and one UDP port (UDP
mux). Without ``interfaces.includes: [lo]`` + ``ips.includes: [127.0.0.1/32]`` +
``enable_loopback_candidate`` the server binds its UDP mux on the machine's other interfaces
(seen: 192.0.2.2 and fd00::2) and offers no loopback candidate.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
import subprocess
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from livekit import api, rtc

from harness.realparts import free_port, wait_http

SAMPLE_RATE_HZ = 48_000
FRAME_SAMPLES = 480  # 10 ms
API_KEY = "APIcastmeterE2E"
API_SECRET = "castmeter-e2e-secret-0123456789abcdefghijklmnop"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveKitServer:
    process: subprocess.Popen[bytes]
    http_port: int
    prometheus_port: int
    config_path: Path
    log_path: Path
    api_key: str = API_KEY
    api_secret: str = API_SECRET

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.http_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}/metrics"

    @property
    def metrics_target(self) -> str:
        return f"127.0.0.1:{self.prometheus_port}"

    def token(self, identity: str, room: str, *, publish: bool) -> str:
        grants = api.VideoGrants(room_join=True, room=room, can_publish=publish, can_subscribe=True)
        return (
            api.AccessToken(self.api_key, self.api_secret)
            .with_identity(identity)
            .with_grants(grants)
            .to_jwt()
        )

    def metrics_text(self) -> str:
        with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
            return str(response.read().decode())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def server_config(
    http_port: int, tcp_port: int, udp_port: int, prometheus_port: int, webhook_urls: Sequence[str],
    *, departure_timeout_s: int = 1, empty_timeout_s: int = 1,
) -> dict[str, Any]:  # fmt: skip
    config: dict[str, Any] = {
        "port": http_port,
        "bind_addresses": ["127.0.0.1"],
        "rtc": {
            "tcp_port": tcp_port,
            "udp_port": udp_port,
            "use_external_ip": False,
            "node_ip": "127.0.0.1",
            "enable_loopback_candidate": True,
            "interfaces": {"includes": ["lo"]},
            "ips": {"includes": ["127.0.0.1/32"]},
        },
        "keys": {API_KEY: API_SECRET},
        "prometheus": {"port": prometheus_port},
        # Short timeouts so room_finished comes within the test's bounded wait.
        "room": {"departure_timeout": departure_timeout_s, "empty_timeout": empty_timeout_s},
        "logging": {"level": "warn"},
    }
    if webhook_urls:
        config["webhook"] = {"api_key": API_KEY, "urls": list(webhook_urls)}
    return config


def start_livekit_server(
    binary: Path, workdir: Path, webhook_urls: Sequence[str] = (), *, ready_timeout_s: float = 30.0
) -> LiveKitServer:
    """Start livekit-server (no Redis: single-node routing) and wait until it answers."""
    workdir.mkdir(parents=True, exist_ok=True)
    last_error: Exception | None = None
    log_path = workdir / "livekit-server.log"
    for _attempt in range(3):  # a probed free port can be taken before the server binds it
        http_port, tcp_port, prometheus_port = free_port(), free_port(), free_port()
        udp_port = free_udp_port()
        config_path = workdir / "livekit.yaml"
        config_path.write_text(
            yaml.safe_dump(server_config(http_port, tcp_port, udp_port, prometheus_port, webhook_urls))
        )
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [str(binary), "--config", str(config_path)], stdout=log, stderr=subprocess.STDOUT, cwd=workdir
            )
        server = LiveKitServer(process, http_port, prometheus_port, config_path, log_path)
        try:
            wait_http(server.http_url + "/", ready_timeout_s, process=process)
            wait_http(server.metrics_url, ready_timeout_s, process=process)
            return server
        except (RuntimeError, TimeoutError) as exc:
            server.stop()
            last_error = exc
    tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-40:]) if log_path.exists() else ""
    raise RuntimeError(f"livekit-server did not start: {last_error}\n{tail}")


def start_node_exporter(binary: Path, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """prometheus-node-exporter on a free loopback port; returns (process, host:port)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = workdir / "node-exporter.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [str(binary), f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT
        )
    wait_http(f"http://127.0.0.1:{port}/metrics", 20, process=process)
    return process, f"127.0.0.1:{port}"


# ---------------------------------------------------------------------------------------------
# Participants
# ---------------------------------------------------------------------------------------------


def tone_frame(start_sample: int, frequency_hz: float, amplitude: float = 0.3) -> rtc.AudioFrame:
    t = (np.arange(FRAME_SAMPLES) + start_sample) / SAMPLE_RATE_HZ
    samples = (amplitude * 32767 * np.sin(2 * math.pi * frequency_hz * t)).astype(np.int16)
    return rtc.AudioFrame(samples.tobytes(), SAMPLE_RATE_HZ, 1, FRAME_SAMPLES)


@dataclass
class Participant:
    identity: str
    room_name: str
    room: rtc.Room
    publisher: bool
    source: rtc.AudioSource | None = None
    tone_task: asyncio.Task[None] | None = None
    subscribed: int = 0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def sent_rtp_bytes(self) -> int:
        """Bytes of RTP (payload + header) the publisher has sent so far, from WebRTC stats."""
        stats = await self.room.get_rtc_stats()
        total = 0
        for item in stats.publisher_stats:
            if item.HasField("outbound_rtp") and item.outbound_rtp.stream.kind == "audio":
                total += int(item.outbound_rtp.sent.bytes_sent) + int(
                    item.outbound_rtp.outbound.header_bytes_sent
                )
        return total

    async def leave(self) -> None:
        self._stop.set()
        if self.tone_task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self.tone_task, timeout=5)
        await asyncio.wait_for(self.room.disconnect(), timeout=10)


async def _send_tone(source: rtc.AudioSource, frequency_hz: float, stop: asyncio.Event, max_s: float) -> None:
    """Real-time paced (capture_frame waits while the source's queue is full), bounded."""
    sample = 0
    limit = int(max_s * SAMPLE_RATE_HZ)
    while not stop.is_set() and sample < limit:
        await source.capture_frame(tone_frame(sample, frequency_hz))
        sample += FRAME_SAMPLES


async def join(
    server: LiveKitServer, room_name: str, identity: str, *, publish: bool, frequency_hz: float = 440.0,
    max_tone_s: float = 300.0, connect_timeout_s: float = 20.0,
) -> Participant:  # fmt: skip
    room = rtc.Room()
    participant = Participant(identity, room_name, room, publish)

    @room.on("track_subscribed")
    def _on_subscribed(*_args: Any) -> None:
        participant.subscribed += 1

    await asyncio.wait_for(
        room.connect(server.ws_url, server.token(identity, room_name, publish=publish)),
        timeout=connect_timeout_s,
    )
    if publish:
        source = rtc.AudioSource(SAMPLE_RATE_HZ, 1)
        track = rtc.LocalAudioTrack.create_audio_track("tone", source)
        options = rtc.TrackPublishOptions()
        options.source = rtc.TrackSource.SOURCE_MICROPHONE
        await asyncio.wait_for(
            room.local_participant.publish_track(track, options), timeout=connect_timeout_s
        )
        participant.source = source
        participant.tone_task = asyncio.create_task(
            _send_tone(source, frequency_hz, participant._stop, max_tone_s)
        )
    return participant


async def wait_until(predicate: Any, timeout_s: float, what: str, interval_s: float = 0.1) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(interval_s)
    raise TimeoutError(f"timed out after {timeout_s}s waiting for {what}")


def metric_samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Sample name -> [(labels, value)] from a Prometheus text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
    return out
