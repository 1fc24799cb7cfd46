"""`collectors demo`'s port options: the collectors' source URLs are written before the fleet and
its Prometheus bind, so a port must be given, not "any free port" (0), and a bad one is refused
naming the option."""

from __future__ import annotations

import argparse

import pytest

from simulator import demo


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="collectors demo", exit_on_error=False)
    demo.add_arguments(parser)
    return parser


@pytest.mark.parametrize("option", ["--api-port", "--prometheus-port"])
@pytest.mark.parametrize(("value", "reason"), [("0", "0 is not a port from 1 to 65535"), ("70000", "70000 is not a port"), ("x", "not a port number: 'x'")])  # fmt: skip
def test_a_port_the_collectors_cannot_follow_is_refused_naming_the_option(
    option: str, value: str, reason: str
) -> None:
    with pytest.raises(argparse.ArgumentError) as refused:
        _parser().parse_args([option, value])
    assert option in str(refused.value) and reason in str(refused.value)


def test_ports_given_are_kept_and_metrics_may_take_free_ports() -> None:
    args = _parser().parse_args(["--api-port", "17880", "--prometheus-port", "19090", "--metrics-port", "0"])
    assert (args.api_port, args.prometheus_port, args.metrics_port) == (17880, 19090, 0)
