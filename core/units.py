"""Time units in seconds: the one definition every layer uses (store, analytics, collectors,
simulator), so a day is never written twice."""

from __future__ import annotations

MINUTE_S = 60
HOUR_S = 3600
DAY_S = 86_400
WEEK_S = 7 * DAY_S
