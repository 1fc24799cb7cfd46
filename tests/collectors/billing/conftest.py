from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from collectors.billing.base import RetryPolicy
from store.engine import open_store


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def policy(sleeps: list[float]) -> RetryPolicy:
    """Fast retries that record each wait instead of sleeping."""
    return RetryPolicy(max_attempts=3, backoff_initial_s=0.01, max_backoff_s=30.0, sleep=sleeps.append)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_store(f"sqlite:///{tmp_path / 'billing.db'}")
    yield engine
    engine.dispose()
