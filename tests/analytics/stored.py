"""The measured usage ledger of a test store, built the way the product builds it: the parts
read by store.queries.usage, joined by analytics.usage.measured_ledger."""

from __future__ import annotations

from typing import Any

from analytics.ledger import UsageLedger
from analytics.usage import measured_ledger
from store.queries.bind import Bind
from store.queries.usage import usage_parts


def stored_ledger(
    bind: Bind, since_ts: int, until_ts: int, source_id: int | None = None, **options: Any
) -> UsageLedger:
    return measured_ledger(usage_parts(bind, since_ts, until_ts, source_id), since_ts, until_ts, **options)
