"""Property tests: cost never falls when usage grows; LiveKit Cloud picks the cheapest eligible plan."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.costs import MODEL_IDS, price_grid
from analytics.prices import load_catalogue
from analytics.pricing_models import livekit_cloud
from analytics.pricing_models.base import UsageArrays

pytestmark = pytest.mark.slow  # hypothesis over the cost engine (1-4 s)

CAT = load_catalogue()

scenario = st.fixed_dictionaries(
    {
        "streams": st.integers(0, 600),
        "hours_per_day": st.floats(0, 24),
        "days_per_month": st.floats(0, 31),
        "listeners_per_stream": st.floats(0, 3000),
        "publishers_per_stream": st.floats(1, 4),
        "audio_kbps": st.sampled_from([32.0, 64.0, 128.0, 192.0]),
        "video": st.sampled_from(["none", "hd", "fullhd"]),
        "recording": st.booleans(),
        "region": st.sampled_from(["eu", "na", "apac", "india", "anz", "sa", "kr"]),
    }
)
GROWABLE = ("streams", "hours_per_day", "days_per_month", "listeners_per_stream", "publishers_per_stream")


@settings(max_examples=300, deadline=None)
@given(base=scenario, grow=st.sampled_from(GROWABLE), factor=st.floats(1.0, 5.0))
def test_cost_never_falls_when_usage_grows(base: dict[str, object], grow: str, factor: float) -> None:
    grown = dict(base)
    grown[grow] = float(base[grow]) * factor  # type: ignore[arg-type]
    if grow == "hours_per_day":
        grown[grow] = min(24.0, float(grown[grow]))  # type: ignore[arg-type]
    if grow == "days_per_month":
        grown[grow] = min(31.0, float(grown[grow]))  # type: ignore[arg-type]
    priced = price_grid(pd.DataFrame([base, grown]), CAT)
    for model_id in MODEL_IDS:
        before, after = priced[model_id].iloc[0], priced[model_id].iloc[1]
        assert after >= before - 1e-6 * max(1.0, before), (model_id, grow, before, after)


flows = st.floats(0, 5e7, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(
    publisher_min=flows, listener_min=flows, downstream_gb=st.floats(0, 1e5), egress_min=st.floats(0, 1e5),
    ingress_min=st.floats(0, 1e3), peak=st.floats(0, 8000),
)  # fmt: skip
def test_livekit_picks_the_cheapest_eligible_plan(
    publisher_min: float,
    listener_min: float,
    downstream_gb: float,
    egress_min: float,
    ingress_min: float,
    peak: float,
) -> None:
    values = {"publisher_min": publisher_min, "listener_min": listener_min, "downstream_gb": downstream_gb,
              "egress_min": egress_min, "ingress_min": ingress_min, "peak_listeners": peak}  # fmt: skip
    usage = UsageArrays(
        **{name: np.array([values.get(name, 0.0)]) for name in UsageArrays.__dataclass_fields__}
    )
    chosen = float(livekit_cloud.price(usage, CAT).total_usd[0])
    costs, eligible = livekit_cloud.plan_costs(usage, CAT)
    if eligible[0].any():
        assert chosen == min(costs[0][eligible[0]])
    else:  # over every limit: Enterprise, priced at Scale
        assert chosen == costs[0][2]
