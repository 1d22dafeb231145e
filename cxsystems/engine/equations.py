"""The engine's IR read back as equations, and evaluated along a run.

The engine lifts the arguments of stateful constructs (and nested SMOOTH, DELAY, INITIAL...) into
hidden slots. :func:`equation` gives a variable's whole equation with them put back in place, so
that every ``Ref`` left in the tree is a model variable and a stateful construct is a
:class:`StatefulExpr` holding its arguments; :class:`Names` names slots and standalone lookup
tables as the model does. :class:`Evaluator` / :func:`evaluate` compute an expression's value at
every saved time of a run with the engine's own vector closures
(:class:`~cxsystems.engine.closures.ClosureBuilder` in the vector flavour, the saved times as the
vector dimension): the one evaluator of equations outside the time loop, used by causal analysis
(measured polarity) and loop dominance (ceteris-paribus link scores). Nothing from the model text
is read or executed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from .closures import ClosureBuilder, Flavour
from .ir import (
    BUILTINS,
    STATEFUL_ARGS,
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


def children(e) -> tuple:
    if isinstance(e, (Op, Call)):
        return e.args
    if isinstance(e, Lookup):
        return (e.arg,)
    if isinstance(e, StatefulExpr):
        return tuple(sub for _, sub in e.args)
    return ()


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
        reads: set[int] = set()
        self._check(e, ctx, reads)
        V = {slot: np.asarray(ctx.env[slot], dtype=float) for slot in reads}  # only what it reads
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
    def _check(e, ctx: EvalContext, reads: set[int]) -> None:
        """Refuse what cannot be evaluated; collect the slots ``e`` reads into ``reads``."""
        if isinstance(e, Ref):
            if e.slot not in ctx.env:
                raise Unsupported(f"no values for {ctx.names.get(e.slot, f'slot {e.slot}')}")
            reads.add(e.slot)
        elif isinstance(e, Control):
            if e.name not in ctx.controls:
                raise Unsupported(f"no value for {e.name}")
        elif isinstance(e, StatefulExpr):
            raise Unsupported(f"{VENSIM_NAMES.get(e.kind, e.kind.upper())} inside the equation")
        elif isinstance(e, Call) and e.fn not in BUILTINS:
            raise Unsupported(f"function {e.fn.upper()}")
        elif not isinstance(e, (Const, TimeRef, Op, Call, Lookup)):
            raise Unsupported(type(e).__name__)
        for c in children(e):
            Evaluator._check(c, ctx, reads)

    def __call__(self, values: Mapping[int, np.ndarray] | None = None) -> np.ndarray:
        V = self.V
        values = {slot: v for slot, v in (values or {}).items() if slot in V}  # a slot it does not read changes nothing
        saved = {slot: V[slot] for slot in values}
        try:
            V.update(values)
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