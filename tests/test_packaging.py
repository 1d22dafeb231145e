"""The package installs with its bundled models, from a wheel as well as from the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _declared_packages() -> list[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return data["tool"]["setuptools"]["packages"]


def test_every_subpackage_is_declared():
    found = {
        ".".join(p.relative_to(ROOT).parts)
        for p in (ROOT / "cxsystems").rglob("*")
        if p.is_dir() and p.name != "__pycache__" and any(p.glob("*.py"))
    } | {"cxsystems"}
    declared = set(_declared_packages())
    assert found - declared == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    for pkg in declared - {"cxsystems._bundled_models"}:
        assert (ROOT / pkg.replace(".", "/")).is_dir(), pkg


def test_wheel_ships_models_and_finds_them_when_installed(tmp_path):
    wheel_dir = tmp_path / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheel_dir), str(ROOT)],
        check=True, capture_output=True, text=True, timeout=600,
    )
    (wheel,) = wheel_dir.glob("cxsystems-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for model in ("cx_service", "capability_trap"):
        assert f"cxsystems/_bundled_models/{model}.mdl" in names
        assert f"cxsystems/_bundled_models/{model}.scenarios.toml" in names
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        check=True, capture_output=True, text=True, timeout=600,
    )
    code = (
        "import cxsystems, sys; from cxsystems.loading import bundled_models_dir, bundled_model_names;"
        "print(cxsystems.__file__); print(bundled_models_dir()); print(','.join(bundled_model_names()))"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True,
                         capture_output=True, text=True, timeout=120).stdout.splitlines()
    assert out[0].startswith(str(site))
    assert out[1] == str(site / "cxsystems" / "_bundled_models")
    assert {"cx_service", "capability_trap"} <= set(out[2].split(","))
