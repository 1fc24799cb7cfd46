"""Capacity: how many nodes a load needs and what it costs to grow.

- ``sizing``: the benchmark-derived capacity model and :func:`~analytics.capacity.sizing.nodes_for_load`
  (the cost engine's self-hosted model sizes its servers with it).
- ``calibration``: the model fitted on the fleet's node samples, and the committed
  livekit-server measurement (analytics/calibration/).
- ``planner``: a scenario → nodes, bandwidth and cost per model (growth months, audience grid).
- ``report``: the stored fleet's calibration and headroom forecast (CLI and pages).

Import from the submodules; this package re-exports nothing, so importing one part does not
load the others (sizing stays free of the cost engine, which imports it).
"""
