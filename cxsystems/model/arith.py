"""Vensim's operator precedence over PySD's flat arithmetic chains.

PySD's abstract syntax keeps ``a0 op0 a1 op1 ...`` as one flat list of operators and arguments;
:func:`fold` builds the tree Vensim (and Python, which PySD writes) reads from it: ``^`` first and
right to left, then ``*`` and ``/``, then ``+`` and ``-``, each left to right. The engine's IR
builds expression nodes with it and the loader evaluates control-variable equations with it.
"""

from __future__ import annotations

from typing import Callable, Sequence, TypeVar

T = TypeVar("T")

#: Binding strength of each arithmetic operator.
PRECEDENCE = {"^": 3, "*": 2, "/": 2, "+": 1, "-": 1}


def fold(ops: Sequence[str], args: Sequence[T], combine: Callable[[str, T, T], T]) -> T:
    """``args[0] ops[0] args[1] ...`` folded by ``combine(op, left, right)`` in precedence order
    (shunting-yard). Every operator must be in :data:`PRECEDENCE` (callers check, with their own
    message). The left operand of ``^`` is always an item of ``args``, never a folded result, so a
    caller can tell a negative number literal there (Vensim reads ``-2^2`` as -(2^2))."""
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
