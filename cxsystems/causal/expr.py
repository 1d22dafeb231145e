"""Reading the engine's IR as data: dependencies, structural signs, evaluation along a run.

Causal analysis reads the intermediate representation the engine simulates
(:mod:`cxsystems.engine.ir`, ``compile_model(model).ir``): the same trees of ``Const``, ``Ref``,
``Op``, ``Call``, ``Lookup``... and ``Stateful`` records; PySD's syntax is not read a second time
and nothing from the model text is executed. :func:`equation` gives a variable's whole equation:
the engine lifts the arguments of stateful constructs (and nested SMOOTH, DELAY, INITIAL...) into
hidden slots; here they are put back in place, so that every ``Ref`` left in the tree is a model
variable and a stateful construct is a :class:`StatefulExpr` holding its arguments. Variables are
named as the model names them (:class:`Names`: slots and standalone lookup tables). Services:

* :func:`dependencies` -- which variables an equation reads, and how (``causal``, ``initial`` for
  values used only to initialise a stock or an ``INITIAL()``, ``table`` for a lookup table called as
  a function);
* :func:`derivative_sign` -- the sign of the partial derivative of an expression with respect to one
  variable when the structure decides it (sums, differences, products and quotients of factors of
  known sign, powers, MIN/MAX, XIDZ/ZIDZ, IF THEN ELSE branches, monotone lookup tables);
  :func:`value_sign` the sign of its value;
* :func:`evaluate` / :class:`Evaluator` -- an expression's value at every saved time of a run,
  computed by the engine's own vector closures (:class:`cxsystems.engine.closures.ClosureBuilder`
  in the vector flavour, the saved times as the vector dimension), used to measure partial
  derivatives by finite differences.

Signs are written ``"+"`` (non-decreasing / non-negative), ``"-"``, ``"0"`` (no dependence) and
``"?"`` (undecided).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from ..engine.closures import ClosureBuilder, Flavour
from ..engine.ir import (
    BUILTINS,
    STATEFUL_ARGS,
    TIME_BUILTINS,
    VENSIM_NAMES,
    Call,
    Const,
    Control,
    Lookup,
    LookupTable,
    ModelIR,
    Op,
    Ref,
    TimeRef,
)

#: Stateful kinds whose variable holds state (a stock in all but name); ``initial`` is not one.
STOCK_KINDS = frozenset(STATEFUL_ARGS) - {"initial"}

#: Kinds with a delayed copy of their input (their value sign follows input and initial value).
_PIPELINES = frozenset({"smooth", "delay", "delayn", "delay_fixed"})

#: Monotone non-decreasing functions of one argument.
_MONOTONE_1 = frozenset({"exp", "sqrt", "ln", "integer", "arctan", "sinh", "tanh"})

_ADDITIVE = ("+", "-")
_MULTIPLICATIVE = ("*", "/")
_LOGIC = frozenset({"==", "!=", "<", "<=", ">", ">=", "and", "or", "not"})


class Unsupported(Exception):
    """The expression cannot be evaluated along a run."""


# --------------------------------------------------------------------------- equations as trees
@dataclass(frozen=True)
class StatefulExpr:
    """A stateful construct in an equation: the engine's :class:`~cxsystems.engine.ir.Stateful`
    with its argument expressions put back in place.

    Attributes:
        kind: the engine's kind (``integ``, ``smooth``, ``delay``, ``delayn``, ``delay_fixed``,
            ``trend``, ``forecast``, ``initial``).
        args: ``((role, expression), ...)`` in the engine's order (``flow``/``input``, ``time``,
            ``initial``...).
        order: the fixed order of SMOOTH/DELAY (``None``: SMOOTH N, DELAY N, others).
        slot: the engine's output slot.
    """

    kind: str
    args: tuple
    order: int | None
    slot: int

    def arg(self, role: str):
        """The argument ``role`` (``None`` if the construct has none)."""
        for r, e in self.args:
            if r == role:
                return e
        return None


def equation(ir: ModelIR, slot: int):
    """The whole equation of slot ``slot``: hidden slots put back in place (see the module doc)."""
    el = ir.elements[slot]
    if el.stateful is not None:
        st = el.stateful
        return StatefulExpr(st.kind, tuple((role, inline(ir, e)) for role, e in st.args.items()),
                            st.order, st.out)
    return inline(ir, el.expr)


def inline(ir: ModelIR, e):
    """``e`` with every reference to a hidden slot replaced by that slot's equation."""
    if isinstance(e, Ref):
        return equation(ir, e.slot) if ir.elements[e.slot].hidden else e
    if isinstance(e, Op):
        return Op(e.op, tuple(inline(ir, a) for a in e.args))
    if isinstance(e, Call):
        return Call(e.fn, tuple(inline(ir, a) for a in e.args))
    if isinstance(e, Lookup):
        return Lookup(e.table, inline(ir, e.arg))
    return e


@dataclass(frozen=True)
class Names:
    """The model's names for what an equation reads.

    Attributes:
        variables: slot -> variable name (visible slots only).
        tables: name -> :class:`~cxsystems.engine.ir.LookupTable` of each standalone lookup table
            (a ``WITH LOOKUP`` table belongs to its equation and is not a variable).
    """

    variables: Mapping[int, str]
    tables: Mapping[str, LookupTable] = field(default_factory=dict)

    @classmethod
    def of(cls, ir: ModelIR) -> "Names":
        """The names of a model's IR."""
        return cls({el.slot: el.name for el in ir.elements if not el.hidden},
                   {t.name: t for t in ir.tables.values()})

    def table(self, table: LookupTable) -> str | None:
        """The variable name of a standalone lookup table; ``None`` for a ``WITH LOOKUP`` table."""
        return table.name if self.tables.get(table.name) == table else None


def _children(e) -> tuple:
    if isinstance(e, (Op, Call)):
        return e.args
    if isinstance(e, Lookup):
        return (e.arg,)
    if isinstance(e, StatefulExpr):
        return tuple(sub for _, sub in e.args)
    return ()


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
            for child in _children(node):
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
    return any(uses_time(c) for c in _children(e))


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

    def has(node) -> bool:
        return var in reads(node, names)

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


# --------------------------------------------------------------------------- evaluation
@dataclass
class EvalContext:
    """Inputs of an evaluation along a run.

    Attributes:
        env: slot -> the variable's values at the saved times.
        time: the saved times.
        controls: ``initial_time``, ``final_time``, ``time_step``, ``saveper``.
        names: slot -> variable name (for messages).
    """

    env: Mapping[int, np.ndarray]
    time: np.ndarray
    controls: Mapping[str, float] = field(default_factory=dict)
    names: Mapping[int, str] = field(default_factory=dict)


#: A slot of the evaluator's value table holding zeros over the saved times (see
#: :class:`Evaluator`); model slots are never negative.
_ZERO = -1


class Evaluator:
    """An expression compiled by the engine's vector closures, evaluated at every saved time.

    The engine's vector flavour holds one value per run of an ensemble and a scalar time; here
    the vector is the saved times of one run: the value table holds each variable's trajectory
    and the time is the array of saved times. PULSE and PULSE TRAIN pick their array branch from
    their start, which is therefore broadcast over the times (adding an array of zeros: the same
    values). Calling the evaluator with ``{slot: values}`` evaluates with those values instead
    (the closures read the value table when called).

    Raises:
        Unsupported: a variable without values, a stateful construct inside the expression, a
            function the engine does not know.
    """

    def __init__(self, e, ctx: EvalContext):
        self.n = n = len(ctx.time)
        self._check(e, ctx)
        V = {slot: np.asarray(v, dtype=float) for slot, v in ctx.env.items()}
        V[_ZERO] = np.zeros(n)
        self.V = V
        builder = ClosureBuilder(V, [np.asarray(ctx.time, dtype=float)], dict(ctx.controls),
                                 Flavour(vector=True))
        try:
            with np.errstate(all="ignore"):
                self._fn = builder.fn(_broadcast_starts(e))
        except (ArithmeticError, LookupError, TypeError, ValueError) as exc:
            raise Unsupported(f"{type(exc).__name__}: {exc}") from None

    @staticmethod
    def _check(e, ctx: EvalContext) -> None:
        if isinstance(e, Ref):
            if e.slot not in ctx.env:
                raise Unsupported(f"no values for {ctx.names.get(e.slot, f'slot {e.slot}')}")
        elif isinstance(e, Control):
            if e.name not in ctx.controls:
                raise Unsupported(f"no value for {e.name}")
        elif isinstance(e, StatefulExpr):
            raise Unsupported(f"{VENSIM_NAMES.get(e.kind, e.kind.upper())} inside the equation")
        elif isinstance(e, Call) and e.fn not in BUILTINS:
            raise Unsupported(f"function {e.fn.upper()}")
        elif not isinstance(e, (Const, TimeRef, Op, Call, Lookup)):
            raise Unsupported(type(e).__name__)
        for c in _children(e):
            Evaluator._check(c, ctx)

    def __call__(self, values: Mapping[int, np.ndarray] | None = None) -> np.ndarray:
        V = self.V
        saved = {slot: V[slot] for slot in values or {}}
        try:
            V.update(values or {})
            with np.errstate(all="ignore"):
                out = self._fn()
        except (ArithmeticError, LookupError, TypeError, ValueError) as exc:
            raise Unsupported(f"{type(exc).__name__}: {exc}") from None
        finally:
            V.update(saved)
        out = np.asarray(out, dtype=float)
        return np.full(self.n, float(out)) if out.ndim == 0 else out


def _broadcast_starts(e):
    """``e`` with the start of every PULSE and PULSE TRAIN broadcast over the times."""
    if isinstance(e, Op):
        return Op(e.op, tuple(_broadcast_starts(a) for a in e.args))
    if isinstance(e, Call):
        args = tuple(_broadcast_starts(a) for a in e.args)
        if e.fn in ("pulse", "pulse_train"):
            args = (Op("+", (args[0], Ref(_ZERO))),) + args[1:]
        return Call(e.fn, args)
    if isinstance(e, Lookup):
        return Lookup(e.table, _broadcast_starts(e.arg))
    return e


def evaluate(e, ctx: EvalContext) -> np.ndarray:
    """Value of an expression at every saved time; raises :class:`Unsupported`."""
    return Evaluator(e, ctx)()
