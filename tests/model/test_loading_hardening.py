"""Loading hardening: load time grows linearly with the model, a variable defined twice is a plain
error (not a security alarm), and translation folders of killed processes do not pile up."""

from __future__ import annotations

import gc
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import cxsystems as cx
from cxsystems.errors import UnsafeModelError
from cxsystems.model.loader import remove_stale_workdirs
from cxsystems.model.safety import audit_generated_code, definition_lines, gc_paused, screen_vensim_text

CONTROL = ("INITIAL TIME = 0\n\t~\tWeek\n\t~\t\n\t|\n\nFINAL TIME = 10\n\t~\tWeek\n\t~\t\n\t|\n\n"
           "TIME STEP = 1\n\t~\tWeek\n\t~\t\n\t|\n\nSAVEPER = TIME STEP\n\t~\tWeek\n\t~\t\n\t|\n\n")
ROOT = Path(__file__).resolve().parents[2]
SKETCH = ("\\\\\\---/// Sketch information - do not modify anything except names\n"
          "V300  Do not put anything below this section - it will be ignored\n")


def chain_mdl(n: int) -> str:
    """Vensim text of a chain of ``n`` auxiliaries (``x0 = 1``, ``x1 = x0 + 1``, ...) feeding two
    stocks, with the four control variables, laid out as Vensim saves it."""
    parts = ["{UTF-8}\n", "x0=\n\t1\n\t~\tDmnl\n\t~\tStart of the chain.\n\t|\n\n"]
    parts += [f"x{i}=\n\tx{i - 1} + 1\n\t~\tDmnl\n\t~\tLink {i}.\n\t|\n\n" for i in range(1, n)]
    parts.append(f"Total= INTEG (\n\tx{n - 1},\n\t\t0)\n\t~\tDmnl\n\t~\tSum of the last link.\n\t|\n\n")
    parts.append("Half= INTEG (\n\tx0 / 2,\n\t\t0)\n\t~\tDmnl\n\t~\t\n\t|\n\n")
    return "".join(parts) + CONTROL + SKETCH


def write(tmp_path: Path, text: str, name: str = "model.mdl") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ 1. load time


def test_chain_generator_is_valid_vensim(tmp_path):
    m = cx.load_model(write(tmp_path, chain_mdl(50)))
    assert len(m.variables) == 52 and m.stocks == ["Total", "Half"] and list(m.parameters) == ["x0"]
    assert (m.initial_time, m.final_time, m.time_step, m.saveper) == (0, 10, 1, 1)


def test_screen_and_audit_leave_the_garbage_collector_as_they_found_it(tmp_path):
    text = chain_mdl(20)
    for enabled in (True, False):
        (gc.enable if enabled else gc.disable)()
        try:
            screen_vensim_text(text, "m.mdl")
            with pytest.raises(UnsafeModelError):
                screen_vensim_text(text.replace("x3 + 1", "x3 + 'a'"), "m.mdl")  # a string literal
            py = write(tmp_path, "import os\n", "gen.py")
            with pytest.raises(UnsafeModelError):
                audit_generated_code([py], "m.mdl", text)
            with gc_paused():
                assert not gc.isenabled()
            assert gc.isenabled() is enabled
        finally:
            gc.enable()


# ------------------------------------------------------------------------------ 2. defined twice


def test_a_constant_defined_twice_is_a_plain_error_naming_both_lines(tmp_path):
    text = ("{UTF-8}\n"                                   # line 1
            "demand = 5\n\t~\tunits\n\t~\tfirst\n\t|\n\n"  # line 2
            "supply = demand * 2 ~ units ~ |\n\n"          # line 7
            "stock = INTEG(supply, 0) ~ units ~ |\n\n"     # line 9
            "demand = 5 ~~|\n\n"                           # line 11
            + CONTROL)
    path = write(tmp_path, text)
    with pytest.raises(cx.CxError) as err:
        cx.load_model(path)
    assert not isinstance(err.value, UnsafeModelError)
    assert str(err.value) == f"{path}:11: 'demand' is defined twice (first at line 2)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.mdl"]


@pytest.mark.parametrize("body, line, first, name", [
    # other spellings of the same name (PySD merges case and spaces/underscores)
    ("Net Demand = 5 ~~|\ny = 1 ~~|\nnet_demand = 6 ~~|\n", 4, 2, "Net Demand"),
    # a lookup defined twice; the comment mentioning "d = 7" is not a definition
    ("f([(0,0)-(1,1)],(0,0),(1,1)) ~ ~ f = 7 here |\nf([(0,0)-(1,1)],(0,0),(1,1)) ~~|\n", 3, 2, "f"),
    # the third definition is reported as the second's repeat of the first
    ("d = 1 ~~|\nd = 2 ~~|\nd = 3 ~~|\n", 3, 2, "d"),
    # a control variable
    ("TIME STEP = 0.5 ~~|\n", 12, 2, "TIME STEP"),
    # a stock
    ("stock = INTEG(1, 0) ~~|\n", 3, 2, "stock"),
])
def test_other_double_definitions(tmp_path, body, line, first, name):
    text = "{UTF-8}\n" + body + "stock = INTEG(1, 0) ~~|\n" + CONTROL.replace("\n\n", "\n")
    path = write(tmp_path, text)
    with pytest.raises(cx.CxError) as err:
        cx.load_model(path)
    assert not isinstance(err.value, UnsafeModelError)
    assert str(err.value) == f"{path}:{line}: {name!r} is defined twice (first at line {first})"


def test_definition_lines_follow_pysd_s_split_of_the_text():
    text = ('{UTF-8}\nx = 1 ~ u ~ x = 2 in a comment |\n"a  b"[r] = 2 ~~|\n'
            ':MACRO: M(p)\nM = p ~~|\nx = p ~~|\n:END OF MACRO:\nX = 3 ~~|\n')
    assert definition_lines(text, "x") == [2, 8]
    assert definition_lines(text, "x", "M") == [6]
    assert definition_lines(text, '"a b"') == [3]


# ------------------------------------------------------------------------------ 3. temp folders


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_translation_folder_names_its_process(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    m = cx.load_model(write(tmp_path, chain_mdl(3)))
    assert re.fullmatch(rf"cxsystems-{os.getpid()}-[a-z0-9_]{{8}}", m._workdir.name)
    assert m._workdir.parent == tmp_path / "tmp"


def test_stale_translation_folders_are_removed_when_a_model_loads(tmp_path, monkeypatch):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    dead = _dead_pid()
    stale = tmp / f"cxsystems-{dead}-abcd1234"
    live = tmp / f"cxsystems-{os.getpid()}-live0000"
    old_style = tmp / "cxsystems-k2j4h5g6"  # before the pid was in the name: owner unknown
    other = tmp / f"other-{dead}-abcd1234"
    for folder in (stale, live, old_style, other):
        folder.mkdir()
        (folder / "model.py").write_text("x = 1\n")
    (stale / "modules_model").mkdir()
    (stale / "modules_model" / "_subscripts.json").write_text("{}")

    model = cx.load_model(write(tmp_path, chain_mdl(3)))
    assert not stale.exists()
    assert live.is_dir() and old_style.is_dir() and other.is_dir()
    assert model._workdir.is_dir() and model._workdir.parent == tmp
    assert remove_stale_workdirs(tmp) == []


def test_folder_of_a_killed_process_is_removed_by_the_next_load(tmp_path, monkeypatch):
    """A process SIGKILLed after loading a model cannot run its ``weakref.finalize``."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    path = write(tmp_path, chain_mdl(3))
    code = ("import os, signal, sys, cxsystems as cx\n"
            f"m = cx.load_model({str(path)!r})\n"
            "print(m._workdir, flush=True)\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n")
    env = {**os.environ, "TMPDIR": str(tmp),
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    left = Path(proc.stdout.strip())
    assert left.parent == tmp and left.is_dir()

    model = cx.load_model(path)
    assert not left.exists()
    assert [p.name for p in tmp.iterdir()] == [model._workdir.name]


def test_a_variable_defined_in_parts_loads_and_runs_element_by_element(tmp_path):
    """A variable defined in parts (one equation per subscript) loads as a variable, not a scenario
    parameter; the default engine (numpy: subscripts unrolled) names each element's column as PySD
    does, with PySD's numbers."""
    path = write(tmp_path, chain_mdl(3).replace("{UTF-8}\n", "{UTF-8}\nregion: north, south\n\t~\t\n\t~\t\t|\n"
                                                 "q[north] = 1\n\t~\tThing\n\t~\t\t|\n"
                                                 "q[south] = 2\n\t~\tThing\n\t~\t\t|\n"), "subs.mdl")
    model = cx.load_model(path)
    assert "q" in model.variables and "q" not in model.parameters
    run = cx.simulate(model, variables=["q"])
    assert list(run.columns) == ["q[north]", "q[south]"]
    assert run["q[north]"].eq(1).all() and run["q[south]"].eq(2).all()
    assert run.equals(cx.simulate(model, variables=["q"], engine="pysd"))
