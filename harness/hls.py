"""A real HLS pipeline on loopback (issue 17): ffmpeg (Debian) encodes a tone to HLS segments,
nginx (Debian) serves them and writes its access log, and ffmpeg clients listen.

Traps this works around (the issue 17 research notes, section 0): every ffmpeg client sends the same
User-Agent, so each gets ``-user_agent castmeter-test/<n>``; ffmpeg's HLS client sends
``Range: bytes=0-`` (nginx answers 206); a client whose encoder died ignores the first SIGINT,
so clients run under ``timeout -k 5 -s INT``.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.realparts import _tail, _which, free_port, nginx_path, stop_process, wait_nginx_listening


def ffmpeg_path() -> Path | None:
    return _which("FFMPEG_BIN", "/usr/bin/ffmpeg", "ffmpeg")


def timeout_path() -> Path | None:
    return _which("TIMEOUT_BIN", "/usr/bin/timeout", "timeout")


@dataclass
class HlsOrigin:
    base_url: str  # http://127.0.0.1:port
    access_log: Path
    workdir: Path
    process: subprocess.Popen[bytes]

    def error_log(self) -> str:
        return _tail(self.workdir / "error.log", 30)


def start_encoder(channel_dir: Path, *, segment_s: int = 1) -> subprocess.Popen[bytes]:
    """ffmpeg encoding a 440 Hz tone in real time to ``channel_dir/live.m3u8`` (6 segments kept)."""
    ffmpeg = ffmpeg_path()
    if ffmpeg is None:
        raise FileNotFoundError("ffmpeg (apt package ffmpeg) not found")
    channel_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [str(ffmpeg), "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi",
         "-i", "sine=frequency=440:sample_rate=48000", "-c:a", "aac", "-b:a", "64k",
         "-f", "hls", "-hls_time", str(segment_s), "-hls_list_size", "6", "-hls_flags", "delete_segments",
         "-hls_segment_filename", str(channel_dir / "live%d.ts"), str(channel_dir / "live.m3u8")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def wait_segments(
    playlist: Path, count: int, process: subprocess.Popen[bytes], timeout_s: float = 20.0
) -> None:
    """Until ``playlist`` lists ``count`` segments."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the encoder exited with {process.returncode}")
        if playlist.exists() and playlist.read_text().count("#EXTINF") >= count:
            return
        time.sleep(0.1)
    raise TimeoutError(f"{playlist} had fewer than {count} segments after {timeout_s}s")


@contextlib.contextmanager
def hls_origin(root: Path, workdir: Path) -> Iterator[HlsOrigin]:
    """nginx serving ``root`` on a free loopback port, its access log in nginx's default
    ``combined`` format at ``workdir/access.log``. Both directories must be readable by nginx's
    unprivileged workers."""
    binary = nginx_path()
    if binary is None:
        raise FileNotFoundError("nginx (apt package nginx) not found")
    port = free_port()
    temp = workdir / "temp"
    temp.mkdir(parents=True, exist_ok=True)
    for directory in (workdir, temp, root):
        directory.chmod(0o777 if directory == temp else 0o755)
    (workdir / "nginx.conf").write_text(
        f"worker_processes 1;\npid {workdir / 'nginx.pid'};\nerror_log {workdir / 'error.log'} warn;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        "    include /etc/nginx/mime.types;\n"
        "    types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }\n"
        f"    client_body_temp_path {temp}/body;\n    proxy_temp_path {temp}/proxy;\n"
        f"    fastcgi_temp_path {temp}/fastcgi;\n    uwsgi_temp_path {temp}/uwsgi;\n    scgi_temp_path {temp}/scgi;\n"
        "    server {\n"
        f"        listen 127.0.0.1:{port};\n"
        f"        root {root};\n"
        f"        access_log {workdir / 'access.log'} combined;\n"
        "        location ~ \\.m3u8$ { add_header Cache-Control no-cache; }\n"
        "    }\n"
        "}\n"
    )  # fmt: skip
    with (workdir / "nginx.out").open("wb") as out:
        process = subprocess.Popen(
            [str(binary), "-p", str(workdir), "-c", str(workdir / "nginx.conf"), "-e", str(workdir / "error.log"),
             "-g", "daemon off;"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    origin = HlsOrigin(f"http://127.0.0.1:{port}", workdir / "access.log", workdir, process)
    try:
        wait_nginx_listening(port, process, workdir, timeout_s=20.0)
        yield origin
    finally:
        stop_process(process, grace_s=10)


def start_client(playlist_url: str, number: int, seconds: float) -> subprocess.Popen[bytes]:
    """An ffmpeg HLS client (its own User-Agent ``castmeter-test/<number>``) listening for
    ``seconds``: SIGINT then, SIGKILL 5 s later (a client holding on a dead stream ignores the
    first SIGINT)."""
    ffmpeg, timeout = ffmpeg_path(), timeout_path()
    if ffmpeg is None or timeout is None:
        raise FileNotFoundError("ffmpeg and timeout (coreutils) are needed")
    return subprocess.Popen(
        [str(timeout), "-k", "5", "-s", "INT", f"{seconds:g}", str(ffmpeg), "-nostdin", "-loglevel", "error",
         "-user_agent", f"castmeter-test/{number}", "-i", playlist_url, "-f", "null", "-"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def crash(process: subprocess.Popen[bytes]) -> None:
    """Kill ``process`` as a crash would (no ``#EXT-X-ENDLIST`` written) and reap it."""
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def available() -> str | None:
    """What is missing for the pipeline, or None."""
    missing = [name for name, found in (("ffmpeg", ffmpeg_path()), ("nginx", nginx_path()),
                                        ("timeout", timeout_path())) if found is None]  # fmt: skip
    return ", ".join(missing) if missing else None


__all__ = ["HlsOrigin", "available", "crash", "hls_origin", "start_client", "start_encoder", "wait_segments"]
