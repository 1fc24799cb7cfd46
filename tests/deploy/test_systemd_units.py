"""The systemd units in deploy/systemd are checked, not just written: `systemd-analyze verify`
(unit syntax, every directive known, the ExecStart binary present and executable — the wheel's
castmeter script, installed outside the checkout), their exposure under
`systemd-analyze security --offline`, and their command lines accepted by castmeter itself.

systemd-analyze runs here without systemd as PID 1 (Debian's systemd package provides it;
scripts/install-deps.sh installs it)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.realparts import REPO_ROOT, require
from tests.deploy.conftest import Installed

pytestmark = pytest.mark.slow

UNITS = sorted((REPO_ROOT / "deploy" / "systemd").glob("*.service"))
INSTALLED_AS = "/usr/local/bin/castmeter"  # where the units expect the command (deploy/README.md)
MAX_EXPOSURE = "20"  # tenths of systemd's 0 (locked down) .. 10 (unprotected) scale: at most 2.0


def systemd_analyze() -> Path:
    found = shutil.which("systemd-analyze")
    require(found is not None, "systemd-analyze (apt package systemd)")
    assert found is not None
    return Path(found)


def _units_for(installed: Installed, workdir: Path) -> list[Path]:
    """The shipped units with only the command's path replaced by the test install's."""
    assert [unit.name for unit in UNITS] == ["castmeter-collector.service", "castmeter-dashboard.service"]
    copies = []
    for unit in UNITS:
        text = unit.read_text()
        assert f"ExecStart={INSTALLED_AS} " in text
        copy = workdir / unit.name
        copy.write_text(text.replace(INSTALLED_AS, str(installed.castmeter)))
        copies.append(copy)
    return copies


def test_units_pass_systemd_analyze_verify(installed: Installed, tmp_path: Path) -> None:
    analyze = systemd_analyze()
    units = _units_for(installed, tmp_path)
    result = subprocess.run(
        [str(analyze), "verify", "--man=no", *map(str, units)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    # verify reports unknown directives and bad values as warnings with exit 0: none allowed.
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == "", result.stdout + result.stderr


def test_verify_would_catch_a_broken_unit(installed: Installed, tmp_path: Path) -> None:
    analyze = systemd_analyze()
    unit = _units_for(installed, tmp_path)[0]
    unit.write_text(unit.read_text().replace(str(installed.castmeter), "/nonexistent/castmeter"))
    result = subprocess.run(
        [str(analyze), "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0 and "/nonexistent/castmeter" in result.stderr


def test_units_are_locked_down(installed: Installed, tmp_path: Path) -> None:
    analyze = systemd_analyze()
    for unit in _units_for(installed, tmp_path):
        result = subprocess.run(
            [str(analyze), "security", "--offline=yes", f"--threshold={MAX_EXPOSURE}", "--no-pager", str(unit)],
            cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        assert "Overall exposure level" in result.stdout


def test_the_units_command_lines_are_castmeters(installed: Installed, tmp_path: Path) -> None:
    """Each ExecStart parses: the same arguments plus --help exit 0."""
    for unit in _units_for(installed, tmp_path):
        line = next(line for line in unit.read_text().splitlines() if line.startswith("ExecStart="))
        argv = shlex.split(line.removeprefix("ExecStart="))
        assert argv[0] == str(installed.castmeter)
        result = installed.run(*argv[1:], "--help")
        assert result.returncode == 0, f"{unit.name}: {result.stderr}"
