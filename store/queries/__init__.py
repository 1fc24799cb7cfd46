"""Every SQL read of the store, one module per subject, over one :data:`~store.queries.bind.Bind`.

- ``bind``: the engine-or-connection type, :func:`connected` and :func:`read_frame` (the one
  row-to-frame converter; PostgreSQL's Decimals become floats).
- ``tiers``: which table (raw, 1-minute or 1-hour rollup) a time series is read from.
- ``sources``: sources and their health, what the store has observed and since when.
- ``fleet``: what is live now and how it moved (the Overview).
- ``streams``: room sessions and one stream's drill-down.
- ``nodes``: node samples — the Nodes page, and node load for the capacity model.
- ``usage``: the measured usage ledger's parts (sessions, rooms, egress, ingress, traffic, peaks).
- ``results``: the dataclasses the queries return (what analytics/ takes from the store).

Still to move here: the reads in analytics/reconcile.py, analytics/capacity.py (fleet_capacity
takes a bind and reads through ``nodes.node_load``) and analytics/alerts/{history,series,spend}.py.

Queries return frames, dataclasses and plain values; analytics/ turns them into figures and
never sees SQL. Writes stay with their owners (collectors/, store/rollups.py, store/bulk.py).
"""
