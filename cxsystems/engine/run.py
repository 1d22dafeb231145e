"""One simulation run: the value table, the closures of each step and the integration loop.

:class:`cxsystems.engine.plan.CompiledModel` plans a model once (dependencies, evaluation order);
:class:`Run` executes that plan for one set of settings (scalar floats, or arrays of N runs) with
Euler or RK4 and returns an :class:`~cxsystems.engine.result.EngineResult`. Semantics: see
:mod:`cxsystems.engine.plan`.
"""

from __future__ import annotations

import gc
import math
from operator import itemgetter as _itemgetter
from typing import TYPE_CHECKING

import numpy as np

from ..errors import CxError, UnsupportedConstruct
from ..limits import MAX_STEPS, check_memory
from . import kernels as K
from .closures import ClosureBuilder, Flavour, as_fn
from .ir import (
    INIT_ONLY_ARGS,
    Const,
    arg_slots,
)
from .result import EngineResult

if TYPE_CHECKING:  # pragma: no cover
    from .plan import CompiledModel


def check_time_grid(ctl, values_per_save: int = 1, where: str = "") -> tuple[int, int]:
    """Refuse, before anything is allocated, a time grid that cannot advance or would not fit.

    Args:
        ctl: ``initial_time``, ``final_time``, ``time_step``, ``saveper`` (weeks).
        values_per_save: numbers recorded at each saved time (variables x runs).
        where: what to name at the start of a message (the model file).

    Returns:
        ``(steps, saved)``: about how many time steps the run takes and how many times it saves.

    Raises:
        CxError: TIME STEP too small to change the time (``t + dt == t``), more than
            :data:`cxsystems.limits.MAX_STEPS` steps, or saved values over the memory limit.
    """
    t0, tf, dt, sp = ctl["initial_time"], ctl["final_time"], ctl["time_step"], ctl["saveper"]
    pre = f"{where}: " if where else ""
    for t in (t0, tf):
        if not (t + dt > t and t - dt < t):
            raise CxError(f"{pre}TIME STEP {dt:g} cannot advance the time at {t:g} (t + TIME STEP == t in "
                          "floating point): use a larger TIME STEP or times closer to 0")
    if not tf >= t0:
        raise CxError(f"{pre}FINAL TIME {tf:g} is before INITIAL TIME {t0:g}")
    steps = int((tf - t0) / dt) + 1
    if steps > MAX_STEPS:
        raise CxError(f"{pre}the run would take {steps:,} time steps ((FINAL TIME - INITIAL TIME) / TIME STEP), "
                      f"more than the limit of {MAX_STEPS:,}: use a larger TIME STEP or a shorter run")
    saved = int(steps / max(1.0, sp / dt)) + 2
    check_memory(saved * max(1, values_per_save) * 8.0,
                 f"{pre}saving {saved:,} times x {values_per_save:,} values",
                 "use a larger SAVEPER (saveper=), fewer variables or fewer runs")
    return steps, saved


def time_grid(ctl, save_steps=None):
    """PySD's time loop: step times, which of them are saved, and the rounded saved times.

    ``save_steps`` (sorted step indices, 0 the initial time) saves exactly those steps instead of
    the SAVEPER times. Call :func:`check_time_grid` first: this builds a list of every step time."""
    t0, tf, dt, sp = ctl["initial_time"], ctl["final_time"], ctl["time_step"], ctl["saveper"]
    prec = dt * 1e-5
    digits = -int(np.log10(dt * 1e-5))

    def in_return(t):
        d = t - t0
        return d % sp < prec or -d % sp < prec

    times, saved = [], []
    t = t0
    while t + prec < tf:
        times.append(t)
        saved.append(in_return(t))
        t = t + dt
    times.append(t)  # the time after the last step (saved if on the grid)
    saved.append(in_return(t))
    if save_steps is not None:
        mask = np.zeros(len(times), dtype=bool)
        mask[np.asarray(save_steps, dtype=np.int64)] = True
        saved = mask.tolist()
    kept = np.array([tt for tt, s in zip(times, saved) if s], dtype=float)
    rounded = np.round(kept, digits).tolist()  # PySD's Time.round, element by element
    return times, saved, rounded


class Run:
    """State and closures of one simulation (scalar: floats; vector: arrays of N runs).

    Every value lives in the value table ``V``: model variables, hidden auxiliaries and the
    stages of stateful objects (extra slots after the model's). In the vector flavour the stage
    slots are rows of one state matrix, so an Euler update is two numpy operations.
    """

    def __init__(self, cm: CompiledModel, ctl, settings, n_runs, vector, method, seed=0, first_world=0,
                 controls=None, fixed=None, save_steps=None):
        self.cm, self.ctl, self.settings = cm, ctl, settings
        self.save_steps = save_steps  # step indices saved instead of the SAVEPER times (fixed grid only)
        # time settings read from the model's equations (None: the fixed grid of ``ctl``) and
        # the slots of changing control variables given a value for the run
        self.controls, self.fixed = controls, dict(fixed or {})
        self.control_roots = {s for kind, s in (controls or {}).values() if kind == "slot"}
        self.n, self.vector, self.method = n_runs, vector, method
        self.seed, self.first_world = int(seed), int(first_world)
        self.fl = Flavour(vector)
        self.V = [None] * cm.n_slots
        self.T = [ctl["initial_time"]]
        self.K = [0]  # index of the current time step (initialisation: 0), keys random draws
        self.dt = ctl["time_step"]
        self.states = []  # (stateful, info) in initialisation order

    # -------------------------------------------------------------------- parameter closures
    def _param_fn(self, slot):
        s = self.settings.get(slot)
        T = self.T
        if s is None:
            return ("c", self.cm.ir.elements[slot].expr.value)
        if not s.steps:
            return ("c", s.base)
        fn = lambda b=s.base: b  # noqa: E731
        for from_week, value in s.steps:
            fn = (lambda prev, fw, val: (lambda: val if T[0] >= fw else prev()))(fn, from_week, value)
        return ("f", fn)

    def _random(self, call, fns):
        """Closure for a random builtin: one draw per time step and world (see
        :mod:`cxsystems.engine.kernels`); the same step gives the same number however often it
        is evaluated (initialisation and step 0, RK4 stages)."""
        kern, nargs = K.RANDOM_KERNELS[call.fn]
        seed_arg = call.args[nargs] if len(call.args) > nargs else Const(0.0)
        site, owner = self.cm.random_sites[id(call)]
        key = K.stream_key(self.seed, site, K.float_key(seed_arg.value))
        worlds = np.arange(self.first_world, self.first_world + self.n, dtype=np.uint64)
        dist, step, vector = fns[:nargs], self.K, self.vector
        cache = [-1, None]

        def draw():
            k = step[0]
            if cache[0] != k:
                try:
                    x = kern(K.uniforms(key, k, worlds), *(g() for g in dist))
                except CxError as err:
                    raise CxError(f"{err} (in {owner!r} at time {self.T[0]:g})") from None
                x = np.asarray(x, dtype=float)
                cache[1] = x.reshape(-1) if vector else float(x.flat[0])
                cache[0] = k
            return cache[1]

        return draw

    def _is_param_dynamic(self, slot):
        s = self.settings.get(slot)
        return bool(s and s.steps)

    # ------------------------------------------------------------------------ initialisation
    def _new_slot(self, value):
        self.V.append(value)
        return len(self.V) - 1

    def _initialise(self):
        cm, V = self.cm, self.V
        els = cm.ir.elements
        builder = ClosureBuilder(V, self.T, self.ctl, self.fl, random=self._random)
        for slot in cm.init_order:
            el = els[slot]
            try:
                if slot in self.fixed:
                    V[slot] = self._full(self.fixed[slot])
                elif el.stateful is not None:
                    self._init_stateful(el.stateful)
                elif slot in cm.params:
                    V[slot] = as_fn(V, self._param_fn(slot))()
                else:
                    V[slot] = builder.fn(el.expr)()
            except ZeroDivisionError:
                raise CxError(f"engine: division by zero in {el.name!r} at initial time "
                              f"{self.T[0]:g}") from None

    def _val(self, arg):
        """Current value of a stateful argument (a Ref or a Const)."""
        return arg.value if isinstance(arg, Const) else self.V[arg.slot]

    def _order(self, st):
        if st.order is not None:
            order = st.order
        else:
            arr = np.asarray(self._val(st.args["order"]), dtype=float)
            if arr.ndim and not np.all(arr == arr.flat[0]):
                raise CxError(f"engine: {st.owner!r}: the order differs between runs of the ensemble")
            o = float(arr.flat[0])
            if o != int(o) or o < 1:
                raise CxError(f"engine: {st.owner!r}: order must be a whole number >= 1, got {o:g}")
            order = int(o)
        if st.kind in ("delay", "delayn"):
            times = np.asarray(self._val(st.args["time"]), dtype=float)

            def lowered(tmin, o=order):
                while o * self.dt > tmin and o > 0:
                    o -= 1
                return o

            low = lowered(float(times.min()))
            if low < 1:
                raise CxError(f"engine: {st.owner!r}: delay time shorter than TIME STEP")
            if times.ndim and lowered(float(times.max())) != low:
                # runs of the ensemble get different orders, each the one PySD would use alone
                return np.array([lowered(float(t)) for t in times], dtype=int)
            order = low
        return order

    def _full(self, value):
        """A state value: float (scalar) or an owned float array of N runs (vector)."""
        if self.vector:
            out = np.empty(self.n)
            out[...] = value
            return out
        return float(value)

    def _init_stateful(self, st):
        V, val = self.V, self._val
        info = {}
        kind = st.kind
        if kind == "integ":
            V[st.out] = self._full(val(st.args["initial"]))
            info["slots"] = [st.out]
        elif kind == "smooth":
            order = info["order"] = self._order(st)
            init = val(st.args["initial"])
            V[st.out] = self._full(init)
            info["slots"] = [self._new_slot(self._full(init)) for _ in range(order - 1)] + [st.out]
        elif kind in ("delay", "delayn"):
            order = self._order(st)
            if np.ndim(order):  # per-run orders: max(order) stages, run i reads stage order_i - 1
                info["order"], info["k"] = int(order.max()), order
            else:
                info["order"], info["k"] = order, None
            T = val(st.args["time"])
            x = val(st.args["initial"]) * T
            info["slots"] = [self._new_slot(self._full(x)) for _ in range(info["order"])]
            last = self._last_stage(info)
            if kind == "delayn":
                info["times"] = [self._full(T) for _ in range(info["order"])]
                V[st.out] = last() / info["times"][0]
            else:
                V[st.out] = last() / T
        elif kind == "delay_fixed":
            T = val(st.args["time"])
            orders = np.round(np.maximum(np.asarray(T, dtype=float) / self.dt, 1) + K_SMALL).astype(int)
            init = self._full(val(st.args["initial"]))
            size = int(np.max(orders))
            info.update(orders=orders, init=init, count=0, size=size,
                        buf=np.empty((size, self.n)) if self.vector else [0.0] * size)
            V[st.out] = init.copy() if self.vector else init
        elif kind == "trend":
            inp, avg, tr = val(st.args["input"]), val(st.args["time"]), val(st.args["initial"])
            slot = self._new_slot(self._full(inp / (1 + tr * avg)))
            info["slots"] = [slot]
            V[st.out] = self._trend_out(inp, avg, V[slot])
        elif kind == "forecast":
            inp, tr = val(st.args["input"]), val(st.args["initial"])
            slot = self._new_slot(self._full(inp / (1 + tr)))
            info["slots"] = [slot]
            V[st.out] = self._forecast_out(inp, val(st.args["time"]), val(st.args["horizon"]), V[slot])
        elif kind in ("initial", "active_initial"):
            v = val(st.args["initial"])
            V[st.out] = v.copy() if isinstance(v, np.ndarray) else v
        elif kind == "sample_if_true":
            slot = self._new_slot(self._full(val(st.args["initial"])))
            info["slots"] = [slot]
            V[st.out] = self._sample(val(st.args["condition"]), val(st.args["input"]), V[slot])
        self.states.append((st, info))

    def _last_stage(self, info):
        """Closure reading each run's last delay stage (stage ``order - 1``)."""
        V, slots, k = self.V, info["slots"], info.get("k")
        if k is None:
            last = slots[-1]
            return lambda: V[last]
        pick = k - 1
        return lambda: np.choose(pick, [V[s] for s in slots])

    def _orders_factor(self, info):
        """The order as the multiplier of a delay's rates: a float, or one per run."""
        k = info.get("k")
        return float(info["order"]) if k is None else k.astype(float)

    def _sample(self, cond, inp, state):
        """SAMPLE IF TRUE's value: the input where the condition holds, else the held state."""
        if self.vector and isinstance(cond, np.ndarray):
            return self._full(np.where(cond, inp, state))
        return self._full(inp if cond else state)

    def _trend_out(self, inp, avg, s):
        return self.fl.fns["zidz"](inp - s, avg * abs(s))

    def _forecast_out(self, inp, avg, horizon, s):
        return inp * (1 + self.fl.fns["zidz"](inp - s, avg * s) * horizon)

    # ------------------------------------------------------------------------ step machinery
    def _dynamic_slots(self):
        return self.cm.dynamic_slots(self._is_param_dynamic, self.fixed)

    def _build_step(self, capture):
        """Per-step closures (split into what the states need every step and what only saving
        needs), stage slots and derivative closures."""
        cm, V = self.cm, self.V
        els = cm.ir.elements
        dyn = self._dynamic_slots()
        known = {s: V[s] for s in range(cm.n_slots) if s not in dyn}
        builder = ClosureBuilder(V, self.T, self.ctl, self.fl, known, random=self._random)
        self.stage_slots, self.derivs = [], []
        self.flow_slots, self.flow_stage_slots = [], []
        self.discrete, self.pre = [], []
        critical_roots = set(self.control_roots)  # the time loop reads them each step
        # non-negative stocks (XMILE): their state is clipped at 0 after each Euler step
        self.clip_slots = [info["slots"][0] for st, info in self.states if st.non_negative]
        if self.clip_slots and self.method != "euler":
            raise UnsupportedConstruct(f"{self._clip_owner()!r}: non-negative "
                                       f"stocks run only with Euler integration, not {self.method}")
        for st, info in self.states:
            step_args = [k for k in st.args if k not in INIT_ONLY_ARGS[st.kind]]
            critical_roots |= arg_slots(st.args, step_args)
            self._stateful_step(st, info, builder)
        critical = closure(critical_roots, cm.step_deps)
        wanted = closure(set(capture), cm.step_deps)
        plan, save_plan = [], []
        for slot in cm.step_order:
            if slot not in dyn or (slot not in critical and slot not in wanted):
                continue
            el = els[slot]
            if el.stateful is not None:
                f = self._output_fn(el.stateful, builder)
            elif slot in cm.params:
                f = as_fn(V, self._param_fn(slot))
            else:
                f = builder.fn(el.expr)
            if f is not None:
                (plan if slot in critical else save_plan).append((slot, f))
        self.plan, self.save_plan = plan, save_plan

    def _clip_owner(self) -> str:
        return next(st.owner for st, _ in self.states if st.non_negative)

    def _output_fn(self, st, builder):
        """Closure computing a stateful's output from its state (None: no per-step evaluation)."""
        info = self._info_of(st)
        V, kind = self.V, st.kind
        if kind == "delay":
            fT = builder.fn(st.args["time"])
            if info.get("k") is not None:
                last_stage = self._last_stage(info)
                return lambda: last_stage() / fT()
            last = info["slots"][-1]
            return lambda: V[last] / fT()
        if kind == "delayn":
            TM = info["times"]
            if info.get("k") is not None:
                last_stage = self._last_stage(info)
                return lambda: last_stage() / TM[0]
            last = info["slots"][-1]
            return lambda: V[last] / TM[0]
        if kind == "trend":
            s = info["slots"][0]
            fi, fa = builder.fn(st.args["input"]), builder.fn(st.args["time"])
            return lambda: self._trend_out(fi(), fa(), V[s])
        if kind == "forecast":
            s = info["slots"][0]
            fi, fa, fh = (builder.fn(st.args[k]) for k in ("input", "time", "horizon"))
            return lambda: self._forecast_out(fi(), fa(), fh(), V[s])
        if kind == "active_initial":
            return builder.fn(st.args["active"])
        if kind == "sample_if_true":
            return self._sample_fn(st, info, builder)
        # integ, smooth: the last stage slot is the output; delay fixed: discrete update
        return None

    def _sample_fn(self, st, info, builder):
        """Closure computing SAMPLE IF TRUE's value from the held state."""
        V, s = self.V, info["slots"][0]
        fc, fi = builder.fn(st.args["condition"]), builder.fn(st.args["input"])
        if self.vector:
            return lambda: self._sample(fc(), fi(), V[s])
        return lambda: fi() if fc() else V[s]

    def _info_of(self, st):
        for s, info in self.states:
            if s is st:
                return info
        raise KeyError(st.owner)  # pragma: no cover

    def _stateful_step(self, st, info, builder):
        """Register derivative closures (continuous) or a discrete update for one stateful."""
        kind = st.kind
        if kind in ("initial", "active_initial"):
            return
        V = self.V
        if kind == "sample_if_true":  # the held state becomes this step's value, after the step
            self.discrete.append((st, info, self._sample_fn(st, info, builder)))
            return
        if kind == "delay_fixed":
            self.discrete.append((st, info, builder.fn(st.args["input"])))
            return
        S = info["slots"]
        if kind == "integ":
            node = builder.build(st.args["flow"])
            if node[0] == "v" and node[1] < self.cm.n_slots:
                # a plain auxiliary: read it straight from the table (not a stage slot)
                self.flow_slots.append(node[1])
                self.flow_stage_slots.append(S[0])
                return
            self.stage_slots.append(S[0])
            self.derivs.append(as_fn(V, node))
            return
        self.stage_slots.extend(S)
        fin = builder.fn(st.args["input"])
        fT = builder.fn(st.args["time"])
        tnode = builder.build(st.args["time"])
        if kind == "smooth":
            n = float(info["order"])
            s0 = S[0]
            if tnode[0] == "c":  # constant smoothing time: no call to read it
                tc = tnode[1]
                self.derivs.append(lambda: ((fin() - V[s0]) * n) / tc)
                for a, b in zip(S, S[1:]):
                    self.derivs.append((lambda a, b: lambda: ((V[a] - V[b]) * n) / tc)(a, b))
                return
            self.derivs.append(lambda: ((fin() - V[s0]) * n) / fT())
            for a, b in zip(S, S[1:]):
                self.derivs.append((lambda a, b: lambda: ((V[a] - V[b]) * n) / fT())(a, b))
        elif kind == "delay":
            n = self._orders_factor(info)
            s0 = S[0]
            if tnode[0] == "c":
                tc = tnode[1]
                self.derivs.append(lambda: (fin() - V[s0] / tc) * n)
                for a, b in zip(S, S[1:]):
                    self.derivs.append((lambda a, b: lambda: (V[a] / tc - V[b] / tc) * n)(a, b))
                return
            self.derivs.append(lambda: (fin() - V[s0] / fT()) * n)
            for a, b in zip(S, S[1:]):
                self.derivs.append((lambda a, b: lambda: (V[a] / fT() - V[b] / fT()) * n)(a, b))
        elif kind == "delayn":
            n = self._orders_factor(info)
            TM = info["times"]
            pending = [None] * len(TM)

            vector = self.vector

            def roll(TM=TM, pending=pending, fT=fT):
                pending[0] = _owned(fT(), vector)  # kept across steps: copy buffers
                pending[1:] = TM[:-1]

            def commit(TM=TM, pending=pending):
                TM[:] = pending

            self.pre.append(roll)
            self.discrete.append((st, {"commit": commit}, None))
            s0 = S[0]
            self.derivs.append(lambda: (fin() - V[s0] / pending[0]) * n)
            for i, (a, b) in enumerate(zip(S, S[1:])):
                self.derivs.append(
                    (lambda i, a, b: lambda: (V[a] / pending[i] - V[b] / pending[i + 1]) * n)(i, a, b))
        elif kind in ("trend", "forecast"):
            s0 = S[0]
            self.derivs.append(lambda: (fin() - V[s0]) / fT())

    # --------------------------------------------------------------------------------- loop
    def simulate(self, capture, names) -> EngineResult:
        # The cyclic garbage collector is paused during the run: the run allocates no garbage
        # cycles worth collecting, and full collections triggered by the closures it builds
        # cost about a fifth of a scalar run. The previous state is restored afterwards.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            with np.errstate(all="ignore"):
                if self.controls is not None:
                    return self._simulate_dynamic(capture, names)
                return self._simulate(capture, names)
        finally:
            self._release()
            if was_enabled:
                gc.enable()

    def _release(self):
        """Drop the value table and closures now (they form cycles through ``self``)."""
        self.V.clear()
        for name in ("plan", "save_plan", "derivs", "pre", "discrete", "states"):
            setattr(self, name, [])

    def _step_functions(self):
        """The two closures both time loops call at every stage, built once per run:
        ``evaluate(with_save=False)`` runs the evaluation plan (and the saved-only variables), and
        ``derivatives(first=True)`` returns ``(flow values, state derivatives)``, running the
        pre-derivative hooks first unless told otherwise."""
        V, plan, save_plan, pre, derivs = self.V, self.plan, self.save_plan, self.pre, self.derivs
        flow_slots = self.flow_slots
        get_flows = (lambda v: ()) if not flow_slots else (
            (lambda v, g=_itemgetter(*flow_slots): (g(v),)) if len(flow_slots) == 1
            else _itemgetter(*flow_slots))

        def evaluate(with_save=False):
            for slot, f in plan:
                V[slot] = f()
            if with_save:
                for slot, f in save_plan:
                    V[slot] = f()

        def derivatives(first=True):
            if first:
                for f in pre:
                    f()
            return get_flows(V), [f() for f in derivs]

        return evaluate, derivatives

    def _simulate(self, capture, names):
        times, saved, rounded = time_grid(self.ctl, self.save_steps)
        self._initialise()
        self._build_step(capture)
        V, T, dt, step = self.V, self.T, self.dt, self.K
        discrete = self.discrete
        stage_slots, flow_stage_slots = self.stage_slots, self.flow_stage_slots
        all_stage_slots = flow_stage_slots + stage_slots
        n_save = len(rounded)
        vector = self.vector
        clip_slots = self.clip_slots
        if vector:
            n_states = len(all_stage_slots)
            out = np.empty((len(capture), n_save, self.n))
            Smat = np.empty((n_states, self.n))
            for k, s in enumerate(all_stage_slots):
                Smat[k] = V[s]
                V[s] = Smat[k]
            D = np.empty((n_states, self.n))
            Drows = list(D)
            clip_rows = [Smat[all_stage_slots.index(s)] for s in clip_slots]
        else:
            Smat = D = None
            rows = []
            grab = _itemgetter(*capture) if len(capture) > 1 else (
                (lambda v, g=_itemgetter(*capture): (g(v),)) if capture else (lambda v: ()))

        evaluate, derivatives = self._step_functions()

        def discrete_inputs():
            return [None if fin is None else _owned(fin(), vector) for _, _, fin in discrete]

        def discrete_update(inputs):
            for (st, info, fin), x in zip(discrete, inputs):
                if fin is None:
                    info["commit"]()
                elif st.kind == "sample_if_true":
                    V[info["slots"][0]] = x
                else:
                    self._delay_fixed_update(st, info, x)

        k_save = 0
        last = len(times) - 1
        euler = self.method == "euler"
        try:
            for k, t in enumerate(times):
                T[0] = t
                step[0] = k
                if saved[k]:
                    evaluate(True)
                    if vector:
                        for j, slot in enumerate(capture):
                            out[j, k_save] = V[slot]
                    else:
                        rows.append(grab(V))
                    k_save += 1
                else:
                    evaluate()
                if k == last:
                    break
                inputs = discrete_inputs() if discrete else ()
                if euler:
                    flows, d = derivatives()
                    if vector:  # D = ddt * dt row by row, then one addition: state + ddt * dt
                        for row, x in zip(Drows, flows):
                            np.multiply(x, dt, out=row)
                        for row, x in zip(Drows[len(flows):], d):
                            np.multiply(x, dt, out=row)
                        np.add(Smat, D, out=Smat)
                        for row in clip_rows:  # PySD's NonNegativeInteg: max(state, 0)
                            np.maximum(row, 0.0, out=row)
                    else:
                        for s, x in zip(flow_stage_slots, flows):
                            V[s] = V[s] + x * dt
                        for s, x in zip(stage_slots, d):
                            V[s] = V[s] + x * dt
                        for s in clip_slots:  # NaN stays NaN, as numpy.maximum keeps it
                            if V[s] < 0:
                                V[s] = 0.0
                else:
                    self._rk4_step(t, evaluate, derivatives, all_stage_slots, Smat)
                if discrete:
                    discrete_update(inputs)
        except ZeroDivisionError:
            raise CxError(self._locate_error(T[0])) from None
        if vector:
            arr = out
        else:
            arr = np.asarray(rows, dtype=float).reshape(n_save, len(capture)).T[:, :, None]
        return EngineResult(names=list(names), times=np.asarray(rounded), values=arr)

    # ------------------------------------------------- control variables that change in time
    def _control(self, key, t):
        """The value of a time setting now (one float: every world must share the time grid)."""
        kind, x = self.controls[key]
        v = x if kind == "value" else self.V[x]
        if isinstance(v, np.ndarray):
            first = float(v.flat[0])
            if not np.all((v == first) | (np.isnan(v) & np.isnan(first))):
                raise UnsupportedConstruct(f"{key.replace('_', ' ').upper()} differs between the worlds of "
                                           f"the ensemble at time {t:g}: they would need different time grids")
            v = first
        v = float(v)
        if key != "initial_time" and not (math.isfinite(v) and v > 0):
            raise CxError(f"engine: {key.replace('_', ' ').upper()} is {v:g} at time {t:g}; "
                          "it must be a positive number")
        if not math.isfinite(v):
            raise CxError(f"engine: INITIAL TIME is {v:g}; it must be a finite number")
        return v

    def _start_time(self):
        """The start of the run: INITIAL TIME, a number or its equation evaluated once with
        ``Time = 0`` (Time has no value before the start; stocks are refused at compilation)."""
        kind, x = self.controls["initial_time"]
        if kind == "value":
            return float(x)
        cm, V = self.cm, self.V
        builder = ClosureBuilder(V, self.T, self.ctl, self.fl, random=self._random)
        self.T[0] = 0.0
        needs = closure({x}, cm.init_deps)
        for slot in cm.init_order:
            if slot not in needs:
                continue
            if slot in self.fixed:
                V[slot] = self._full(self.fixed[slot])
            elif slot in cm.params:
                V[slot] = as_fn(V, self._param_fn(slot))()
            else:
                V[slot] = builder.fn(cm.ir.elements[slot].expr)()
        return self._control("initial_time", 0.0)

    def _simulate_dynamic(self, capture, names):
        """The time loop of control variables that change in time (Vensim's rule, see
        :mod:`cxsystems.engine.plan`): every step evaluates the model, saves if the time reached
        the last saved time plus SAVEPER, stops once it reaches FINAL TIME, then advances the
        states by the TIME STEP read now (Euler; RK4 only with a fixed TIME STEP)."""
        T, step = self.T, self.K
        T[0] = self._start_time()
        self._initialise()
        self._build_step(capture)
        V, vector, n = self.V, self.vector, self.n
        save_plan = self.save_plan
        discrete, clip_slots = self.discrete, self.clip_slots
        all_stage_slots = self.flow_stage_slots + self.stage_slots
        euler = self.method == "euler"

        evaluate, derivatives = self._step_functions()

        rows, times = [], []
        width = len(capture) * (n if vector else 1)
        t, k, next_save = T[0], 0, T[0]
        try:
            while True:
                T[0] = t
                step[0] = k
                evaluate()
                dt = self._control("time_step", t)
                if not (t + dt > t):
                    raise CxError(f"engine: TIME STEP {dt:g} cannot advance the time at {t:g}")
                prec = dt * 1e-5
                if t + prec >= next_save:  # a saved time
                    for slot, f in save_plan:
                        V[slot] = f()
                    if vector:
                        row = np.empty((len(capture), n))
                        for j, s in enumerate(capture):
                            row[j] = V[s]
                        rows.append(row)
                    else:
                        rows.append([V[s] for s in capture])
                    times.append(float(np.round(t, -int(np.log10(prec)))))  # PySD's Time.round
                    if len(rows) & (len(rows) - 1) == 0:  # 1, 2, 4, ... saved times: memory
                        check_memory(2.0 * len(rows) * max(1, width) * 8.0,
                                     f"saving {2 * len(rows):,} times x {width:,} values",
                                     "use a larger SAVEPER, fewer variables or fewer runs")
                    next_save = t + self._control("saveper", t)
                if t + prec >= self._control("final_time", t):
                    break
                k += 1
                if k > MAX_STEPS:
                    raise CxError(f"engine: the run would take more than {MAX_STEPS:,} time steps: use a "
                                  "larger TIME STEP or a shorter run")
                inputs = [None if fin is None else _owned(fin(), vector) for _, _, fin in discrete]
                if euler:
                    flows, d = derivatives()
                    for s, x in zip(all_stage_slots, list(flows) + d):
                        V[s] = V[s] + x * dt
                    for s in clip_slots:  # non-negative stocks: max(state, 0), NaN kept
                        V[s] = np.maximum(V[s], 0.0) if vector else (0.0 if V[s] < 0 else V[s])
                else:  # RK4: the TIME STEP is a number here (checked at compilation)
                    self._rk4_step(t, evaluate, derivatives, all_stage_slots, None)
                for (st, info, fin), x in zip(discrete, inputs):
                    if fin is None:
                        info["commit"]()
                    elif st.kind == "sample_if_true":
                        V[info["slots"][0]] = x
                    else:
                        self._delay_fixed_update(st, info, x)
                t = t + dt
        except ZeroDivisionError:
            raise CxError(self._locate_error(T[0])) from None
        if vector:
            arr = np.stack(rows, axis=1) if rows else np.empty((len(capture), 0, n))
        else:
            arr = np.asarray(rows, dtype=float).reshape(len(rows), len(capture)).T[:, :, None]
        return EngineResult(names=list(names), times=np.asarray(times), values=arr)

    def _rk4_step(self, t, evaluate, derivatives, slots, Smat):
        """One classic Runge-Kutta step of every continuous state (discrete ones: once)."""
        V, T, dt = self.V, self.T, self.dt

        def stacked(first):
            flows, d = derivatives(first)
            return list(flows) + d

        if Smat is not None:
            def arr(ks):
                return np.array([np.broadcast_to(x, (self.n,)) for x in ks])

            s0 = Smat.copy()
            k1 = arr(stacked(True))
            Smat[...] = s0 + k1 * (dt / 2)
            T[0] = t + dt / 2
            evaluate()
            k2 = arr(stacked(False))
            Smat[...] = s0 + k2 * (dt / 2)
            evaluate()
            k3 = arr(stacked(False))
            Smat[...] = s0 + k3 * dt
            T[0] = t + dt
            evaluate()
            k4 = arr(stacked(False))
            Smat[...] = s0 + (k1 + 2 * k2 + 2 * k3 + k4) * (dt / 6)
            T[0] = t
            return
        s0 = [V[s] for s in slots]

        def set_states(vals):
            for s, x in zip(slots, vals):
                V[s] = x

        k1 = stacked(True)
        set_states([a + b * (dt / 2) for a, b in zip(s0, k1)])
        T[0] = t + dt / 2
        evaluate()
        k2 = stacked(False)
        set_states([a + b * (dt / 2) for a, b in zip(s0, k2)])
        evaluate()
        k3 = stacked(False)
        set_states([a + b * dt for a, b in zip(s0, k3)])
        T[0] = t + dt
        evaluate()
        k4 = stacked(False)
        set_states([a + (b1 + 2 * b2 + 2 * b3 + b4) * (dt / 6)
                    for a, b1, b2, b3, b4 in zip(s0, k1, k2, k3, k4)])
        T[0] = t

    def _delay_fixed_update(self, st, info, x):
        V = self.V
        size, buf, orders = info["size"], info["buf"], info["orders"]
        count = info["count"]
        buf[count % size] = x
        count += 1
        info["count"] = count
        if not self.vector or np.ndim(orders) == 0:
            o = int(orders)
            if count >= o:
                v = buf[(count - o) % size]
                V[st.out] = v.copy() if self.vector else v
            else:
                V[st.out] = info["init"].copy() if self.vector else info["init"]
        else:
            idx = (count - orders) % size
            V[st.out] = np.where(count >= orders, buf[idx, np.arange(self.n)], info["init"])

    def _locate_error(self, t):
        V = self.V
        for slot, f in self.plan + self.save_plan:
            try:
                V[slot] = f()
            except ZeroDivisionError:
                return f"engine: division by zero in {self.cm.ir.elements[slot].name!r} at time {t:g}"
        return f"engine: division by zero in a stock's rate at time {t:g}"


def closure(roots: set, deps: dict) -> set:
    """``roots`` and everything they depend on (transitively)."""
    seen, todo = set(), list(roots)
    while todo:
        s = todo.pop()
        if s in seen:
            continue
        seen.add(s)
        todo.extend(deps.get(s, ()))
    return seen


K_SMALL = 1e-6


def _owned(x, vector):
    """A copy of a value that later in-place state updates cannot change."""
    return np.array(x, dtype=float) if vector and isinstance(x, np.ndarray) else x
