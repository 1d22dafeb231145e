"""The peer suite (PySD's public Vensim test models, read from ../shared, never copied here): the
count of models that load as published and match their canonical output never drops below the
figures the README states."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUITE = Path(os.environ.get("CXSYSTEMS_PEER_SUITE", ROOT.parent / "shared" / "peer-models" / "sdxorg-test-models"))
#: The README's sentence with the figures (kept in one place: this pattern and the README).
STATED = re.compile(r"(\d+) of the suite's (\d+) Vensim files load as published; (\d+) of the (\d+) with "
                    r"a canonical output match it through the default engine \((\d+) on the numpy engine alone\)")


def _conformance():
    spec = importlib.util.spec_from_file_location("conformance", ROOT / "benchmarks" / "conformance.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stated() -> tuple[int, ...]:
    m = STATED.search(" ".join((ROOT / "README.md").read_text(encoding="utf-8").split()))
    assert m, "the README states no conformance figures in the expected sentence"
    return tuple(int(g) for g in m.groups())


def test_the_readme_states_the_figures():
    loaded, files, matched, with_output, numpy_only = stated()
    assert 0 < matched <= with_output <= files and numpy_only <= matched and loaded <= files


@pytest.mark.skipif(not SUITE.is_dir(), reason=f"peer suite not found at {SUITE} (set CXSYSTEMS_PEER_SUITE)")
def test_the_peer_suite_passes_at_least_the_readme_figures():
    loaded, files, matched, with_output, numpy_only = stated()
    conformance = _conformance()
    r = conformance.run_suite(SUITE)
    assert (r["files"], r["with_output"]) == (files, with_output)
    assert r["loaded"] >= loaded, r
    assert r["matched"] >= matched, r
    numpy = conformance.run_suite(SUITE, engine="numpy")
    assert numpy["matched"] >= numpy_only, numpy
