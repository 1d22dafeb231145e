"""Signs and dependencies of the engine's equations, read as data.

Causal analysis reads the intermediate representation the engine simulates
(:mod:`cxsystems.engine.ir`), through :mod:`cxsystems.engine.equations` (whole equations, hidden
slots put back, and their evaluation along a run by the engine's own closures); PySD's syntax is
not read a second time and nothing from the model text is executed. Services:

* :func:`dependencies` -- which variables an equation reads, and how (``causal``, ``initial`` for
  values used only to initialise a stock or an ``INITIAL()``, ``table`` for a lookup table called as
  a function);
* :func:`derivative_sign` -- the sign of the partial derivative of an expression with respect to one
  variable when the structure decides it (sums, differences, products and quotients of factors of
  known sign, powers, MIN/MAX, XIDZ/ZIDZ, IF THEN ELSE branches, monotone lookup tables);
  :func:`value_sign` the sign of its value.

Signs are written ``"+"`` (non-decreasing / non-negative), ``"-"``, ``"0"`` (no dependence) and
``"?"`` (undecided).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from ..engine.equations import EvalContext, Names, StatefulExpr, Unsupported, children, evaluate
from ..engine.ir import (
    TIME_BUILTINS,
    Call,
    Const,
    Control,
    Lookup,
    LookupTable,
    Op,
    Ref,
    TimeRef,
)

#: Kinds with a delayed copy of their input (their value sign follows input and initial value).
_PIPELINES = frozenset({"smooth", "delay", "delayn", "delay_fixed"})

#: Monotone non-decreasing functions of one argument.
_MONOTONE_1 = frozenset({"exp", "sqrt", "ln", "integer", "arctan", "sinh", "tanh"})

_ADDITIVE = ("+", "-")
_MULTIPLICATIVE = ("*", "/")
_LOGIC = frozenset({"==", "!=", "<", "<=", ">", ">=", "and", "or", "not"})


def dependencies(e, names: Names) -> dict[str, set[str]]:
    """Variables an expression reads: ``{name: {"causal" | "initial" | "table"}}``.

    A standalone lookup table is a ``table`` dependency (its argument is read causally); the
    ``initial`` argument of a stateful construct is read for the initial value only. Time and the
    control values are not reported.
    """
    out: dict[str, set[str]] = {}

    def add(key: str, how: str) -> None:
        out.setdefault(key, set()).add(how)

    def walk(node, how: str) -> None:
        if isinstance(node, Ref):
            if node.slot in names.variables:
                add(names.variables[node.slot], how)
        elif isinstance(node, Lookup):
            table = names.table(node.table)
            if table is not None:
                add(table, "table" if how == "causal" else how)
            walk(node.arg, how)
        elif isinstance(node, StatefulExpr):
            for role, sub in node.args:
                walk(sub, "initial" if role == "initial" else how)
        else:
            for child in children(node):
                walk(child, how)

    walk(e, "causal")
    return out


def reads(e, names: Names) -> set[str]:
    """Names of every variable and standalone lookup table an expression reads (any role)."""
    return set(dependencies(e, names))


def uses_time(e) -> bool:
    """Does the expression read the time (``Time``, STEP, RAMP, PULSE, PULSE TRAIN)?"""
    if isinstance(e, TimeRef) or (isinstance(e, Call) and e.fn in TIME_BUILTINS):
        return True
    return any(uses_time(c) for c in children(e))


def _terms(e) -> list[tuple[bool, object]]:
    """The terms of a chain of ``+``/``-`` as PySD reads it (``a - b + c``): ``(negated, term)``."""
    out: list[tuple[bool, object]] = []
    while isinstance(e, Op) and e.op in _ADDITIVE:
        out.append((e.op == "-", e.args[1]))
        e = e.args[0]
    out.append((False, e))
    return out[::-1]


def _factors(e) -> list[tuple[int, object]]:
    """The factors of a chain of ``*``/``/`` (``a * b / c``): ``(exponent +1 | -1, factor)``."""
    out: list[tuple[int, object]] = []
    while isinstance(e, Op) and e.op in _MULTIPLICATIVE:
        out.append((1 if e.op == "*" else -1, e.args[1]))
        e = e.args[0]
    out.append((1, e))
    return out[::-1]


def lookup_shape(xs, ys) -> str:
    """``"increasing"``, ``"decreasing"`` (both weakly), ``"constant"`` or ``"non-monotone"``."""
    y = np.asarray(ys, dtype=float)
    d = np.diff(y[np.argsort(np.asarray(xs, dtype=float), kind="stable")])
    if np.all(d == 0):
        return "constant"
    if np.all(d >= 0):
        return "increasing"
    if np.all(d <= 0):
        return "decreasing"
    return "non-monotone"


# --------------------------------------------------------------------------- sign algebra
_FLIP = {"+": "-", "-": "+", "0": "0", "?": "?"}


def flip(s: str) -> str:
    """The opposite sign."""
    return _FLIP[s]


def mul(a: str, b: str) -> str:
    """Sign of a product."""
    if a == "0" or b == "0":
        return "0"
    if a == "?" or b == "?":
        return "?"
    return "+" if a == b else "-"


def combine(signs) -> str:
    """Sign of a sum of terms with the given signs (``"?"`` when they disagree)."""
    s = {x for x in signs if x != "0"}
    if not s:
        return "0"
    if len(s) == 1:
        return s.pop()
    return "?"


@dataclass
class SignContext:
    """What sign analysis needs to know about the model.

    Attributes:
        value_sign: variable name -> sign of the variable's value (``"+"`` for >= 0) and a note
            (``""`` or how it was established, e.g. ``"'X' observed >= 0 along the run"``).
        names: the model's names (:class:`Names`).
        constants: variable name -> value, for variables computed from constants only.
    """

    value_sign: Callable[[str], tuple[str, str]]
    names: Names
    constants: Mapping[str, float] = field(default_factory=dict)


def _table_sign(table: LookupTable) -> str:
    ys = np.asarray(table.y, dtype=float)
    return "+" if np.all(ys >= 0) else ("-" if np.all(ys <= 0) else "?")


def constant_value(e, constants: Mapping[str, float], names: Names) -> float | None:
    """Value of an expression made of numbers, constants, operators and lookup tables only
    (``None`` otherwise: time, control values, function calls and stateful constructs are not
    folded)."""
    slots: dict[int, float] = {}

    def ok(node) -> bool:
        if isinstance(node, Const):
            return True
        if isinstance(node, Ref):
            name = names.variables.get(node.slot)
            if name not in constants:
                return False
            slots[node.slot] = constants[name]
            return True
        if isinstance(node, Op):
            return all(ok(a) for a in node.args)
        if isinstance(node, Lookup):
            return ok(node.arg)
        return False

    if not ok(e):
        return None
    try:
        v = float(evaluate(e, EvalContext({s: np.array([v]) for s, v in slots.items()}, np.zeros(1)))[0])
    except (Unsupported, TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def value_sign(e, ctx: SignContext, notes: set[str] | None = None) -> str:
    """Sign of an expression's value (``"+"`` = never negative) from its structure."""
    notes = notes if notes is not None else set()

    def vs(node) -> str:
        if isinstance(node, Const):
            return "+" if node.value >= 0 else "-"
        if ctx.constants and not isinstance(node, Ref):
            c = constant_value(node, ctx.constants, ctx.names)
            if c is not None:
                return "+" if c >= 0 else "-"
        if isinstance(node, Ref):
            name = ctx.names.variables.get(node.slot)
            if name is None:
                return "?"
            s, note = ctx.value_sign(name)
            if note and s in "+-":
                notes.add(note)
            return s
        if isinstance(node, (TimeRef, Control)):
            return "?"
        if isinstance(node, Op):
            if node.op == "neg":
                return flip(vs(node.args[0]))
            if node.op in _ADDITIVE:
                terms = [flip(vs(t)) if neg else vs(t) for neg, t in _terms(node)]
                s = {t for t in terms if t != "0"}
                return s.pop() if len(s) == 1 else ("0" if not s else "?")
            if node.op in _MULTIPLICATIVE:
                out = "+"
                for _, a in _factors(node):
                    out = mul(out, vs(a)) if out != "0" else "0"
                return out if out != "0" else "+"
            if node.op == "^":
                return "+" if vs(node.args[0]) == "+" else "?"
            if node.op in _LOGIC:
                return "+"
            return "?"
        if isinstance(node, Lookup):
            return _table_sign(node.table)
        if isinstance(node, Call):
            f, args = node.fn, node.args
            if f == "max":
                s = [vs(a) for a in args]
                return "+" if "+" in s else ("-" if all(x == "-" for x in s) else "?")
            if f == "min":
                s = [vs(a) for a in args]
                return "-" if "-" in s else ("+" if all(x == "+" for x in s) else "?")
            if f in ("abs", "exp", "sqrt", "pulse", "pulse_train"):
                return "+"
            if f == "integer":
                return vs(args[0])
            if f in ("xidz", "zidz"):
                q = mul(vs(args[0]), vs(args[1]))
                q = "+" if q == "0" else q
                if f == "xidz":
                    x = vs(args[2])
                    return q if x in (q, "0") else "?"
                return q
            if f == "if_then_else":
                a, b = vs(args[1]), vs(args[2])
                return a if a == b else "?"
            if f in ("step", "ramp"):
                return vs(args[0])
            return "?"
        if isinstance(node, StatefulExpr):
            if node.kind in _PIPELINES:
                a, b = vs(node.arg("input")), vs(node.arg("initial"))
                return a if a == b else "?"
            if node.kind == "initial":
                return vs(node.arg("initial"))
            return "?"
        return "?"

    return vs(e)


def derivative_sign(e, var: str, ctx: SignContext, notes: set[str] | None = None) -> str:
    """Sign of d(expression)/d(var) decided by structure alone, ``"?"`` when it does not decide.

    ``var`` is a variable name. ``notes`` collects short explanations (lookup tables used, factor
    signs observed in simulation, MIN/MAX, IF THEN ELSE) for the edge's reason.
    """
    notes = notes if notes is not None else set()
    names = ctx.names
    memo: dict[int, bool] = {}  # id(node) -> does it read var (the nodes live as long as e)

    def has(node) -> bool:
        key = id(node)
        if key not in memo:
            memo[key] = _reads_var(node)
        return memo[key]

    def _reads_var(node) -> bool:
        if isinstance(node, Ref):
            return names.variables.get(node.slot) == var
        if isinstance(node, Lookup) and names.table(node.table) == var:
            return True
        if isinstance(node, StatefulExpr):
            return any(has(sub) for _, sub in node.args)
        return any(has(c) for c in children(node))

    def lookup(table: LookupTable, arg, what: str) -> str:
        shape = lookup_shape(table.x, table.y)
        notes.add(f"{shape} {what}")
        inner = ds(arg)
        return {"increasing": inner, "decreasing": flip(inner), "constant": "0"}.get(shape, "?")

    def ds(node) -> str:
        if node is None or isinstance(node, (Const, TimeRef, Control)):
            return "0"
        if isinstance(node, Ref):
            return "+" if names.variables.get(node.slot) == var else "0"
        if not has(node):
            return "0"
        if isinstance(node, Op):
            op, args = node.op, node.args
            if op == "neg":
                return flip(ds(args[0]))
            if op in _ADDITIVE:
                return combine(flip(ds(t)) if neg else ds(t) for neg, t in _terms(node))
            if op in _MULTIPLICATIVE:
                factors = _factors(node)
                terms = []
                for i, (expo, a) in enumerate(factors):
                    d = ds(a)
                    if d == "0":
                        continue
                    t = d if expo == 1 else flip(d)
                    for j, (_, b) in enumerate(factors):
                        if j != i:
                            t = mul(t, value_sign(b, ctx, notes)) if t != "0" else "0"
                    if t == "0":  # a factor is exactly zero-signed: treat as non-negative
                        t = d if expo == 1 else flip(d)
                    terms.append(t)
                return combine(terms)
            if op == "^":
                base, ex = args
                if not has(ex) and isinstance(ex, Const) and value_sign(base, ctx, notes) == "+":
                    return ds(base) if ex.value > 0 else (flip(ds(base)) if ex.value < 0 else "0")
                if not has(base) and isinstance(base, Const) and base.value > 1:
                    return ds(ex)
                return "?"
            if op in _LOGIC:
                notes.add("threshold condition")
            return "?"
        if isinstance(node, Lookup):
            table = names.table(node.table)
            what = f"lookup {table!r}" if table is not None else "WITH LOOKUP"
            return lookup(node.table, node.arg, what)
        if isinstance(node, Call):
            f, args = node.fn, node.args
            if f in ("min", "max"):
                notes.add(f.upper())
                return combine(ds(a) for a in args)
            if f in _MONOTONE_1:
                return ds(args[0])
            if f == "abs":
                s = value_sign(args[0], ctx, notes)
                return ds(args[0]) if s == "+" else (flip(ds(args[0])) if s == "-" else "?")
            if f in ("xidz", "zidz"):
                q = ds(Op("/", (args[0], args[1])))
                if f == "xidz":
                    return combine([q, ds(args[2])])
                return q
            if f == "if_then_else":
                if has(args[0]):
                    notes.add("IF THEN ELSE condition")
                    return "?"
                notes.add("IF THEN ELSE branches")
                return combine([ds(args[1]), ds(args[2])])
            if f in ("step", "ramp") and not any(has(a) for a in args[1:]):
                return ds(args[0])
            return "?"
        if isinstance(node, StatefulExpr):
            if node.kind == "initial":
                return "0"
            if node.kind in _PIPELINES and has(node.arg("input")):
                return ds(node.arg("input"))
            return "?"
        return "?"

    return ds(e)
