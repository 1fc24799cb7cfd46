"""Simulated time vs wall-clock time for ``--speed``.

The fleet runs ``speed`` times faster than the wall clock from ``start_real`` on
(``sim = sim_start + (real - start_real) * speed``), and every timestamp the API reports is
mapped back to wall-clock time (``real = start_real + (sim - sim_start) / speed``), so a
collector using the wall clock sees a consistent fleet that simply moves faster.
``sim_start`` defaults to ``start_real`` (the fleet shows "now"); setting it replays the
model from another moment (tests, demos) while the API still reports wall-clock times.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from simulator.model import FleetModel, Snapshot


@dataclass
class LiveFleet:
    model: FleetModel
    speed: float = 1.0
    start_real: float = field(default_factory=time.time)
    sim_start: float | None = None

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError("speed must be > 0")
        if self.sim_start is None:
            self.sim_start = self.start_real

    @property
    def _sim0(self) -> float:
        assert self.sim_start is not None
        return self.sim_start

    def to_sim(self, real_ts: float) -> float:
        return self._sim0 + (real_ts - self.start_real) * self.speed

    def to_real(self, sim_ts: float) -> float:
        return self.start_real + (sim_ts - self._sim0) / self.speed

    def sim_now(self) -> float:
        return self.to_sim(time.time())

    def snapshot(self) -> Snapshot:
        """The fleet now; one snapshot per simulated second (cached by the model)."""
        return self.model.snapshot(float(math.floor(self.sim_now())))
