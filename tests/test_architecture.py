"""The house: imports go one way between the layers, one public face, no name shadowing.

The import graph is built from the source (``ast``), counting imports inside functions too: a lazy
import that dodges a cycle is still a cycle. Two kinds of import are not edges: those under
``if TYPE_CHECKING:`` (never run) and a ``plot*`` method's hand-off into :mod:`cxsystems.plotting`
(as pandas and xarray hand ``.plot()`` to their plotting layer).
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "cxsystems"

#: The layers, bottom first: a module may import only from its own layer or one below.
LAYERS = [
    ("errors", "names", "text", "files", "limits", "version"),
    ("model",),
    ("engine",),
    ("simulation",),
    ("analysis", "causal"),
    ("plotting",),
    ("pages",),
    ("cli",),
]


def _modules() -> dict[str, Path]:
    out = {}
    for path in PKG.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve(name: str) -> str | None:
    """The longest module of cxsystems that ``name`` denotes (``a.b.func`` -> ``a.b``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _skipped_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes under ``if TYPE_CHECKING:`` and of imports of cxsystems.plotting made
    inside a function whose name starts with ``plot``."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("plot"):
            for n in ast.walk(node):
                if isinstance(n, ast.ImportFrom) and n.module and "plotting" in n.module.split("."):
                    skip.add(id(n))
    return skip


def import_edges() -> dict[str, set[str]]:
    """module -> modules of cxsystems it imports (see the module docstring)."""
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for mod, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _skipped_nodes(tree)
        base = mod.split(".") if _is_package(mod) else mod.split(".")[:-1]
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    anchor = base[: len(base) - (node.level - 1)]
                    src = ".".join(anchor + ([node.module] if node.module else []))
                else:
                    src = node.module or ""
                for a in node.names:
                    sub = f"{src}.{a.name}"
                    targets.append(sub if sub in MODULES else src)
            for t in targets:
                if t.split(".")[0] != "cxsystems":
                    continue
                hit = _resolve(t)
                if hit and hit != mod:
                    edges[mod].add(hit)
    return edges


def _layer(mod: str) -> int:
    parts = mod.split(".")
    if len(parts) == 1:
        return len(LAYERS)  # the package's own __init__: the public face, above everything
    top = parts[1]
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"{mod}: not in any layer; add it to LAYERS and docs/architecture.md")


def test_no_import_cycles():
    g = nx.DiGraph()
    for a, bs in import_edges().items():
        g.add_node(a)
        g.add_edges_from((a, b) for b in bs)
    cycles = [sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1]
    assert cycles == [], f"import cycles: {cycles}"


def test_the_cycle_finder_finds_a_cycle():
    # the test above can fail: a two-module cycle is one strongly connected component
    g = nx.DiGraph([("a", "b"), ("b", "a"), ("b", "c")])
    assert [sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1] == [["a", "b"]]


def test_imports_go_down_the_layers():
    upward = []
    for a, bs in import_edges().items():
        for b in bs:
            if _layer(b) > _layer(a):
                upward.append(f"{a} -> {b}")
    assert upward == [], "imports going up a layer: " + ", ".join(sorted(upward))


def test_every_module_is_in_a_layer_and_in_the_map():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = []
    for mod in MODULES:
        _layer(mod)
        path = MODULES[mod].relative_to(PKG).as_posix()
        if not path.endswith("__init__.py") and f"`{path}`" not in text:
            missing.append(path)
    assert missing == [], f"modules missing from docs/architecture.md: {missing}"


ENTRY_POINTS = ["load_model", "simulate", "compare", "ensemble", "robustness", "verdicts", "regret",
                "loops", "archetypes", "causal_graph", "model_diagram", "cld_diagram", "write_diagram",
                "load_cld", "lint", "write_workshop", "write_report", "explore", "levers"]


def test_one_public_face():
    code = ("import cxsystems as cx; cx.ensemble; cx.robustness; cx.loops; cx.archetypes; "
            + "; ".join(f"cx.{n}" for n in ENTRY_POINTS) + "; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
    import cxsystems as cx

    assert set(ENTRY_POINTS) <= set(cx.__all__) <= set(dir(cx))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        cx.nope  # noqa: B018


def test_simulate_reaches_rk4():
    import numpy as np

    import cxsystems as cx
    from cxsystems.engine import compile_model

    model = cx.load_model("cx_service")
    euler = cx.simulate(model, "structural_prevention", method="euler")
    rk4 = cx.simulate(model, "structural_prevention", method="rk4")
    engine_rk4 = compile_model(model).run(model.scenarios["structural_prevention"].changes, method="rk4")
    assert np.array_equal(rk4.to_numpy(), engine_rk4.to_frame().to_numpy())
    # the launch disturbs the model: the two methods differ, by little (TIME STEP is small)
    backlog = (euler["Ticket Backlog"] - rk4["Ticket Backlog"]).abs()
    assert 0 < backlog.max() < 0.01 * euler["Ticket Backlog"].abs().max()
    with pytest.raises(cx.CxError, match="unknown method 'heun'"):
        cx.simulate(model, method="heun")


def test_no_attribute_shadows_a_submodule():
    """``import cxsystems.x.y as m`` must give the module y, never a function named y."""
    shadows = []
    for mod in MODULES:
        if not _is_package(mod):
            continue
        pkg = importlib.import_module(mod)
        for sub in [m for m in MODULES if m.rpartition(".")[0] == mod]:
            leaf = sub.rpartition(".")[2]
            importlib.import_module(sub)
            if getattr(pkg, leaf) is not sys.modules[sub]:
                shadows.append(sub)
    import cxsystems as cx

    for name in cx.__all__:  # the lazy face too: no public name is also a top-level module
        assert f"cxsystems.{name}" not in MODULES, name
    assert shadows == []


def test_import_is_fast_and_lazy():
    code = ("import time, sys; t = time.perf_counter(); import cxsystems; "
            "print(time.perf_counter() - t, any(m.split('.')[0] in ('pysd', 'matplotlib', 'pandas') "
            "for m in sys.modules))")
    best = min(float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                    check=True).stdout.split()[0]) for _ in range(3))
    heavy = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()[1]
    assert heavy == "False"  # nothing heavy is imported until a name is used
    assert best < 0.36  # the time before the house was built; measured here it is about 0.01 s


def test_results_share_one_family(tmp_path):
    import pandas as pd
    from matplotlib.figure import Figure

    import cxsystems as cx
    from cxsystems.files import MANIFEST

    model = cx.load_model("capability_trap")
    results = {"compare": cx.compare(model), "ensemble": cx.ensemble(model, n=20, seed=1),
               "explore": cx.explore(model, {"Pressure Step": 0.1}, 5)}
    for name, res in results.items():
        assert isinstance(res.summary, pd.DataFrame) and len(res.summary) > 0, name
        assert isinstance(res.plot(), Figure), name
        written = res.save(tmp_path / name, format="svg")
        assert written and all(p.parent == tmp_path / name and p.is_file() for p in written), name
        assert {p.name for p in (tmp_path / name).iterdir()} == {p.name for p in written} | {MANIFEST}
