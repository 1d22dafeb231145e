"""The compiled model: dependency analysis, evaluation order and the integration loop.

Semantics follow PySD 3.14's ``Model.run`` step for step:

* Initialisation evaluates every variable at the initial time, stateful objects taking their
  initial states in dependency order (a cycle is refused as a circular initialisation).
* Each step evaluates the auxiliaries from the current states in topological order (a cycle is
  refused as an algebraic loop), records them if the step is a saved time, then computes every
  derivative and only then updates every state: ``state + ddt * dt`` (Euler).
* Saved times: PySD's rule (``(t - t0) % saveper`` within ``1e-5 * dt``), time accumulated by
  repeated ``t + dt`` exactly as PySD does, and the final time included.
* Control variables that change in time (``FINAL TIME = IF THEN ELSE(...)``; the loader gives them
  NaN on the :class:`~cxsystems.model.core.Model`) are ordinary variables evaluated each step, and
  the time loop reads them (Vensim's rule): the TIME STEP at ``t`` sets the next time
  (``t + TIME STEP(t)``); ``INITIAL TIME`` is saved, then each time reaching the last saved time
  plus the SAVEPER read at that saved time; the run stops at the first time that reaches
  ``FINAL TIME(t)`` (within ``1e-5 * TIME STEP``, as PySD's constant rule), saved if due. A
  changing INITIAL TIME is an output only: the run starts at its value computed once with
  ``Time = 0`` (Time has no value before the start). Refused (``UnsupportedConstruct``): RK4, STEP,
  PULSE and DELAY1/3/N/FIXED (their TIME STEP rules) with a changing TIME STEP, and ensembles whose
  worlds would get different time grids.
* SMOOTH/SMOOTH3/SMOOTH N keep ``order`` stages; DELAY1/DELAY3 keep ``order`` stages holding
  ``value * delay time`` (PySD's layout; the output divides by the current delay time); the
  order is lowered while ``order * TIME STEP`` exceeds the delay time, as PySD does. DELAY N also
  remembers the delay time of each stage. DELAY FIXED is a ring buffer of
  ``round(delay / dt)`` steps fixed at the start.
* ACTIVE INITIAL takes its initial expression during initialisation (stocks start from it) and
  its active expression at every step, the first saved time included. SAMPLE IF TRUE holds a
  state: its value at t is the input at t where the condition holds, else the held state, which
  becomes that value after the step (DELAY FIXED's discrete update).
* RANDOM 0 1/UNIFORM/NORMAL/EXPONENTIAL/POISSON/TRIANGULAR draw once per time step, call site and
  run from a seeded counter-based generator (:mod:`cxsystems.engine.kernels`), with Vensim's
  arguments and truncation at min/max; the numbers cannot be Vensim's (nor PySD's).
* Macros are expanded before translation (:mod:`cxsystems.engine.macros`).

RK4 (``method="rk4"``) integrates the same continuous states (INTEG, SMOOTH, DELAY, DELAY N,
TREND, FORECAST) with the classic four-stage scheme, evaluating the auxiliaries at the stage times;
DELAY FIXED, SAMPLE IF TRUE and DELAY N's remembered delay times still advance once per step,
and random draws are the step's for every stage. Ensembles (arrays of
parameter values) run every equation on arrays of N runs; each run gets exactly the numbers it
would get alone, including the DELAY order PySD would lower for it.

Known, documented differences from PySD (none arises in the bundled models):

* PySD's ``Smooth`` keeps an integer state when its initial value is an integer literal and so
  truncates the first input (a PySD bug); the engine always uses floats. Write ``1.0``.
* PySD evaluates DELAY FIXED's input, and the new DELAY N stage times, while it updates the
  states one after another; the engine evaluates every input from the states of the step start
  (the consistent Vensim meaning). Results can differ where a DELAY FIXED input depends on a
  DELAY output, or where a DELAY N delay time changes during the run (then PySD's stocks fed by
  the DELAY N see the next step's stage times; measured: 1% on a test model).
* SAMPLE IF TRUE: PySD samples the input while it updates the states, so an input that depends
  on a stock sees the stock's next value; the engine holds the value of the step before (the
  input at the step start, Vensim's meaning: the value at t is the input at t while the
  condition holds, else the value at t - dt).
* Division by zero: PySD raises; a scalar run raises CxError naming the variable and time; an
  ensemble run yields inf/NaN in the affected runs only.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ..errors import CxError, UnsupportedConstruct
from . import compiled as _compiled
from .ir import (
    INIT_ONLY_ARGS,
    RANDOM_BUILTINS,
    TIME_BUILTINS,
    Call,
    Const,
    DataAt,
    Lookup,
    ModelIR,
    Op,
    Ref,
    TimeRef,
    arg_slots,
    norm_name,
    translate,
)
from .result import EngineResult
from .run import Run, check_time_grid, time_grid
from .run import closure as _closure

METHODS = ("euler", "rk4")


# ------------------------------------------------------------------------------------ analysis


def _refs(e, acc: set) -> bool:
    """Collect referenced slots into ``acc``; return True if ``e`` reads the time (or draws a
    random number). Each node is visited once, so trees sharing subtrees cost their size."""
    uses_time = False
    todo, seen = [e], set()
    while todo:
        x = todo.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, Ref):
            acc.add(x.slot)
        elif isinstance(x, (TimeRef, DataAt)):
            uses_time = True
        elif isinstance(x, (Op, Call)):
            uses_time |= isinstance(x, Call) and x.fn in TIME_BUILTINS
            todo.extend(x.args)
        elif isinstance(x, Lookup):
            todo.append(x.arg)
    return uses_time


#: Arguments a stateful needs to take its initial state (PySD's ``initialize``).
_INIT_ARGS = {
    "integ": ("initial",), "smooth": ("initial", "order"), "delay": ("initial", "time", "order"),
    "delayn": ("initial", "time", "order"), "delay_fixed": ("initial", "time"),
    "trend": ("input", "time", "initial"), "forecast": ("input", "time", "horizon", "initial"),
    "initial": ("initial",), "active_initial": ("initial",),
    "sample_if_true": ("condition", "input", "initial"),
}


def _output_deps(st) -> set:
    """Slots needed to compute a stateful's output from its state."""
    if st.kind == "active_initial":
        return arg_slots(st.args, ["active"])
    if st.kind == "sample_if_true":
        return arg_slots(st.args, ["condition", "input"])
    if st.kind == "delay":
        return arg_slots(st.args, ["time"])
    if st.kind == "trend":
        return arg_slots(st.args, ["input", "time"])
    if st.kind == "forecast":
        return arg_slots(st.args, ["input", "time", "horizon"])
    return set()


def _toposort(nodes: list, deps: dict, names, what: str) -> list:
    """Depth-first topological order of ``nodes``; a cycle raises CxError naming its members."""
    order, state = [], {}
    for root in nodes:
        if root in state:
            continue
        stack = [(root, iter(sorted(deps.get(root, ()))))]
        state[root] = 1
        path = [root]
        while stack:
            node, it = stack[-1]
            for d in it:
                s = state.get(d)
                if s is None:
                    state[d] = 1
                    stack.append((d, iter(sorted(deps.get(d, ())))))
                    path.append(d)
                    break
                if s == 1:
                    cyc = path[path.index(d):] + [d]
                    shown = " -> ".join(names(n) for n in cyc)
                    raise CxError(f"engine: {what}: {shown}")
            else:
                stack.pop()
                path.pop()
                state[node] = 2
                order.append(node)
    return order


def _random_sites(elements) -> dict:
    """``id(call)`` -> (index, owner) of each random builtin call, in slot order: the index of
    the call site keys its stream of draws, the owner (variable name) goes into messages."""
    sites: dict = {}
    seen: set = set()
    for el in elements:
        todo = [el.expr]
        while todo:  # depth first, arguments left to right
            e = todo.pop()
            if id(e) in seen:
                continue
            seen.add(id(e))
            if isinstance(e, Call) and e.fn in RANDOM_BUILTINS:
                sites[id(e)] = (len(sites), el.name)
            if isinstance(e, (Op, Call)):
                todo.extend(reversed(e.args))
            elif isinstance(e, Lookup):
                todo.append(e.arg)
    return sites


#: The run seed of random builtins when none is given.
DEFAULT_SEED = 0


@dataclass(frozen=True)
class _ParamSetting:
    base: object  # float or ndarray
    steps: tuple  # ((from_week, value), ...) applied in order


class CompiledModel:
    """A model compiled for the engine. Create it with :func:`cxsystems.engine.compile_model`."""

    def __init__(self, model):
        self.model = model
        dyn_controls = dynamic_controls(model)
        ir: ModelIR = translate(model.abstract_model, getattr(model, "_workdir", None),
                                frozenset(k.replace("_", " ") for k in dyn_controls))
        for name, value in (getattr(model, "overrides", None) or {}).items():  # the model's new base values
            el = ir.elements[ir.by_name[norm_name(name)]] if norm_name(name) in ir.by_name else None
            if el is None or not el.is_param:
                raise CxError(f"engine: {name!r} is not a constant of model {model.name}; it cannot be overridden")
            el.expr = Const(float(value))
        self.ir = ir
        n = len(ir.elements)
        self.n_slots = n
        els = ir.elements

        # step dependencies (auxiliaries from states) and init dependencies
        self.step_deps, self.init_deps, self.uses_time = {}, {}, set()
        for el in els:
            if el.stateful is not None:
                st = el.stateful
                self.step_deps[el.slot] = _output_deps(st)
                init_deps = arg_slots(st.args, _INIT_ARGS[st.kind])
                if st.kind != "active_initial":  # its initial value does not need the active one
                    init_deps |= _output_deps(st)
                self.init_deps[el.slot] = init_deps
            else:
                acc: set = set()
                if _refs(el.expr, acc):
                    self.uses_time.add(el.slot)
                self.step_deps[el.slot] = acc
                self.init_deps[el.slot] = acc

        # which slots are evaluated each step: visible ones and what statefuls need per step
        roots = [el.slot for el in els if not el.hidden]
        for st in ir.statefuls:
            step_args = [k for k in st.args if k not in INIT_ONLY_ARGS[st.kind]]
            roots += sorted(arg_slots(st.args, step_args))
        needed = _closure(set(roots), self.step_deps)
        self.step_needed = needed
        self.step_order = _toposort(sorted(needed), self.step_deps, self._name, "algebraic loop")
        self.init_order = _toposort(list(range(n)), self.init_deps, self._name, "circular initialisation")

        self.slot_of = dict(ir.by_name)
        self.variables = [c for v in model.variables for c in ir.arrays.get(norm_name(v), [v])
                          if norm_name(c) in self.slot_of]  # subscripted: one column per element
        self.params = {s for s in range(n) if els[s].is_param}
        self.random_sites = _random_sites(els)
        #: control variables that change in time: ``{"final_time": slot, ...}`` (SAVEPER not
        #: written in the model follows TIME STEP: no slot of its own)
        self.control_slots = {k: self.slot_of[k.replace("_", " ")] for k in dyn_controls
                              if k.replace("_", " ") in self.slot_of}
        _check_dynamic_controls(self)
        #: which backend ran the last call, and why (:mod:`cxsystems.engine.compiled`)
        self.backend_note = ""
        #: seconds the numpy engine has spent on this model (the compiled backend's rent-or-buy rule)
        self.numpy_seconds = 0.0

    # ------------------------------------------------------------------------------- helpers

    def _name(self, slot: int) -> str:
        return self.ir.elements[slot].name

    def _slot(self, name: str, where: str) -> int:
        key = norm_name(name)
        if key in self.slot_of:
            return self.slot_of[key]
        canonical = self.model.variable(name, where)  # raises with suggestions
        if norm_name(canonical) not in self.slot_of:  # "Stock[x]": an element the variable lacks
            base = canonical.split("[", 1)[0]
            have = self.ir.arrays.get(norm_name(base), [])
            shown = ", ".join(have[:4]) + (", ..." if len(have) > 4 else "")
            raise CxError(f"{getattr(self.model, 'path', self.model.name)}: {base!r} has no element "
                          f"{canonical[len(base):]}" + (f"; it has {shown}" if shown else ""))
        return self.slot_of[norm_name(canonical)]

    def _param_settings(self, changes, params):
        """Resolve ``params`` (the base values: the world) and then ``changes`` (the scenario, on
        top) into per-slot settings; also return N, the number of runs."""
        settings: dict[int, _ParamSetting] = {}
        n_runs = 1
        for name, value in (params or {}).items():
            p = self.model.parameter(name, "params")
            slot = self._slot(p.name, "params")
            arr = np.asarray(value, dtype=float)
            if arr.ndim == 0:
                settings[slot] = _ParamSetting(p.check(float(arr), "params"), ())
                continue
            if arr.ndim != 1 or arr.size == 0:
                raise CxError(f"params: {p.name!r} must be a number or a 1-D array, got shape {arr.shape}")
            if not np.all(np.isfinite(arr)):
                raise CxError(f"params: {p.name!r} has non-finite values")
            lo, hi = p.min, p.max
            bad = (arr < lo) if not math.isnan(lo) else np.zeros(arr.shape, bool)
            if not math.isnan(hi):
                bad |= arr > hi
            if bad.any():
                v = arr[bad][0]
                raise CxError(f"params: {p.name!r} = {v:g} is outside its range [{lo:g}, {hi:g}] {p.units}")
            if n_runs not in (1, arr.size):
                raise CxError(f"params: {p.name!r} has {arr.size} values but other parameters have {n_runs}")
            n_runs = arr.size
            settings[slot] = _ParamSetting(arr.copy(), ())
        for ch in changes:
            p = self.model.parameter(ch.parameter, "changes")
            slot = self._slot(p.name, "changes")
            value = float(ch.value)
            if ch.from_week is None:
                settings[slot] = _ParamSetting(value, ())
            else:
                prev = settings.get(slot)
                base, steps = (prev.base, prev.steps) if prev else (self.ir.elements[slot].expr.value, ())
                settings[slot] = _ParamSetting(base, steps + ((float(ch.from_week), value),))
        return settings, n_runs

    def dynamic_slots(self, param_is_dynamic, fixed=()) -> set:
        """Slots whose value can change after the start: every stateful but INITIAL, the
        parameters for which ``param_is_dynamic(slot)`` holds, and whatever depends on time or on
        another dynamic slot. Everything else, and the ``fixed`` slots (control variables given
        a value for the run), is computed once, at initialisation."""
        els = self.ir.elements
        dyn = set()
        for slot in self.init_order:
            el = els[slot]
            if slot in fixed:
                continue
            if el.stateful is not None:
                if el.stateful.kind != "initial":
                    dyn.add(slot)
            elif slot in self.params:
                if param_is_dynamic(slot):
                    dyn.add(slot)
            elif slot in self.uses_time or any(d in dyn for d in self.step_deps[slot]):
                dyn.add(slot)
        return dyn

    # ----------------------------------------------------------------------------------- run

    def run(self, changes=(), params: Mapping[str, object] | None = None, *, time_step=None,
            final_time=None, saveper=None, variables=None, method: str | None = None,
            vector: bool | None = None, seed: int = DEFAULT_SEED, first_world: int = 0,
            backend: str | None = None, save_steps=None) -> EngineResult:
        """Simulate; see :func:`cxsystems.engine.compile_model` for the arguments (``method``:
        default the model's own, ``Model.integration``; ``backend``: see
        :mod:`cxsystems.engine.compiled`, which one ran is in :attr:`backend_note`).

        ``save_steps``: save at exactly these time steps (increasing indices, 0 the initial time,
        the last ``(FINAL TIME - INITIAL TIME) / TIME STEP``) instead of the SAVEPER times (loop
        dominance keeps the two ends of each scored interval); fixed time settings only. The
        compiled backend saves every step and keeps these (the same numbers)."""
        backend = _compiled.default_backend() if backend is None else backend
        if backend not in _compiled.BACKENDS:
            raise CxError(f"unknown backend {backend!r}: choose from {', '.join(_compiled.BACKENDS)}")
        if method is None:
            method = getattr(self.model, "integration", "euler")
        if method not in METHODS:
            raise CxError(f"unknown integration method {method!r}: choose from {', '.join(METHODS)}")
        m = self.model
        ctl = dict(initial_time=float(m.initial_time),
                   final_time=float(final_time if final_time is not None else m.final_time),
                   time_step=float(time_step if time_step is not None else m.time_step),
                   saveper=float(saveper if saveper is not None else m.saveper))
        for k in ("final_time", "time_step", "saveper"):
            v = ctl[k]
            if math.isnan(v) and (k in self.control_slots or (k == "saveper" and "time_step" in self.control_slots)):
                continue  # changes in time: the run reads its equation
            if not (math.isfinite(v) and v > 0):
                raise CxError(f"{k} must be a positive number of weeks, got {v!r}")
        controls, fixed = self._controls(ctl, method)
        if save_steps is not None:
            save_steps = self._save_steps(save_steps, ctl, controls)
        if variables is None:
            names = list(self.variables)
        else:
            names = []
            for v in ([variables] if isinstance(variables, str) else variables):
                key = norm_name(v)
                if key in self.ir.tables:
                    raise CxError(f"variables: {v!r} is a lookup table, not a variable")
                if key in self.ir.arrays:  # a subscripted variable: every element
                    if norm_name(self.ir.arrays[key][0]) in self.ir.tables:
                        raise CxError(f"variables: {v!r} is a lookup table, not a variable")
                    names.extend(self.ir.arrays[key])
                    continue
                s = self._slot(v, "variables")
                names.append(self.ir.elements[s].name)
        settings, n_runs = self._param_settings(changes, params)
        if controls is not None and any(isinstance(st.base, np.ndarray) for st in settings.values()):
            self._check_shared_grid(settings)  # an ensemble (arrays of values, chunks of one too)
        if vector is None:
            vector = n_runs > 1 or any(isinstance(st.base, np.ndarray) for st in settings.values())
        if n_runs > 1 and not vector:
            raise CxError("engine: arrays of parameter values need the vector flavour")
        if controls is None:
            check_time_grid(ctl, len(names) * (n_runs if vector else 1), where=str(getattr(m, "path", m.name)))
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise CxError(f"seed must be a whole number, got {seed!r}")
        if isinstance(first_world, bool) or not isinstance(first_world, (int, np.integer)) or first_world < 0:
            raise CxError(f"first_world must be a whole number >= 0, got {first_world!r}")
        capture = [self.slot_of[norm_name(nm)] for nm in names]
        n_worlds = n_runs if vector else 1
        if controls is None:
            n_steps = int((ctl["final_time"] - ctl["initial_time"]) / ctl["time_step"]) + 1
            program, note = _compiled.choose(self, backend, n_steps, n_worlds, vector, method)
            if program is not None:
                every = ctl if save_steps is None else dict(ctl, saveper=ctl["time_step"])
                result = _compiled.run(self, program, every, settings, n_worlds, capture, names)
                if result is not None and save_steps is not None:
                    result = _kept_steps(result, save_steps, every)
                    if result is None and backend == "compiled":
                        raise UnsupportedConstruct("the compiled backend cannot save these time steps "
                                                   "(its grid misses some TIME STEPs)")
                    note = "numpy: the compiled grid misses some TIME STEPs" if result is None else note
                elif result is None:
                    note = "numpy: a world divided by zero (the numpy engine's rules apply)"
                if result is not None:
                    self.backend_note = note
                    return result
        elif backend == "compiled":
            raise UnsupportedConstruct("the compiled backend runs fixed time settings only")
        else:
            note = "numpy: time settings that change in time"
        self.backend_note = note
        started = time.perf_counter()
        run = Run(self, ctl, settings, n_worlds, vector, method, seed, first_world,
                  controls=controls, fixed=fixed, save_steps=save_steps)
        result = run.simulate(capture, names)
        self.numpy_seconds += time.perf_counter() - started
        return result

    @staticmethod
    def _save_steps(save_steps, ctl: dict, controls) -> np.ndarray:
        """``save_steps`` checked: increasing whole numbers within the run's steps."""
        if controls is not None:
            raise UnsupportedConstruct("save_steps needs fixed time settings (TIME STEP, SAVEPER and FINAL TIME "
                                       "that do not change in time)")
        steps = np.asarray(save_steps)
        last = len(time_grid(ctl)[0]) - 1
        if (steps.ndim != 1 or steps.size == 0 or steps.dtype.kind not in "iu"
                or np.any(np.diff(steps) <= 0) or steps[0] < 0 or steps[-1] > last):
            raise CxError(f"save_steps must be increasing whole numbers from 0 to {last} (the run's time steps)")
        return steps.astype(np.int64)

    def _controls(self, ctl: dict, method: str):
        """Where the run reads its time settings: ``(controls, fixed)``. ``controls`` is ``None``
        when every one is a number (the fixed grid of :func:`~cxsystems.engine.run.time_grid`),
        else ``{"initial_time"|"final_time"|"time_step"|"saveper": ("slot", s) or ("value", v)}``;
        ``fixed`` maps the slot of a changing control variable given a value for the run
        (``final_time=`` ...) to that value."""
        fixed = {s: ctl[k] for k, s in self.control_slots.items() if not math.isnan(ctl[k])}
        controls = {}
        for k in ("initial_time", "final_time", "time_step", "saveper"):
            if not math.isnan(ctl[k]):
                controls[k] = ("value", ctl[k])
            elif k in self.control_slots:
                controls[k] = ("slot", self.control_slots[k])
            else:  # SAVEPER not written in the model: TIME STEP's
                controls[k] = controls["time_step"]
        if all(kind == "value" for kind, _ in controls.values()):
            return None, fixed
        if method != "euler" and controls["time_step"][0] == "slot":
            raise UnsupportedConstruct(f"{self.model.name}: TIME STEP changes in time: the engine runs "
                                       f"such a model with Euler integration only, not {method}")
        return controls, fixed


    def _check_shared_grid(self, settings) -> None:
        """Refuse an ensemble whose worlds could get different time grids: a parameter given one
        value per world (whatever the values: the ensemble's other chunks may differ), or a random
        draw, that a changing control variable depends on (through stocks too)."""
        deps = {}
        for el in self.ir.elements:
            st = el.stateful
            deps[el.slot] = (self.step_deps[el.slot] | self.init_deps[el.slot]
                             | (arg_slots(st.args, list(st.args)) if st is not None else set()))
        needs = _closure({s for s in self.control_slots.values()}, deps)
        varied = [s for s in needs if isinstance(getattr(settings.get(s), "base", None), np.ndarray)]
        random = {owner for _, owner in self.random_sites.values()}
        drawn = [s for s in needs if self.ir.elements[s].name in random]
        if varied or drawn:
            name = self._name((varied or drawn)[0])
            keys = ", ".join(k.replace("_", " ").upper() for k in self.control_slots)
            raise UnsupportedConstruct(f"{keys} depend(s) on {name!r}, which differs between the worlds of "
                                       "the ensemble: they would need different time grids")


def _kept_steps(result: EngineResult, steps: np.ndarray, every: dict) -> EngineResult | None:
    """The ``steps`` of a result saved at every time step (``None`` if it did not save every step)."""
    _, saved, _ = time_grid(every)
    if not all(saved) or len(result.times) != len(saved):
        return None
    return EngineResult(names=result.names, times=np.asarray(result.times)[steps], values=result.values[:, steps, :])


def dynamic_controls(model) -> tuple:
    """The control variables of ``model`` whose equations change in time (``"final_time"``, ...):
    the loader gives them NaN on the Model, as no single number describes them."""
    out = []
    for k in ("initial_time", "final_time", "time_step", "saveper"):
        v = getattr(model, k, 0.0)
        if isinstance(v, float) and math.isnan(v):
            out.append(k)
    return tuple(out)


def _check_dynamic_controls(cm: CompiledModel) -> None:
    """Refuse what a changing TIME STEP leaves undefined: STEP and PULSE (their half-step rule)
    and DELAY1/3/N/FIXED (orders and buffers sized from the step); a changing INITIAL TIME that
    needs a stock to start."""
    slots = cm.control_slots
    if "time_step" in slots:
        for el in cm.ir.elements:
            st = el.stateful
            if st is not None and st.kind in ("delay", "delayn", "delay_fixed"):
                raise UnsupportedConstruct(f"{st.owner!r}: a DELAY with a TIME STEP that changes in time")
            todo = [el.expr]
            while todo:
                e = todo.pop()
                if isinstance(e, Call) and e.fn in ("step", "pulse"):
                    raise UnsupportedConstruct(f"{el.name!r}: {e.fn.upper()} with a TIME STEP that changes in time")
                if isinstance(e, (Op, Call)):
                    todo.extend(e.args)
                elif isinstance(e, Lookup):
                    todo.append(e.arg)
    if "initial_time" in slots:
        needs = _closure({slots["initial_time"]}, cm.init_deps)
        if any(cm.ir.elements[s].stateful is not None for s in needs):
            raise UnsupportedConstruct("INITIAL TIME depends on a stock")


#: Vensim constructs the engine supports (everything else is refused with a CxError).
SUPPORTED = (
    "+ - * / ^ and unary minus", "= <> < <= > >= :AND: :OR: :NOT:", "IF THEN ELSE", "MIN", "MAX",
    "ABS", "EXP", "LN", "LOG", "SQRT", "POWER", "SIN", "COS", "TAN", "ARCSIN", "ARCCOS", "ARCTAN",
    "SINH", "COSH", "TANH", "PI", "INTEGER", "MODULO", "QUANTUM", "XIDZ", "ZIDZ", "STEP", "RAMP",
    "PULSE", "PULSE TRAIN", "lookups (standalone and WITH LOOKUP)", "INTEG", "SMOOTH", "SMOOTHI",
    "SMOOTH3", "SMOOTH3I", "SMOOTH N", "DELAY1", "DELAY1I", "DELAY3", "DELAY3I", "DELAY N",
    "DELAY FIXED", "TREND", "FORECAST", "INITIAL", "ACTIVE INITIAL", "SAMPLE IF TRUE",
    "GET TIME VALUE (relativeto 0 or 1, measure 0)", "RANDOM 0 1", "RANDOM UNIFORM", "RANDOM NORMAL",
    "RANDOM EXPONENTIAL", "RANDOM POISSON", "RANDOM TRIANGULAR", "macros (one output)", "GAME",
    "Time", "INITIAL TIME", "FINAL TIME", "TIME STEP", "SAVEPER",
    "control variables that change in time (Euler; RK4 with a fixed TIME STEP)",
    "subscripts (ranges, subranges, mappings, equivalences, :EXCEPT:, array constants; unrolled)",
    "SUM", "PROD", "VMIN", "VMAX", "ELMCOUNT", "VECTOR SELECT (error action 0)",
    "VECTOR SORT ORDER", "VECTOR RANK", "VECTOR REORDER", "VECTOR ELM MAP", "INVERT MATRIX", "GET XLS/DIRECT SUBSCRIPT",
    "GET XLS/DIRECT CONSTANTS, LOOKUPS and DATA (:INTERPOLATE:, :HOLD BACKWARD:, :LOOK FORWARD:, "
    ":RAW:; variables without subscripts)", "non-negative stocks (XMILE)",
    "ALLOCATE BY PRIORITY", "ALLOCATE AVAILABLE (priority profiles 0 to 4)",
)

_CACHE_ATTR = "_cx_engine_compiled"


def compile_model(model) -> CompiledModel:
    """Compile a :class:`cxsystems.Model` for the engine (cached on the model object).

    ``CompiledModel.run(changes=(), params=None, *, time_step=None, final_time=None,
    saveper=None, variables=None, method="euler")`` returns an :class:`EngineResult`:

    * ``params``: ``{parameter name: number or array of N values}``: the base values (the
      "world"), constant from the start; arrays run N parameter sets in one pass.
    * ``changes``: :class:`cxsystems.Change` objects applied on top of ``params`` (the
      scenario): a change with ``from_week`` sets the parameter to its value when
      ``time >= from_week`` (base value before), a change without sets it from the start
      (initial values included). Later changes win from their week on.
    * ``variables``: names to record (default: every variable that is not a lookup).
    * ``method``: ``"euler"`` (PySD's, the default) or ``"rk4"``.
    * ``time_step``, ``final_time``, ``saveper``: override the model's control values (weeks).
    * ``vector``: force the vector flavour for one run (default: only for arrays of values).
    * ``backend``: ``"auto"`` (default, or ``CXSYSTEMS_BACKEND``), ``"compiled"`` or ``"numpy"``:
      see :mod:`cxsystems.engine.compiled`; the numbers agree within 1e-12 relative, and
      ``CompiledModel.backend_note`` says which ran and why.
    * ``seed``, ``first_world``: the random builtins (RANDOM UNIFORM, RANDOM NORMAL, ...) draw
      from a counter-based generator keyed by the seed (default :data:`DEFAULT_SEED`), the call
      site, the time step and the world (run ``i`` of N is world ``first_world + i``): the same
      seed gives the same numbers, every world its own. They are not Vensim's numbers.

    ``EngineResult.values`` is an array (variables, saved times, runs); ``.to_frame(run=0)``
    gives the DataFrame :func:`cxsystems.simulate` returns; ``.to_xarray()`` a DataArray.
    """
    cached = getattr(model, _CACHE_ATTR, None)
    key = (id(model.abstract_model), tuple(sorted((getattr(model, "overrides", None) or {}).items())))
    if cached is not None and cached[0] == key:
        return cached[1]
    compiled = CompiledModel(model)
    try:
        setattr(model, _CACHE_ATTR, (key, compiled))
    except AttributeError:  # pragma: no cover - frozen objects: no cache
        pass
    return compiled
