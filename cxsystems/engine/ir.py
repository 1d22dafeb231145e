"""Translate PySD's ``AbstractModel`` into the engine's intermediate representation (IR).

The IR is a small tree of frozen dataclasses (:class:`Const`, :class:`Ref`, :class:`Op`, ...)
built by walking PySD's abstract syntax; no model text is ever evaluated. Every variable gets a
*slot* (an index into the value table of a run). Stateful constructs (INTEG, SMOOTH, DELAY, ...)
become :class:`Stateful` records wherever they appear, nested ones included; their arguments are
lifted into hidden auxiliary slots so that every expression the integrator needs is a slot.

Subscripts are unrolled (:mod:`cxsystems.engine.subscripts`): every element of a subscripted
variable is a slot of its own, named like PySD's flattened output (``Stock[A1,B2]``), with its own
statefuls and lookup tables; a subscripted reference resolves to one element's slot, and SUM,
PROD, VMIN, VMAX and VECTOR SELECT become left-to-right chains of scalar operations over the
elements (so sums of many elements may differ from PySD's numpy sums in the last bits); VECTOR
SORT ORDER, RANK, REORDER, ELM MAP and INVERT MATRIX become one call per element of the result,
taking the whole vector or matrix (kernels in :mod:`cxsystems.engine.vectors`).

External data (GET XLS/DIRECT CONSTANTS, LOOKUPS, DATA) is read once, while translating, from the
copies staged in the model's private folder (:mod:`cxsystems.engine.data`): constants become
:class:`Const`, lookups :class:`LookupTable`, interpolated data a :class:`Lookup` of the time, and
held, look-forward or raw data a :class:`DataAt`. Non-negative stocks (XMILE) are INTEG statefuls
with ``non_negative`` set: the run clips their state at 0 after each step, as PySD does.

Arithmetic trees reproduce the evaluation order of the Python code PySD generates for the same
equation (left to right for ``+ - * /``; ``^`` chains right to left as Python's ``**`` does), so
that the engine's floating-point results agree with PySD's to the last bit wherever it can.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import product
from typing import Union

from ..errors import CxError, UnsupportedConstruct
from ..model.arith import PRECEDENCE, fold
from ..model.datafiles import staged_runtime_data_files
from . import data
from . import subscripts as sub

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


@dataclass(frozen=True)
class DataAt:
    """A data series (``table``: times and values) read at the current time as Vensim's data
    variables read it with keyword ``mode``: ``hold_backward``, ``look_forward`` or ``raw``
    (:func:`cxsystems.engine.data.data_series_at`). Interpolated data is a :class:`Lookup` of
    :class:`TimeRef`."""

    table: LookupTable
    mode: str


Expr = Union[Const, Ref, TimeRef, Control, Op, Call, Lookup, DataAt]

#: Builtins: name -> (min args, max args).
BUILTINS = {
    "abs": (1, 1), "exp": (1, 1), "ln": (1, 1), "log": (2, 2), "sqrt": (1, 1),
    "sin": (1, 1), "cos": (1, 1), "tan": (1, 1), "arcsin": (1, 1), "arccos": (1, 1),
    "arctan": (1, 1), "sinh": (1, 1), "cosh": (1, 1), "tanh": (1, 1), "power": (2, 2),
    "min": (2, 2), "max": (2, 2), "integer": (1, 1), "modulo": (2, 2), "quantum": (2, 2),
    "pi": (0, 0), "if_then_else": (3, 3), "xidz": (3, 3), "zidz": (2, 2),
    "step": (2, 2), "ramp": (2, 3), "pulse": (1, 2), "pulse_train": (4, 4),
    "random_0_1": (0, 0), "random_uniform": (2, 3), "random_normal": (4, 5),
    "random_exponential": (4, 5), "random_poisson": (5, 6), "random_triangular": (5, 6),
    # vector and matrix functions over unrolled elements (engine.vectors; built by _vector_fn)
    "vector_sort_order": (3, sub.MAX_ELEMENTS + 2), "vector_rank": (3, sub.MAX_ELEMENTS + 2),
    "vector_pick": (2, sub.MAX_ELEMENTS + 1), "invert_matrix": (4, sub.MAX_ELEMENTS + 3),
}

#: Random builtins (a new draw each time step; see :mod:`cxsystems.engine.kernels`).
RANDOM_BUILTINS = {"random_0_1", "random_uniform", "random_normal", "random_exponential",
                   "random_poisson", "random_triangular"}

#: Builtins whose value changes from step to step (the current time, or a random draw).
TIME_BUILTINS = {"step", "ramp", "pulse", "pulse_train"} | RANDOM_BUILTINS

#: Vensim spelling of each construct, for messages.
VENSIM_NAMES = {
    "if_then_else": "IF THEN ELSE", "pulse_train": "PULSE TRAIN", "delay_fixed": "DELAY FIXED",
    "delayn": "DELAY N", "smooth": "SMOOTH", "delay": "DELAY", "integ": "INTEG", "trend": "TREND",
    "forecast": "FORECAST", "initial": "INITIAL", "active_initial": "ACTIVE INITIAL",
    "sample_if_true": "SAMPLE IF TRUE", "get_time_value": "GET TIME VALUE",
    "random_0_1": "RANDOM 0 1", "random_uniform": "RANDOM UNIFORM", "random_normal": "RANDOM NORMAL",
    "random_exponential": "RANDOM EXPONENTIAL", "random_poisson": "RANDOM POISSON",
    "random_triangular": "RANDOM TRIANGULAR", "vector_sort_order": "VECTOR SORT ORDER",
    "vector_rank": "VECTOR RANK", "vector_pick": "VECTOR REORDER/ELM MAP", "invert_matrix": "INVERT MATRIX",
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
    "active_initial": ("active", "initial"),
    "sample_if_true": ("condition", "input", "initial"),
}
INIT_ONLY_ARGS = {
    "integ": {"initial"}, "smooth": {"initial", "order"}, "delay": {"initial", "order"},
    "delayn": {"initial", "order"}, "delay_fixed": {"initial", "time"}, "trend": {"initial"},
    "forecast": {"initial"}, "initial": {"initial"}, "active_initial": {"initial"},
    "sample_if_true": {"initial"},
}


@dataclass
class Stateful:
    """A stateful object: its kind, output slot, argument expressions (each a Ref or Const)."""

    kind: str
    owner: str
    out: int
    args: dict
    order: int | None = None  # fixed order (SMOOTH/SMOOTH3/DELAY1/DELAY3); None = from args
    non_negative: bool = False  # an INTEG whose state is clipped at 0 after each step (XMILE)


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
    #: subscripted variables and lookups, unrolled: normalised name -> its elements' names
    #: (``Stock[A1,B2]``: each a slot in ``by_name``, or for a lookup a table in ``tables``)
    arrays: dict = field(default_factory=dict)


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
    def __init__(self, abstract_model, workdir=None, dynamic_controls=frozenset()):
        from pysd.translators.structures import abstract_expressions as ae

        self.ae = ae
        self.workdir = workdir  # the model's private folder: staged data files (engine.data)
        # control variables that change in time ("final time", ...): slots that equations read
        self.dynamic_controls = frozenset(dynamic_controls)
        self.ir = ModelIR()
        self.am = abstract_model
        self.ranges = sub.resolve_ranges(())
        self._env: dict = {}  # subscripts bound while translating one element: range key -> element key
        self._slots: dict = {}  # subscripted variable -> {element tuple: slot}
        self._tables: dict = {}  # subscripted lookup -> {element tuple: LookupTable}
        self._ptypes: list = []  # (owner, ALLOCATE AVAILABLE ptype IR): checked after translating

    # -- entry
    def run(self) -> ModelIR:
        ae = self.ae
        sections = list(self.am.sections)
        if len(sections) != 1:
            names = ", ".join(s.name for s in sections if s.name != "__main__")
            raise UnsupportedConstruct(f"macros are not supported (macro {names})")
        section = sections[0]
        self.ranges = sub.resolve_ranges(section.subscripts, self.workdir)
        todo = []
        for el in section.elements:
            name = el.name
            if (norm_name(name) in CONTROLS and norm_name(name) not in self.dynamic_controls) \
                    or norm_name(name) == "time":
                continue
            comp = el.components[0]
            if len(el.components) != 1 or (comp.subscripts and (comp.subscripts[0] or comp.subscripts[1])):
                todo += self._declare_array(el)
                continue
            ast = comp.ast
            if isinstance(ast, ae.LookupsStructure):
                self.ir.tables[norm_name(name)] = self._table(name, ast)
                continue
            if isinstance(ast, ae.GetLookupsStructure):
                xs, ys = data.read_lookup(self.workdir, ast, name)
                self.ir.tables[norm_name(name)] = self._checked_table(name, xs, ys)
                continue
            if norm_name(name) in self.ir.by_name:
                raise CxError(f"engine: {name!r} is defined twice")
            slot = self._new(name)
            self.ir.names.append(name)
            self.ir.by_name[norm_name(name)] = slot
            if isinstance(ast, (ae.GetConstantsStructure, ae.GetDataStructure, ae.DataStructure)):
                self.ir.elements[slot].expr = self._external(name, ast, getattr(comp, "keyword", None))
                continue
            todo.append((slot, name, ast, None))
        for slot, name, ast, env in todo:
            el = self.ir.elements[slot]
            # an element of a subscripted constant is not a lever (scenarios set whole variables)
            el.is_param = env is None and isinstance(ast, (int, float)) and not isinstance(ast, bool)
            self._env = env or {}
            if isinstance(ast, _Read):  # external data, read already
                el.expr = ast.expr
                continue
            top = self._stateful(ast, name, out=slot)
            if top is None:
                el.expr = self.expr(ast, name)
        self._env = {}
        self._check_ptypes()
        return self.ir

    def _new(self, name: str, hidden: bool = False) -> int:
        slot = len(self.ir.elements)
        self.ir.elements.append(Element(name=name, slot=slot, hidden=hidden))
        return slot

    def _external(self, name: str, ast, keyword):
        """The IR of a scalar GET XLS/DIRECT CONSTANTS or DATA, values read once (engine.data)."""
        if isinstance(ast, self.ae.GetConstantsStructure):
            return Const(data.read_constant(self.workdir, ast, name))
        if isinstance(ast, self.ae.DataStructure):  # no equation: the files given at run time
            (xs, ys), mode = data.read_runtime_data(staged_runtime_data_files(self.workdir), name, keyword)
            return self._data_expr(name, xs, ys, mode)
        (xs, ys), mode = data.read_data(self.workdir, ast, keyword, name)
        return self._data_expr(name, xs, ys, mode)

    def _data_expr(self, name: str, xs, ys, mode: str):
        table = self._checked_table(name, xs, ys)
        return Lookup(table, TimeRef()) if mode == "interpolate" else DataAt(table, mode)

    def _external_elements(self, name: str, comp) -> dict:
        """Element tuple -> :class:`_Read` (constant, data) or :class:`_ReadTable` (lookup) for
        one subscripted component reading external data (engine.data)."""
        ae, ast = self.ae, comp.ast
        if comp.subscripts[1]:
            raise UnsupportedConstruct(f"{name!r} reads external data with :EXCEPT:")
        pos = sub.lhs_positions(self.ranges, list(comp.subscripts[0]), name)
        coords = {f"dim{i}": list(els) for i, (_, els) in enumerate(pos)}
        if isinstance(ast, ae.GetConstantsStructure):
            values = data.read_constant(self.workdir, ast, name, coords)
            return {tup: _Read(Const(v)) for tup, v in values.items()}
        if isinstance(ast, ae.GetLookupsStructure):
            series = data.read_lookup(self.workdir, ast, name, coords)
            return {tup: _ReadTable(*xy) for tup, xy in series.items()}
        if isinstance(ast, ae.DataStructure):  # no equation: the files given at run time, by spelling
            spelled = {d: [self.ranges.spelling[e] for e in els] for d, els in coords.items()}
            read, mode = data.read_runtime_data(staged_runtime_data_files(self.workdir), name,
                                                getattr(comp, "keyword", None), spelled)
            keys = dict(zip(product(*spelled.values()), product(*coords.values())))
            series = {keys[tup]: xy for tup, xy in read.items()}
        else:
            series, mode = data.read_data(self.workdir, ast, getattr(comp, "keyword", None), name, coords)
        col = sub.column_name  # each element's table is named like its column
        return {tup: _Read(self._data_expr(col(self.ranges, name, tup), xs, ys, mode))
                for tup, (xs, ys) in series.items()}

    def _table(self, owner: str, lk) -> LookupTable:
        if lk.type not in ("interpolate", None):
            raise UnsupportedConstruct(f"lookup {owner!r} uses {lk.type!r} interpolation")
        return self._checked_table(owner, lk.x, lk.y)

    def _checked_table(self, owner: str, x, y) -> LookupTable:
        xs = [float(v) for v in x]
        ys = [float(v) for v in y]
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
        elif isinstance(ast, ae.SampleIfTrueStructure):
            spec = ("sample_if_true", {"condition": ast.condition, "input": ast.input,
                                       "initial": ast.initial}, None)
        elif (isinstance(ast, ae.CallStructure) and isinstance(ast.function, ae.ReferenceStructure)
              and norm_name(ast.function.reference) == "active initial"):
            if len(ast.arguments) != 2:
                raise CxError(f"engine: {owner!r}: ACTIVE INITIAL takes 2 arguments, got {len(ast.arguments)}")
            spec = ("active_initial", {"active": ast.arguments[0], "initial": ast.arguments[1]}, None)
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
        st = Stateful(kind=kind, owner=owner, out=out, args=args, order=order,
                      non_negative=kind == "integ" and bool(ast.non_negative))
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
                return self._element_ref(ast.reference, ast.subscripts.subscripts, owner)
            return self._ref(ast.reference, owner)
        if isinstance(ast, ae.ArithmeticStructure):
            return self._arith(list(ast.operators), [self.expr(a, owner) for a in ast.arguments], owner)
        if isinstance(ast, ae.LogicStructure):
            return self._logic(list(ast.operators), [self.expr(a, owner) for a in ast.arguments], owner)
        if isinstance(ast, ae.CallStructure):
            return self._array_call(ast, owner) or self._call(ast, owner)
        if isinstance(ast, ae.InlineLookupsStructure):
            table = self._table(owner, ast.lookups)
            return Lookup(table, self.expr(ast.argument, owner))
        if isinstance(ast, ae.GameStructure):
            return self.expr(ast.expression, owner)
        if isinstance(ast, (ae.AllocateAvailableStructure, ae.AllocateByPriorityStructure)):
            return self._allocate(ast, owner)
        slot = self._stateful(ast, owner)
        if slot is not None:
            return Ref(slot)
        what = {
            "AllocateAvailableStructure": "ALLOCATE AVAILABLE",
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
        if key.replace(" ", "_") in CONTROLS and key not in self.dynamic_controls:
            return Control(key.replace(" ", "_"))
        if key in self.ir.by_name:
            return Ref(self.ir.by_name[key])
        if key in self.ir.tables or key in self._tables:
            raise CxError(f"engine: {owner!r} uses lookup {reference!r} without an argument")
        if key in self._slots:
            raise UnsupportedConstruct(f"{owner!r} uses subscripted {reference!r} without subscripts")
        if self.ranges.is_range(key):  # a subscript range as a value: the element's position
            if key not in self._env:
                raise UnsupportedConstruct(f"{owner!r} uses subscript range {reference!r} as a value "
                                           "outside an equation over it")
            pos = self.ranges.position(key, self._env[key])
            if pos is None:
                raise UnsupportedConstruct(f"{owner!r} uses subscript range {reference!r} as a value, "
                                           "and its elements belong to several ranges")
            return Const(float(pos))
        if self.ranges.is_element(key):  # an element as a value: its position
            pos = self.ranges.position(None, key)
            if pos is None:
                raise UnsupportedConstruct(f"{owner!r} uses subscript element {reference!r} as a value, "
                                           "and it belongs to several ranges")
            return Const(float(pos))
        raise CxError(f"engine: {owner!r} refers to unknown variable {reference!r}")

    # -- subscripts, unrolled: one slot per element (cxsystems.engine.subscripts)
    def _declare_array(self, el) -> list:
        """Give every element of subscripted ``el`` its slot (lookups: its table); return the
        ``(slot, name, ast, env)`` to translate, ``env`` binding the ranges on the left."""
        ae, name = self.ae, el.name
        key = norm_name(name)
        if key in self._slots or key in self._tables or key in self.ir.by_name:
            raise CxError(f"engine: {name!r} is defined twice")
        defined = {}
        for comp in el.components:
            if not comp.subscripts or not comp.subscripts[0]:
                raise UnsupportedConstruct(f"{name!r} has several equations without subscripts")
            tuples = sub.component_tuples(self.ranges, comp.subscripts, name)
            values = self._array_values(comp, name) if _is_array(comp.ast) else None
            if isinstance(comp.ast, (ae.DataStructure, ae.GetDataStructure, ae.GetLookupsStructure,
                                     ae.GetConstantsStructure)):
                values = self._external_elements(name, comp)
            for i, (tup, env) in enumerate(tuples):
                if tup in defined:
                    shown = ",".join(self.ranges.spelling[e] for e in tup)
                    raise CxError(f"engine: {name}[{shown}] is defined twice")
                ast = comp.ast if values is None else values[tup]
                defined[tup] = (ast, env)
        if not defined:
            raise CxError(f"engine: {name!r} has no elements left (:EXCEPT:)")
        order = sub.column_order(self.ranges, el.components, set(defined), name)
        kinds = {isinstance(ast, (ae.LookupsStructure, _ReadTable)) for ast, _ in defined.values()}
        if kinds == {True}:
            tables = {}
            for tup in order:
                col = sub.column_name(self.ranges, name, tup)
                ast = defined[tup][0]
                tables[tup] = self.ir.tables[norm_name(col)] = (
                    self._checked_table(col, ast.x, ast.y) if isinstance(ast, _ReadTable)
                    else self._table(col, ast))
            self._tables[key] = tables
            self.ir.arrays[key] = [t.name for t in tables.values()]
            return []
        if True in kinds:
            raise CxError(f"engine: {name!r} mixes lookup tables and equations")
        sub.check_size(len(self.ir.elements) + len(order), "the model")
        slots, todo, cols = {}, [], []
        for tup in order:
            col = sub.column_name(self.ranges, name, tup)
            slot = slots[tup] = self._new(col)
            self.ir.names.append(col)
            self.ir.by_name[norm_name(col)] = slot
            cols.append(col)
            ast, env = defined[tup]
            todo.append((slot, col, ast, dict(env)))
        self._slots[key] = slots
        self.ir.arrays[key] = cols
        return todo

    def _array_values(self, comp, owner: str) -> dict:
        """An array constant (``1,2;3,4;``): element tuple -> number."""
        import numpy as np

        pos = sub.lhs_positions(self.ranges, list(comp.subscripts[0]), owner)
        shape = [len(els) for _, els in pos]
        arr = np.asarray(comp.ast, dtype=float)
        if arr.size != int(np.prod(shape)):
            raise CxError(f"engine: {owner!r}: {arr.size} values for {int(np.prod(shape))} elements")
        arr = arr.reshape(shape)
        out = {}
        for idx in np.ndindex(*shape):
            out[tuple(els[i] for (_, els), i in zip(pos, idx))] = float(arr[idx])
        return out

    def _subscript(self, s: str, owner: str, what: str) -> str:
        """The element key a reference's subscript ``s`` stands for in the current element."""
        r, env = self.ranges, self._env
        if s.endswith("!"):
            k = sub.key(s[:-1]) + "!"
            if k not in env:
                raise UnsupportedConstruct(f"{owner!r} uses {s} outside SUM, PROD, VMIN or VMAX")
            return env[k]
        k = sub.key(s)
        if r.is_element(s):
            return k
        if not r.is_range(s):
            raise CxError(f"engine: {owner!r}: unknown subscript {s!r} in {what!r}")
        if k in env:
            return env[k]
        for m in r.mapping.get(k, ()):  # mapped (->) or equivalent (<->) to a range on the left
            if m in env:
                return r.of(k)[r.index(m, env[m])]
        # A range that is neither on the left nor mapped to a range there (say a subrange of the
        # left's range): Vensim's matching is not documented well enough to reproduce it exactly.
        raise UnsupportedConstruct(f"{owner!r}: subscript {s!r} of {what!r} is not on the left side "
                                   "(nor mapped to a subscript there)")

    def _element_ref(self, reference: str, subs, owner: str):
        key = norm_name(reference)
        if key not in self._slots:
            if key in self.ir.by_name:
                raise CxError(f"engine: {owner!r}: {reference!r} is not subscripted")
            raise CxError(f"engine: {owner!r} refers to unknown variable {reference!r}")
        tup = tuple(self._subscript(s, owner, reference) for s in subs)
        slot = self._slots[key].get(tup)
        if slot is None:
            shown = ",".join(self.ranges.spelling.get(e, e) for e in tup)
            raise CxError(f"engine: {owner!r} refers to {reference}[{shown}], which is not defined")
        return Ref(slot)

    def _array_call(self, ast, owner: str):
        """SUM, PROD, VMIN, VMAX, ELMCOUNT and subscripted lookups; None for any other call."""
        ae = self.ae
        fn = ast.function
        if not isinstance(fn, ae.ReferenceStructure):
            return None
        key = norm_name(fn.reference)
        if key in self._tables:
            if fn.subscripts is None:
                raise UnsupportedConstruct(f"{owner!r} calls subscripted lookup {fn.reference!r} without subscripts")
            if len(ast.arguments) != 1:
                raise CxError(f"engine: {owner!r}: lookup {fn.reference!r} takes one argument")
            tup = tuple(self._subscript(s, owner, fn.reference) for s in fn.subscripts.subscripts)
            table = self._tables[key].get(tup)
            if table is None:
                raise CxError(f"engine: {owner!r}: lookup {fn.reference!r} has no such element")
            return Lookup(table, self.expr(ast.arguments[0], owner))
        if key == "elmcount":
            arg = ast.arguments[0] if len(ast.arguments) == 1 else None
            if not (isinstance(arg, ae.ReferenceStructure) and arg.subscripts is None
                    and self.ranges.is_range(arg.reference)):
                raise CxError(f"engine: {owner!r}: ELMCOUNT takes the name of a subscript range")
            return Const(float(len(self.ranges.of(arg.reference))))
        if key == "vector select":
            return self._vector_select(ast.arguments, owner)
        if key in _VECTOR_FNS:
            return self._vector_fn(key, ast.arguments, owner)
        if key not in _FOLDS:
            if key.startswith("vector ") or key in ("allocate available", "allocate by priority"):
                raise UnsupportedConstruct(f"{owner!r} calls {key.upper()}, which the engine does not support")
            return None
        if len(ast.arguments) != 1:
            raise CxError(f"engine: {owner!r}: {key.upper()} takes one argument, got {len(ast.arguments)}")
        return _fold(key, [t for t, in self._bang_terms(ast.arguments, owner)])

    def _bang_terms(self, asts, owner: str) -> list:
        """``asts`` translated once for each combination of the elements of the ranges they
        sum over (``range!``, in order of first appearance; the last varies fastest)."""
        bangs: list = []
        for a in asts:
            _bang_ranges(a, self.ae, bangs)
        for b in bangs:
            if not self.ranges.is_range(b):
                raise CxError(f"engine: {owner!r}: unknown subscript range {b!r}!")
        n = 1
        for b in bangs:
            n *= len(self.ranges.of(b))
        sub.check_size(n, f"{owner!r}: a sum over {', '.join(b + '!' for b in bangs)}")
        saved, out = self._env, []
        try:
            for elems in product(*[self.ranges.of(b) for b in bangs]):
                self._env = {**saved, **{sub.key(b) + "!": e for b, e in zip(bangs, elems)}}
                out.append(tuple(self.expr(a, owner) for a in asts))
        finally:
            self._env = saved
        return out

    def _along(self, ast, owner: str, what: str, n_last: int = 1):
        """The elements of ``ast`` (a subscripted variable) along its last ``n_last`` subscripts
        (ranges; the last varies fastest), the other subscripts bound as in any reference, and
        the current element's positions along those ranges (Vensim's vector functions work on
        "the complete vector relative to the last subscript"). Those ranges must be the last on
        the left side too, in the same order (or mapped there): Vensim fills the left side in
        storage order, PySD by name, and the two differ otherwise."""
        ae, r = self.ae, self.ranges
        subs = list(ast.subscripts.subscripts) if isinstance(ast, ae.ReferenceStructure) and ast.subscripts else []
        last = subs[-n_last:] if len(subs) >= n_last else []
        if not last or not all(r.is_range(s) for s in last) or len({sub.key(s) for s in last}) < n_last:
            raise UnsupportedConstruct(f"{owner!r}: {what} needs a variable subscripted by "
                                       f"{'ranges' if n_last > 1 else 'a range'} last")
        left = [k for k in self._env if not k.endswith("!")][-n_last:]
        if len(left) < n_last or any(sub.key(s) != k and k not in r.mapping.get(sub.key(s), ())
                                     for s, k in zip(last, left)):
            raise UnsupportedConstruct(f"{owner!r}: {what} of {ast.reference!r}, whose last subscripts are not "
                                       "the last ones on the left side")
        here = tuple(r.index(s, self._subscript(s, owner, ast.reference)) for s in last)
        saved, out = self._env, []
        try:
            for els in product(*[r.of(s) for s in last]):
                self._env = {**saved, **{sub.key(s): e for s, e in zip(last, els)}}
                out.append(self.expr(ast, owner))
        finally:
            self._env = saved
        return out, here

    def _vector_fn(self, key: str, args, owner: str):
        """VECTOR SORT ORDER, VECTOR RANK, VECTOR REORDER and INVERT MATRIX: one element of the
        result, from the whole vector or matrix (kernels in :mod:`cxsystems.engine.vectors`)."""
        name = key.upper()
        if len(args) != 2:
            raise CxError(f"engine: {owner!r}: {name} takes 2 arguments, got {len(args)}")
        second = self.expr(args[1], owner)
        if key == "vector elm map":
            return self._elm_map(args[0], second, owner)
        if key == "vector reorder":  # element k of the result: the vector's element order[k]
            return Call("vector_pick", (second, *self._along(args[0], owner, name)[0]))
        if key == "invert matrix":
            cells, (i, j) = self._along(args[0], owner, name, n_last=2)
            rows, cols = (len(self.ranges.of(s)) for s in args[0].subscripts.subscripts[-2:])
            n = rows
            if rows != cols or not (isinstance(second, Const) and second.value == n):
                raise CxError(f"engine: {owner!r}: INVERT MATRIX needs a square matrix of n x n "
                              "elements in its last two subscripts, and n as its second argument")
            return Call("invert_matrix", (Const(float(n)), Const(float(i)), Const(float(j)), *cells))
        values, (k,) = self._along(args[0], owner, name)
        return Call(key.replace(" ", "_"), (second, Const(float(k)), *values))

    def _elm_map(self, ast, offset, owner: str):
        """VECTOR ELM MAP(var[start], offset): the element ``offset`` places after ``var[start]``
        among all of var's elements, stored row by row (the last subscript fastest); NaN (Vensim's
        :NA:) outside them."""
        ae = self.ae
        if not (isinstance(ast, ae.ReferenceStructure) and ast.subscripts and norm_name(ast.reference) in self._slots):
            raise UnsupportedConstruct(f"{owner!r}: VECTOR ELM MAP needs a subscripted variable")
        slots = self._slots[norm_name(ast.reference)]
        tuples = list(slots)
        dims = [list(dict.fromkeys(t[i] for t in tuples)) for i in range(len(tuples[0]))]
        if len(tuples) != math.prod(len(d) for d in dims):
            raise UnsupportedConstruct(f"{owner!r}: VECTOR ELM MAP of {ast.reference!r}, which lacks elements (:EXCEPT:)")
        first = self._element_ref(ast.reference, ast.subscripts.subscripts, owner).slot
        start = next(i for i, t in enumerate(tuples) if slots[t] == first)
        refs = [Ref(slots[t]) for t in tuples]
        if isinstance(offset, Const):  # the usual case: one element, known now
            at = start + offset.value
            return refs[int(at)] if -1 < at < len(refs) else Const(math.nan)
        return Call("vector_pick", (Op("+", (Const(float(start)), offset)), *refs))

    def _vector_select(self, args, owner: str):
        """VECTOR SELECT(selection[d!], expression[d!], missing value, numerical action, error
        action) over the elements whose selection is not 0 (PySD's and Vensim's meaning); a
        numerical action outside 0..10 gives NaN (refused by the run's non-finite check)."""
        if len(args) != 5:
            raise CxError(f"engine: {owner!r}: VECTOR SELECT takes 5 arguments, got {len(args)}")
        error = self.expr(args[4], owner)
        if not (isinstance(error, Const) and error.value == 0):
            raise UnsupportedConstruct(f"{owner!r}: VECTOR SELECT with an error action other than 0")
        missing, action = self.expr(args[2], owner), self.expr(args[3], owner)
        pairs = self._bang_terms(args[:2], owner)
        chosen = [Op("!=", (s, Const(0.0))) for s, _ in pairs]
        count = _fold("sum", [Call("if_then_else", (c, Const(1.0), Const(0.0))) for c in chosen])

        def result(act: int):
            if act <= 4:
                vals = [Op("*", (s, e)) for s, e in pairs]
            elif act == 5:  # Vensim computes expression ^ selection (PySD follows it)
                vals = [Op("^", (e, s)) for s, e in pairs]
            else:
                vals = [e for _, e in pairs]
            # 0 sum, 1 product, 2 min, 3 max, 4 mean: actions 0-4 weighted, 5 a product, 6-10 plain
            kind = act if act <= 4 else 1 if act == 5 else act - 6
            if kind in (0, 4):
                out = _fold("sum", [Call("if_then_else", (c, v, Const(0.0))) for c, v in zip(chosen, vals)])
                if kind == 4:
                    out = Op("/", (out, Call("max", (count, Const(1.0)))))
                return out
            if kind == 1:
                return _fold("prod", [Call("if_then_else", (c, v, Const(1.0))) for c, v in zip(chosen, vals)])
            skip = Const(math.inf if kind == 2 else -math.inf)  # an unselected element
            return _fold("vmin" if kind == 2 else "vmax",
                         [Call("if_then_else", (c, v, skip)) for c, v in zip(chosen, vals)])

        if isinstance(action, Const):
            if action.value not in range(11):
                raise CxError(f"engine: {owner!r}: VECTOR SELECT's numerical action must be 0 to 10, "
                              f"got {action.value:g}")
            out = result(int(action.value))
        else:  # an action that changes in the run: each possible action
            out = Const(math.nan)
            for act in reversed(range(11)):
                out = Call("if_then_else", (Op("==", (action, Const(float(act)))), result(act), out))
        return Call("if_then_else", (Op("==", (count, Const(0.0))), missing, out))

    def _allocate(self, ast, owner: str):
        """ALLOCATE AVAILABLE(request[..., d], pp[..., d, ptype], avail) or ALLOCATE BY
        PRIORITY(request[..., d], priority[..., d], size, width, supply): this element's share
        along ``d``, the request's last subscript (a range on the left), as a call whose
        arguments are every element's request and profile, then the supply (kernels in
        :mod:`cxsystems.engine.allocate`). The profile is read from the element written in
        ``pp`` (or the range's first) and the two that follow it in its range."""
        ae, r = self.ae, self.ranges
        by_priority = isinstance(ast, ae.AllocateByPriorityStructure)
        what = "ALLOCATE BY PRIORITY" if by_priority else "ALLOCATE AVAILABLE"
        req = ast.request
        last = req.subscripts.subscripts[-1] if isinstance(req, ae.ReferenceStructure) and req.subscripts else ""
        if not r.is_range(last):
            raise UnsupportedConstruct(f"{owner!r}: {what} needs a request subscripted by a range last")
        dim = sub.key(last)
        if dim not in self._env:
            raise UnsupportedConstruct(f"{owner!r}: {what} over {last!r}, which is not on the left side")
        saved, els = self._env, r.of(dim)
        here = r.index(dim, saved[dim])
        outer = {k: v for k, v in saved.items() if k != dim}

        def each(build):  # build() once for every element of dim
            out = []
            try:
                for e in els:
                    self._env = {**outer, dim: e}
                    out.append(build())
            finally:
                self._env = saved
            return out

        def alone(a):  # an argument that is not along dim
            try:
                self._env = outer
                return self.expr(a, owner)
            finally:
                self._env = saved

        requests = each(lambda: self.expr(req, owner))
        if by_priority:
            args = [*requests, *each(lambda: self.expr(ast.priority, owner)), alone(ast.width), alone(ast.supply)]
            return Call("allocate_by_priority", (Const(float(here)), Const(float(len(els))), *args))
        pp = ast.pp
        if not (isinstance(pp, ae.ReferenceStructure) and pp.subscripts):
            raise UnsupportedConstruct(f"{owner!r}: {what} needs a subscripted priority profile")
        subs = list(pp.subscripts.subscripts)
        first = subs[-1]
        if r.is_range(first):
            prof, start = sub.key(first), 0
        else:
            used = {t[-1] for t in self._slots.get(norm_name(pp.reference), {})}
            prof = next((k for k in r.order if sub.key(first) in r.of(k) and used <= set(r.of(k))), None)
            if prof is None:
                raise UnsupportedConstruct(f"{owner!r}: {what}: the profile {first!r} belongs to no range")
            start = r.index(prof, first)
        fields = r.of(prof)[start:start + 3]  # ptype, ppriority, pwidth (pextra: ptype 5 only)
        if len(fields) < 3:
            raise UnsupportedConstruct(f"{owner!r}: {what}: the profile range has no ptype, ppriority, pwidth")
        cols = [each(lambda f=f: self._element_ref(pp.reference, subs[:-1] + [f], owner)) for f in fields]
        for p in cols[0]:
            self._ptypes.append((owner, p))
        args = [*requests, *cols[0], *cols[1], *cols[2], alone(ast.avail)]
        return Call("allocate_available", (Const(float(here)), Const(float(len(els))), *args))

    def _check_ptypes(self) -> None:
        """Refuse ALLOCATE AVAILABLE profiles of a constant ptype the engine does not reproduce
        (constant elasticity, integer allocations); a ptype that changes gives NaN if it does."""
        from .allocate import PTYPES

        for owner, e in self._ptypes:
            for _ in range(100):  # follow references to a constant
                if not isinstance(e, Ref):
                    break
                e = self.ir.elements[e.slot].expr
            if isinstance(e, Const) and e.value not in PTYPES:
                raise UnsupportedConstruct(f"{owner!r}: ALLOCATE AVAILABLE with priority profile type "
                                           f"{e.value:g} (the engine runs types 0 to 4)")

    def _call(self, ast, owner: str):
        name = ast.function.reference
        key = norm_name(name)
        args = ast.arguments
        if key in self.ir.tables:
            if len(args) != 1:
                raise CxError(f"engine: {owner!r}: lookup {name!r} takes one argument, got {len(args)}")
            return Lookup(self.ir.tables[key], self.expr(args[0], owner))
        fn = key.replace(" ", "_")
        if fn == "active_initial":
            return Ref(self._stateful(ast, owner))
        if fn == "get_time_value":
            # GET TIME VALUE(relativeto, offset, measure) in the model's time units (measure 0):
            # relativeto 0, the current simulation time moved by offset. Not relativeto 1: Vensim's
            # documentation says the initial time, but Vensim 7.3.4 was reported to return the
            # current time (SDXorg/pysd#332; PySD refuses it too); the computer clock (2) and the
            # calendar measures (1-10: they need the model's base date) are not reproducible.
            if len(args) != 3:
                raise CxError(f"engine: {owner!r}: GET TIME VALUE takes 3 arguments, got {len(args)}")
            rel, offset, measure = (self.expr(a, owner) for a in args)
            if not (isinstance(rel, Const) and isinstance(measure, Const)):
                raise UnsupportedConstruct(f"{owner!r}: GET TIME VALUE needs numbers as relativeto and measure")
            if rel.value != 0 or measure.value != 0:
                why = ("relativeto 1 is ambiguous: Vensim's documentation and Vensim itself disagree"
                       if rel.value == 1 and measure.value == 0 else
                       "only relativeto 0 with measure 0: clock and calendar values are not reproducible")
                raise UnsupportedConstruct(
                    f"{owner!r}: GET TIME VALUE({rel.value:g}, ..., {measure.value:g}) is not supported ({why})")
            return Op("+", (TimeRef(), offset))
        if fn not in BUILTINS:
            shown = VENSIM_NAMES.get(fn, key.upper())
            raise UnsupportedConstruct(f"{owner!r} calls {shown}, which the engine does not support")
        lo, hi = BUILTINS[fn]
        if not lo <= len(args) <= hi:
            raise CxError(f"engine: {owner!r}: {VENSIM_NAMES.get(fn, fn.upper())} takes "
                          f"{lo if lo == hi else f'{lo} to {hi}'} arguments, got {len(args)}")
        call = Call(fn, tuple(self.expr(a, owner) for a in args))
        if fn in RANDOM_BUILTINS and hi and len(args) == hi and not isinstance(call.args[-1], Const):
            raise UnsupportedConstruct(f"{owner!r}: the seed of {VENSIM_NAMES[fn]} must be a number")
        return call

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


_FOLDS = {"sum": "+", "prod": "*", "vmin": "min", "vmax": "max"}
_VECTOR_FNS = ("vector sort order", "vector rank", "vector reorder", "vector elm map", "invert matrix")


def _fold(kind: str, terms: list):
    """``terms`` combined: SUM ``+``, PROD ``*``, VMIN ``min``, VMAX ``max``; left to right up to
    64 terms, beyond in halves (pairwise, as numpy sums; the tree stays shallow for the engine's
    recursive evaluation)."""
    op = _FOLDS[kind]
    if len(terms) > 64:
        half = len(terms) // 2
        a, b = _fold(kind, terms[:half]), _fold(kind, terms[half:])
        return Op(op, (a, b)) if op in "+*" else Call(op, (a, b))
    out = terms[0]
    for t in terms[1:]:
        out = Op(op, (out, t)) if op in "+*" else Call(op, (out, t))
    return out


@dataclass(frozen=True)
class _Read:
    """An element's IR read from external data (stands in for its abstract syntax)."""

    expr: object


@dataclass(frozen=True)
class _ReadTable:
    """An element's lookup table read from external data (stands in for its abstract syntax)."""

    x: tuple
    y: tuple


def _is_array(ast) -> bool:
    """True for an array constant (PySD gives ``1,2;3,4;`` as a numpy array)."""
    return type(ast).__module__ == "numpy" and hasattr(ast, "shape")


def _bang_ranges(ast, ae, acc: list) -> None:
    """Collect, in order of first appearance, the ranges summed over (``range!``) in ``ast``."""
    if isinstance(ast, ae.ReferenceStructure):
        for s in (ast.subscripts.subscripts if ast.subscripts is not None else ()):
            if s.endswith("!") and sub.key(s[:-1]) not in [sub.key(a) for a in acc]:
                acc.append(s[:-1])
        return
    if isinstance(ast, ae.CallStructure):
        fn = ast.function
        if isinstance(fn, ae.ReferenceStructure) and norm_name(fn.reference) in ("sum", "prod", "vmin", "vmax"):
            return  # a nested aggregation sums over its own ranges
        _bang_ranges(fn, ae, acc)
        for a in ast.arguments:
            _bang_ranges(a, ae, acc)
        return
    if isinstance(ast, (ae.ArithmeticStructure, ae.LogicStructure)):
        for a in ast.arguments:
            _bang_ranges(a, ae, acc)
        return
    if hasattr(ast, "__dataclass_fields__"):
        for f in ast.__dataclass_fields__:
            _bang_ranges(getattr(ast, f), ae, acc)
    elif isinstance(ast, (tuple, list)):
        for a in ast:
            _bang_ranges(a, ae, acc)


def translate(abstract_model, workdir=None, dynamic_controls=frozenset()) -> ModelIR:
    """Translate PySD's AbstractModel into :class:`ModelIR`; CxError names anything unsupported.

    ``workdir`` is the model's private folder, where the loader staged the data files it reads
    (GET XLS/DIRECT ...); without it external data is refused. Macros are expanded first (:mod:`cxsystems.engine.macros`): the variables of each call's
    private copy become hidden slots. ``dynamic_controls``: normalised names (``"final time"``) of
    control variables whose equations change in time: slots that equations reference (other
    control variables stay :class:`Control` values of the run)."""
    from .macros import expand

    expansion = expand(abstract_model)
    ir = _Translator(expansion.model, workdir, dynamic_controls).run()
    if expansion.hidden:
        for el in ir.elements:
            if norm_name(el.name) in expansion.hidden:
                el.hidden = True
        ir.names = [n for n in ir.names if norm_name(n) not in expansion.hidden]
    return ir
