"""Every SQL read of the store, one module per subject, over one :data:`~store.queries.bind.Bind`.

- ``bind``: the engine-or-connection type, :func:`connected` and :func:`read_frame` (the one
  row-to-frame converter; PostgreSQL's Decimals become floats).
- ``tiers``: which table (raw, 1-minute or 1-hour rollup) a time series is read from.
- ``sources``: sources and their health, what the store has observed and since when.
- ``fleet``: what is live now and how it moved (the Overview).
- ``streams``: room sessions and one stream's drill-down.
- ``nodes``: node samples — the Nodes page, and node load for the capacity model.
- ``usage``: the measured usage ledger's parts (connection minutes, rooms, egress, ingress,
  traffic, peaks): ``usage_parts`` → analytics.usage.measured_ledger.
- ``billing``: what the billing collectors stored and the collector gaps of the period
  (``billing_records`` → analytics.reconcile.reconcile), and their health.
- ``alerts``: the live alerting tables (active alerts, history, what to forward, Alertmanager's view).
- ``alert_series``: the samples alert rules are evaluated on and the spend run-rate's buckets;
  ``series_reader`` gives them as the ``SeriesReader`` analytics.alerts.series takes.
- ``results``: the dataclasses the queries return (what analytics/ takes from the store).

Queries return frames, dataclasses and plain values; analytics/ turns them into figures and
never sees SQL. Writes stay with their owners (collectors/, store/rollups.py, store/bulk.py).
"""
