"""Archetype detection: a hand-made graph holding each archetype once, and negative cases."""

from pathlib import Path

import pytest

import cxsystems as cx
from cxsystems.causal import find_loops, model_graph
from cxsystems.causal.archetypes import ARCHETYPES, find_archetypes
from cxsystems.causal.graph import graph_from_links

MODELS = Path(__file__).resolve().parents[1] / "models"
D = True  # delayed link

#: Nine disconnected diagrams, one per archetype, drawn as in Senge (1990) / Braun (2002), some
#: with intermediate variables between the roles.
PARTS = {
    "shifting the burden": [
        ("symptom", "symptomatic fix", "+", False), ("symptomatic fix", "symptom", "-", False),
        ("symptom", "fundamental fix", "+", False), ("fundamental fix", "symptom", "-", D),
        ("symptomatic fix", "side effect", "+", False), ("side effect", "fundamental fix", "-", False)],
    "fixes that fail": [
        ("problem", "fix", "+", False), ("fix", "problem", "-", False),
        ("fix", "consequence", "+", D), ("consequence", "problem", "+", False)],
    "limits to success": [
        ("efforts", "performance", "+", False), ("performance", "efforts", "+", False),
        ("performance", "slowing action", "+", False), ("slowing action", "performance", "-", D),
        ("constraint", "slowing action", "+", False)],
    "eroding goals": [
        ("goal", "gap", "+", False), ("gap", "corrective action", "+", False),
        ("corrective action", "condition", "+", D), ("condition", "gap", "-", False),
        ("gap", "pressure to lower goal", "+", False), ("pressure to lower goal", "goal", "-", False)],
    "escalation": [
        ("A's activity", "A's results", "+", D), ("A's results", "threat to B", "+", False),
        ("threat to B", "B's activity", "+", False), ("B's activity", "B's results", "+", D),
        ("B's results", "threat to A", "+", False), ("threat to A", "A's activity", "+", False),
        ("A's results", "A's need", "-", False), ("A's need", "A's activity", "+", False),
        ("B's results", "B's need", "-", False), ("B's need", "B's activity", "+", False)],
    "success to the successful": [
        ("allocation to A", "resources to A", "+", False), ("resources to A", "success of A", "+", False),
        ("success of A", "allocation to A", "+", False),
        ("allocation to A", "resources to B", "-", False), ("resources to B", "success of B", "+", False),
        ("success of B", "allocation to A", "-", False)],
    "tragedy of the commons": [
        ("A's activity", "A's gain", "+", False), ("A's gain", "A's activity", "+", False),
        ("B's activity", "B's gain", "+", False), ("B's gain", "B's activity", "+", False),
        ("A's activity", "total activity", "+", False), ("B's activity", "total activity", "+", False),
        ("total activity", "gain per activity", "-", D), ("gain per activity", "A's gain", "+", False),
        ("gain per activity", "B's gain", "+", False), ("resource limit", "gain per activity", "+", False)],
    "growth and underinvestment": [
        ("demand", "growing action", "+", False), ("growing action", "demand", "+", False),
        ("demand", "delivery delay", "+", False), ("delivery delay", "demand", "-", False),
        ("delivery delay", "need to invest", "+", False), ("need to invest", "investment", "+", False),
        ("investment", "capacity", "+", D), ("capacity", "delivery delay", "-", False)],
    "accidental adversaries": [
        ("A's success", "A's help to B", "+", False), ("A's help to B", "B's success", "+", False),
        ("B's success", "B's help to A", "+", False), ("B's help to A", "A's success", "+", False),
        ("A's success", "A's own fix", "+", False), ("A's own fix", "A's success", "+", False),
        ("B's success", "B's own fix", "+", False), ("B's own fix", "B's success", "+", False),
        ("A's own fix", "B's success", "-", D), ("B's own fix", "A's success", "-", D)],
}


def graph_of(parts):
    links = [(f"{k}: {a}", f"{k}: {b}", s, d) for k in parts for a, b, s, d in PARTS[k]]
    return graph_from_links("hand-made", links)


def test_each_archetype_found_once_and_nothing_else():
    rep = find_archetypes(graph_of(PARTS))
    assert sorted(a.kind for a in rep) == sorted(ARCHETYPES)
    for a in rep:  # each instance lives in its own part of the graph
        assert {v.split(":")[0] for v in a.variables} == {a.kind}, a.describe()


def test_each_part_alone_gives_only_its_archetype():
    for kind in PARTS:
        rep = find_archetypes(graph_of([kind]))
        assert [a.kind for a in rep] == [kind], (kind, rep.text())


def test_roles_of_shifting_the_burden_and_fixes_that_fail():
    rep = find_archetypes(graph_of(PARTS))
    sb = rep.of("shifting the burden")[0]
    p = "shifting the burden: "
    assert sb.role("problem symptom") == (p + "symptom",)
    assert sb.role("symptomatic fix") == (p + "symptomatic fix",)
    assert sb.role("side effect") == (p + "side effect",)
    assert sb.role("fundamental solution") == (p + "fundamental fix",)
    assert sb.variant == ""
    ftf = rep.of("fixes that fail")[0]
    p = "fixes that fail: "
    assert (ftf.role("problem symptom"), ftf.role("fix"), ftf.role("unintended consequence")) == \
        ((p + "problem",), (p + "fix",), (p + "consequence",))
    eg = rep.of("eroding goals")[0]
    assert eg.role("goal") == ("eroding goals: goal",) and eg.role("gap") == ("eroding goals: gap",)
    tc = rep.of("tragedy of the commons")[0]
    assert tc.role("resource limit") == ("tragedy of the commons: resource limit",)


def test_intermediate_variables_between_roles():
    # shifting the burden with chains instead of single links, and a slower fundamental loop
    links = [("backlog", "pressure", "+", False), ("pressure", "overtime", "+", False),
             ("overtime", "capacity", "+", False), ("capacity", "backlog", "-", D),
             ("backlog", "root cause work", "+", False), ("root cause work", "defects", "-", D),
             ("defects", "new tickets", "+", False), ("new tickets", "backlog", "+", D),
             ("overtime", "fatigue", "+", D), ("fatigue", "root cause work", "-", False)]
    rep = find_archetypes(graph_from_links("chains", links))
    assert [a.kind for a in rep] == ["shifting the burden"]
    sb = rep.instances[0]
    assert sb.role("problem symptom") == ("backlog",)
    assert sb.role("side effect") == ("fatigue",)
    assert sb.role("symptomatic fix") == ("pressure", "overtime", "capacity")
    assert sb.role("fundamental solution") == ("root cause work", "defects", "new tickets")


def test_plain_loops_are_no_archetype():
    ring = [("a", "b", "+", False), ("b", "c", "+", False), ("c", "a", "-", D),
            ("x", "y", "+", False), ("y", "x", "+", False)]
    assert len(find_archetypes(graph_from_links("ring", ring))) == 0
    with pytest.raises(cx.CxError, match="unknown archetype"):
        find_archetypes(graph_from_links("ring", ring), kinds=("fixes that flop",))


def test_arms_race_is_escalation():
    g = model_graph(cx.load_model(MODELS / "causal_arms_race.mdl"))
    rep = find_archetypes(g, find_loops(g))
    assert rep.kinds() == {"escalation": 3}
    parties = {frozenset(a.role("party A") + a.role("party B")) for a in rep}
    assert frozenset({"Arms A", "Change in A", "Arms B", "Change in B"}) in parties


# -- plausibility: roles a policy lever acts on, confirmed by the scenarios' behaviour -----------------

FTF_MODEL = """{UTF-8}
Backlog = INTEG(Arrivals + Rework - Closing, 181.818) ~ tickets ~ |
Arrivals = 10 ~ tickets/Week ~ |
Fix Effort = Push * Backlog / 100 ~ dmnl ~ |
Push = 1 ~ dmnl [0.5, 2.2] ~ policy lever: pressure to close fast |
Closing = 10 * Fix Effort ~ tickets/Week ~ |
Error Rate = 0.45 * Push ~ dmnl ~ |
Errors = INTEG(Closing * Error Rate - Rework, 81.818) ~ tickets ~ |
Rework = Errors / Rework Delay ~ tickets/Week ~ |
Rework Delay = 10 ~ Week ~ |
FINAL TIME = 100 ~ Week ~ |
INITIAL TIME = 0 ~ Week ~ |
SAVEPER = 1 ~ Week ~ |
TIME STEP = 0.25 ~ Week ~ |
"""
FTF_LOOPS = """[[loop]]
name = "close faster"
variables = ["Backlog", "Fix Effort", "Closing"]
[[loop]]
name = "rework"
variables = ["Backlog", "Fix Effort", "Closing", "Errors", "Rework"]
"""


def ftf_model(tmp_path, push=None):
    """Pushing to close faster: at equilibrium B* = 10 / (0.1 p (1 - 0.45 p)), so p = 2 closes more at
    once (better) and ends at B* = 500 against 182 (worse): better-before-worse on the backlog."""
    (tmp_path / "ftf.mdl").write_text(FTF_MODEL)
    (tmp_path / "ftf.loops.toml").write_text(FTF_LOOPS)
    if push is not None:
        (tmp_path / "ftf.scenarios.toml").write_text(
            '[scenarios.baseline]\ndescription = "as is"\n'
            f'[scenarios.push]\ndescription = "push"\n[scenarios.push.set]\n"Push" = {{ value = {push}, from_week = 10 }}\n'
            '[[outcomes]]\nvariable = "Backlog"\nbetter = "lower"\n')
    return cx.load_model(tmp_path / "ftf.mdl")


def test_fixes_that_fail_confirmed_only_by_better_before_worse(tmp_path):
    rep = cx.archetypes(ftf_model(tmp_path, push=2))
    (a,) = rep.instances
    assert (a.kind, a.role("fix"), a.plausibility) == ("fixes that fail", ("Closing",), "confirmed")
    assert a.reasons[0] == "fix is a decision: Push acts on it"
    assert a.reasons[1].startswith("push is better-before-worse on Backlog; its side-effect loop gains dominance")
    reading = cx.compare(ftf_model(tmp_path, push=2)).reading("push")
    assert reading.classification == "better-before-worse"
    # confirmed by Loops That Matter: the rework loop (R1) holds more of the backlog's partition in the first
    # worse phase than in the better phase before it, and more than in the baseline over the same weeks
    better, worse = reading.phases[0], reading.phases[1]
    assert (better.better, worse.better) == (True, False)
    model = ftf_model(tmp_path, push=2)
    bounds = [(better.start_week, better.end_week + 0.25), (worse.start_week, worse.end_week + 0.25)]
    push = cx.dominance(model, "push", "Backlog").phases(bounds, loops=["rework"])["mean_relative"].abs().tolist()
    base = cx.dominance(model, None, "Backlog").phases(bounds, loops=["rework"])["mean_relative"].abs().tolist()
    assert push[1] > push[0] and push[1] > base[1]
    assert f"{push[0]:.2f} while better, {push[1]:.2f} while worse; baseline {base[1]:.2f}" in a.reasons[1]
    # dominance=False: behaviour alone decides
    (a,) = cx.archetypes(ftf_model(tmp_path, push=2), dominance=False).instances
    assert a.reasons == ("fix is a decision: Push acts on it", "push is better-before-worse on Backlog")
    # the dominance hook: asked per scenario; "the side-effect loop does not gain dominance" withholds it
    asked = []
    rep = cx.archetypes(ftf_model(tmp_path, push=2), dominance=lambda arch, scn: asked.append(scn) or False)
    assert asked == ["push"] and rep.instances[0].plausibility == "plausible"
    assert "the side-effect loop does not gain dominance after the fix" in rep.instances[0].reasons[-1]
    assert cx.archetypes(ftf_model(tmp_path, push=2), dominance=lambda arch, scn: None).instances[0].plausibility \
        == "confirmed"


def test_fixes_that_fail_not_confirmed_by_a_milder_push_or_without_scenarios(tmp_path):
    # p = 0.8: closes less at once and ends at B* = 10 / (0.08 * 0.64) = 195 > 182: worse throughout
    rep = cx.archetypes(ftf_model(tmp_path, push=0.8))
    (a,) = rep.instances
    assert a.plausibility == "plausible"
    assert a.reasons[-1] == ("not confirmed by behaviour: push is worse on Backlog "
                             "(fixes that fail shows as better-before-worse)")
    # no scenario file: nothing to check the roles against
    (tmp_path / "ftf.scenarios.toml").unlink()
    (a,) = cx.archetypes(ftf_model(tmp_path)).instances
    assert a.plausibility == "unchecked"
    # a graph (no model) is not judged at all: the report is as before
    (a,) = cx.archetypes(cx.causal_graph(ftf_model(tmp_path))).instances
    assert a.plausibility == "" and "plausibility" not in a.describe()


@pytest.fixture(scope="module")
def cx_archetypes():
    model = cx.load_model("cx_service")
    return cx.archetypes(model), cx.archetypes(model, implausible=True), cx.loops(model)


def test_cx_service_story_ranks_first_and_implausible_matches_are_hidden(cx_archetypes):
    shown, every, loops = cx_archetypes
    name = {lp.id: lp.name for lp in loops}
    first, second = shown.instances[:2]
    assert (first.kind, [name.get(i) for i in first.loops[:2]], first.plausibility) == \
        ("shifting the burden", ["hire to cover", "firefighting trap"], "confirmed")
    assert first.reasons[-1] == "structural_prevention ends better on Ticket Backlog than reactive_hiring"
    assert (second.kind, [name[i] for i in second.loops], second.plausibility) == \
        ("fixes that fail", ["cut corners", "rework spiral"], "plausible")
    # honest: pushing faster closing is better on the backlog throughout, not better-before-worse
    assert "reactive_fast_close is better on Ticket Backlog" in second.reasons[-1]
    hidden = [a for a in every if a.plausibility == "implausible"]
    assert len(hidden) == 35 and len(every) == len(shown) + 35 == 41
    assert not any(a.plausibility == "implausible" for a in shown)
    assert any("35 implausible match(es) hidden" in n for n in shown.notes)
    # implausible ones come last, and the ranks never go back up
    ranks = [("confirmed", "plausible", "unchecked", "implausible").index(a.plausibility) for a in every]
    assert ranks == sorted(ranks)


def test_cx_service_implausible_matches_say_why(cx_archetypes):
    _, every, loops = cx_archetypes
    ids = {lp.name: lp.id for lp in loops if lp.name}

    def of(kind, *names):
        want = {ids[n] for n in names}
        return [a for a in every.of(kind) if want <= set(a.loops)]

    leave = [a for a in every.of("shifting the burden") if a.loops[1] == ids["customers leave"]]
    assert leave and all(a.plausibility == "implausible" for a in leave)
    assert any(r.startswith("fundamental solution is nothing anybody chooses") for r in leave[0].reasons)
    (tc,) = of("tragedy of the commons", "tired agents slow down", "word of mouth")
    assert tc.plausibility == "implausible"
    assert all(a.plausibility == "implausible" for a in of("growth and underinvestment", "burnout"))
    fd = of("limits to success", "failure demand")
    assert fd and all(a.plausibility == "implausible" for a in fd)
    assert "which the model wants lower: a vicious circle" in fd[0].reasons[-1]


def test_capability_trap_work_harder_is_a_confirmed_fix_that_fails():
    """Repenning & Sterman's capability trap: raising the performance target (the higher_target
    scenario) makes people work harder at once and squeeze improvement time, so performance is
    better first and worse later: the fixes-that-fail story, confirmed by the model's own run."""
    model = cx.load_model("capability_trap")
    assert cx.compare(model, ["baseline", "higher_target"]).reading("higher_target").classification == \
        "better-before-worse"
    rep = cx.archetypes(model, implausible=True)
    ftf = rep.of("fixes that fail")
    assert len(ftf) == 2 and all(a.plausibility == "confirmed" for a in ftf)
    assert ftf[0].role("problem symptom") == ("Performance",) and ftf[0].role("fix") == ("Pressure to Do Work",)
    # ... and by Loops That Matter: the capability-erosion loop (R2) gains dominance once performance is worse
    assert ftf[0].reasons == ("fix is a decision: Performance Step acts on it",
                              "higher_target is better-before-worse on Performance; its side-effect loop gains "
                              "dominance after the fix (mean |relative score| 0.12 while better, 0.25 while worse; "
                              "baseline 0.00)")
    assert [a.plausibility for a in rep] == ["confirmed", "confirmed", "plausible", "plausible", "unchecked",
                                             "unchecked"]
