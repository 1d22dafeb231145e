"""The compiled backend (engine.bytecode + engine.vm + engine.compiled) against the numpy engine:
every bundled model and every peer-suite model it runs (1e-12 relative), scenario steps, arrays of
worlds, division by zero, the backend choice, and the on-disk cache (a second process loads its
object code with llvmlite alone, to the same bits as numba's path; a tampered file is never executed)."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import write_mdl

import cxsystems as cx
from cxsystems.engine import compile_model
from cxsystems.engine import compiled as C
from cxsystems.engine.bytecode import OP, assemble, reuse
from cxsystems.errors import CxError, UnsupportedConstruct
from cxsystems.model.scenarios import Change

ROOT = Path(__file__).resolve().parents[2]
SUITE = Path(os.environ.get("CXSYSTEMS_PEER_SUITE", ROOT.parent / "shared" / "peer-models" / "sdxorg-test-models"))
RTOL, ATOL = 1e-12, 1e-300


def same(a, b, what=""):
    """Equal within 1e-12 relative (NaN equals NaN, infinities equal themselves)."""
    assert a.names == b.names and np.array_equal(a.times, b.times), what
    np.testing.assert_allclose(b.values, a.values, rtol=RTOL, atol=ATOL, equal_nan=True, err_msg=what)


def both(cm, *args, **kw):
    a = cm.run(*args, backend="numpy", **kw)
    b = cm.run(*args, backend="compiled", **kw)
    assert cm.backend_note.startswith("compiled"), cm.backend_note
    return a, b


@pytest.fixture(scope="module")
def machine():
    """The virtual machine, compiled or loaded once (it is the same for every model)."""
    return C.load()


# ------------------------------------------------------------------------------ equality


@pytest.mark.parametrize("name", ["cx_service", "capability_trap"])
def test_every_bundled_model_and_scenario_agrees(name, machine):
    model = cx.load_model(name)
    cm = compile_model(model)
    for scen in model.scenarios.values():
        a, b = both(cm, scen.changes)
        same(a, b, f"{name}/{scen.name}")
        assert np.isfinite(a.values).all()
    if name == "cx_service":  # bit for bit: sqrt and lookups are the C library's and numpy.interp's
        a, b = both(cm, model.scenarios["bridge"].changes)
        assert np.array_equal(a.values, b.values)


def test_scenario_steps_and_control_overrides(machine):
    model = cx.load_model("cx_service")
    cm = compile_model(model)
    p = model.parameters["Hiring Delay"]
    v1, v2 = p.min, p.max
    assert v1 < p.value < v2
    changes = [Change(p.name, v1, 20.0), Change(p.name, v2, 60.5)]
    a, b = both(cm, changes, final_time=80, saveper=0.5, variables=["Customers", "Wait Time"])
    same(a, b, "steps")
    assert a.values.shape == (2, 161, 1)
    # the step is felt: differs from the baseline after week 20 only
    base = cm.run(backend="compiled", final_time=80, saveper=0.5, variables=["Customers", "Wait Time"])
    moved = ~np.isclose(base.values, b.values, rtol=1e-9)
    assert not moved[:, :41].any() and moved.any()


def test_arrays_of_worlds_agree_and_each_world_equals_its_own_run(machine):
    model = cx.load_model("cx_service")
    cm = compile_model(model)
    rng = np.random.default_rng(3)
    names = [p for p in ("Hiring Delay", "Reference Churn Rate", "Normal Handle Time") if p in model.parameters]
    params = {p: rng.uniform(model.parameters[p].min, model.parameters[p].max, 700) for p in names}
    rec = ["Customers", "Ticket Backlog", "Cumulative Profit"]
    changes = model.scenarios["bridge"].changes
    a, b = both(cm, changes, params=params, variables=rec)
    same(a, b, "ensemble")
    assert b.values.shape[2] == 700 and len(set(b.values[0, -1].round(6))) > 600  # the worlds differ
    for i in (0, 255, 256, 699):  # block edges of the machine
        one = cm.run(changes, params={p: v[i] for p, v in params.items()}, variables=rec, backend="compiled")
        np.testing.assert_allclose(one.values[:, :, 0], b.values[:, :, i], rtol=RTOL, atol=ATOL)


@pytest.mark.skipif(not SUITE.is_dir(), reason=f"peer suite not found at {SUITE}")
def test_peer_suite_models_agree(machine, peer_suite):
    ps = peer_suite
    ran, refused = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in ps.model_files(SUITE, "vensim"):
            rel = path.relative_to(SUITE).as_posix()
            if ps.canonical_output(path) is None:
                continue
            try:
                model = cx.load_model(path, data_files=ps.DATA_FILES.get(rel))
                cm = compile_model(model)
                a = cm.run(backend="numpy")
            except CxError:
                continue  # the numpy engine does not run it: nothing to compare
            try:
                b = cm.run(backend="compiled")
            except UnsupportedConstruct as exc:
                refused.append((rel, exc.reason))
                continue
            same(a, b, rel)
            ran.append(rel)
    assert len(ran) >= 130, (len(ran), refused)


# ------------------------------------------------------------------------- arithmetic rules


def test_edge_arithmetic_follows_the_scalar_kernels(tmp_path, machine):
    body = """
x = Time - 3
	~	Dmnl
	~	|
p = x ^ (-1)
	~	Dmnl
	~	|
q = (x - 1e+300) ^ 3
	~	Dmnl
	~	|
r = INTEGER(-0.5 * x / (ABS(x) + 1))
	~	Dmnl
	~	|
s = MIN(x, 1) + MAX(x, 2) + MODULO(Time, 3) + QUANTUM(Time, 0.7) + XIDZ(1, x, 5) + ZIDZ(2, x)
	~	Dmnl
	~	|
u = PULSE TRAIN(1, 0.5, 3, 8) + PULSE(2, 1) + RAMP(2, 1, 6) + STEP(3, 4) + POWER(x, 0.5)
	~	Dmnl
	~	|
v = LN(x) + EXP(x) + SQRT(x) + SIN(x) + ARCTAN(x) + LOG(Time + 2, 3)
	~	Dmnl
	~	|
w = IF THEN ELSE(x > 0 :AND: x < 5, 1, IF THEN ELSE(:NOT: (x = 0) :OR: x > 9, 2, 3))
	~	Dmnl
	~	|
"""
    cm = compile_model(cx.load_model(write_mdl(tmp_path, body)))
    a, b = both(cm)
    same(a, b, "edges")
    p = b.values[b.names.index("p"), :, 0]
    assert p[3] == np.inf  # 0 ^ -1 is +inf (Python's rule), not a division error
    q = b.values[b.names.index("q"), :, 0]
    assert np.all(q[:5] == np.inf)  # overflow of a negative base is +inf, as the numpy engine's


def test_the_functions_sharing_one_loop_agree_in_every_world(tmp_path, machine):
    """The rarer functions run in the machine's shared loop (the function chosen per world): each
    agrees with the numpy engine, for one run and over blocks of worlds."""
    body = """
k = 0.3
	~	Dmnl [-1, 1]
	~	|
x = k * (Time - 5) / 5
	~	Dmnl
	~	|
f = COS(x) + TAN(x) + ARCSIN(x) + ARCCOS(x) + SINH(x) + COSH(x) + TANH(x) + ABS(x) - x
	~	Dmnl
	~	|
g = (x <= 0) + 2 * (x >= 0.1) + 4 * (x <> k) + 8 * (x = 0) + 16 * (x < -0.2)
	~	Dmnl
	~	|
h = IF THEN ELSE(x < 0.05 :AND: x > -0.05, 0, 1 / x) + XIDZ(1, x, 7) + POWER(ABS(x) + 1, k) + MODULO(Time, 1.5 + k)
	~	Dmnl
	~	|
"""
    cm = compile_model(cx.load_model(write_mdl(tmp_path, body)))
    a, b = both(cm)
    same(a, b, "one run")
    g = b.values[b.names.index("g"), :, 0]
    assert g[5] == 1 + 4 + 8  # x = 0 at week 5 (and 1 / x is not counted: its branch is not taken)
    assert g[0] == 1 + 4 + 16 and g[10] == 2  # x = -0.3, then 0.3 = k
    worlds = np.linspace(-0.9, 0.9, 600)
    worlds = worlds[np.abs(worlds) > 1e-3]
    a = cm.run(params={"k": worlds}, backend="numpy")
    b = cm.run(params={"k": worlds}, backend="compiled")
    same(a, b, "worlds")
    assert np.isfinite(b.values[b.names.index("f")]).all()


def test_threads_do_not_change_the_numbers(monkeypatch, machine):
    model = cx.load_model("cx_service")
    cm = compile_model(model)
    rng = np.random.default_rng(5)
    p = model.parameters["Hiring Delay"]
    params = {p.name: rng.uniform(p.min, p.max, 1000)}  # 4 blocks of 256 worlds
    threads = C._threads
    runs = {}
    for n in (1, 2, 3):
        monkeypatch.setattr(C, "_threads", lambda n_blocks, pid, n=n: n)
        runs[n] = cm.run(params=params, variables=["Customers", "Wait Time"], backend="compiled").values
    assert np.array_equal(runs[1], runs[2]) and np.array_equal(runs[1], runs[3])
    assert len(set(runs[1][0, -1].round(6))) > 900  # the worlds differ
    before = threading.active_count()  # the pool's threads are kept: a call starts none
    again = cm.run(params=params, variables=["Customers", "Wait Time"], backend="compiled").values
    assert threading.active_count() == before and np.array_equal(again, runs[1])
    assert threads(4, os.getpid()) == min(4, os.cpu_count() or 1)
    assert threads(1, os.getpid()) == 1 and threads(4, -1) == 1  # one block; a forked worker


def _table(name: str, xs, ys) -> str:
    points = ",".join(f"({x!r},{y!r})" for x, y in zip(xs, ys))
    return f"{name}(\n\t[({min(xs)!r},{min(ys)!r})-({max(xs)!r},{max(ys)!r})],{points})\n\t~\tDmnl\n\t~\t|\n"


def test_lookups_are_numpy_interp_bit_for_bit_in_every_world(tmp_path, machine):
    """The machine's lookups (each segment's line over a block for small tables, a bisection per
    world for tables of more than 32 points) give numpy.interp's doubles in every world: below the
    first point, on every point, between points, above the last one, in blocks of any size."""
    small_x = [0.0, 0.5, 1.0, 2.0, 4.0, 9.0]
    small_y = [1.0, 0.75, 0.5, 0.3, 0.1, 0.05]
    big_x = [0.25 * i + 0.01 * i * i for i in range(41)]
    big_y = [float(np.sin(x)) + x / 3 for x in big_x]
    body = _table("small tab", small_x, small_y) + _table("big tab", big_x, big_y) + """
k = 1
	~	Dmnl [-1e+300, 1e+300]
	~	|
x = IF THEN ELSE(Time >= 0, k, 0)
	~	Dmnl
	~	|
small = small tab(x)
	~	Dmnl
	~	|
big = big tab(x) + small tab(x * 0.3 + Time / 7)
	~	Dmnl
	~	|
root = small tab(SQRT(x)) + big tab(SQRT(x))
	~	Dmnl
	~	|
"""
    cm = compile_model(cx.load_model(write_mdl(tmp_path, body, final=3)))
    edges = np.array(small_x + big_x)
    worlds = np.concatenate([edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf),
                             np.linspace(-3, 30, 600), [-1e300, 1e300]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the square root of a negative x: NaN, looked up as NaN
        a = cm.run(params={"k": worlds}, backend="numpy")
        b = cm.run(params={"k": worlds}, backend="compiled")
    assert np.array_equal(a.values, b.values, equal_nan=True)
    root = b.values[b.names.index("root")]
    assert np.isnan(root[:, worlds < 0]).all() and not np.isnan(root[:, worlds >= 0]).any()
    small = b.values[b.names.index("small")]  # (time, world); x = k at every step
    assert np.array_equal(small[-1], np.interp(worlds, small_x, small_y))
    assert small[0, 0] == 1.0 and small[0, 5] == 0.05 and small[0, -2] == 1.0 and small[0, -1] == 0.05
    t = b.times[:, None]
    big = b.values[b.names.index("big")]
    assert np.array_equal(big, np.interp(worlds, big_x, big_y)[None, :]
                          + np.interp(worlds * 0.3 + t / 7, small_x, small_y))
    for few in (worlds[:6], worlds[6:13], worlds[41:47], worlds[-8:]):  # fewer than 8 worlds: a
        # bisection per world for small tables too
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = cm.run(params={"k": few}, backend="numpy")
            b = cm.run(params={"k": few}, backend="compiled")
        assert np.array_equal(a.values, b.values, equal_nan=True)
        assert np.array_equal(b.values[b.names.index("small"), -1], np.interp(few, small_x, small_y))
    one = cm.run(params={"k": 3.3}, backend="compiled")  # one world: a block of one
    assert one.values[one.names.index("small"), -1, 0] == np.interp(3.3, small_x, small_y)


def test_zidz_xidz_select_and_comparisons_in_every_world(tmp_path, machine):
    """ZIDZ and XIDZ (one loop: the division computed in every world, the small divisor's value
    selected), IF THEN ELSE's select and comparisons agree with the numpy engine bit for bit,
    divisors at, below and above ZIDZ's 1e-6 included."""
    body = """
k = 1
	~	Dmnl [-1, 1]
	~	|
x = k * (1 + Time / 100)
	~	Dmnl
	~	|
z = ZIDZ(3, x) + XIDZ(2, x, -7) * 10
	~	Dmnl
	~	|
s = IF THEN ELSE(x > 1e-06, x, -x) + (x >= 0) * 2 + (x < 0) * 4 + (x = 1e-06) * 8 + (x <> 0) * 16
	~	Dmnl
	~	|
"""
    cm = compile_model(cx.load_model(write_mdl(tmp_path, body)))
    worlds = np.concatenate([[0.0, -0.0, 1e-6, -1e-6, 9.9e-7, -9.9e-7, 1.01e-6], np.linspace(-1, 1, 501)])
    a = cm.run(params={"k": worlds}, backend="numpy")
    b = cm.run(params={"k": worlds}, backend="compiled")
    assert np.array_equal(a.values, b.values)
    z = b.values[b.names.index("z"), 0]  # at time 0, x = k
    assert z[0] == -70.0 and z[2] == 3e6 + 2e7 and z[5] == -70.0  # |x| < 1e-6: 0 and -7
    s = b.values[b.names.index("s"), 0]
    assert s[0] == 2 and s[2] == -1e-6 + 2 + 8 + 16 and s[3] == 1e-6 + 4 + 16  # x = 1e-6: not > 1e-6


def test_non_negative_stocks_are_clipped_as_on_numpy(tmp_path, machine):
    """An XMILE non-negative stock: clipped at +0.0 after each Euler step (MAX with 0, which keeps
    NaN and -0.0 as the clip does), in every world, equal to the numpy engine bit for bit."""
    ns = "http://docs.oasis-open.org/xmile/ns/XMILE/v1.0"
    text = f"""<?xml version="1.0" encoding="utf-8"?>
<xmile version="1.0" xmlns="{ns}">
  <header><vendor>cxsystems tests</vendor><product version="1.0">hand written</product></header>
  <sim_specs method="Euler" time_units="Weeks"><start>0</start><stop>12</stop><dt>0.25</dt></sim_specs>
  <model><variables>
      <aux name="Rate"><eqn>2</eqn><range min="0" max="10"/></aux>
      <stock name="Tank"><eqn>5</eqn><outflow>Drain</outflow><non_negative/></stock>
      <flow name="Drain"><eqn>Rate - Tank * 0.1</eqn></flow>
  </variables></model>
</xmile>
"""
    path = tmp_path / "models" / "tank.xmile"
    path.parent.mkdir()
    path.write_text(text, encoding="utf-8")
    cm = compile_model(cx.load_model(path))
    worlds = np.array([0.0, 0.3, 0.5, 1.0, 2.0, 7.5])
    a = cm.run(params={"Rate": worlds}, backend="numpy")
    b = cm.run(params={"Rate": worlds}, backend="compiled")
    assert np.array_equal(a.values, b.values)
    tank = b.values[b.names.index("Tank")]
    assert tank.min() == 0.0 and tank[-1, 0] > 5 and (tank[-1, -2:] == 0.0).all()
    assert not np.signbit(tank).any()  # +0.0, not -0.0


def test_repeated_divisions_and_lookups_become_copies_with_the_same_bits(tmp_path, machine):
    """:func:`reuse` turns a division (ZIDZ, XIDZ, lookup) of rows unchanged since an earlier
    identical one into a copy of that one's row, only while the row still holds it; a DELAY3's
    derivatives (each stage's division twice, as the numpy engine computes them) lose their
    repeats and the runs keep every bit."""
    D, Z, A, K, L = OP["DIV"], OP["ZIDZ"], OP["ADD"], OP["COPY"], OP["LOOKUP"]
    code = np.array([[D, 10, 1, 2, -1, -1],   # 10 = 1 / 2
                     [A, 11, 1, 2, -1, -1],
                     [D, 12, 1, 2, -1, -1],   # repeat: copy of 10
                     [D, 13, 1, 2, 5, -1],    # another guard: computed
                     [Z, 14, 1, 2, -1, -1],   # another function: computed
                     [L, 15, 1, 0, 4, -1],
                     [L, 16, 1, 0, 4, -1],    # the same table at the same row: copy of 15
                     [L, 17, 1, 4, 8, -1],    # another table: computed
                     [A, 1, 1, 2, -1, -1],    # row 1 changes
                     [D, 18, 1, 2, -1, -1],   # new operand: computed
                     [A, 10, 3, 3, -1, -1],   # row 10 no longer holds 1 / 2 ...
                     [D, 19, 1, 2, -1, -1],   # ... but 18 does: copy of 18
                     [A, 18, 3, 3, -1, -1],
                     [D, 20, 1, 2, -1, -1]],  # neither holds it: computed
                    dtype=np.int64)
    got = reuse(code)
    want = code.copy()
    want[2] = [K, 12, 10, -1, -1, -1]
    want[6] = [K, 16, 15, -1, -1, -1]
    want[11] = [K, 19, 18, -1, -1, -1]
    assert np.array_equal(got, want)
    body = """
dt delay = 2
	~	Week [0.5, 20]
	~	|
In = 10 + STEP(5, 2) + Time
	~	Dmnl
	~	|
Out3 = DELAY3(In, dt delay)
	~	Dmnl
	~	|
"""
    cm = compile_model(cx.load_model(write_mdl(tmp_path, body, final=20)))
    bc = assemble(cm)
    assert int((bc.update[:, 0] == D).sum()) == 3  # 5 stage divisions, 2 of them repeats
    worlds = np.array([0.5, 1.0, 2.0, 7.5])
    a, b = both(cm, params={"dt delay": worlds})
    assert np.array_equal(a.values, b.values)


def test_a_changed_machine_gets_its_own_cache_entry(monkeypatch):
    """The cache key hashes the machine's source: a new machine never loads an old one's code."""
    from cxsystems.engine import vm

    key = C.cache_key()
    monkeypatch.setattr(vm, "SOURCE", vm.SOURCE.replace("R[w]", "R[w] ", 1))
    assert C.cache_key() != key


def test_division_by_zero_scalar_raises_vector_marks_its_worlds(tmp_path, machine):
    body = """
d = 4
	~	Dmnl [0, 10]
	~	|
g = IF THEN ELSE(d > 0, 10 / d, 0)
	~	Dmnl
	~	|
y = 1 / (d + 1 - Time)
	~	Dmnl
	~	|
"""
    model = cx.load_model(write_mdl(tmp_path, body))
    cm = compile_model(model)
    with pytest.raises(CxError, match=r"division by zero in 'y' at time 5"):
        cm.run(backend="compiled")
    assert "divided by zero" in cm.backend_note
    # the guarded branch divides only where its condition holds: no fallback
    a, b = both(cm, params={"d": 0.0}, final_time=0.5)
    same(a, b, "guarded division")
    assert b.values[b.names.index("g"), 0, 0] == 0.0
    worlds = np.array([4.0, 2.5, 7.0, 0.0])
    a = cm.run(params={"d": worlds}, backend="numpy")
    b = cm.run(params={"d": worlds}, backend="compiled")
    same(a, b, "vector division")
    y = b.values[b.names.index("y")]  # (time, world): inf where Time = d + 1, in that world only
    assert np.isinf(y[5, 0]) and np.isinf(y[8, 2]) and np.isinf(y[1, 3])
    assert np.isfinite(y[:, 1]).all() and np.isinf(y).sum() == 3


def test_delay_orders_lowered_per_world(tmp_path, machine):
    body = """
dt delay = 1
	~	Week [0.1, 20]
	~	|
In = 10 + STEP(5, 2)
	~	Dmnl
	~	|
Out3 = DELAY3(In, dt delay)
	~	Dmnl
	~	|
Sm = SMOOTH3I(In, dt delay, 4)
	~	Dmnl
	~	|
Tr = TREND(In, dt delay, 0.1) + FORECAST(In, dt delay, 2)
	~	Dmnl
	~	|
Dn = DELAY N(In, dt delay + Time / 10, 5, 3)
	~	Dmnl
	~	|
"""
    cm = compile_model(cx.load_model(write_mdl(tmp_path, body)))
    worlds = np.array([0.6, 1.2, 5.0, 0.2])  # orders 1, 2, 3 with TIME STEP 0.5; 0.2 is too short
    with pytest.raises(CxError, match="shorter than TIME STEP"):
        cm.run(params={"dt delay": worlds}, backend="compiled")
    a, b = both(cm, params={"dt delay": worlds[:3]})
    same(a, b, "delays")
    dn = b.values[b.names.index("Dn")]
    assert dn[0].tolist() == [5.0, 5.0, 5.0] and len(set(dn[-1].round(9))) == 3  # per-world orders
    for i, d in enumerate(worlds[:3]):  # each world alone: the order PySD would use for it
        one = cm.run(params={"dt delay": d}, backend="compiled")
        np.testing.assert_allclose(one.values[:, :, 0], b.values[:, :, i], rtol=RTOL, atol=ATOL)


def test_a_flow_that_is_another_stock_is_read_before_the_update(tmp_path, machine):
    body = """
S0 = INTEG(1, 0)
	~	Dmnl
	~	|
S8 = INTEG(S0, 0)
	~	Dmnl
	~	|
Sm = SMOOTH(Time, 2)
	~	Dmnl
	~	|
S7 = INTEG(Sm, 0)
	~	Dmnl
	~	|
"""
    cm = compile_model(cx.load_model(write_mdl(tmp_path, body, final=5)))
    a, b = both(cm)
    same(a, b, "flows")
    s8 = b.values[b.names.index("S8"), :, 0]
    assert s8.tolist() == [0.0, 0.25, 1.5, 3.75, 7.0, 11.25]  # sum of S0 = 0, 0.5, 1, ... times 0.5


# ------------------------------------------------------------------------------- the choice


def test_unsupported_models_fall_back_and_compiled_refuses(tmp_path, machine):
    body = """
Out = DELAY FIXED(Time, 2, 0)
	~	Dmnl
	~	|
"""
    cm = compile_model(cx.load_model(write_mdl(tmp_path, body)))
    with pytest.raises(UnsupportedConstruct, match="DELAY FIXED"):
        cm.run(backend="compiled")
    res = cm.run(backend="auto")
    assert cm.backend_note.startswith("numpy: ") and "DELAY FIXED" in cm.backend_note
    assert res.values[0, 4, 0] == 2.0  # Time 4 delayed by 2
    with pytest.raises(UnsupportedConstruct, match="Euler only"):
        compile_model(cx.load_model("capability_trap")).run(method="rk4", backend="compiled")
    with pytest.raises(CxError, match="unknown backend"):
        cm.run(backend="fast")


def test_auto_pays_for_the_machine_only_when_the_work_does(monkeypatch, machine):
    cm = compile_model(cx.load_model("cx_service"))
    monkeypatch.setattr(C, "_LOADED", {})
    monkeypatch.setattr(C, "is_cached", lambda: False)
    cm.numpy_seconds = 0.0
    code, note = C.choose(cm, "auto", 1249, 1, False, "euler")
    assert code is None and "too little work" in note  # one run: about 15 ms on numpy
    n = 2000  # about a second on numpy: more than a cached load, less than a cold compile
    assert C.LOAD_COST < C._estimate_numpy_seconds(cm, 1249, n, True) < C.COMPILE_COST
    code, note = C.choose(cm, "auto", 1249, n, True, "euler")
    assert code is None and "compile" in note
    monkeypatch.setattr(C, "is_cached", lambda: True)
    code, note = C.choose(cm, "auto", 1249, n, True, "euler")
    assert code is not None and note == "compiled"
    monkeypatch.setattr(C, "is_cached", lambda: False)
    n = 50000  # tens of seconds on numpy: worth a cold compile
    assert C._estimate_numpy_seconds(cm, 1249, n, True) > C.COMPILE_COST
    assert C.choose(cm, "auto", 1249, n, True, "euler")[0] is not None
    monkeypatch.setattr(C, "is_cached", lambda: False)
    cm.numpy_seconds = C.COMPILE_COST + 1  # rent paid: buy
    assert C.choose(cm, "auto", 1249, 1, False, "euler")[0] is not None
    monkeypatch.setenv("CXSYSTEMS_BACKEND", "numpy")
    cm.run(variables=["Customers"])
    assert cm.backend_note == "numpy: asked for"


def test_simulate_engine_compiled(machine):
    model = cx.load_model("capability_trap")
    a = cx.simulate(model, engine="numpy")
    b = cx.simulate(model, engine="compiled")
    np.testing.assert_allclose(b.to_numpy(), a.to_numpy(), rtol=RTOL, atol=ATOL)
    assert list(a.columns) == list(b.columns)


def test_the_model_is_data_for_one_fixed_machine(machine):
    code = assemble(compile_model(cx.load_model("cx_service")))
    assert code.init.dtype == np.int64 and code.update.dtype == np.int64
    ops = np.concatenate([code.init[:, 0], code.update[:, 0]] + [c[:, 0] for _, c, _ in code.steps])
    assert set(ops.tolist()) <= set(OP.values())
    code_all = np.concatenate([code.init, code.update] + [c for _, c, _ in code.steps])
    dst = code_all[:, 1]  # every instruction writes a row of the value table
    assert dst.min() >= 0 and dst.max() < code.n_values
    assert code_all[:, 2:].min() >= -1  # operands: rows, table offsets, orders, or none (-1)


# ------------------------------------------------------------------------------------ cache

_PROBE = """
import json, sys, time
t = time.perf_counter()
from cxsystems.engine import compiled as C
got = C.load()
print(json.dumps({"how": got["how"], "path": got["path"], "seconds": time.perf_counter() - t,
                  "numba": "numba" in sys.modules}))
"""


def _probe(cache: Path) -> dict:
    env = dict(os.environ, CXSYSTEMS_CACHE_DIR=str(cache))
    env.pop("NUMBA_CACHE_DIR", None)
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env,
                         timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture()
def cache_copy(tmp_path, machine):
    """A copy of the machine's verified cache folder in a private temporary folder."""
    src = C.cache_root()
    if "NUMBA_CACHE_DIR" in os.environ or not (src / f"cx_{C.cache_key()}.json").exists():
        pytest.skip("the machine is not cached on disk here")
    dst = tmp_path / "cache"
    dst.mkdir(mode=0o700)
    shutil.copytree(src, dst / "compiled")
    (dst / "compiled").chmod(0o700)
    return dst


def _native_file(cache: Path) -> Path:
    listed = json.loads((cache / "compiled" / f"cx_{C.cache_key()}.json").read_text())
    return cache / "compiled" / "__pycache__" / listed["native"]["file"]


def test_a_second_process_loads_the_cached_machine(cache_copy):
    got = _probe(cache_copy)
    assert got["how"] == "cache", got
    assert got["path"] == "native" and not got["numba"], got  # its object code, linked by llvmlite alone
    assert got["seconds"] < 1.0, got  # measured 0.03-0.05 s (numba's path: 0.31-0.38 s)


def test_the_native_path_and_numbas_give_the_same_bits(monkeypatch):
    folder, persistent = C._cache_dir()
    stem = f"cx_{C.cache_key()}"
    if not persistent or "NUMBA_CACHE_DIR" in os.environ or not (folder / f"{stem}.json").exists():
        pytest.skip("the machine is not cached on disk here")
    model = cx.load_model("cx_service")
    rng = np.random.default_rng(11)
    names = ["Hiring Delay", "Reference Churn Rate", "Normal Handle Time"]
    params = {p: rng.uniform(model.parameters[p].min, model.parameters[p].max, 1100) for p in names}
    runs = {}
    for path in ("numba", "native"):
        monkeypatch.setattr(C, "_LOADED", {})
        if path == "numba":  # the llvmlite path refused: numba loads the machine from its own cache
            monkeypatch.setattr(C, "_native_entry", lambda folder, stem: None)
        else:
            monkeypatch.undo()
            monkeypatch.setattr(C, "_LOADED", {})
        assert C.load()["path"] == path
        cm = compile_model(model)  # five blocks of worlds on two threads, and the bundled scenarios
        runs[path] = [cm.run(model.scenarios["bridge"].changes, params=params, backend="compiled",
                              variables=["Customers", "Wait Time", "Cumulative Profit"]).values]
        runs[path] += [cm.run(s.changes, backend="compiled").values for s in model.scenarios.values()]
        trap = cx.load_model("capability_trap")
        runs[path] += [compile_model(trap).run(s.changes, backend="compiled").values for s in trap.scenarios.values()]
    assert len(runs["native"]) == len(runs["numba"]) >= 3
    for a, b in zip(runs["numba"], runs["native"]):
        assert a.shape == b.shape and np.array_equal(a.view(np.uint64), b.view(np.uint64))
    assert len(set(runs["native"][0][0, -1].round(6))) > 1000  # the worlds differ


def test_a_changed_or_missing_object_file_is_never_loaded(cache_copy):
    obj = _native_file(cache_copy)
    code = bytearray(obj.read_bytes())
    code[len(code) // 2] ^= 0xFF  # one flipped byte of machine code
    obj.write_bytes(bytes(code))
    got = _probe(cache_copy)
    assert got["how"] == "compiled" and got["path"] == "numba", got  # refused: rebuilt by numba
    assert _native_file(cache_copy).read_bytes() != bytes(code)
    again = _probe(cache_copy)
    assert again["path"] == "native" and again["how"] == "cache", again  # listed again, loaded again
    _native_file(cache_copy).unlink()
    got = _probe(cache_copy)
    assert got["how"] == "compiled" and got["path"] == "numba", got
    assert _probe(cache_copy)["path"] == "native"


def test_an_object_for_another_cpu_is_left_to_numba(cache_copy):
    _other_cpu(cache_copy)
    got = _probe(cache_copy)
    assert got["path"] == "numba" and got["numba"], got  # compiled (and cached by numba) unless cached already
    _other_cpu(cache_copy)
    got = _probe(cache_copy)
    assert got["how"] == "cache" and got["path"] == "numba" and got["numba"], got  # numba's own cache


def test_the_object_needs_only_the_c_library():
    from cxsystems.engine import native

    folder, _ = C._cache_dir()
    stem = f"cx_{C.cache_key()}"
    try:
        listed = json.loads((folder / f"{stem}.json").read_text())
        data = (folder / "__pycache__" / listed["native"]["file"]).read_bytes()
    except (OSError, KeyError):
        pytest.skip("no object file cached here")
    needed = native.undefined_symbols(data)
    assert {"exp", "log", "sinh", "fmod"} <= set(needed)  # the C library's (measured: 14 names, memset too)
    assert not [s for s in needed if s.startswith(("numba_", "Py", "_Py", "NRT_"))], needed  # no numba, no Python
    assert native.undefined_symbols(b"not an object") is None
    assert native.undefined_symbols(data[:100]) is None  # cut short: refused, not misread
    assert native.load(b"\x7fELF" + b"\0" * 60, "kernel") is None


def _other_cpu(cache: Path) -> None:
    """Mark the cached object as compiled for another CPU: numba's path must serve."""
    manifest = cache / "compiled" / f"cx_{C.cache_key()}.json"
    listed = json.loads(manifest.read_text())
    listed["native"]["cpu"] = "another-cpu +avx512f"
    manifest.write_text(json.dumps(listed))


def test_a_tampered_cache_file_is_never_executed(cache_copy, tmp_path):
    folder = cache_copy / "compiled"
    _other_cpu(cache_copy)  # numba then caches the machine itself: its index is there to tamper with
    assert _probe(cache_copy)["path"] == "numba"
    index = sorted((folder / "__pycache__").glob(f"cx_{C.cache_key()}.kernel-*.nbi"))
    assert len(index) == 1  # the machine's one entry point: the index numba reads on a load
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    index[0].write_bytes(pickle.dumps(Payload()))  # numba unpickles an index's first object
    got = _probe(cache_copy)
    assert not marker.exists()
    assert got["how"] == "compiled"  # the machine was rebuilt from this package's source
    # and the rebuilt files are listed again: a third process loads them
    assert _probe(cache_copy)["how"] == "cache"


def test_a_cold_compile_takes_seconds_and_caches_one_object(tmp_path):
    cache = tmp_path / "cold"
    cache.mkdir(mode=0o700)
    got = _probe(cache)
    assert got["how"] == "compiled", got
    assert got["seconds"] < 15.0, got  # measured 2.85-3.0 s on 2 shared cores (the old machine: 25-45 s)
    folder = cache / "compiled"
    listed = json.loads(next(folder.glob("cx_*.json")).read_text())
    assert list(listed["files"]) == [listed["native"]["file"]]  # the object only: numba's files not needed
    again = _probe(cache)
    assert again["how"] == "cache" and again["path"] == "native" and again["seconds"] < got["seconds"], again


def test_a_cache_folder_others_can_write_is_not_used(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    (shared / "compiled").mkdir(parents=True)
    (shared / "compiled").chmod(0o777)
    monkeypatch.setenv("CXSYSTEMS_CACHE_DIR", str(shared))
    folder, persistent = C._cache_dir()
    assert not persistent and folder != shared / "compiled"
    assert not folder.stat().st_mode & 0o077
