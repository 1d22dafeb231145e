"""benchmarks/subscripted.py runs end to end on the peer suite's subscripted Population model (tiny
sizes) and refuses a model with nothing to vary."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "subscripted.py"
SUITE = Path(os.environ.get("CXSYSTEMS_PEER_SUITE", ROOT.parent / "shared" / "peer-models" / "sdxorg-test-models"))

pytestmark = pytest.mark.skipif(not SUITE.is_dir(), reason=f"peer suite not found at {SUITE} "
                                                            "(set CXSYSTEMS_PEER_SUITE)")


def _run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, CXSYSTEMS_PEER_SUITE=str(SUITE))
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env,
                          timeout=600)


def test_population_ensemble_benchmark_prints_ratios():
    out = _run("--skip-stock", "--n", "50", "--repeat", "1")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "Subscripted Population Model" in text
    assert "Lifespan (70: " in text  # the one scalar constant, varied
    assert re.search(r"\(702 element columns x 50 worlds\)", text)  # Population and DELAY N, 351 towns
    # the engine matches pysd-fast, and world 0 of the ensemble matches its single run exactly
    assert re.search(r"vs pysd-fast: max difference 0\.0e\+00 .* over 36,876 values", text)
    assert re.search(r"world 0 vs a single run with its values: max \|difference\| 0\.0e\+00", text)
    for label in ("pysd-fast / engine one run", "pysd-fast x 50 / engine ensemble",
                  "PySD run only x 50 / engine ensemble", "engine one run x 50 / ensemble"):
        m = re.search(re.escape(label) + r"\s+([0-9.]+)x", text)
        assert m and float(m.group(1)) > 0, label
    assert "stock PySD" not in text


def test_model_without_scalar_constants_is_refused():
    model = SUITE / "tests" / "subscript_2d_arrays" / "test_subscript_2d_arrays.mdl"
    out = _run("--skip-stock", "--n", "10", "--repeat", "1", "--model", str(model))
    assert out.returncode == 2
    assert "no non-zero scalar constant to vary" in out.stderr
    assert out.stdout == ""
