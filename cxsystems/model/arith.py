"""Vensim's operator precedence over PySD's flat arithmetic chains.

PySD's abstract syntax keeps ``a0 op0 a1 op1 ...`` as one flat list of operators and arguments;
:func:`fold` builds the tree Vensim (and Python, which PySD writes) reads from it: ``^`` first and
right to left, then ``*`` and ``/``, then ``+`` and ``-``, each left to right. The engine's IR
builds expression nodes with it and the loader evaluates control-variable equations with it.

A long run of ``+``/``-`` terms, or of ``*`` factors, is combined pairwise rather than left to right,
so the tree's depth grows with the logarithm of its length and a chain of any length can be built
and evaluated without deep recursion. Up to :data:`PAIRWISE_FROM` operands nothing changes; beyond,
sums round like pairwise summation (at least as accurate as left to right; results may differ from
Vensim's in the last bits). ``/`` runs stay left to right (``a/b/c`` is not ``a/(b*c)`` in floating
point).
"""

from __future__ import annotations

from typing import Callable, Sequence, TypeVar

T = TypeVar("T")

#: Binding strength of each arithmetic operator.
PRECEDENCE = {"^": 3, "*": 2, "/": 2, "+": 1, "-": 1}


#: Runs of more operands than this are combined pairwise (see the module docstring).
PAIRWISE_FROM = 32


def fold(ops: Sequence[str], args: Sequence[T], combine: Callable[[str, T, T], T]) -> T:
    """``args[0] ops[0] args[1] ...`` folded by ``combine(op, left, right)`` in precedence order.
    Every operator must be in :data:`PRECEDENCE` (callers check, with their own message). The left
    operand of ``^`` is always an item of ``args``, never a folded result, so a caller can tell a
    negative number literal there (Vensim reads ``-2^2`` as -(2^2))."""
    ops, args = list(ops), list(args)
    if len(args) <= PAIRWISE_FROM:
        return _shunting_yard(ops, args, combine)
    terms, signs = _split(ops, args, ("+", "-"))
    folded = [_fold_term(t_ops, t_args, combine) for t_ops, t_args in terms]
    return _pairwise(folded, signs, "+", "-", combine)


def _split(ops: list[str], args: list, at: tuple[str, ...]):
    """Split ``args[0] ops[0] ...`` at the operators in ``at``: the parts (ops, args) and the
    operator before each part after the first."""
    parts, joins = [([], [args[0]])], []
    for op, arg in zip(ops, args[1:]):
        if op in at:
            joins.append(op)
            parts.append(([], [arg]))
        else:
            parts[-1][0].append(op)
            parts[-1][1].append(arg)
    return parts, joins


def _fold_term(ops: list[str], args: list, combine) -> T:
    """One additive term: a long product without ``/`` pairwise, anything else as usual."""
    if len(args) <= PAIRWISE_FROM or "/" in ops:
        return _shunting_yard(ops, args, combine)
    factors, joins = _split(ops, args, ("*",))
    return _pairwise([_shunting_yard(f_ops, f_args, combine) for f_ops, f_args in factors],
                     joins, "*", None, combine)


def _pairwise(items: list, joins: list[str], plus: str, minus: str | None, combine) -> T:
    """``items[0] joins[0] items[1] ...`` (joins are ``plus`` or ``minus``) combined as a balanced
    tree: ``L - (b + c)`` for ``L - b - c``, so the signs stay exact."""
    if len(items) == 1:
        return items[0]
    if len(items) <= 2 or len(items) <= PAIRWISE_FROM // 4:
        out = items[0]
        for op, item in zip(joins, items[1:]):
            out = combine(op, out, item)
        return out
    mid = len(items) // 2
    left = _pairwise(items[:mid], joins[:mid - 1], plus, minus, combine)
    join, rest = joins[mid - 1], joins[mid:]
    if join == minus:  # L - (b ± c ...): the signs inside the right half flip
        rest = [minus if j == plus else plus for j in rest]
    right = _pairwise(items[mid:], rest, plus, minus, combine)
    return combine(join, left, right)


def _shunting_yard(ops: list[str], args: list, combine) -> T:
    out: list = [args[0]]
    stack: list[str] = []

    def reduce_top() -> None:
        op = stack.pop()
        b, a = out.pop(), out.pop()
        out.append(combine(op, a, b))

    for op, arg in zip(ops, args[1:]):
        while stack and (PRECEDENCE[stack[-1]] > PRECEDENCE[op]
                         or (PRECEDENCE[stack[-1]] == PRECEDENCE[op] and op != "^")):
            reduce_top()
        stack.append(op)
        out.append(arg)
    while stack:
        reduce_top()
    return out[0]
