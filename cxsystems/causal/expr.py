"""Reading PySD's abstract expressions as data: dependencies, structural signs, numpy evaluation.

Everything here walks the ``AbstractModel`` produced by PySD's Vensim translator
(``pysd.translators.structures.abstract_expressions``) as plain data; nothing from the model text is
executed. Three services:

* :func:`dependencies` -- which variables an equation reads, and how (``causal``, ``initial`` for
  values used only to initialise a stock or an ``INITIAL()``, ``table`` for a lookup table called as
  a function);
* :func:`derivative_sign` -- the sign of the partial derivative of an expression with respect to one
  variable when the structure decides it (sums, differences, products and quotients of factors of
  known sign, powers, MIN/MAX, XIDZ/ZIDZ, IF THEN ELSE branches, monotone lookup tables);
* :func:`evaluate` -- a small vectorised numpy evaluator of an expression over a whole trajectory
  (one value per saved time), used to measure partial derivatives by finite differences.

Signs are written ``"+"`` (non-decreasing / non-negative), ``"-"``, ``"0"`` (no dependence) and
``"?"`` (undecided).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np
from pysd.translators.structures import abstract_expressions as ae

#: Stateful structures: the variable holds state (a stock in all but name).
STATEFUL = (ae.IntegStructure, ae.SmoothStructure, ae.SmoothNStructure, ae.DelayStructure,
            ae.DelayNStructure, ae.DelayFixedStructure, ae.TrendStructure, ae.ForecastStructure,
            ae.SampleIfTrueStructure)

#: Functions that depend on simulated time.
TIME_FUNCTIONS = frozenset({"step", "pulse", "pulse_train", "ramp", "time"})

#: Monotone non-decreasing functions of one argument.
_MONOTONE_1 = {"exp": "EXP", "sqrt": "SQRT", "ln": "LN", "integer": "INTEGER", "arctan": "ARCTAN",
               "sinh": "SINH", "tanh": "TANH"}


class Unsupported(Exception):
    """The numpy evaluator cannot evaluate this construct."""


def ref_key(name: str) -> str:
    """PySD's reference spelling of a Vensim name: lower case, blanks and underscores as one ``_``."""
    return re.sub(r"[\s_]+", "_", str(name).strip().lower())


def _is_number(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def stateful_parts(ast) -> tuple[tuple[str, object], ...]:
    """``(role, sub-expression)`` pairs of a stateful structure; roles ending in ``initial`` are
    initial-value-only inputs."""
    if isinstance(ast, ae.IntegStructure):
        return (("flow", ast.flow), ("initial", ast.initial))
    if isinstance(ast, (ae.SmoothStructure, ae.SmoothNStructure)):
        parts = [("input", ast.input), ("time", ast.smooth_time), ("initial", ast.initial)]
        if isinstance(ast, ae.SmoothNStructure):
            parts.append(("order", ast.order))
        return tuple(parts)
    if isinstance(ast, (ae.DelayStructure, ae.DelayNStructure, ae.DelayFixedStructure)):
        parts = [("input", ast.input), ("time", ast.delay_time), ("initial", ast.initial)]
        if isinstance(ast, ae.DelayNStructure):
            parts.append(("order", ast.order))
        return tuple(parts)
    if isinstance(ast, ae.TrendStructure):
        return (("input", ast.input), ("time", ast.average_time), ("initial", ast.initial_trend))
    if isinstance(ast, ae.ForecastStructure):
        return (("input", ast.input), ("time", ast.average_time), ("horizon", ast.horizon),
                ("initial", ast.initial_trend))
    if isinstance(ast, ae.SampleIfTrueStructure):
        return (("condition", ast.condition), ("input", ast.input), ("initial", ast.initial))
    raise TypeError(type(ast).__name__)


def _children(ast):
    """Sub-expressions of a non-stateful node."""
    if isinstance(ast, (ae.ArithmeticStructure, ae.LogicStructure)):
        return list(ast.arguments)
    if isinstance(ast, ae.CallStructure):
        return list(ast.arguments)
    if isinstance(ast, ae.InlineLookupsStructure):
        return [ast.argument]
    if isinstance(ast, ae.InitialStructure):
        return [ast.initial]
    if isinstance(ast, ae.GameStructure):
        return [ast.expression]
    if isinstance(ast, (tuple, list)):
        return list(ast)
    if hasattr(ast, "__dataclass_fields__") and not isinstance(ast, (ae.ReferenceStructure,
                                                                     ae.LookupsStructure)):
        return [getattr(ast, f) for f in ast.__dataclass_fields__]
    return []


def dependencies(ast, variables: Mapping[str, str]) -> dict[str, set[str]]:
    """Variables an expression reads: ``{reference key: {"causal" | "initial" | "table"}}``.

    ``variables`` maps reference keys to model names; a call whose function is a model variable is a
    lookup-table call (the table is a ``table`` dependency, its argument is read causally).
    ``time`` is not reported.
    """
    out: dict[str, set[str]] = {}

    def add(key: str, how: str) -> None:
        out.setdefault(key, set()).add(how)

    def walk(node, how: str) -> None:
        if node is None or _is_number(node) or isinstance(node, (str, np.ndarray)):
            return
        if isinstance(node, ae.ReferenceStructure):
            if node.reference in variables:
                add(node.reference, how)
            return
        if isinstance(node, ae.CallStructure):
            fkey = node.function.reference
            if fkey in variables:
                add(fkey, "table" if how == "causal" else how)
            for a in node.arguments:
                walk(a, how)
            return
        if isinstance(node, ae.InitialStructure):
            walk(node.initial, "initial")
            return
        if isinstance(node, STATEFUL):
            for role, sub in stateful_parts(node):
                walk(sub, "initial" if role == "initial" else how)
            return
        for child in _children(node):
            walk(child, how)

    walk(ast, "causal")
    return out


def references(ast) -> set[str]:
    """Every reference key (variables, functions and ``time``) inside an expression."""
    out: set[str] = set()

    def walk(node):
        if isinstance(node, ae.ReferenceStructure):
            out.add(node.reference)
        elif isinstance(node, ae.CallStructure):
            out.add(node.function.reference)
            for a in node.arguments:
                walk(a)
        elif isinstance(node, STATEFUL):
            for _, sub in stateful_parts(node):
                walk(sub)
        else:
            for c in _children(node):
                walk(c)

    walk(ast)
    return out


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
        value_sign: reference key -> sign of the variable's value (``"+"`` for >= 0) and a note
            (``""`` or how it was established, e.g. ``"observed >= 0 in simulation"``).
        lookups: reference key of a lookup table -> (xs, ys).
        names: reference key -> model name (for messages).
    """

    value_sign: Callable[[str], tuple[str, str]]
    lookups: Mapping[str, tuple[tuple[float, ...], tuple[float, ...]]]
    names: Mapping[str, str] = field(default_factory=dict)
    constants: Mapping[str, float] = field(default_factory=dict)


def constant_value(ast, constants: Mapping[str, float], lookups=None) -> float | None:
    """Value of an expression made of numbers and constants only (``None`` otherwise)."""
    refs = references(ast)
    if refs - set(constants) - set(lookups or {}) or refs & TIME_FUNCTIONS:
        return None
    try:
        ctx = EvalContext({k: np.array([v]) for k, v in constants.items()}, lookups or {},
                          np.zeros(1), 1.0)
        v = float(evaluate(ast, ctx)[0])
    except (Unsupported, TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def value_sign(ast, ctx: SignContext, notes: set[str] | None = None) -> str:
    """Sign of an expression's value (``"+"`` = never negative) from its structure."""
    notes = notes if notes is not None else set()

    def vs(node) -> str:
        if _is_number(node):
            return "+" if node >= 0 else "-"
        if ctx.constants and not isinstance(node, ae.ReferenceStructure):
            c = constant_value(node, ctx.constants, ctx.lookups)
            if c is not None:
                return "+" if c >= 0 else "-"
        if isinstance(node, ae.ReferenceStructure):
            if node.reference == "time":
                return "?"
            s, note = ctx.value_sign(node.reference)
            if note and s in "+-":
                notes.add(note)
            return s
        if isinstance(node, ae.ArithmeticStructure):
            ops, args = list(node.operators), list(node.arguments)
            if ops == ["negative"]:
                return flip(vs(args[0]))
            if ops[0] in "+-":
                terms = [vs(args[0])] + [vs(a) if op == "+" else flip(vs(a)) for op, a in zip(ops, args[1:])]
                s = {t for t in terms if t != "0"}
                return s.pop() if len(s) == 1 else ("0" if not s else "?")
            if ops[0] in "*/":
                out = "+"
                for a in args:
                    out = mul(out, vs(a)) if out != "0" else "0"
                return out if out != "0" else "+"
            if ops[0] == "^":
                return "+" if vs(args[0]) == "+" else "?"
            return "?"
        if isinstance(node, ae.LogicStructure):
            return "+"
        if isinstance(node, ae.CallStructure):
            f = node.function.reference
            args = list(node.arguments)
            if f in ctx.lookups:
                ys = np.asarray(ctx.lookups[f][1], dtype=float)
                return "+" if np.all(ys >= 0) else ("-" if np.all(ys <= 0) else "?")
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
        if isinstance(node, ae.InlineLookupsStructure):
            ys = np.asarray(node.lookups.y, dtype=float)
            return "+" if np.all(ys >= 0) else ("-" if np.all(ys <= 0) else "?")
        if isinstance(node, (ae.SmoothStructure, ae.SmoothNStructure, ae.DelayStructure,
                             ae.DelayNStructure, ae.DelayFixedStructure)):
            a, b = vs(node.input), vs(node.initial)
            return a if a == b else "?"
        if isinstance(node, ae.InitialStructure):
            return vs(node.initial)
        return "?"

    return vs(ast)


def derivative_sign(ast, var: str, ctx: SignContext, notes: set[str] | None = None) -> str:
    """Sign of d(expression)/d(var) decided by structure alone, ``"?"`` when it does not decide.

    ``notes`` collects short explanations (lookup tables used, factor signs observed in
    simulation, MIN/MAX, IF THEN ELSE) for the edge's reason.
    """
    notes = notes if notes is not None else set()
    names = ctx.names

    def has(node) -> bool:
        return var in references(node)

    def ds(node) -> str:
        if _is_number(node) or node is None:
            return "0"
        if isinstance(node, ae.ReferenceStructure):
            return "+" if node.reference == var else "0"
        if not has(node):
            return "0"
        if isinstance(node, ae.ArithmeticStructure):
            ops, args = list(node.operators), list(node.arguments)
            if ops == ["negative"]:
                return flip(ds(args[0]))
            if ops[0] in "+-":
                terms = [ds(args[0])] + [ds(a) if op == "+" else flip(ds(a)) for op, a in zip(ops, args[1:])]
                return combine(terms)
            if ops[0] in "*/":
                expo = [1] + [1 if op == "*" else -1 for op in ops]
                terms = []
                for i, a in enumerate(args):
                    d = ds(a)
                    if d == "0":
                        continue
                    t = d if expo[i] == 1 else flip(d)
                    for j, b in enumerate(args):
                        if j != i:
                            t = mul(t, value_sign(b, ctx, notes)) if t != "0" else "0"
                    if t == "0":  # a factor is exactly zero-signed: treat as non-negative
                        t = d if expo[i] == 1 else flip(d)
                    terms.append(t)
                return combine(terms)
            if ops == ["^"] and len(args) == 2:
                base, ex = args
                if not has(ex) and _is_number(ex) and value_sign(base, ctx, notes) == "+":
                    return ds(base) if ex > 0 else (flip(ds(base)) if ex < 0 else "0")
                if not has(base) and _is_number(base) and base > 1:
                    return ds(ex)
                return "?"
            return "?"
        if isinstance(node, ae.LogicStructure):
            notes.add("threshold condition")
            return "?"
        if isinstance(node, ae.CallStructure):
            f = node.function.reference
            args = list(node.arguments)
            if f in ctx.lookups:
                shape = lookup_shape(*ctx.lookups[f])
                notes.add(f"{shape} lookup {names.get(f, f)!r}")
                inner = ds(args[0])
                return {"increasing": inner, "decreasing": flip(inner), "constant": "0"}.get(shape, "?")
            if f in ("min", "max"):
                notes.add(f.upper())
                return combine(ds(a) for a in args)
            if f in _MONOTONE_1:
                return ds(args[0])
            if f == "abs":
                s = value_sign(args[0], ctx, notes)
                return ds(args[0]) if s == "+" else (flip(ds(args[0])) if s == "-" else "?")
            if f in ("xidz", "zidz"):
                quotient = ae.ArithmeticStructure(["/"], (args[0], args[1]))
                q = ds(quotient)
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
        if isinstance(node, ae.InlineLookupsStructure):
            shape = lookup_shape(node.lookups.x, node.lookups.y)
            notes.add(f"{shape} WITH LOOKUP")
            inner = ds(node.argument)
            return {"increasing": inner, "decreasing": flip(inner), "constant": "0"}.get(shape, "?")
        if isinstance(node, ae.InitialStructure):
            return "0"
        if isinstance(node, (ae.SmoothStructure, ae.SmoothNStructure, ae.DelayStructure,
                             ae.DelayNStructure, ae.DelayFixedStructure)):
            if has(node.input):
                return ds(node.input)
            return "?"
        return "?"

    return ds(ast)


# --------------------------------------------------------------------------- numpy evaluator
@dataclass
class EvalContext:
    """Inputs of the numpy evaluator: one array per variable over the saved times."""

    env: Mapping[str, np.ndarray]
    lookups: Mapping[str, tuple[tuple[float, ...], tuple[float, ...]]]
    time: np.ndarray
    time_step: float


_SMALL = 1e-6


def evaluate(ast, ctx: EvalContext) -> np.ndarray:
    """Value of an expression at every saved time (vectorised); raises :class:`Unsupported`."""
    t = ctx.time
    n = len(t)

    def ev(node) -> np.ndarray:
        if _is_number(node):
            return np.full(n, float(node))
        if isinstance(node, ae.ReferenceStructure):
            if node.reference == "time":
                return t
            if node.reference in ctx.env:
                return np.asarray(ctx.env[node.reference], dtype=float)
            raise Unsupported(f"no values for {node.reference}")
        if isinstance(node, ae.ArithmeticStructure):
            ops, args = list(node.operators), list(node.arguments)
            if ops == ["negative"]:
                return -ev(args[0])
            if ops and ops[0] == "^":
                # right-associative chain
                vals = [ev(a) for a in args]
                out = vals[-1]
                for v in reversed(vals[:-1]):
                    with np.errstate(all="ignore"):
                        out = np.power(v, out)
                return out
            out = ev(args[0])
            with np.errstate(all="ignore"):
                for op, a in zip(ops, args[1:]):
                    v = ev(a)
                    if op == "+":
                        out = out + v
                    elif op == "-":
                        out = out - v
                    elif op == "*":
                        out = out * v
                    elif op == "/":
                        out = out / v
                    else:
                        raise Unsupported(f"operator {op}")
            return out
        if isinstance(node, ae.LogicStructure):
            ops, args = list(node.operators), list(node.arguments)
            if ops == [":NOT:"]:
                return (ev(args[0]) == 0).astype(float)
            out = ev(args[0])
            for op, a in zip(ops, args[1:]):
                v = ev(a)
                if op == "=":
                    out = out == v
                elif op == "<>":
                    out = out != v
                elif op == "<":
                    out = out < v
                elif op == "<=":
                    out = out <= v
                elif op == ">":
                    out = out > v
                elif op == ">=":
                    out = out >= v
                elif op == ":AND:":
                    out = (out != 0) & (v != 0)
                elif op == ":OR:":
                    out = (out != 0) | (v != 0)
                else:
                    raise Unsupported(f"operator {op}")
                out = np.asarray(out, dtype=float)
            return out
        if isinstance(node, ae.CallStructure):
            f = node.function.reference
            args = list(node.arguments)
            if f in ctx.lookups:
                xs, ys = ctx.lookups[f]
                return np.interp(ev(args[0]), np.asarray(xs, float), np.asarray(ys, float))
            return _call(f, args, ev, t, ctx.time_step)
        if isinstance(node, ae.InlineLookupsStructure):
            return np.interp(ev(node.argument), np.asarray(node.lookups.x, float),
                             np.asarray(node.lookups.y, float))
        raise Unsupported(type(node).__name__)

    return ev(ast)


def _call(f: str, args, ev, t, dt) -> np.ndarray:
    with np.errstate(all="ignore"):
        if f == "min":
            return np.minimum(ev(args[0]), ev(args[1]))
        if f == "max":
            return np.maximum(ev(args[0]), ev(args[1]))
        if f == "abs":
            return np.abs(ev(args[0]))
        if f in ("exp", "sqrt", "sin", "cos", "tan", "arctan", "sinh", "cosh", "tanh"):
            return getattr(np, f)(ev(args[0]))
        if f == "ln":
            return np.log(ev(args[0]))
        if f == "log":
            return np.log(ev(args[0])) / np.log(ev(args[1]))
        if f == "power":
            return np.power(ev(args[0]), ev(args[1]))
        if f == "integer":
            return np.fix(ev(args[0]))
        if f == "modulo":
            return np.mod(ev(args[0]), ev(args[1]))
        if f == "xidz":
            a, b, x = ev(args[0]), ev(args[1]), ev(args[2])
            return np.where(b == 0, x, a / np.where(b == 0, 1.0, b))
        if f == "zidz":
            a, b = ev(args[0]), ev(args[1])
            return np.where(b == 0, 0.0, a / np.where(b == 0, 1.0, b))
        if f == "if_then_else":
            return np.where(ev(args[0]) != 0, ev(args[1]), ev(args[2]))
        if f == "step":
            return ev(args[0]) * (t + dt / 2 > ev(args[1]))
        if f == "ramp":
            slope, start = ev(args[0]), ev(args[1])
            final = t if len(args) < 3 else np.minimum(ev(args[2]), t)
            return (t + _SMALL > start) * slope * (final - start)
        if f == "pulse":
            start = ev(args[0])
            width = ev(args[1]) if len(args) > 1 else np.full(len(t), dt / 2)
            return ((start - _SMALL <= t) & (t < start + width)).astype(float)
    raise Unsupported(f"function {f.upper()}")
