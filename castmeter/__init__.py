"""castmeter: the ``castmeter`` command (castmeter/cli.py) and, in a wheel, the dashboard's
script files (castmeter/_root/, see core/resources.py)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def __getattr__(name: str) -> str:
    if name == "__version__":
        try:
            return version("castmeter")
        except PackageNotFoundError:  # a checkout that was never installed
            return "0+checkout"
    raise AttributeError(name)
