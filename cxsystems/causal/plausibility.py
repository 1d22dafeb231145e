"""Which archetype matches make sense: roles checked against a model's policy levers and outcomes,
and the cheap behaviour checks run against its scenarios.

The archetype detector (:mod:`cxsystems.causal.archetypes`) is mechanical: it reports every
combination of loops with an archetype's shape. A match tells the archetype's *story* only if the
roles that stand for a decision are ones somebody takes. A model says which decisions exist: the
parameters its scenarios set (its policy levers). A lever's *points of action* are the first
variables on a feedback loop that the lever reaches along causal links (``Extra Headcount
Fraction -> Budgeted Headcount -> Target Agents``: Target Agents). A role is *chosen* when it holds
a point of action.

Each instance is judged one of:

``confirmed``
    its decision roles are chosen and the model's scenarios show the story: for fixes that fail, a
    scenario that sets the fix's lever is better-before-worse against baseline on the problem
    symptom (the classification of :func:`cxsystems.compare`); for shifting the burden, a scenario
    acting on the fundamental solution ends better on the symptom than every scenario acting on the
    symptomatic fix (the fix's scenarios set none of the fundamental solution's own levers, and
    the other way round);
``plausible``
    its decision roles are chosen (and no behaviour check applies or none confirms it; the reason
    says which);
``unchecked``
    nothing to check it against: a hand-drawn diagram, a model without scenarios, an archetype
    with no decision role and no declared outcome on its engine, or a decision role with no
    variable of its own (a direct link);
``implausible``
    a decision role holds no point of action (e.g. customers leaving as the "fundamental solution",
    customers staying away as the "fix": nobody chooses them), or a reinforcing "success" engine
    runs through an outcome the model wants lower (a vicious circle, not success).

Decision roles, per archetype: the fix (the balancing loop's path from the symptom back) of fixes
that fail; the symptomatic fix and the fundamental solution of shifting the burden; the capacity
investment of growth and underinvestment; the corrective action of eroding goals; the allocation
of success to the successful; each party of escalation; each actor's activity of tragedy of the
commons; each party's own fix of accidental adversaries. Limits to success and growth and
underinvestment also need a success engine: their reinforcing loop must not hold an outcome declared
``better = "lower"`` (``[[outcomes]]`` or ``[metrics]``).

Fixes that fail is confirmed only if, besides the better-before-worse reading, the side-effect loop
gains dominance after the fix (Loops That Matter, :func:`cxsystems.analysis.dominance.dominance`, on
the problem symptom's cycle partition): in the fix's scenario, the loop's mean absolute relative
loop score over the first *worse* phase exceeds both its mean over the *better* phase before it and
the baseline's over the same worse weeks. ``dominance`` replaces that check: a callable
``dominance(archetype, scenario) -> bool | None`` (``False`` withholds the confirmation, ``None``
gives no answer), or ``False`` to skip it (behaviour alone decides).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable

from .graph import CausalGraph

if TYPE_CHECKING:  # pragma: no cover
    from ..model.core import Model
    from .archetypes import Archetype
    from .loops import Loop

#: Judgements, best first (the rank of an instance in a report).
PLAUSIBILITY = ("confirmed", "plausible", "unchecked", "implausible")

#: Per archetype: the decision roles, each a (label, role names whose variables make it up).
DECISIONS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "fixes that fail": (("fix", ("symptom to fix", "fix", "intended effect")),),
    "shifting the burden": (("symptomatic fix", ("symptomatic fix",)),
                            ("fundamental solution", ("fundamental solution",))),
    "growth and underinvestment": (("capacity investment", ("capacity investment",)),),
    "eroding goals": (("corrective action", ("corrective action", "actual state")),),
    "success to the successful": (("allocation", ("allocation",)),),
    "tragedy of the commons": (("A's activity", ("A's activity and gain",)),
                               ("B's activity", ("B's activity and gain",))),
    "accidental adversaries": (("A's own fix", ("A's own fix",)), ("B's own fix", ("B's own fix",))),
}
#: Archetypes whose reinforcing loop must be a success engine, and the roles that make it up.
ENGINES = {"limits to success": ("growing action", "performance"),
           "growth and underinvestment": ("growth engine", "demand")}

Dominance = Callable[["Archetype", str], "bool | None"]

#: Phase bounds are weeks; a phase holding fewer than this many scored intervals (SAVEPER times) is not compared.
_MIN_PHASE_STEPS = 2


@dataclass(frozen=True)
class Judgement:
    """An instance's plausibility (one of :data:`PLAUSIBILITY`) and the reasons, one line each."""

    plausibility: str
    reasons: tuple[str, ...] = ()

    @property
    def rank(self) -> int:
        return PLAUSIBILITY.index(self.plausibility)


def action_points(graph: CausalGraph, on_loops: Iterable[str], levers: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Variable on a loop -> the levers acting on it first (see the module docstring)."""
    on_loop = set(on_loops)
    succ: dict[str, list[str]] = {}
    for e in graph.causal_edges():
        succ.setdefault(e.source, []).append(e.target)
    out: dict[str, list[str]] = {}
    for lever in levers:
        seen, stack = {lever}, [lever]
        while stack:
            v = stack.pop()
            for w in succ.get(v, ()):
                if w in seen:
                    continue
                seen.add(w)
                if w in on_loop:
                    out.setdefault(w, []).append(lever)
                else:
                    stack.append(w)
    return {v: tuple(ls) for v, ls in out.items()}


def outcome_directions(model: "Model") -> dict[str, str]:
    """Variable -> ``"lower"``/``"higher"`` as the model's ``[[outcomes]]`` and ``[metrics]`` declare."""
    out: dict[str, str] = {}
    analysis = getattr(model, "analysis", None)
    for spec in list(getattr(analysis, "metrics", ()) or ()) + list(getattr(analysis, "outcomes", ()) or ()):
        var, better = getattr(spec, "variable", None), getattr(spec, "better", None)
        if var and better in ("lower", "higher"):
            out[var] = better
    return out


class Judge:
    """Judges archetype instances of one model graph (see the module docstring).

    Args:
        graph: the model's graph.
        on_loops: every variable on a feedback loop.
        model: the model (levers, outcomes, scenarios); ``None`` judges every instance ``unchecked``.
        levers: the decision parameters (default: those the model's scenarios set).
        behaviour: run the scenarios to confirm fixes that fail and shifting the burden.
        dominance: the dominance check of fixes that fail (see the module docstring): ``None``
            computes it by Loops That Matter, a callable replaces it, ``False`` skips it.
        loops: the loops of ``graph`` (the archetypes' loop ids name them), for the dominance check.
    """

    def __init__(self, graph: CausalGraph, on_loops: Iterable[str], model: "Model | None" = None, *,
                 levers: Iterable[str] | None = None, behaviour: bool = True,
                 dominance: "Dominance | bool | None" = None, loops: Iterable["Loop"] = ()):
        self.model = model
        if levers is None and model is not None:
            from ..model.levers import policy_parameters

            levers = policy_parameters(model)
        self.levers = tuple(levers or ())
        self.points = action_points(graph, on_loops, self.levers) if self.levers else {}
        self.directions = outcome_directions(model) if model is not None else {}
        self.behaviour = behaviour and model is not None
        self.dominance = dominance
        self.loops = {lp.id: lp for lp in loops}
        self._readings: dict[tuple[str, tuple[str, ...]], object] = {}
        self._dominance: dict[tuple[str, str], object] = {}

    # ---------------------------------------------------------------- pieces
    def chosen(self, variables: Iterable[str]) -> tuple[str, ...]:
        """The levers acting on any of ``variables`` (first-seen order)."""
        out: dict[str, None] = {}
        for v in variables:
            for lever in self.points.get(v, ()):
                out.setdefault(lever, None)
        return tuple(out)

    def scenarios_setting(self, levers: Iterable[str]) -> list[str]:
        """Scenarios (not the baseline) that set any of ``levers``."""
        want = set(levers)
        base = self.model.baseline if self.model is not None else None
        return [name for name, sc in self.model.scenarios.items()
                if name != base and any(c.parameter in want for c in sc.changes)]

    def readings(self, symptom: str, scenarios: list[str]):
        """``{scenario: Reading}`` on ``symptom`` against the baseline (cx.compare, memoised)."""
        key = (symptom, tuple(scenarios))
        if key not in self._readings:
            from ..analysis.compare import compare

            cmp = compare(self.model, [self.model.baseline, *scenarios], classify=symptom)
            self._readings[key] = {s: cmp.reading(s) for s in scenarios}
        return self._readings[key]

    # ---------------------------------------------------------------- verdict
    def __call__(self, a: "Archetype") -> Judgement:
        if self.model is None or not self.levers:
            return Judgement("unchecked", ("no policy levers to check the roles against",))
        roles = dict(a.roles)
        reasons: list[str] = []
        bad = open_roles = False
        decided: dict[str, tuple[str, ...]] = {}
        decisions = DECISIONS.get(a.kind, ())
        if a.kind == "escalation":
            decisions = tuple((r, (r,)) for r, _ in a.roles if r.startswith("party "))
        for label, names in decisions:
            vs = [v for n in names for v in roles.get(n, ())]
            if not vs:  # the role has no variable of its own (a direct link): nothing to judge
                reasons.append(f"{label} has no variable of its own: not checked")
                open_roles = True
                continue
            levers = self.chosen(vs)
            decided[label] = levers
            if levers:
                reasons.append(f"{label} is a decision: {', '.join(levers)} acts on it")
            else:
                bad = True
                reasons.append(f"{label} is nothing anybody chooses: no policy lever acts on "
                               f"{', '.join(vs[:3])}{', ...' if len(vs) > 3 else ''}")
        engine_ok = None
        if a.kind in ENGINES:
            vs = [v for n in ENGINES[a.kind] for v in roles.get(n, ())]
            lower = [v for v in vs if self.directions.get(v) == "lower"]
            higher = [v for v in vs if self.directions.get(v) == "higher"]
            if lower:
                bad = True
                reasons.append(f"the reinforcing engine runs through {lower[0]}, which the model wants lower: "
                               "a vicious circle, not success")
            elif higher:
                engine_ok = True
                reasons.append(f"the reinforcing engine grows {higher[0]}, which the model wants higher")
        if bad:
            return Judgement("implausible", tuple(reasons))
        if open_roles or (not decided and engine_ok is None):
            return Judgement("unchecked", tuple(reasons) or ("no decision role to check",))
        from ..errors import CxError

        try:
            if self.behaviour and a.kind == "fixes that fail":
                return self._fixes_that_fail(a, decided["fix"], reasons)
            if self.behaviour and a.kind == "shifting the burden":
                return self._shifting_the_burden(a, decided, reasons)
        except CxError as exc:  # a scenario that does not run leaves the behaviour unchecked, not the report
            return Judgement("plausible", (*reasons, f"behaviour not checked: {exc}"))
        return Judgement("plausible", tuple(reasons))

    def _fixes_that_fail(self, a: "Archetype", levers, reasons: list[str]) -> Judgement:
        symptom = a.role("problem symptom")[0]
        scenarios = self.scenarios_setting(levers)
        if not scenarios:
            return Judgement("plausible", (*reasons, "no scenario sets the fix's lever: behaviour not checked"))
        readings = self.readings(symptom, scenarios)
        bbw = [s for s in scenarios if readings[s].classification == "better-before-worse"]
        if bbw and self.dominance is not False:
            gains = {s: (self.dominance(a, s) if callable(self.dominance) else self.side_effect_gains(a, s, readings[s]))
                     for s in bbw}
            confirmed = [s for s in bbw if gains[s] is not False]
            if confirmed:
                s = confirmed[0]
                how = f"; {gains[s]}" if isinstance(gains[s], str) else ""
                return Judgement("confirmed", (*reasons, f"{s} is better-before-worse on {symptom}{how}"))
            return Judgement("plausible", (*reasons, f"not confirmed: {bbw[0]} is better-before-worse on {symptom}, "
                                                     "but the side-effect loop does not gain dominance after the fix"))
        if bbw:
            return Judgement("confirmed", (*reasons, f"{bbw[0]} is better-before-worse on {symptom}"))
        seen = ", ".join(f"{s} is {readings[s].classification}" for s in scenarios)
        return Judgement("plausible", (*reasons, f"not confirmed by behaviour: {seen} on {symptom} "
                                                 "(fixes that fail shows as better-before-worse)"))

    def _ltm(self, scenario: str, symptom: str):
        """Loop dominance of one run on ``symptom`` (memoised)."""
        key = (scenario, symptom)
        if key not in self._dominance:
            from ..analysis.dominance import dominance

            self._dominance[key] = dominance(self.model, scenario, symptom)
        return self._dominance[key]

    def side_effect_gains(self, a: "Archetype", scenario: str, reading) -> "str | bool | None":
        """Does the side-effect loop of fixes that fail gain dominance after the fix in ``scenario``
        (see the module docstring)? A short account (true), ``False``, or ``None`` when it cannot be
        told (no worse phase after a better one, a loop not found in the scored loops, a model loop
        dominance cannot score)."""
        from ..errors import CxError

        side = next((self.loops.get(i) for i, r in zip(a.loops, a.loop_roles) if r.startswith("side effect")), None)
        phases = list(reading.phases)
        k = next((i for i in range(1, len(phases)) if not phases[i].better and phases[i - 1].better), None)
        if side is None or k is None:
            return None
        symptom = a.role("problem symptom")[0]
        try:
            runs = {s: self._ltm(s, symptom) for s in (self.model.baseline, scenario)}
        except CxError:
            return None
        step = runs[scenario].spacing  # between two scored intervals
        better = (phases[k - 1].start_week, phases[k - 1].end_week + step)
        worse = (phases[k].start_week, phases[k].end_week + step)
        if min(better[1] - better[0], worse[1] - worse[0]) < _MIN_PHASE_STEPS * step:
            return None
        want = frozenset(side.variables)
        share = {}
        for s, res in runs.items():
            ids = [lp.id for lp in res.loop_list if frozenset(lp.variables) == want]
            if not ids:
                return None
            tab = res.phases([better, worse], loops=ids[:1])
            share[s] = [abs(float(v)) for v in tab["mean_relative"]]
        before, after = share[scenario]
        base_after = share[self.model.baseline][1]
        if after > before and after > base_after:
            return (f"its side-effect loop gains dominance after the fix (mean |relative score| {before:.2f} "
                    f"while better, {after:.2f} while worse; baseline {base_after:.2f})")
        return False

    def _shifting_the_burden(self, a: "Archetype", decided, reasons: list[str]) -> Judgement:
        symptom = a.role("problem symptom")[0]
        # a lever acting on both roles (headcount budget also squeezes prevention) tells them apart for none
        fix = set(decided["symptomatic fix"])
        fundamental = set(decided["fundamental solution"]) - fix
        fast = [s for s in self.scenarios_setting(fix) if s not in self.scenarios_setting(fundamental)]
        slow = [s for s in self.scenarios_setting(fundamental) if s not in self.scenarios_setting(fix)]
        if not fast or not slow:
            return Judgement("plausible", (*reasons, "no pair of scenarios to compare the two solutions: "
                                                     "behaviour not checked"))
        readings = self.readings(symptom, fast + slow)
        best_fast = max(fast, key=lambda s: readings[s].final_advantage)
        wins = [s for s in slow if readings[s].final_advantage > readings[best_fast].final_advantage
                and readings[s].final_advantage > readings[s].tolerance]
        if wins:
            return Judgement("confirmed", (*reasons, f"{wins[0]} ends better on {symptom} than {best_fast}"))
        return Judgement("plausible", (*reasons, f"not confirmed by behaviour: no fundamental-solution scenario "
                                                 f"ends better on {symptom} than {best_fast}"))
