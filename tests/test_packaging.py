"""The package installs with its bundled models, from a wheel as well as from the checkout."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from conftest import installed_env, run_installed

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


def test_wheel_ships_models_and_finds_them_when_installed(installed, tmp_path):
    wheel, site = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for model in ("cx_service", "capability_trap"):
        assert f"cxsystems/_bundled_models/{model}.mdl" in names
        assert f"cxsystems/_bundled_models/{model}.scenarios.toml" in names
    code = (
        "import cxsystems, sys; from cxsystems.model.loader import bundled_models_dir, bundled_model_names;"
        "print(cxsystems.__file__); print(bundled_models_dir()); print(','.join(bundled_model_names()))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=installed_env(site), check=True,
                         capture_output=True, text=True, timeout=120).stdout.splitlines()
    assert out[0].startswith(str(site))
    assert out[1] == str(site / "cxsystems" / "_bundled_models")
    assert {"cx_service", "capability_trap"} <= set(out[2].split(","))


def test_installed_robustness_n_2000_writes_files_and_prints_verdicts(installed, tmp_path):
    _, site = installed
    proc = run_installed(site, tmp_path, "robustness", "--n", "2000", "--out", "rob", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    out = tmp_path / "rob"
    names = {p.name for p in out.iterdir()}
    assert {"robustness.csv", "regret.csv", "runs.csv", "fan_ticket_backlog.png",
            "fan_cumulative_profit.png"} <= names
    assert len((out / "runs.csv").read_text().splitlines()) == 1 + 7 * 2000
    verdicts = [l.strip() for l in proc.stdout.splitlines() if " beats " in l]
    assert len(verdicts) == 5
    assert re.fullmatch(r"structural_prevention beats reactive_hiring on cumulative profit in "
                        r"\d+\.\d% of 2,000 runs", verdicts[0])
