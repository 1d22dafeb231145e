"""Shared fixtures: the project built as a wheel once per test session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def installed(tmp_path_factory):
    """The project built as a wheel and installed (without dependencies) into an empty folder:
    ``(wheel path, site folder)``. Put the site folder on ``PYTHONPATH`` to run the installed copy."""
    tmp_path = tmp_path_factory.mktemp("wheel")
    wheel_dir = tmp_path / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheel_dir), str(ROOT)],
        check=True, capture_output=True, text=True, timeout=600,
    )
    (wheel,) = wheel_dir.glob("cxsystems-*.whl")
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        check=True, capture_output=True, text=True, timeout=600,
    )
    return wheel, site


def installed_env(site: Path) -> dict:
    """Environment that runs the installed copy in ``site`` (headless charts)."""
    return {**os.environ, "PYTHONPATH": str(site), "MPLBACKEND": "Agg"}


def run_installed(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """Run ``python -m cxsystems.cli ARGS`` from the installed wheel (not the checkout)."""
    return subprocess.run([sys.executable, "-m", "cxsystems.cli", *args], cwd=cwd, env=installed_env(site),
                          capture_output=True, text=True, timeout=600)
