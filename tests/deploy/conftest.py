"""castmeter built as a wheel and installed into a fresh virtualenv outside the checkout.

Offline: the wheel is built without build isolation (setuptools + wheel from the test's own
venv) and installed with ``--no-deps --no-index``; the new venv reaches the dependencies
through a .pth line naming the test venv's site-packages (the packages castmeter *depends on*,
never castmeter itself: nothing of the checkout is importable from there)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.realparts import REPO_ROOT

# What a wheel is built from: the checkout without its venv, data, caches and VCS.
_NOT_SOURCE = shutil.ignore_patterns(
    ".venv", ".git", "data", "build", "*.egg-info", "__pycache__", ".pytest_cache", ".mypy_cache",
    ".ruff_cache", ".hypothesis", "bench", "tests", "node_modules", "castmeter.toml",
)  # fmt: skip


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    workdir: Path  # an empty directory outside the checkout, the commands' working directory

    @property
    def castmeter(self) -> Path:
        return self.venv / "bin" / "castmeter"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def env(self, **extra: str) -> dict[str, str]:
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("CASTMETER_", "LIVEKIT_", "PROMETHEUS_", "PYTHON", "VIRTUAL_ENV"))
        }
        environment.update(PATH=f"{self.venv / 'bin'}:/usr/bin:/bin", HOME=str(self.workdir), **extra)
        # Prices are effective-dated: the same pinned day as every other test.
        environment["CASTMETER_PRICES_AS_OF"] = "2026-12-01"
        return environment

    def run(self, *argv: str, timeout_s: float = 120, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.castmeter), *argv], cwd=self.workdir, env=self.env(**extra),
            capture_output=True, text=True, timeout=timeout_s, check=False,
        )  # fmt: skip


def _run(argv: list[str], cwd: Path) -> None:
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"{' '.join(argv)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("wheel-install")
    source = base / "source"
    shutil.copytree(REPO_ROOT, source, ignore=_NOT_SOURCE)
    dist = base / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
          "-q", "-w", str(dist), str(source)], cwd=base)  # fmt: skip
    wheels = sorted(dist.glob("castmeter-*.whl"))
    assert len(wheels) == 1, wheels
    venv = base / "venv"
    _run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", str(venv)], cwd=base)
    site_packages = Path(
        subprocess.check_output(
            [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            text=True,
        ).strip()
    )
    (site_packages / "_castmeter_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheels[0])],
         cwd=base)  # fmt: skip
    shutil.rmtree(source)  # nothing may be read from the copy once installed
    workdir = base / "work"
    workdir.mkdir()
    yield Installed(wheels[0], venv, workdir)
