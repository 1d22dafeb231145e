"""Compile a model into JavaScript from the numpy engine's representation.

:func:`model_to_js` takes the engine's compiled model (:func:`cxsystems.engine.compile_model`:
the IR, slots, evaluation orders) and writes straight-line JavaScript that runs the same Euler
integration, step for step and operation for operation, so that a browser reproduces the engine's
numbers (to the last bit wherever JavaScript's ``Math`` functions agree with Python's ``math``).

Only three kinds of thing from the model reach the output: names and units as JSON string
literals (:func:`js_string`, with ``<``, ``>`` and ``&`` escaped so the code can be inlined into
HTML), numbers as float literals (:func:`js_number`) and slot indices as integers. Model text
(equations, comments) is never pasted into code.

The JavaScript defines one global ``CX_MODEL`` with ``name``, ``variables``, ``parameters``
(name -> ``{value, units, min, max}``), ``times`` and ``simulate(params, changes, opts)``; see
:func:`model_to_js`.
"""

from __future__ import annotations

import json
import math
import re

from ..errors import CxError, UnsupportedConstruct
from .allocate import JAVASCRIPT as ALLOCATE_JS
from .closures import ClosureBuilder, Flavour
from .ir import (
    INIT_ONLY_ARGS,
    RANDOM_BUILTINS,
    TIME_BUILTINS,
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
    norm_name,
)
from .jsruntime import HELPERS, SIMULATE
from .kernels import RANDOM_KERNELS, ScalarTable, float_key, stream_key
from .plan import DEFAULT_SEED, compile_model
from .run import check_time_grid as _check_time_grid
from .run import closure as _closure
from .run import time_grid as _time_grid

# ------------------------------------------------------------------------------------ literals


def js_string(text: str) -> str:
    """A JavaScript string literal for ``text`` (JSON, ASCII only, safe inside an HTML script).

    ``<``, ``>`` and ``&`` become ``\\u003c``, ``\\u003e`` and ``\\u0026``, so neither
    ``</script>`` nor ``<!--`` can ever appear in the generated code.
    """
    out = json.dumps(str(text), ensure_ascii=True)
    return out.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def js_number(value) -> str:
    """A JavaScript literal for a float: ``repr`` (round-trips exactly), inf/NaN spelled out,
    negative numbers parenthesised so that they can follow any operator."""
    x = float(value)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "(-Infinity)"
    text = repr(x)
    return f"({text})" if text.startswith("-") else text


def _js_opt_number(value) -> str:
    """Like :func:`js_number` but NaN (an undeclared range end) becomes ``null``."""
    x = float(value)
    return "null" if math.isnan(x) else js_number(x)


# --------------------------------------------------------------------------------- expressions

_ARITH = {"+": "+", "-": "-", "*": "*", "/": "/"}
_COMPARE = {"==": "===", "!=": "!==", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_MATH = {"abs": "Math.abs", "exp": "Math.exp", "ln": "Math.log", "sqrt": "Math.sqrt",
         "sin": "Math.sin", "cos": "Math.cos", "tan": "Math.tan", "arcsin": "Math.asin",
         "arccos": "Math.acos", "arctan": "Math.atan", "sinh": "Math.sinh", "cosh": "Math.cosh",
         "tanh": "Math.tanh"}
#: Random builtins the JavaScript engine draws exactly as the numpy engine (helper names).
_JS_RANDOM = {"random_0_1": "r01", "random_uniform": "runif", "random_exponential": "rexpo",
              "random_triangular": "rtri"}
#: ``mkData`` modes of data series (:class:`DataAt`).
_DATA_MODES = {"hold_backward": 1, "look_forward": 2, "raw": 3}
#: Vector functions: JavaScript helper and how many arguments come before the vector.
_VECTOR_JS = {"vector_sort_order": ("vsort", 2), "vector_rank": ("vrank", 2), "vector_pick": ("vpick", 1),
              "invert_matrix": ("minv", 3)}
_HELPER2 = {"min": "mn", "max": "mx", "power": "npow", "modulo": "modulo", "quantum": "quantum",
            "zidz": "zidz"}


def _is_const(e) -> bool:
    """True if ``e`` reads no slot and no time: the engine folds it to a number."""
    if isinstance(e, (Const, Control)):
        return True
    if isinstance(e, Op):
        return all(_is_const(a) for a in e.args)
    if isinstance(e, Call):
        return e.fn not in TIME_BUILTINS and all(_is_const(a) for a in e.args)
    if isinstance(e, Lookup):
        return _is_const(e.arg)
    return False


class _ExprWriter:
    """IR expressions -> JavaScript expressions over ``V`` (slots) and ``t`` (time)."""

    def __init__(self, ctl: dict):
        self.ctl = ctl
        self.tables: dict[LookupTable, str] = {}
        self.series: dict[DataAt, str] = {}
        self._folder = ClosureBuilder([], [ctl["initial_time"]], ctl, Flavour(False))

    def data(self, e: DataAt) -> str:
        """The JavaScript name of a data series read as ``e.mode`` (``mkData``)."""
        if e not in self.series:
            self.series[e] = f"DS{len(self.series)}"
        return self.series[e]

    def table(self, tab: LookupTable) -> str:
        if tab not in self.tables:
            self.tables[tab] = f"L{len(self.tables)}"
        return self.tables[tab]

    def arg(self, a) -> str:
        """A stateful argument (a Ref or a Const)."""
        if isinstance(a, Ref):
            return f"V[{int(a.slot)}]"
        if isinstance(a, Const):
            return js_number(a.value)
        raise TypeError(f"unexpected stateful argument {a!r}")  # pragma: no cover

    def js(self, e, owner: str) -> str:
        if isinstance(e, Const):
            return js_number(e.value)
        if isinstance(e, Ref):
            return f"V[{int(e.slot)}]"
        if isinstance(e, TimeRef):
            return "t"
        if isinstance(e, Control):
            return js_number(self.ctl[e.name])
        if _is_const(e):
            try:  # fold with the engine's own kernels: the very number the engine uses
                kind, value = self._folder.build(e)
            except ZeroDivisionError:
                kind, value = None, None
            if kind == "c":
                return js_number(value)
        if isinstance(e, Op):
            return self._op(e, owner)
        if isinstance(e, Call):
            return self._call(e, owner)
        if isinstance(e, Lookup):
            return f"{self.table(e.table)}({self.js(e.arg, owner)})"
        if isinstance(e, DataAt):
            return f"{self.data(e)}(t)"
        raise CxError(f"workshop: {owner!r} uses {type(e).__name__}, which the JavaScript "
                      "compiler does not support")

    def _op(self, e: Op, owner: str) -> str:
        a = [self.js(x, owner) for x in e.args]
        op = e.op
        if op in _ARITH:
            return f"({a[0]} {_ARITH[op]} {a[1]})"
        if op == "neg":
            return f"(-{a[0]})"
        if op == "^":
            return f"spow({a[0]}, {a[1]})"
        if op in _COMPARE:
            return f"({a[0]} {_COMPARE[op]} {a[1]} ? 1 : 0)"
        if op == "and":
            return f"({a[0]} !== 0 && {a[1]} !== 0 ? 1 : 0)"
        if op == "or":
            return f"({a[0]} !== 0 || {a[1]} !== 0 ? 1 : 0)"
        if op == "not":
            return f"({a[0]} !== 0 ? 0 : 1)"
        raise CxError(f"workshop: {owner!r} uses operator {op!r}, which the JavaScript compiler "
                      "does not support")

    def _random(self, e: Call, owner: str) -> str:
        """A random builtin drawing the numpy engine's numbers of world 0 with the default seed
        (the same counter-based generator, :mod:`cxsystems.engine.kernels`)."""
        fn = e.fn
        if fn not in _JS_RANDOM:
            raise CxError(f"workshop: {owner!r} uses {VENSIM_NAMES[fn]}: the JavaScript engine does not run "
                          "it (it cannot draw the numpy engine's numbers for this distribution)")
        _kernel, nargs = RANDOM_KERNELS[fn]
        seed_arg = e.args[nargs] if len(e.args) > nargs else Const(0.0)
        site = self.random_sites[id(e)][0]
        key = stream_key(DEFAULT_SEED, site, float_key(seed_arg.value))
        u = f"rdraw({key >> 32}, {key & 0xFFFFFFFF}, STEP)"
        a = [self.js(x, owner) for x in e.args[:nargs]]
        return f"{_JS_RANDOM[fn]}({', '.join([u, *a, js_string(owner)])})"

    def _call(self, e: Call, owner: str) -> str:
        fn = e.fn
        if fn in RANDOM_BUILTINS:
            return self._random(e, owner)
        if fn in ("allocate_available", "allocate_by_priority"):  # engine.allocate.JAVASCRIPT
            a = [self.js(x, owner) for x in e.args]
            kind = "allocAv" if fn == "allocate_available" else "allocBp"
            return f"{kind}({a[0]}, {a[1]}, [{', '.join(a[2:])}])"
        a = [self.js(x, owner) for x in e.args]
        ts = self.ctl["time_step"]
        if fn == "if_then_else":
            return f"({a[0]} !== 0 ? {a[1]} : {a[2]})"
        if fn in _MATH:
            return f"{_MATH[fn]}({a[0]})"
        if fn in _HELPER2:
            return f"{_HELPER2[fn]}({a[0]}, {a[1]})"
        if fn == "log":
            return f"(Math.log({a[0]}) / Math.log({a[1]}))"
        if fn == "integer":
            return f"itrunc({a[0]})"
        if fn == "pi":
            return js_number(math.pi)
        if fn == "xidz":
            return f"xidz({a[0]}, {a[1]}, {a[2]})"
        if fn == "step":
            return f"step(t, {js_number(ts / 2)}, {a[0]}, {a[1]})"
        if fn == "ramp":
            if len(a) == 2:
                return f"ramp2(t, {a[0]}, {a[1]})"
            return f"ramp3(t, {a[0]}, {a[1]}, {a[2]})"
        if fn == "pulse":
            if len(a) == 1:
                return f"pulse(t, {a[0]}, {js_number(0.5 * ts)})"
            return f"pulse(t, {a[0]}, {a[1]})"
        if fn == "pulse_train":
            return f"ptrain(t, {a[0]}, {a[1]}, {a[2]}, {a[3]})"
        if fn in _VECTOR_JS:  # the vector (or matrix, row by row) comes last
            lead = _VECTOR_JS[fn][1]
            return f"{_VECTOR_JS[fn][0]}({', '.join(a[:lead])}, [{', '.join(a[lead:])}])"
        raise CxError(f"workshop: {owner!r} calls {fn.upper()}, which the JavaScript compiler "
                      "does not support")


# ------------------------------------------------------------------------------------- layout


class _Layout:
    """Where each stateful keeps its state: stage offsets and orders, literal or run-time.

    Stages of continuous states live in ``S`` (derivatives in ``D``). A stateful whose number of
    stages is known now gets a fixed offset; one whose order comes from a slot (SMOOTH N, DELAY N)
    gets its offset at run time, stored in ``RI``. DELAY/DELAY N orders are always run-time values
    (``RI``) because PySD lowers them while ``order * TIME STEP`` exceeds the initial delay time.
    DELAY FIXED keeps a ring buffer ``B[b]``, its count and size in ``RI`` and its initial value
    in ``RF``. SAMPLE IF TRUE keeps its held value in ``RF``; DELAY FIXED and SAMPLE IF TRUE
    each read one discrete input ``X[j]`` per step (``n_x`` of them).
    """

    def __init__(self):
        self.n_fixed = 0
        self.n_ri = 0
        self.n_rf = 0
        self.n_buf = 0
        self.n_x = 0
        self.info: dict[int, dict] = {}  # id(stateful) -> layout record

    def ri(self) -> int:
        self.n_ri += 1
        return self.n_ri - 1

    def add(self, st, owner: str):
        kind = st.kind
        rec: dict = {}
        if kind in ("integ", "trend", "forecast"):
            rec["o"], rec["n"] = str(self.n_fixed), "1"
            self.n_fixed += 1
        elif kind in ("smooth", "delay", "delayn"):
            fixed = st.order
            if fixed is None:
                o_arg = st.args["order"]
                if isinstance(o_arg, Const):
                    v = float(o_arg.value)
                    if v != int(v) or v < 1:
                        raise CxError(f"engine: {owner!r}: order must be a whole number >= 1, "
                                      f"got {v:g}")
                    fixed = int(v)
            rec["max"] = fixed
            if fixed is not None:
                rec["o"] = str(self.n_fixed)
                self.n_fixed += fixed
            else:
                rec["ko"] = self.ri()
                rec["o"] = f"RI[{rec['ko']}]"
            if kind == "smooth" and fixed is not None:
                rec["n"] = str(fixed)
            else:
                rec["kn"] = self.ri()
                rec["n"] = f"RI[{rec['kn']}]"
        elif kind == "delay_fixed":
            rec["b"] = self.n_buf
            self.n_buf += 1
            rec["kc"], rec["kz"] = self.ri(), self.ri()
            rec["ki"] = self.n_rf
            self.n_rf += 1
            rec["x"] = self.n_x
            self.n_x += 1
        elif kind == "sample_if_true":
            rec["ki"] = self.n_rf
            self.n_rf += 1
            rec["x"] = self.n_x
            self.n_x += 1
        elif kind in ("initial", "active_initial"):
            pass
        else:
            raise CxError(f"workshop: {owner!r} uses {kind.upper()}, which the JavaScript compiler "
                          "does not support")
        self.info[id(st)] = rec
        return rec


# -------------------------------------------------------------------------------- generation


def _last(o: str, n: str) -> str:
    """Index of the last stage: offset + order - 1, folded when both are literals."""
    if o.isdigit() and n.isdigit():
        return str(int(o) + int(n) - 1)
    return f"{o} + {n} - 1"


class _Generator:
    def __init__(self, model):
        self.model = model
        self.cm = cm = compile_model(model)
        m = model
        if cm.control_slots:
            raise CxError(f"workshop: {model.name!r}: its time settings change in time "
                          f"({', '.join(k.replace('_', ' ').upper() for k in cm.control_slots)}); "
                          "the JavaScript engine runs fixed ones only")
        self.ctl = dict(initial_time=float(m.initial_time), final_time=float(m.final_time),
                        time_step=float(m.time_step), saveper=float(m.saveper))
        self.w = _ExprWriter(self.ctl)
        self.w.random_sites = cm.random_sites
        self.layout = _Layout()
        els = cm.ir.elements
        # parameters the world and scenarios may set (the model's declared parameters)
        self.plist = []
        for p in m.parameters.values():
            slot = cm.slot_of.get(norm_name(p.name))
            if slot is None or slot not in cm.params:
                continue
            self.plist.append((p, slot, float(els[slot].expr.value)))
        self.settable = {slot for _, slot, _ in self.plist}
        # statefuls in the engine's order (initialisation order)
        self.states = [els[s].stateful for s in cm.init_order if els[s].stateful is not None]
        for st in self.states:
            self.layout.add(st, st.owner)
        self._plan()

    # -- which slots each step evaluates
    def _plan(self):
        cm = self.cm
        dyn = cm.dynamic_slots(self.settable.__contains__)  # any settable parameter may change
        roots = set()
        for st in self.states:
            step_args = [k for k in st.args if k not in INIT_ONLY_ARGS[st.kind]]
            roots |= arg_slots(st.args, step_args)
        critical = _closure(roots, cm.step_deps)
        self.crit_slots, self.save_slots = [], []
        for slot in cm.step_order:
            if slot not in dyn or slot in self.settable or not self._has_step_code(slot):
                continue
            (self.crit_slots if slot in critical else self.save_slots).append(slot)

    def _has_step_code(self, slot) -> bool:
        st = self.cm.ir.elements[slot].stateful
        return st is None or st.kind in ("delay", "delayn", "trend", "forecast", "active_initial",
                                         "sample_if_true")

    # -- code pieces
    def _rec(self, st):
        return self.layout.info[id(st)]

    def _aux(self, slot) -> str:
        el = self.cm.ir.elements[slot]
        return f"V[{slot}] = {self.w.js(el.expr, el.name)};"

    def _output(self, st) -> str:
        """Step code for a stateful output computed from its state (delay, trend, forecast)."""
        r, a, out = self._rec(st), self.w.arg, st.out
        if st.kind == "active_initial":
            return f"V[{out}] = {a(st.args['active'])};"
        if st.kind == "sample_if_true":
            return f"V[{out}] = {self._sample(st)};"
        o, n = r["o"], r["n"]
        if st.kind == "delay":
            return f"V[{out}] = S[{_last(o, n)}] / {a(st.args['time'])};"
        if st.kind == "delayn":
            return f"V[{out}] = S[{_last(o, n)}] / TM[{o}];"
        inp, avg = a(st.args["input"]), a(st.args["time"])
        if st.kind == "trend":
            return f"V[{out}] = zidz({inp} - S[{o}], {avg} * Math.abs(S[{o}]));"
        hor = a(st.args["horizon"])
        return f"V[{out}] = {inp} * (1 + zidz({inp} - S[{o}], {avg} * S[{o}]) * {hor});"

    def _sample(self, st) -> str:
        """SAMPLE IF TRUE's value: the input where the condition holds, else the held value."""
        a = self.w.arg
        return (f"({a(st.args['condition'])} !== 0 ? {a(st.args['input'])} : "
                f"RF[{self._rec(st)['ki']}])")

    def _init_stateful(self, st) -> list:
        r, a, out, kind = self._rec(st), self.w.arg, st.out, st.kind
        owner = js_string(st.owner)
        if kind == "integ":
            return [f"S[{r['o']}] = {a(st.args['initial'])}; V[{out}] = S[{r['o']}];"]
        if kind in ("initial", "active_initial"):
            return [f"V[{out}] = {a(st.args['initial'])};"]
        if kind == "sample_if_true":
            return [f"RF[{r['ki']}] = {a(st.args['initial'])};", f"V[{out}] = {self._sample(st)};"]
        if kind == "delay_fixed":
            b, kc, kz, ki = r["b"], r["kc"], r["kz"], r["ki"]
            return ["{",
                    f"  const z = dfo({a(st.args['time'])});",
                    f"  RI[{kz}] = z; RI[{kc}] = 0; RF[{ki}] = {a(st.args['initial'])};",
                    f"  B[{b}] = new Float64Array(z); V[{out}] = RF[{ki}];",
                    "}"]
        if kind in ("trend", "forecast"):
            o = r["o"]
            inp, avg, tr = a(st.args["input"]), a(st.args["time"]), a(st.args["initial"])
            state = f"{inp} / (1 + {tr} * {avg})" if kind == "trend" else f"{inp} / (1 + {tr})"
            return [f"S[{o}] = {state};", self._output(st)]
        # smooth, delay, delayn: stage count known now, or read from the order slot at run time
        lines = ["{"]
        if r["max"] is not None:
            order = str(r["max"])
        else:
            order = f"ordv({a(st.args['order'])}, {owner})"
        if kind == "smooth":
            if r["max"] is None:
                lines.append(f"  const n = {order}; RI[{r['kn']}] = n;")
                lines.append(f"  const o = alloc(S, TM, n); RI[{r['ko']}] = o;")
            else:
                lines.append(f"  const n = {order}, o = {r['o']};")
            lines.append(f"  const x = {a(st.args['initial'])};")
            lines.append("  for (let i = 0; i < n; i++) S[o + i] = x;")
            lines.append(f"  V[{out}] = x;")
            lines.append("}")
            return lines
        T = a(st.args["time"])
        lines.append(f"  const T = {T};")
        lines.append(f"  const n = dlow({order}, T, {owner}); RI[{r['kn']}] = n;")
        if r["max"] is None:
            lines.append(f"  const o = alloc(S, TM, n); RI[{r['ko']}] = o;")
        else:
            lines.append(f"  const o = {r['o']};")
        lines.append(f"  const x = {a(st.args['initial'])} * T;")
        lines.append("  for (let i = 0; i < n; i++) S[o + i] = x;")
        if kind == "delayn":
            lines.append("  for (let i = 0; i < n; i++) TM[o + i] = T;")
            lines.append(f"  V[{out}] = S[o + n - 1] / TM[o];")
        else:
            lines.append(f"  V[{out}] = S[o + n - 1] / T;")
        lines.append("}")
        return lines

    def _deriv(self, st) -> list:
        r, a, kind = self._rec(st), self.w.arg, st.kind
        if kind in ("initial", "delay_fixed", "active_initial", "sample_if_true"):
            return []
        o = r["o"]
        if kind == "integ":
            return [f"D[{o}] = {a(st.args['flow'])};"]
        inp, T = a(st.args["input"]), a(st.args["time"])
        if kind in ("trend", "forecast"):
            return [f"D[{o}] = ({inp} - S[{o}]) / {T};"]
        lines = ["{", f"  const o = {o}, n = {r['n']}, T = {T};"]
        if kind == "smooth":
            lines.append(f"  D[o] = (({inp} - S[o]) * n) / T;")
            lines.append("  for (let i = 1; i < n; i++) D[o + i] = ((S[o + i - 1] - S[o + i]) * n) / T;")
        elif kind == "delay":
            lines.append(f"  D[o] = ({inp} - S[o] / T) * n;")
            lines.append("  for (let i = 1; i < n; i++) D[o + i] = (S[o + i - 1] / T - S[o + i] / T) * n;")
        else:  # delayn: new stage times (pending), committed after the state update
            lines.append("  PD[o] = T;")
            lines.append("  for (let i = 1; i < n; i++) PD[o + i] = TM[o + i - 1];")
            lines.append(f"  D[o] = ({inp} - S[o] / PD[o]) * n;")
            lines.append("  for (let i = 1; i < n; i++) "
                         "D[o + i] = (S[o + i - 1] / PD[o + i - 1] - S[o + i] / PD[o + i]) * n;")
        lines.append("}")
        return lines

    # -- functions
    def functions(self) -> str:
        cm, els = self.cm, self.cm.ir.elements
        init = []
        for slot in cm.init_order:
            el = els[slot]
            if el.stateful is not None:
                init += self._init_stateful(el.stateful)
            elif slot not in self.settable:
                init.append(self._aux(slot))
        crit = []
        for st in self.states:  # integ and smooth outputs are their (last) stage
            if st.kind in ("integ", "smooth"):
                r = self._rec(st)
                crit.append(f"V[{st.out}] = S[{_last(r['o'], r['n'])}];")
        for slot in self.crit_slots:
            crit.append(self._code_at(slot))
        save = [self._code_at(slot) for slot in self.save_slots]
        deriv = []
        for st in self.states:
            deriv += self._deriv(st)
        disc_in, disc_up = [], []
        for st in self.states:
            r = self._rec(st)
            if st.kind == "sample_if_true":
                j = r["x"]
                disc_in.append(f"X[{j}] = {self._sample(st)};")
                disc_up.append(f"RF[{r['ki']}] = X[{j}];")
            elif st.kind == "delay_fixed":
                j = r["x"]
                disc_in.append(f"X[{j}] = {self.w.arg(st.args['input'])};")
                b, kc, kz, ki = r["b"], r["kc"], r["kz"], r["ki"]
                disc_up += ["{",
                            f"  const buf = B[{b}], z = RI[{kz}]; let c = RI[{kc}];",
                            f"  buf[c % z] = X[{j}]; c += 1; RI[{kc}] = c;",
                            f"  V[{st.out}] = c >= z ? buf[(c - z) % z] : RF[{ki}];",
                            "}"]
            elif st.kind == "delayn":
                disc_up.append(f"{{ const o = {r['o']}, n = {r['n']}; "
                               "for (let i = 0; i < n; i++) TM[o + i] = PD[o + i]; }")

        clip = [f"if (S[{self._rec(st)['o']}] < 0) S[{self._rec(st)['o']}] = 0;"  # non-negative stocks
                for st in self.states if st.non_negative]

        def fn(name, args, body):
            inner = "\n".join("  " + line for line in body)
            return f"function {name}({args}) {{\n{inner}\n}}"

        return "\n".join([
            fn("init", "V, S, TM, RI, RF, B, t", init),
            fn("crit", "V, S, TM, RI, RF, t", crit),
            fn("save", "V, S, TM, RI, RF, t", save),
            fn("deriv", "V, S, D, TM, PD, RI, t", deriv),
            fn("discIn", "V, X, RF, t", disc_in),
            fn("discUp", "V, RI, RF, B, X, TM, PD", disc_up),
            fn("clip", "S", clip),
        ])

    def _code_at(self, slot) -> str:
        st = self.cm.ir.elements[slot].stateful
        return self._aux(slot) if st is None else self._output(st)

    # -- constants
    def constants(self) -> str:
        cm, m = self.cm, self.model
        _check_time_grid(self.ctl, len(cm.variables), where=str(getattr(m, "path", m.name)))
        times, saved, rounded = _time_grid(self.ctl)
        variables = list(cm.variables)
        slots = [cm.slot_of[norm_name(v)] for v in variables]
        plist = ",\n  ".join(
            "{" + f"name: {js_string(p.name)}, slot: {slot}, value: {js_number(value)}, "
            f"units: {js_string(p.units)}, min: {_js_opt_number(p.min)}, "
            f"max: {_js_opt_number(p.max)}" + "}"
            for p, slot, value in self.plist)
        lines = [
            f"var NAME = {js_string(m.name)};",
            "var VARIABLES = [" + ", ".join(js_string(v) for v in variables) + "];",
            "var VAR_SLOTS = [" + ", ".join(str(s) for s in slots) + "];",
            "var PLIST = [\n  " + plist + "\n];",
            "var TIMES = [" + ", ".join(js_number(x) for x in rounded) + "];",
            f"var NT = {len(times)}, T0 = {js_number(self.ctl['initial_time'])}, "
            f"DT = {js_number(self.ctl['time_step'])};",
            "var SAVED = [" + ", ".join(str(k) for k, s in enumerate(saved) if s) + "];",
            f"var NSLOTS = {cm.n_slots}, NFIX = {self.layout.n_fixed}, NRI = {self.layout.n_ri}, "
            f"NRF = {self.layout.n_rf}, NB = {self.layout.n_buf}, NX = {self.layout.n_x};",
        ]
        arr = lambda xs: "[" + ", ".join(js_number(v) for v in xs) + "]"  # noqa: E731
        for tab, name in self.w.tables.items():
            st = ScalarTable(tab.x, tab.y)
            lines.append(f"var {name} = mkTable({arr(st.xs)}, {arr(st.ys)}, {arr(st.slopes)});")
        for e, name in self.w.series.items():
            mode = _DATA_MODES[e.mode]
            lines.append(f"var {name} = mkData({arr(e.table.x)}, {arr(e.table.y)}, {mode});")
        return "\n".join(lines)


#: Under Node's require() a top-level var is module-local: export it too (a no-op in browsers).
_NODE_EXPORT = ('if (typeof module === "object" && module !== null && module.exports) '
                "{ module.exports = CX_MODEL; }\n")

_HEADER = """\
// Generated by cxsystems.engine.jsgen from the engine's representation of the model.
// Euler integration with the engine's semantics; defines the global CX_MODEL.
"""


def model_to_js(model, *, ltm=None) -> str:
    """JavaScript (ES2017, no modules, no eval) defining one global ``var CX_MODEL``.

    ``CX_MODEL`` has ``name``, ``variables`` (the names the engine records by default, in its
    order), ``parameters`` (name -> ``{value, units, min, max}``; an undeclared range end is
    ``null``), ``times`` (saved times, weeks) and ``simulate(params, changes, opts)`` returning
    ``{times, values: {name: Float64Array}}``, with the semantics of
    :meth:`cxsystems.engine.CompiledModel.run`: ``params`` (``{name: number}``) are the base
    values, ``changes`` (``[{parameter, value, from_week}]``) apply on top (from ``from_week``
    on, or from the start including initial values when it is null), later changes winning;
    ``opts.variables`` restricts the recorded variables; ``opts.trace`` also returns ``trace``, the
    value table (every slot) at every TIME STEP, for loop dominance. Bad names, out-of-range ``params`` and
    orders or delay times the engine refuses throw an ``Error`` with the engine's message. One
    difference: where the engine's scalar run raises on a division by zero, JavaScript carries
    on with Infinity/NaN (as the engine's vector flavour does).

    RANDOM 0 1, RANDOM UNIFORM, RANDOM EXPONENTIAL and RANDOM TRIANGULAR draw the numpy engine's
    numbers of a single run (world 0, the default seed); RANDOM NORMAL and RANDOM POISSON are
    refused (their inverse distribution functions are not reproduced in JavaScript).

    With ``ltm`` (a sequence of :class:`cxsystems.engine.jsltm.LtmLink`), ``CX_MODEL.ltm`` scores
    those links and loops made of them in the browser (:mod:`cxsystems.engine.jsltm`).

    Raises :class:`cxsystems.CxError` for constructs the engine (or this compiler) does not
    support, naming the construct and the variable.
    """
    if getattr(model, "integration", "euler") != "euler":
        raise UnsupportedConstruct(f"the model integrates with {model.integration.upper()} (its <sim_specs>); "
                                   "the JavaScript engine integrates with Euler only")
    gen = _Generator(model)
    functions = gen.functions()  # registers lookup tables used by the code
    extra, ltm_key = [], ""
    if ltm is not None:  # rate functions register their lookup tables too: before the constants
        from .jsltm import RUNTIME as LTM_RUNTIME
        from .jsltm import ltm_functions

        recorded = {gen.cm.slot_of[norm_name(v)] for v in gen.cm.variables}
        functions += "\n" + ltm_functions(gen.w, gen.ctl, ltm, recorded)
        extra, ltm_key = [LTM_RUNTIME.strip()], ", ltm: LTM"
    allocate = [ALLOCATE_JS.strip()] if "allocAv(" in functions or "allocBp(" in functions else []
    body = "\n".join([HELPERS.strip(), gen.constants(), functions, *allocate, SIMULATE.strip(), *extra,
                      "return {name: NAME, variables: VARIABLES.slice(), parameters: PARAMETERS, "
                      f"times: TIMES.slice(), simulate: simulate{ltm_key}}};"])
    indented = "\n".join(("  " + line) if line else "" for line in body.split("\n"))
    js = (f'{_HEADER}var CX_MODEL = (function () {{\n  "use strict";\n{indented}\n}})();\n'
          + _NODE_EXPORT)
    _guard(js, model.name)
    return js


_STRING_LITERAL = re.compile(r'"(?:[^"\\\n]|\\.)*"')


def _guard(js: str, model_name: str) -> None:
    """Refuse output that could break out of an HTML script or evaluate text (a backstop: names
    are JSON string literals with ``<`` escaped, so none of this can come from a model)."""
    code = _STRING_LITERAL.sub('""', js)
    for bad, text in (("</", js), ("<!--", js), ("eval(", code), ("Function(", code),
                      ("import", code), ("require(", code)):
        if bad in text:  # pragma: no cover - a guard against regressions of this module
            raise CxError(f"workshop: generated JavaScript for {model_name!r} contains {bad!r}")


__all__ = ["model_to_js", "js_string", "js_number"]
