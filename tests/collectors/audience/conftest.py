from __future__ import annotations

from collections.abc import Iterator

import pytest

from simulator.providers import ProviderFakes, ProviderState, ThreadedProviderFakes
from tests.collectors.audience.fixtures import AGORA_SECRET, CF_TOKEN, NOW_TS, state


@pytest.fixture
def provider_state() -> ProviderState:
    return state()


@pytest.fixture
def fakes(provider_state: ProviderState) -> Iterator[ProviderFakes]:
    """The fake APIs serving ``provider_state`` (a test may change it between polls)."""
    with ThreadedProviderFakes(
        lambda _now: provider_state, agora_secret=AGORA_SECRET, cf_token=CF_TOKEN, clock=lambda: NOW_TS
    ) as served:
        yield served
