"""Build hook only (the project is described in pyproject.toml).

The dashboard is a Streamlit *script* (app.py beside pages/ and .streamlit/config.toml), not a
package, and the example rules and settings sit at the top of the checkout. A wheel copies them
into ``castmeter/_root/`` with the checkout's layout, where castmeter/resources.py finds them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
# Relative to the checkout; directories are copied with their *.py / *.toml / *.yaml files.
ROOT_FILES = (
    "app.py",
    ".streamlit/config.toml",
    "rules/castmeter.rules.example.yaml",
    "castmeter.example.toml",
)
ROOT_DIRS = ("pages",)


def root_files() -> list[Path]:
    files = [Path(name) for name in ROOT_FILES if (HERE / name).is_file()]
    for directory in ROOT_DIRS:
        files += sorted(
            path.relative_to(HERE)
            for path in (HERE / directory).rglob("*")
            if path.is_file() and path.suffix in (".py", ".toml", ".yaml") and "__pycache__" not in path.parts
        )
    return files


class BuildWithRoot(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "castmeter" / "_root"
        for relative in root_files():
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(HERE / relative, destination)


setup(cmdclass={"build_py": BuildWithRoot})
