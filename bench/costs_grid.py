"""Bench: price a grid of 10,000 scenarios under every model. Prints JSON."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics.costs import MODEL_IDS, price_grid
from analytics.ledger import REGIONS, VIDEO_TIERS
from analytics.prices import load_catalogue


def grid(rows: int, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "streams": rng.integers(1, 600, rows),
            "hours_per_day": rng.uniform(0.5, 24, rows),
            "days_per_month": rng.uniform(1, 31, rows),
            "listeners_per_stream": rng.uniform(0, 3000, rows),
            "publishers_per_stream": rng.integers(1, 4, rows),
            "audio_kbps": rng.choice([32, 64, 128, 192], rows),
            "video": rng.choice(VIDEO_TIERS, rows),
            "recording": rng.integers(0, 2, rows).astype(bool),
            "region": rng.choice(REGIONS, rows),
        }
    )


def main(rows: int = 10_000, repeats: int = 5) -> dict[str, object]:
    catalogue = load_catalogue()
    scenarios = grid(rows)
    price_grid(scenarios.head(10), catalogue)  # warm-up
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        priced = price_grid(scenarios, catalogue)
        timings.append(time.perf_counter() - start)
    return {
        "bench": "costs_grid",
        "scenarios": rows,
        "models": len(MODEL_IDS),
        "best_s": round(min(timings), 4),
        "median_s": round(float(np.median(timings)), 4),
        "goal_s": 1.0,
        "checksum_usd": round(float(priced.to_numpy().sum()), 2),
    }


if __name__ == "__main__":
    print(json.dumps(main()))
