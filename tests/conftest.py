"""Shared fixtures: the project built as a wheel once per test session."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Callable
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


def run_installed(site: Path, cwd: Path, *args: str) -> CliRun:
    """Run ``python -m cxsystems.cli ARGS`` from the installed wheel (not the checkout)."""
    return run_cli(*args, cwd=cwd, real=True, env=installed_env(site))


# ------------------------------------------------------------------------------ bundled models


@pytest.fixture(scope="session")
def bundled():
    """Load a bundled model once per test session: ``bundled("cx_service")``.

    The same object is handed to every test that asks for it, so tests must not change it (load a
    fresh copy with ``cx.load_model`` for a test that does)."""
    import cxsystems as cx

    cache: dict[str, object] = {}

    def get(name: str):
        if name not in cache:
            cache[name] = cx.load_model(name)
        return cache[name]

    return get


@pytest.fixture(scope="session")
def cx_service(bundled):
    """The bundled cx_service model (shared; do not change it)."""
    return bundled("cx_service")


@pytest.fixture(scope="session")
def capability_trap(bundled):
    """The bundled capability_trap model (shared; do not change it)."""
    return bundled("capability_trap")


@pytest.fixture(scope="session")
def peer_suite():
    """``benchmarks/peer_suite.py`` as a module: the peer suite's files and PySD's comparison rule
    (``canonical_output``, ``read_canonical``, ``with_controls``, ``compare``, ``run_suite``), one
    rule for every test that checks a model against Vensim's or Stella's output."""
    spec = importlib.util.spec_from_file_location("_cx_peer_suite", ROOT / "benchmarks" / "peer_suite.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------ the command line


class CliRun:
    """What one run of the command line gave: exit ``code``, ``out`` and ``err`` text."""

    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err

    @property
    def returncode(self) -> int:  # the subprocess spelling
        return self.code

    @property
    def stdout(self) -> str:
        return self.out

    @property
    def stderr(self) -> str:
        return self.err

    @property
    def error(self) -> str:
        """The one error line (asserts there is exactly one, and no traceback)."""
        lines = self.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("cxsystems: error: "), self.err
        assert "Traceback" not in self.err
        return lines[0]


def run_cli(*args, cwd: Path | None = None, real: bool = False, env: dict | None = None,
            timeout: float = 600, exe: str | Path | None = None, prelude: str | None = None,
            kill_when: Callable[[], bool] | None = None) -> CliRun:
    """Run ``cxsystems ARGS``, the one way the tests run the command line.

    In-process by default (``cxsystems.cli.main`` with stdout and stderr captured, as fast as a
    function call); with ``real=True`` as a separate ``python -m cxsystems.cli`` process (exit codes,
    console behaviour, a clean interpreter). ``cwd`` is the working folder of the run.

    Options of a real run (each implies ``real``): ``env`` adds to (or overrides) its environment,
    which by default imports the checkout; ``exe`` runs that program instead (e.g. the installed
    ``cxsystems`` console script); ``prelude`` is Python run in the process before the command (e.g.
    a resource limit); ``kill_when`` is polled while the process runs, and the process is killed
    (SIGKILL, ``code`` then ``-9``) once it returns true. A run longer than ``timeout`` seconds raises
    :class:`subprocess.TimeoutExpired`.
    """
    argv = [str(a) for a in args]
    if real or env is not None or exe is not None or prelude is not None or kill_when is not None:
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        full_env = {**os.environ, "PYTHONPATH": path, "MPLBACKEND": "Agg", **(env or {})}
        if exe is not None:
            cmd = [str(exe)]
        elif prelude is not None:
            cmd = [sys.executable, "-c", f"{prelude}\nimport sys\nfrom cxsystems.cli import main\n"
                                         "sys.exit(main(sys.argv[1:]))"]
        else:
            cmd = [sys.executable, "-m", "cxsystems.cli"]
        with subprocess.Popen([*cmd, *argv], cwd=cwd, env=full_env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    out, err = proc.communicate(timeout=0.01 if kill_when is not None else timeout)
                    break
                except subprocess.TimeoutExpired:
                    if time.monotonic() >= deadline:
                        proc.kill()
                        proc.communicate()
                        raise
                    if kill_when is not None and kill_when():
                        proc.kill()
                        kill_when = None  # collect what it wrote, then its exit code
        return CliRun(proc.returncode, out, err)
    import contextlib
    import io

    from cxsystems import cli

    out, err = io.StringIO(), io.StringIO()
    old = Path.cwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(argv)
    finally:
        os.chdir(old)
    return CliRun(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli():
    """:func:`run_cli` as a fixture: ``cli("compare", "--out", tmp_path / "out")``."""
    return run_cli


# ------------------------------------------------------------- the JavaScript backend against numpy

#: Runs the generated model in node for each ``{"params": ...}`` read from stdin; non-finite
#: values travel as strings.
JS_DRIVER = r"""
var RUNS = JSON.parse(require("fs").readFileSync(0, "utf8"));
function enc(x) { return isFinite(x) ? x : String(x); }
process.stdout.write(JSON.stringify(RUNS.map(function (run) {
  var r = CX_MODEL.simulate(run.params, [], {}), values = {};
  Object.keys(r.values).forEach(function (k) { values[k] = Array.from(r.values[k], enc); });
  return values;
})));
"""


def js_equals_numpy(model, tmp_path: Path, params=({},), *, atol: float = 1e-14) -> None:
    """The generated JavaScript (run in node) gives the numpy engine's numbers, 1e-12 relative
    and ``atol`` absolute, for each parameter setting in ``params``."""
    import json
    import shutil

    import numpy as np

    from cxsystems.engine import compile_model
    from cxsystems.engine.jsgen import model_to_js

    script = tmp_path / "run.js"
    script.write_text(model_to_js(model) + "\n" + JS_DRIVER, encoding="utf-8")
    proc = subprocess.run([shutil.which("node") or "/usr/bin/node", str(script)],
                          input=json.dumps([{"params": p} for p in params]),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    cm = compile_model(model)
    for p, got in zip(params, json.loads(proc.stdout)):
        res = cm.run(params=p or None)
        for j, name in enumerate(res.names):
            np.testing.assert_allclose(np.array(got[name], dtype=float), res.values[j, :, 0],
                                       rtol=1e-12, atol=atol, err_msg=name)


def write_mdl(tmp_path: Path, body: str, *, final: float = 10, dt: float = 0.5, name: str = "m.mdl") -> Path:
    """A Vensim model file in ``tmp_path``: the equations ``body`` and the control section (weeks,
    INITIAL TIME 0, SAVEPER 1, FINAL TIME ``final``, TIME STEP ``dt``)."""
    control = "".join(f"\n{k} = {v}\n\t~\tWeek\n\t~\t|" for k, v in
                      (("FINAL TIME", final), ("INITIAL TIME", 0), ("SAVEPER", 1), ("TIME STEP", dt))) + "\n"
    path = tmp_path / name
    path.write_text("{UTF-8}\n" + body + control, encoding="utf-8")
    return path
