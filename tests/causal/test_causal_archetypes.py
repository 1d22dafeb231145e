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
