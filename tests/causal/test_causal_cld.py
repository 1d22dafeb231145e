"""The CLD text format, the bundled example diagrams and their analysis."""

from pathlib import Path

import pytest

import cxsystems as cx
from cxsystems.causal import find_loops
from cxsystems.causal.archetypes import find_archetypes
from cxsystems.causal.cld_format import format_cld, load_cld, parse_cld

CLD_DIR = Path(__file__).resolve().parents[2] / "models" / "cld"


def test_parse_links_kinds_names_positions():
    g = parse_cld("title: Demo\n# comment\nBacklog -> Hiring : +   # trailing comment\n"
                  "hiring -> Agents : + delay\nAgents -> backlog : \u2212\nstock: Backlog, agents\n"
                  "loop hire to cover (B): backlog, hiring, agents\nposition Backlog: 1, -2\n")
    assert g.title == "Demo" and g.origin == "cld"
    assert list(g.nodes) == ["Backlog", "Hiring", "Agents"]
    assert [(e.source, e.target, e.polarity, e.delayed) for e in g.causal_edges()] == [
        ("Backlog", "Hiring", "+", False), ("Hiring", "Agents", "+", True), ("Agents", "Backlog", "-", False)]
    assert g.nodes["Agents"].kind == "stock" and g.nodes["Hiring"].kind == "auxiliary"
    assert dict(g.layout) == {"Backlog": (1.0, -2.0)}
    (lp,) = find_loops(g).loops
    assert (lp.id, lp.name, lp.polarity) == ("B1", "hire to cover", "B")


@pytest.mark.parametrize("text, message", [
    ("A -> B\n", r"<text>:1: missing ': SIGN'"),
    ("A -> B : x\n", r"<text>:1: sign must be"),
    ("A -> B : + soon\n", r"<text>:1: unexpected 'soon'"),
    ("A -> B : +\nA -> b : -\n", r"<text>:2: link A -> B is given twice"),
    ("A -> B : +\nwhat is this\n", r"<text>:2: expected 'CAUSE -> EFFECT"),
    (" -> B : +\n", r"<text>:1: empty variable name"),
    ("A -> B : +\nloop x: A, C\n", r"loop 'x' names 'C', which no link uses"),
    ("A -> B : +\nposition A: 1\n", r"<text>:2: write 'position NAME: x, y'"),
    ("# nothing\n", r"no links found"),
])
def test_parse_errors_name_the_line(text, message):
    with pytest.raises(cx.CxError, match=message):
        parse_cld(text)


def test_cld_text_is_never_executed(monkeypatch):
    import builtins

    def refuse(*a, **k):
        raise AssertionError("eval/exec called")

    monkeypatch.setattr(builtins, "eval", refuse)
    monkeypatch.setattr(builtins, "exec", refuse)
    g = parse_cld("__import__('os').system('echo hi') -> B : +\nB -> __import__('os').system('echo hi') : -\n")
    assert len(find_loops(g)) == 1


def test_round_trip_through_text():
    g = load_cld(CLD_DIR / "cx_fixes_that_fail.cld")
    g2 = parse_cld(format_cld(g))
    assert {k: (e.polarity, e.delayed) for k, e in g.edges.items()} == \
        {k: (e.polarity, e.delayed) for k, e in g2.edges.items()}


def test_bundled_examples_show_their_archetype():
    sb = load_cld("cx_shifting_the_burden")  # found among the bundled diagrams by name
    rep = find_archetypes(sb)
    assert [a.kind for a in rep] == ["shifting the burden"]
    a = rep.instances[0]
    assert a.role("problem symptom") == ("Ticket backlog",)
    assert a.role("side effect") == ("Rookie share",)
    ftf = find_archetypes(load_cld(CLD_DIR / "cx_fixes_that_fail.cld"))
    assert [a.kind for a in ftf] == ["fixes that fail"]
    assert ftf.instances[0].role("fix") == ("Pressure to close fast",)
    story = load_cld(CLD_DIR / "cx_reactive_vs_organisational.cld")
    loops = find_loops(story)
    assert not [n for n in loops.notes if "named as" in n or "matches no loop" in n]
    kinds = find_archetypes(story, loops).kinds()
    assert kinds.get("shifting the burden", 0) >= 1 and kinds.get("fixes that fail", 0) >= 1


def test_every_bundled_example_is_consistent():
    for path in sorted(CLD_DIR.glob("*.cld")):
        g = load_cld(path)
        loops = find_loops(g)
        assert all(lp.polarity in ("R", "B") for lp in loops), path
        assert not [n for n in loops.notes if "named as" in n or "matches no loop" in n], (path, loops.notes)
        assert len(g.layout) in (0, len(g.nodes)), path
