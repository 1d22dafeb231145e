"""The engine's IR as instructions for the compiled backend's virtual machine (:mod:`cxsystems.engine.vm`).

:func:`assemble` turns a :class:`~cxsystems.engine.plan.CompiledModel` into a :class:`Bytecode`:
integer arrays of instructions ``[opcode, dst, a, b, c, d]`` over one value table (the model's
slots, then stage slots, derivative slots, constants, the time, the control values, data series
and per-statement temporaries). A model thus becomes data, never code: no text from a model
reaches anything that is executed, and one machine (compiled once per installation) runs every
model.

The instructions reproduce the numpy engine's operations one for one, in its order, on the same
doubles (:mod:`cxsystems.engine.run`, :mod:`cxsystems.engine.kernels`): ``a / b`` is one DIV, a
lookup one LOOKUP with the table's precomputed slopes, IF THEN ELSE evaluates both branches and
selects (each world gets the branch its condition picks); a division inside a branch carries the
branch's *guard* slot, so a zero divisor counts only in the worlds whose condition picks that
branch (the numpy engine's lazy scalar semantics). A counted zero divisor, or a delay time shorter
than the TIME STEP, makes the machine return an error code, and the caller reruns the call on the
numpy engine, which raises or yields inf/NaN exactly as always.

Refused with :class:`~cxsystems.errors.UnsupportedConstruct` (the numpy engine runs them): random
builtins, ALLOCATE, vector and matrix functions, data variables other than interpolated ones with
a fixed series, control variables that change in time, DELAY FIXED, and SMOOTH N/DELAY/DELAY N
whose order is not a literal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import UnsupportedConstruct
from .ir import (
    INIT_ONLY_ARGS,
    RANDOM_BUILTINS,
    VENSIM_NAMES,
    Call,
    Const,
    Control,
    DataAt,
    Lookup,
    LookupTable,
    Op,
    Ref,
    TimeRef,
    arg_slots,
)
from .kernels import ScalarTable
from .run import closure as _closure

#: Opcodes: an instruction's first column (:mod:`cxsystems.engine.vm` dispatches on them).
OPS = ("COPY ADD SUB MUL DIV NEG SPOW NPOW EQ NE LT LE GT GE AND OR NOT SELECT GUARDT GUARDF MIN MAX "
       "ABS EXP LN SQRT SIN COS TAN ASIN ACOS ATAN SINH COSH TANH LOG INT QUANTUM MODULO XIDZ ZIDZ "
       "STEP RAMP2 RAMP3 PULSE PULSE1 PTRAIN LOOKUP DLOW PICK EULER").split()
OP = {name: i + 1 for i, name in enumerate(OPS)}

_CONTROLS = ("initial_time", "final_time", "time_step", "saveper")
_ARITH = {"+": "ADD", "-": "SUB", "*": "MUL", "/": "DIV", "^": "SPOW", "==": "EQ", "!=": "NE", "<": "LT",
          "<=": "LE", ">": "GT", ">=": "GE", "and": "AND", "or": "OR"}
_UNARY = {"abs": "ABS", "exp": "EXP", "ln": "LN", "sqrt": "SQRT", "sin": "SIN", "cos": "COS", "tan": "TAN",
          "arcsin": "ASIN", "arccos": "ACOS", "arctan": "ATAN", "sinh": "SINH", "cosh": "COSH", "tanh": "TANH",
          "integer": "INT"}
_BINARY = {"min": "MIN", "max": "MAX", "power": "NPOW", "quantum": "QUANTUM", "modulo": "MODULO", "zidz": "ZIDZ"}
#: Stateful kinds the machine runs.
STATEFULS = ("integ", "smooth", "delay", "delayn", "trend", "forecast", "initial", "active_initial",
             "sample_if_true")

#: What a refusal of the compiled backend advises: the numpy engine runs every such model.
NUMPY_ADVICE = "the numpy engine runs it (backend='numpy', or engine='numpy')"


@dataclass(frozen=True)
class Bytecode:
    """A model as instructions for :mod:`cxsystems.engine.vm`.

    Attributes:
        n_values: rows of the value table.
        const_slots, const_values: the constants, written once per block of worlds.
        time_slot: the row holding the current time; control_slots: INITIAL TIME, FINAL TIME,
            TIME STEP, SAVEPER (written from the run's control values).
        data: the data series (:class:`DataAt`) read at each step, and data_slots their rows.
        tables: ``(TX, TY, TS)``: every lookup table's x, y and slopes, concatenated.
        param_slots: the model's constants (their base values come per world).
        init: instructions of the initialisation, in the engine's order.
        steps: ``(slot, instructions, critical)`` per slot a step may evaluate, in the engine's
            order; ``always``: the slots evaluated at every step whatever the run's settings.
        update: derivatives, the Euler update, clipping and discrete updates, after each step.
    """

    n_values: int
    const_slots: np.ndarray
    const_values: np.ndarray
    time_slot: int
    control_slots: np.ndarray
    data: tuple
    data_slots: np.ndarray
    tables: tuple
    param_slots: np.ndarray
    init: np.ndarray
    steps: tuple
    always: frozenset
    critical: frozenset
    update: np.ndarray


def _has_division(e, memo: dict) -> bool:
    key = id(e)
    if key not in memo:
        if isinstance(e, Op):
            memo[key] = e.op == "/" or any(_has_division(a, memo) for a in e.args)
        elif isinstance(e, Call):
            memo[key] = e.fn == "log" or any(_has_division(a, memo) for a in e.args)
        elif isinstance(e, Lookup):
            memo[key] = _has_division(e.arg, memo)
        else:
            memo[key] = False
    return memo[key]


def _order(st) -> int:
    if st.order is not None:
        return int(st.order)
    o = st.args.get("order")
    if isinstance(o, Const):
        v = float(o.value)
        if v == int(v) and v >= 1:
            return int(v)
        raise UnsupportedConstruct(f"{st.owner!r}: order {v:g} is not a whole number >= 1", NUMPY_ADVICE)
    raise UnsupportedConstruct(f"{st.owner!r}: an order read from a variable; the compiled backend needs a "
                               "literal order", NUMPY_ADVICE)


class _Assembler:
    def __init__(self, cm):
        self.cm, self.els = cm, cm.ir.elements
        if cm.control_slots:
            keys = ", ".join(k.replace("_", " ").upper() for k in cm.control_slots)
            raise UnsupportedConstruct(f"{keys} change(s) in time; the compiled backend runs fixed time settings", NUMPY_ADVICE)
        if cm.random_sites:
            owner = next(iter(cm.random_sites.values()))[1]
            raise UnsupportedConstruct(f"{owner!r} draws random numbers; the compiled backend does not yet", NUMPY_ADVICE)
        self.n = cm.n_slots  # permanent rows allocated so far
        self.consts: dict = {}
        self.time_slot = self._perm()
        self.control_slots = [self._perm() for _ in _CONTROLS]
        self.data: dict = {}
        self.tables: dict = {}
        self.tx, self.ty, self.ts = [], [], []
        self.code: list = []
        self.tmp_base = None  # temporaries are allocated after every permanent row (see finish)
        self.tmp_used = 0
        self.tmp_max = 0
        self._div: dict = {}
        self.states = [self.els[s].stateful for s in cm.init_order if self.els[s].stateful is not None]
        self.info: dict = {}
        for st in self.states:
            if st.kind not in STATEFULS:
                name = VENSIM_NAMES.get(st.kind, st.kind.upper())
                raise UnsupportedConstruct(f"{st.owner!r} uses {name}, which the compiled backend does not run yet", NUMPY_ADVICE)
            self.info[id(st)] = self._layout(st)

    # ------------------------------------------------------------------------------- rows
    def _perm(self, n: int = 1) -> int:
        first = self.n
        self.n += n
        return first

    def _const(self, value) -> int:
        x = float(value)
        key = x.hex() if not math.isnan(x) else "nan"
        if key not in self.consts:
            self.consts[key] = (self._perm(), x)
        return self.consts[key][0]

    def _tmp(self) -> int:
        self.tmp_used += 1
        self.tmp_max = max(self.tmp_max, self.tmp_used)
        return -1 - self.tmp_used  # -2, -3, ...: rows once every permanent row is known

    def _layout(self, st) -> dict:
        rec: dict = {}
        kind = st.kind
        if kind == "integ":
            rec["stages"] = [st.out]
        elif kind == "smooth":
            n = _order(st)
            first = self._perm(n - 1)
            rec["n"] = n
            rec["stages"] = list(range(first, first + n - 1)) + [st.out]
        elif kind in ("delay", "delayn"):
            n = _order(st)
            rec["n"] = n
            rec["stages"] = list(range(self._perm(n), self.n))
            rec["k"] = self._perm()
            if kind == "delayn":  # each stage's delay time (PySD's layout), and the next ones
                rec["tm"] = list(range(self._perm(n), self.n))
                rec["pd"] = list(range(self._perm(n), self.n))
        elif kind in ("trend", "forecast"):
            rec["stages"] = [self._perm()]
        elif kind == "sample_if_true":
            rec["h"], rec["x"] = self._perm(), self._perm()
            rec["stages"] = []
        else:
            rec["stages"] = []
        rec["d"] = [self._perm() for _ in rec["stages"]]  # an INTEG's: a copy of its flow if needed
        return rec

    # ------------------------------------------------------------------------ instructions
    def emit(self, op: str, dst: int, a: int = -1, b: int = -1, c: int = -1, d: int = -1) -> int:
        self.code.append([OP[op], dst, a, b, c, d])
        return dst

    def arg(self, a) -> int:
        if isinstance(a, Ref):
            return int(a.slot)
        if isinstance(a, Const):
            return self._const(a.value)
        raise TypeError(f"unexpected stateful argument {a!r}")  # pragma: no cover

    def expr(self, e, owner: str, guard: int = -1, dst: int | None = None) -> int:
        """Emit ``e``; return the row holding its value (``dst`` if given)."""
        if isinstance(e, (Const, Ref, TimeRef, Control, DataAt)):
            row = self._leaf(e)
            return row if dst is None else self.emit("COPY", dst, row)
        out = self._tmp() if dst is None else dst
        if isinstance(e, Lookup):
            lo, hi = self._table(e.table)
            return self.emit("LOOKUP", out, self.expr(e.arg, owner, guard), lo, hi)
        if isinstance(e, Op):
            if e.op == "neg":
                return self.emit("NEG", out, self.expr(e.args[0], owner, guard))
            if e.op == "not":
                return self.emit("NOT", out, self.expr(e.args[0], owner, guard))
            if e.op not in _ARITH:
                raise UnsupportedConstruct(f"{owner!r} uses operator {e.op!r}, which the compiled backend does not run", NUMPY_ADVICE)
            a, b = (self.expr(x, owner, guard) for x in e.args)
            return self.emit(_ARITH[e.op], out, a, b, guard if e.op == "/" else -1)
        if isinstance(e, Call):
            return self._call(e, owner, guard, out)
        raise UnsupportedConstruct(f"{owner!r} uses {type(e).__name__}, which the compiled backend does not run", NUMPY_ADVICE)

    def _leaf(self, e) -> int:
        if isinstance(e, Const):
            return self._const(e.value)
        if isinstance(e, Ref):
            return int(e.slot)
        if isinstance(e, TimeRef):
            return self.time_slot
        if isinstance(e, Control):
            return self.control_slots[_CONTROLS.index(e.name)]
        if e not in self.data:
            self.data[e] = self._perm()
        return self.data[e]

    def _table(self, tab: LookupTable) -> tuple[int, int]:
        if tab not in self.tables:
            st = ScalarTable(tab.x, tab.y)
            lo = len(self.tx)
            self.tx += st.xs
            self.ty += st.ys
            self.ts += st.slopes + [0.0]
            self.tables[tab] = (lo, len(self.tx))
        return self.tables[tab]

    def _call(self, e: Call, owner: str, guard: int, out: int) -> int:
        fn = e.fn
        if fn in RANDOM_BUILTINS:
            raise UnsupportedConstruct(f"{owner!r} calls {VENSIM_NAMES[fn]}: the compiled backend does not draw "
                                       "random numbers yet", NUMPY_ADVICE)
        if fn == "if_then_else":
            c = self.expr(e.args[0], owner, guard)
            gt = gf = guard
            if _has_division(e.args[1], self._div):
                gt = self.emit("GUARDT", self._tmp(), guard, c)
            if _has_division(e.args[2], self._div):
                gf = self.emit("GUARDF", self._tmp(), guard, c)
            a = self.expr(e.args[1], owner, gt)
            b = self.expr(e.args[2], owner, gf)
            return self.emit("SELECT", out, c, a, b)
        if fn == "pi":
            return self.emit("COPY", out, self._const(math.pi))
        args = [self.expr(x, owner, guard) for x in e.args]
        if fn in _UNARY:
            return self.emit(_UNARY[fn], out, args[0])
        if fn in _BINARY:
            return self.emit(_BINARY[fn], out, args[0], args[1])
        if fn == "log":
            return self.emit("LOG", out, args[0], args[1], guard)
        if fn == "xidz":
            return self.emit("XIDZ", out, *args)
        if fn == "step":
            return self.emit("STEP", out, args[0], args[1])
        if fn == "ramp":
            return self.emit("RAMP2" if len(args) == 2 else "RAMP3", out, *args)
        if fn == "pulse":
            if len(args) == 1:
                return self.emit("PULSE1", out, args[0])
            return self.emit("PULSE", out, args[0], args[1])
        if fn == "pulse_train":
            return self.emit("PTRAIN", out, *args)
        name = VENSIM_NAMES.get(fn, fn.upper())
        raise UnsupportedConstruct(f"{owner!r} calls {name}, which the compiled backend does not run yet", NUMPY_ADVICE)

    def statement(self, fn) -> np.ndarray:
        """The instructions ``fn()`` emits, temporaries counted afresh."""
        self.code, self.tmp_used = [], 0
        fn()
        return self.code

    # ---------------------------------------------------------------------------- statefuls
    def _init_stateful(self, st) -> None:
        a, r, out, kind = self.arg, self.info[id(st)], st.out, st.kind
        if kind in ("integ", "initial", "active_initial"):
            self.emit("COPY", out, a(st.args["initial"]))
        elif kind == "smooth":
            x = a(st.args["initial"])
            for s in r["stages"]:
                self.emit("COPY", s, x)
        elif kind in ("delay", "delayn"):
            T = a(st.args["time"])
            self.emit("DLOW", r["k"], T, r["n"])
            x = self.emit("MUL", self._tmp(), a(st.args["initial"]), T)
            for s in r["stages"]:
                self.emit("COPY", s, x)
            for s in r.get("tm", ()):
                self.emit("COPY", s, T)
            self._output(st)
        elif kind in ("trend", "forecast"):
            h, inp, tr = r["stages"][0], a(st.args["input"]), a(st.args["initial"])
            one = self._const(1.0)
            if kind == "trend":
                den = self.emit("ADD", self._tmp(), one, self.emit("MUL", self._tmp(), tr, a(st.args["time"])))
            else:
                den = self.emit("ADD", self._tmp(), one, tr)
            self.emit("DIV", h, inp, den)
            self._output(st)
        elif kind == "sample_if_true":
            self.emit("COPY", r["h"], a(st.args["initial"]))
            self._output(st)

    def _output(self, st) -> None:
        """A stateful's output from its state (delay, trend, forecast, active initial, sample)."""
        a, r, out, kind = self.arg, self.info[id(st)], st.out, st.kind
        if kind == "active_initial":
            self.emit("COPY", out, a(st.args["active"]))
        elif kind == "sample_if_true":
            self.emit("SELECT", out, a(st.args["condition"]), a(st.args["input"]), r["h"])
        elif kind in ("delay", "delayn"):
            last = self.emit("PICK", self._tmp(), r["stages"][0], r["k"])
            self.emit("DIV", out, last, a(st.args["time"]) if kind == "delay" else r["tm"][0])
        elif kind in ("trend", "forecast"):
            h, inp, avg = r["stages"][0], a(st.args["input"]), a(st.args["time"])
            diff = self.emit("SUB", self._tmp(), inp, h)
            if kind == "trend":
                scale = self.emit("MUL", self._tmp(), avg, self.emit("ABS", self._tmp(), h))
                self.emit("ZIDZ", out, diff, scale)
            else:
                z = self.emit("ZIDZ", self._tmp(), diff, self.emit("MUL", self._tmp(), avg, h))
                zh = self.emit("MUL", self._tmp(), z, a(st.args["horizon"]))
                self.emit("MUL", out, inp, self.emit("ADD", self._tmp(), self._const(1.0), zh))

    def _deriv(self, st) -> list:
        """Emit the derivatives of ``st``; return ``(stage row, derivative row)`` pairs."""
        a, r, kind = self.arg, self.info[id(st)], st.kind
        S, Dr = r["stages"], r["d"]
        if not S:
            return []
        if kind == "integ":
            return [(S[0], a(st.args["flow"]))]
        inp, T = a(st.args["input"]), a(st.args["time"])
        if kind in ("trend", "forecast"):
            self.emit("DIV", Dr[0], self.emit("SUB", self._tmp(), inp, S[0]), T)
        elif kind == "smooth":
            n = self._const(float(r["n"]))
            prev = [inp] + S[:-1]
            for p, s, d in zip(prev, S, Dr):
                self.emit("DIV", d, self.emit("MUL", self._tmp(), self.emit("SUB", self._tmp(), p, s), n), T)
        else:  # delay: (in - s0 / T) * k, (s[i-1] / T - s[i] / T) * k; delayn: each stage's time
            k = r["k"]
            if kind == "delayn":  # the next stage times: T now, then each stage's predecessor's
                P = r["pd"]
                self.emit("COPY", P[0], T)
                for dst, src in zip(P[1:], r["tm"]):
                    self.emit("COPY", dst, src)
            else:
                P = [T] * len(S)
            first = self.emit("SUB", self._tmp(), inp, self.emit("DIV", self._tmp(), S[0], P[0]))
            self.emit("MUL", Dr[0], first, k)
            for i, (p, s, d) in enumerate(zip(S, S[1:], Dr[1:])):
                q = self.emit("DIV", self._tmp(), p, P[i])
                diff = self.emit("SUB", self._tmp(), q, self.emit("DIV", self._tmp(), s, P[i + 1]))
                self.emit("MUL", d, diff, k)
        return list(zip(S, Dr))

    # ------------------------------------------------------------------------------ assembly
    def assemble(self) -> Bytecode:
        cm, els = self.cm, self.els
        init: list = []
        for slot in cm.init_order:
            el = els[slot]
            if slot in cm.params:
                continue  # written by the machine from the world's base values
            if el.stateful is not None:
                init += self.statement(lambda st=el.stateful: self._init_stateful(st))
            else:
                init += self.statement(lambda e=el.expr, s=slot, o=el.name: self.expr(e, o, -1, s))
        roots: set = set()
        for st in self.states:
            roots |= arg_slots(st.args, [k for k in st.args if k not in INIT_ONLY_ARGS[st.kind]])
        critical = _closure(roots, cm.step_deps)
        dyn_all = cm.dynamic_slots(lambda s: True)
        dyn_min = cm.dynamic_slots(lambda s: False)
        steps, always = [], set()
        for slot in cm.step_order:
            st = els[slot].stateful
            if slot not in dyn_all or slot in cm.params:
                continue  # parameters that change in time: written by the machine each step
            if st is not None and st.kind not in ("delay", "delayn", "trend", "forecast", "active_initial",
                                                  "sample_if_true"):
                continue
            if st is None:
                code = self.statement(lambda e=els[slot].expr, s=slot, o=els[slot].name: self.expr(e, o, -1, s))
            else:
                code = self.statement(lambda st=st: self._output(st))
            steps.append((slot, code, slot in critical))
            if slot in critical and slot in dyn_min:
                always.add(slot)

        def update():
            for st in self.states:  # discrete inputs first (from the step's values)
                if st.kind == "sample_if_true":
                    r = self.info[id(st)]
                    self.emit("SELECT", r["x"], self.arg(st.args["condition"]), self.arg(st.args["input"]), r["h"])
            pairs = []
            for st in self.states:
                pairs += self._deriv(st)
            staged = {s for s, _ in pairs}
            for i, (s, d) in enumerate(pairs):  # a flow that is another state: its value before the update
                if d in staged:
                    own = next(st for st in self.states if self.info[id(st)]["stages"][:1] == [s])
                    pairs[i] = (s, self.emit("COPY", self.info[id(own)]["d"][0], d))
            for s, d in pairs:
                self.emit("EULER", s, d)
            for st in self.states:
                if st.non_negative:  # negative values to +0.0 (NaN and -0.0 kept): MAX with 0
                    s = self.info[id(st)]["stages"][0]
                    self.emit("MAX", s, s, self._const(0.0))
            for st in self.states:  # discrete updates, after the states'
                r = self.info[id(st)]
                if st.kind == "sample_if_true":
                    self.emit("COPY", r["h"], r["x"])
                elif st.kind == "delayn":
                    for dst, src in zip(r["tm"], r["pd"]):
                        self.emit("COPY", dst, src)

        upd = self.statement(update)
        base = self.n

        def rows(code) -> np.ndarray:
            """Temporaries (numbered -2, -3, ...; -1 is "no operand") -> rows after the permanent ones."""
            arr = np.asarray(code, dtype=np.int64).reshape(-1, 6)
            ops = arr[:, 1:]
            tmp = ops <= -2
            ops[tmp] = base + (-ops[tmp] - 2)
            return arr

        return Bytecode(
            n_values=base + self.tmp_max,
            const_slots=np.array([s for s, _ in self.consts.values()], dtype=np.int64),
            const_values=np.array([v for _, v in self.consts.values()], dtype=float),
            time_slot=self.time_slot, control_slots=np.array(self.control_slots, dtype=np.int64),
            data=tuple(self.data), data_slots=np.array(list(self.data.values()), dtype=np.int64),
            tables=(np.asarray(self.tx or [0.0]), np.asarray(self.ty or [0.0]), np.asarray(self.ts or [0.0])),
            param_slots=np.array(sorted(cm.params), dtype=np.int64),
            init=reuse(rows(init)), steps=tuple((s, rows(c), crit) for s, c, crit in steps),
            always=frozenset(always), critical=frozenset(critical), update=reuse(rows(upd)))


#: Instructions whose repeats :func:`reuse` replaces by a copy (each costs several copies).
_REUSED = frozenset(OP[k] for k in ("DIV", "ZIDZ", "XIDZ", "LOOKUP"))


def reuse(code: np.ndarray) -> np.ndarray:
    """``code`` with each repeat of a division, ZIDZ, XIDZ or lookup of the same rows (values
    unchanged since: every instruction writes its row ``dst`` only) turned into a COPY of the
    first one's row while that row still holds it. The numpy engine computes the repeat again; the
    same operation on the same doubles gives the same bits, so the copy changes no number (a zero
    divisor the repeat would count was counted by the first, with the same guard)."""
    out = code.copy()
    version: dict = {}
    seen: dict = {}
    copy = OP["COPY"]
    for i, (op, dst, a, b, c, _) in enumerate(code.tolist()):
        key = None
        if op in _REUSED:  # a LOOKUP's b and c are its table's offsets, not rows
            rows = (a,) if op == OP["LOOKUP"] else (a, b, c)
            key = (op, b, c, *((r, version.get(r, 0)) for r in rows))
            got = seen.get(key)
            if got is not None and got[0] != dst and version.get(got[0], 0) == got[1]:
                out[i] = (copy, dst, got[0], -1, -1, -1)
        version[dst] = version.get(dst, 0) + 1
        if key is not None and key not in seen:
            seen[key] = (dst, version[dst])
    return out


def assemble(cm) -> Bytecode:
    """The instructions of ``cm`` (a :class:`~cxsystems.engine.plan.CompiledModel`).

    Raises:
        UnsupportedConstruct: something the compiled backend does not run (the numpy engine does).
    """
    return _Assembler(cm).assemble()


__all__ = ["Bytecode", "assemble", "reuse", "OP", "OPS", "STATEFULS"]
