"""Shared pieces of the reliability tests: an in-process simulated fleet, counts, and a
PostgreSQL cluster that can be stopped and started again on the same port."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from core.settings import LiveKitSource
from harness import realparts
from harness.realparts import PostgresServer, require
from simulator.model import DAY_S, FleetModel
from simulator.server import FleetServer

KEY, SECRET = "reliabilitykey", "reliability-secret-0123456789-abcdefghij"
EVENING = 20_000 * DAY_S + 20 * 3600  # live rooms in every audio scenario


@asynccontextmanager
async def fleet(scenario: str = "dj-radio", **kwargs: Any) -> AsyncIterator[FleetServer]:
    kwargs.setdefault("api_port", 0)
    kwargs.setdefault("metrics_port", 0)
    kwargs.setdefault("sim_start", EVENING)
    server = FleetServer(FleetModel(scenario, nodes=kwargs.pop("nodes", None)), api_key=KEY, api_secret=SECRET,
                         **kwargs)  # fmt: skip
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def livekit_source(url: str, name: str = "sim") -> LiveKitSource:
    return LiveKitSource(name=name, url=url, api_key=KEY, api_secret=SECRET)  # type: ignore[arg-type]


def count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def run(coro: Any, timeout_s: float = 150) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=timeout_s))


@dataclass
class StoppablePostgres:
    """A throwaway cluster of our own (never the shared one: we stop it)."""

    server: PostgresServer

    @classmethod
    def start(cls) -> StoppablePostgres:
        bindir = realparts.postgres_bindir()
        require(bindir is not None, "PostgreSQL binaries (apt package postgresql)")
        server = PostgresServer(_bindir=bindir)
        server._start_cluster()
        return cls(server)

    def _pg_ctl(self, *args: str) -> None:
        assert self.server._bindir is not None and self.server.workdir is not None
        argv = [str(self.server._bindir / "pg_ctl"), "-D", str(self.server.workdir / "data"), *args]
        result = subprocess.run(
            self.server._as_owner(argv), capture_output=True, text=True, timeout=90, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"pg_ctl {args[-1]} failed: {result.stderr or result.stdout}")

    def stop_server(self) -> None:
        self._pg_ctl("-m", "fast", "-w", "stop")

    def start_server(self) -> None:
        assert self.server.workdir is not None
        options = (
            f"-p {self.server.port} -k {self.server.workdir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._pg_ctl(
            "-l", str(Path(self.server.workdir) / "postgres.log"), "-w", "-t", "60", "-o", options, "start"
        )

    def close(self) -> None:
        self.server.stop()
