"""Translate PySD's ``AbstractModel`` into the engine's intermediate representation (IR).

The IR is a small tree of frozen dataclasses (:class:`Const`, :class:`Ref`, :class:`Op`, ...)
built by walking PySD's abstract syntax; no model text is ever evaluated. Every variable gets a
*slot* (an index into the value table of a run). Stateful constructs (INTEG, SMOOTH, DELAY, ...)
become :class:`Stateful` records wherever they appear, nested ones included; their arguments are
lifted into hidden auxiliary slots so that every expression the integrator needs is a slot.

Arithmetic trees reproduce the evaluation order of the Python code PySD generates for the same
equation (left to right for ``+ - * /``; ``^`` chains right to left as Python's ``**`` does), so
that the engine's floating-point results agree with PySD's to the last bit wherever it can.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from ..errors import CxError, UnsupportedConstruct
from ..model.arith import PRECEDENCE, fold

#: Control variables that equations may reference (values come from the run settings).
CONTROLS = ("initial_time", "final_time", "time_step", "saveper")

# --------------------------------------------------------------------------------------- nodes


@dataclass(frozen=True)
class Const:
    """A literal number."""

    value: float


@dataclass(frozen=True)
class Ref:
    """The value of slot ``slot`` (a model variable or a hidden auxiliary)."""

    slot: int


@dataclass(frozen=True)
class TimeRef:
    """The current simulation time (weeks)."""


@dataclass(frozen=True)
class Control:
    """A control value of the run: ``initial_time``, ``final_time``, ``time_step`` or ``saveper``."""

    name: str


@dataclass(frozen=True)
class Op:
    """An operator: ``+ - * / ^ neg == != < <= > >= and or not``."""

    op: str
    args: tuple


@dataclass(frozen=True)
class Call:
    """A builtin function call (``min``, ``if_then_else``, ``step``, ...)."""

    fn: str
    args: tuple


@dataclass(frozen=True)
class LookupTable:
    """A piecewise-linear table, x sorted ascending; clamped to the end values outside."""

    name: str
    x: tuple
    y: tuple


@dataclass(frozen=True)
class Lookup:
    """Evaluate ``table`` at ``arg``."""

    table: LookupTable
    arg: object


Expr = Union[Const, Ref, TimeRef, Control, Op, Call, Lookup]

#: Builtins: name -> (min args, max args).
BUILTINS = {
    "abs": (1, 1), "exp": (1, 1), "ln": (1, 1), "log": (2, 2), "sqrt": (1, 1),
    "sin": (1, 1), "cos": (1, 1), "tan": (1, 1), "arcsin": (1, 1), "arccos": (1, 1),
    "arctan": (1, 1), "sinh": (1, 1), "cosh": (1, 1), "tanh": (1, 1), "power": (2, 2),
    "min": (2, 2), "max": (2, 2), "integer": (1, 1), "modulo": (2, 2), "quantum": (2, 2),
    "pi": (0, 0), "if_then_else": (3, 3), "xidz": (3, 3), "zidz": (2, 2),
    "step": (2, 2), "ramp": (2, 3), "pulse": (1, 2), "pulse_train": (4, 4),
}

#: Builtins whose value depends on the current time.
TIME_BUILTINS = {"step", "ramp", "pulse", "pulse_train"}

#: Vensim spelling of each construct, for messages.
VENSIM_NAMES = {
    "if_then_else": "IF THEN ELSE", "pulse_train": "PULSE TRAIN", "delay_fixed": "DELAY FIXED",
    "delayn": "DELAY N", "smooth": "SMOOTH", "delay": "DELAY", "integ": "INTEG", "trend": "TREND",
    "forecast": "FORECAST", "initial": "INITIAL",
}

# ----------------------------------------------------------------------------------- statefuls

#: Stateful kinds and their arguments; arguments marked init-only are evaluated once, at the start.
STATEFUL_ARGS = {
    "integ": ("flow", "initial"),
    "smooth": ("input", "time", "initial", "order"),
    "delay": ("input", "time", "initial", "order"),
    "delayn": ("input", "time", "initial", "order"),
    "delay_fixed": ("input", "time", "initial"),
    "trend": ("input", "time", "initial"),
    "forecast": ("input", "time", "horizon", "initial"),
    "initial": ("initial",),
}
INIT_ONLY_ARGS = {
    "integ": {"initial"}, "smooth": {"initial", "order"}, "delay": {"initial", "order"},
    "delayn": {"initial", "order"}, "delay_fixed": {"initial", "time"}, "trend": {"initial"},
    "forecast": {"initial"}, "initial": {"initial"},
}


@dataclass
class Stateful:
    """A stateful object: its kind, output slot, argument expressions (each a Ref or Const)."""

    kind: str
    owner: str
    out: int
    args: dict
    order: int | None = None  # fixed order (SMOOTH/SMOOTH3/DELAY1/DELAY3); None = from args


@dataclass
class Element:
    """A slot: a model variable, a hidden auxiliary, or a stateful output."""

    name: str
    slot: int
    expr: object = None  # IR expression; None for stateful outputs
    hidden: bool = False
    stateful: Stateful | None = None
    is_param: bool = False


@dataclass
class ModelIR:
    """The whole model: elements by slot, statefuls, lookup tables and variable names."""

    elements: list = field(default_factory=list)
    statefuls: list = field(default_factory=list)
    tables: dict = field(default_factory=dict)
    by_name: dict = field(default_factory=dict)  # normalised name -> slot
    names: list = field(default_factory=list)  # visible variable names, in model order


def arg_slots(args: dict, names) -> set:
    """Slots referenced directly by the arguments ``names`` of a stateful's ``args``."""
    return {args[n].slot for n in names if n in args and isinstance(args[n], Ref)}


def norm_name(name: str) -> str:
    """Normalise a Vensim name: case, quotes, underscores and runs of spaces do not matter."""
    text = str(name).strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    return " ".join(text.replace("_", " ").lower().split())


# ----------------------------------------------------------------------------------- translate


class _Translator:
    def __init__(self, abstract_model):
        from pysd.translators.structures import abstract_expressions as ae

        self.ae = ae
        self.ir = ModelIR()
        self.am = abstract_model

    # -- entry
    def run(self) -> ModelIR:
        ae = self.ae
        sections = list(self.am.sections)
        if len(sections) != 1:
            names = ", ".join(s.name for s in sections if s.name != "__main__")
            raise UnsupportedConstruct(f"macros are not supported (macro {names})")
        section = sections[0]
        if section.subscripts:
            raise UnsupportedConstruct(f"subscript ranges are not supported ({section.subscripts[0].name})")
        todo = []
        for el in section.elements:
            name = el.name
            if norm_name(name) in CONTROLS or norm_name(name) == "time":
                continue
            if len(el.components) != 1:
                raise UnsupportedConstruct(f"{name!r} has several equations (subscripts)")
            comp = el.components[0]
            if comp.subscripts and (comp.subscripts[0] or comp.subscripts[1]):
                raise UnsupportedConstruct(f"{name!r} is subscripted")
            ast = comp.ast
            if isinstance(ast, ae.LookupsStructure):
                self.ir.tables[norm_name(name)] = self._table(name, ast)
                continue
            if isinstance(ast, (ae.DataStructure, ae.GetDataStructure, ae.GetLookupsStructure,
                                ae.GetConstantsStructure)):
                raise UnsupportedConstruct(f"{name!r} reads external data ({type(ast).__name__})")
            if norm_name(name) in self.ir.by_name:
                raise CxError(f"engine: {name!r} is defined twice")
            slot = self._new(name)
            self.ir.names.append(name)
            self.ir.by_name[norm_name(name)] = slot
            todo.append((slot, name, ast))
        for slot, name, ast in todo:
            el = self.ir.elements[slot]
            el.is_param = isinstance(ast, (int, float)) and not isinstance(ast, bool)
            top = self._stateful(ast, name, out=slot)
            if top is None:
                el.expr = self.expr(ast, name)
        return self.ir

    def _new(self, name: str, hidden: bool = False) -> int:
        slot = len(self.ir.elements)
        self.ir.elements.append(Element(name=name, slot=slot, hidden=hidden))
        return slot

    def _table(self, owner: str, lk) -> LookupTable:
        if lk.type not in ("interpolate", None):
            raise UnsupportedConstruct(f"lookup {owner!r} uses {lk.type!r} interpolation")
        xs = [float(v) for v in lk.x]
        ys = [float(v) for v in lk.y]
        if len(xs) != len(ys) or not xs:
            raise CxError(f"engine: lookup {owner!r} has mismatched x and y values")
        if any(b <= a for a, b in zip(xs, xs[1:])):
            raise CxError(f"engine: lookup {owner!r} has repeated x values")
        return LookupTable(owner, tuple(xs), tuple(ys))

    # -- statefuls
    def _stateful(self, ast, owner: str, out: int | None = None):
        """Return the output slot if ``ast`` is a stateful structure (creating it), else None."""
        ae = self.ae
        spec = None
        if isinstance(ast, ae.IntegStructure):
            if ast.non_negative:
                raise UnsupportedConstruct(f"{owner!r}: non-negative stocks are not supported")
            spec = ("integ", {"flow": ast.flow, "initial": ast.initial}, None)
        elif isinstance(ast, ae.SmoothStructure):
            spec = ("smooth", {"input": ast.input, "time": ast.smooth_time, "initial": ast.initial},
                    ast.order)
        elif isinstance(ast, ae.SmoothNStructure):
            spec = ("smooth", {"input": ast.input, "time": ast.smooth_time, "initial": ast.initial,
                               "order": ast.order}, None)
        elif isinstance(ast, ae.DelayStructure):
            spec = ("delay", {"input": ast.input, "time": ast.delay_time, "initial": ast.initial},
                    ast.order)
        elif isinstance(ast, ae.DelayNStructure):
            spec = ("delayn", {"input": ast.input, "time": ast.delay_time, "initial": ast.initial,
                               "order": ast.order}, None)
        elif isinstance(ast, ae.DelayFixedStructure):
            spec = ("delay_fixed", {"input": ast.input, "time": ast.delay_time,
                                    "initial": ast.initial}, None)
        elif isinstance(ast, ae.TrendStructure):
            spec = ("trend", {"input": ast.input, "time": ast.average_time,
                              "initial": ast.initial_trend}, None)
        elif isinstance(ast, ae.ForecastStructure):
            spec = ("forecast", {"input": ast.input, "time": ast.average_time,
                                 "horizon": ast.horizon, "initial": ast.initial_trend}, None)
        elif isinstance(ast, ae.InitialStructure):
            spec = ("initial", {"initial": ast.initial}, None)
        if spec is None:
            return None
        kind, raw_args, order = spec
        if order is not None:
            if isinstance(order, bool) or not isinstance(order, (int, float)) or order != int(order) or order < 1:
                raise CxError(f"engine: {owner!r}: {VENSIM_NAMES[kind]} order must be a whole number")
            order = int(order)
        if out is None:
            out = self._new(f"{owner} [{VENSIM_NAMES[kind]}]", hidden=True)
        args, seen = {}, {}
        for arg_name, arg_ast in raw_args.items():
            if id(arg_ast) in seen:  # e.g. DELAY3(x, T): input and initial are the same tree
                args[arg_name] = seen[id(arg_ast)]
                continue
            e = self.expr(arg_ast, owner)
            if not isinstance(e, (Ref, Const)):
                slot = self._new(f"{owner} [{VENSIM_NAMES[kind]} {arg_name}]", hidden=True)
                self.ir.elements[slot].expr = e
                e = Ref(slot)
            args[arg_name] = seen[id(arg_ast)] = e
        st = Stateful(kind=kind, owner=owner, out=out, args=args, order=order)
        self.ir.elements[out].stateful = st
        self.ir.statefuls.append(st)
        return out

    # -- expressions
    def expr(self, ast, owner: str):
        ae = self.ae
        if isinstance(ast, bool):
            return Const(float(ast))
        if isinstance(ast, (int, float)):
            return Const(float(ast))
        if isinstance(ast, ae.ReferenceStructure):
            if ast.subscripts is not None:
                raise CxError(f"engine: {owner!r}: subscripted reference {ast.reference!r} is not supported")
            return self._ref(ast.reference, owner)
        if isinstance(ast, ae.ArithmeticStructure):
            return self._arith(list(ast.operators), [self.expr(a, owner) for a in ast.arguments], owner)
        if isinstance(ast, ae.LogicStructure):
            return self._logic(list(ast.operators), [self.expr(a, owner) for a in ast.arguments], owner)
        if isinstance(ast, ae.CallStructure):
            return self._call(ast, owner)
        if isinstance(ast, ae.InlineLookupsStructure):
            table = self._table(owner, ast.lookups)
            return Lookup(table, self.expr(ast.argument, owner))
        if isinstance(ast, ae.GameStructure):
            return self.expr(ast.expression, owner)
        slot = self._stateful(ast, owner)
        if slot is not None:
            return Ref(slot)
        what = {
            "SampleIfTrueStructure": "SAMPLE IF TRUE", "AllocateAvailableStructure": "ALLOCATE AVAILABLE",
            "AllocateByPriorityStructure": "ALLOCATE BY PRIORITY", "DataStructure": "data variables",
            "GetLookupsStructure": "GET LOOKUPS", "GetDataStructure": "GET DATA",
            "GetConstantsStructure": "GET CONSTANTS", "LookupsStructure": "a lookup table inside an equation",
            "str": "a text argument", "ndarray": "an array constant (subscripts)",
        }.get(type(ast).__name__, type(ast).__name__)
        raise UnsupportedConstruct(f"{owner!r} uses {what}, which the engine does not support")

    def _ref(self, reference: str, owner: str):
        key = norm_name(reference)
        if key == "time":
            return TimeRef()
        if key.replace(" ", "_") in CONTROLS:
            return Control(key.replace(" ", "_"))
        if key in self.ir.by_name:
            return Ref(self.ir.by_name[key])
        if key in self.ir.tables:
            raise CxError(f"engine: {owner!r} uses lookup {reference!r} without an argument")
        raise CxError(f"engine: {owner!r} refers to unknown variable {reference!r}")

    def _call(self, ast, owner: str):
        name = ast.function.reference
        key = norm_name(name)
        args = ast.arguments
        if key in self.ir.tables:
            if len(args) != 1:
                raise CxError(f"engine: {owner!r}: lookup {name!r} takes one argument, got {len(args)}")
            return Lookup(self.ir.tables[key], self.expr(args[0], owner))
        fn = key.replace(" ", "_")
        if fn not in BUILTINS:
            shown = VENSIM_NAMES.get(fn, key.upper())
            raise UnsupportedConstruct(f"{owner!r} calls {shown}, which the engine does not support")
        lo, hi = BUILTINS[fn]
        if not lo <= len(args) <= hi:
            raise CxError(f"engine: {owner!r}: {VENSIM_NAMES.get(fn, fn.upper())} takes "
                          f"{lo if lo == hi else f'{lo} to {hi}'} arguments, got {len(args)}")
        return Call(fn, tuple(self.expr(a, owner) for a in args))

    @staticmethod
    def _arith(ops: list, args: list, owner: str):
        """Build the tree Python builds for ``a0 op0 a1 op1 ...`` (PySD writes it that way)."""
        if ops == ["negative"]:
            return Op("neg", (args[0],))
        for op in ops:
            if op not in PRECEDENCE:
                raise CxError(f"engine: {owner!r}: unsupported operator {op!r}")

        def combine(op, a, b):
            if op == "^" and isinstance(a, Const) and a.value < 0:
                # PySD folds the sign into the literal (``-2^2`` -> base -2) and writes ``-2 ** 2``,
                # which Python, like Vensim, reads as -(2^2): the power binds tighter than the sign.
                return Op("neg", (Op("^", (Const(-a.value), b)),))
            return Op(op, (a, b))

        return fold(ops, args, combine)

    @staticmethod
    def _logic(ops: list, args: list, owner: str):
        names = {"=": "==", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=",
                 ":AND:": "and", ":OR:": "or"}
        if len(args) == 1:
            if [o.upper() for o in ops] == [":NOT:"]:
                return Op("not", (args[0],))
            raise CxError(f"engine: {owner!r}: unsupported logic operator {ops!r}")
        # PySD nests logic operators from the right: a op0 (b op1 c)
        cur = args[-1]
        for op, arg in zip(reversed(ops), reversed(args[:-1])):
            key = names.get(op.upper() if op.startswith(":") else op)
            if key is None:
                raise CxError(f"engine: {owner!r}: unsupported logic operator {op!r}")
            cur = Op(key, (arg, cur))
        return cur


def translate(abstract_model) -> ModelIR:
    """Translate PySD's AbstractModel into :class:`ModelIR`; CxError names anything unsupported."""
    return _Translator(abstract_model).run()
