"""examples/authlog: its own tests pass, and pytest-cov measures the plugin's code that runs
inside the .so (in the host's embedded interpreter) as well as what runs in pytest's process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support import ROOT

EXAMPLE = ROOT / "examples" / "authlog"


def run_with_coverage(tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    config = tmp_path / "coverage.toml"
    config.write_text('[tool.coverage.run]\npatch = ["subprocess"]\n')  # what a user's pyproject.toml says
    report = tmp_path / "coverage.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--cov=authlog", f"--cov-config={config}",
         f"--cov-report=json:{report}", str(EXAMPLE / "test_authlog.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    percent = json.loads(report.read_text())["totals"]["percent_covered"] if report.exists() else 0.0
    return proc, percent


def test_the_plugins_code_inside_the_so_is_covered(tmp_path: Path) -> None:
    proc, percent = run_with_coverage(tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "5 passed" in proc.stdout
    assert percent == 100.0, proc.stdout[-3000:]
    assert not list(tmp_path.glob(".coverage.*")), "every process's data file is combined"
