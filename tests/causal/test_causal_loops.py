"""Feedback loops: known answers, deterministic ids, selection, cap, names."""

import shutil
from pathlib import Path

import numpy as np
import pytest

import cxsystems as cx
from cxsystems.causal import find_loops, load_loop_names, model_graph
from cxsystems.causal.loops import format_table, loops_csv
from cxsystems.simulation import simulate

MODELS = Path(__file__).resolve().parents[1] / "models"


@pytest.fixture(scope="module")
def arms():
    return model_graph(cx.load_model(MODELS / "causal_arms_race.mdl"))


def test_three_party_arms_race_has_exactly_eight_loops(arms):
    loops = find_loops(arms)
    assert len(loops) == 8 and loops.total == 8
    assert loops.counts() == {"R": 5, "B": 3, "mixed": 0, "?": 0}
    # three self-corrections (B, length 2), three pairwise races (R, 6), two three-way races (R, 9)
    assert sorted((lp.length, lp.polarity) for lp in loops) == \
        [(2, "B")] * 3 + [(6, "R")] * 3 + [(9, "R")] * 2
    assert [lp.id for lp in loops] == ["B1", "B2", "B3", "R1", "R2", "R3", "R4", "R5"]
    assert loops["B1"].variables == ("Arms A", "Change in A")
    assert loops["R1"].variables == ("Arms A", "Target B", "Change in B", "Arms B", "Target A", "Change in A")
    assert loops["R1"].delays == 2


def test_selection_keeps_ids(arms):
    through = find_loops(arms, through="arms a")
    assert [lp.id for lp in through] == ["B1", "R1", "R2", "R4", "R5"]
    short = find_loops(arms, max_length=6)
    assert [lp.id for lp in short] == ["B1", "B2", "B3", "R1", "R2", "R3"]


def test_cap_gives_a_clear_message_and_selection_still_works(arms):
    with pytest.raises(cx.CxError, match="more than 5 feedback loops.*--through VAR"):
        find_loops(arms, limit=5)
    sel = find_loops(arms, limit=5, max_length=2)
    assert [lp.length for lp in sel] == [2, 2, 2]
    assert "numbered within this selection" in sel.notes[0]
    with pytest.raises(cx.CxError, match="--max-length"):
        find_loops(arms, max_length=0)


def test_logistic_growth_has_one_reinforcing_and_one_balancing_loop():
    g = model_graph(cx.load_model(MODELS / "causal_logistic.mdl"))
    loops = find_loops(g)
    assert [(lp.id, lp.polarity, lp.variables) for lp in loops] == [
        ("R1", "R", ("Population", "Net Growth")),
        ("B1", "B", ("Population", "Room to Grow", "Net Growth")),
    ]


def test_loop_that_changes_polarity_says_when():
    m = cx.load_model(MODELS / "causal_logistic_onestock.mdl")
    df = simulate(m)
    loops = find_loops(model_graph(m, trajectories=df))
    (lp,) = loops.loops
    week = float(df.index[np.argmax(df["Population"].to_numpy() > 500)])
    assert lp.polarity == "mixed"
    assert lp.description == f"R until week {week:g}, then B"
    assert lp.id == ("B1" if week < 30 else "R1")  # letter of the polarity held longest
    assert "R until week" in format_table(loops)


def test_loop_names_from_toml(tmp_path):
    src = tmp_path / "growth.mdl"
    shutil.copy(MODELS / "causal_logistic.mdl", src)
    (tmp_path / "growth.loops.toml").write_text(
        '[[loop]]\nname = "word of mouth"\npolarity = "R"\nvariables = ["net growth", "Population"]\n\n'
        '[[loop]]\nname = "saturation"\npolarity = "R"\n'
        'variables = ["Population", "Room to Grow", "Net Growth"]\n\n'
        '[[loop]]\nname = "ghost"\nvariables = ["Population", "Nothing"]\n')
    loops = find_loops(model_graph(cx.load_model(src)))
    assert loops["word of mouth"].id == "R1"
    assert loops["B1"].name == "saturation"
    assert any("'saturation' is B, named as R" in n for n in loops.notes)
    assert any("'ghost' matches no loop" in n for n in loops.notes)
    assert "word of mouth" in loops_csv(loops)


def test_bad_loop_name_files(tmp_path):
    p = tmp_path / "x.loops.toml"
    p.write_text('[[loop]]\nname = "a"\npolarity = "X"\nvariables = ["b"]\n')
    with pytest.raises(cx.CxError, match="polarity must be 'R' or 'B'"):
        load_loop_names(p)
    p.write_text('[[loop]]\nname = "a"\n')
    with pytest.raises(cx.CxError, match="'variables' must be a list"):
        load_loop_names(p)
    p.write_text('[[loop]\n')
    with pytest.raises(cx.CxError, match="invalid TOML"):
        load_loop_names(p)


def test_named_loops_first_and_only_named(tmp_path):
    src = tmp_path / "growth.mdl"
    shutil.copy(MODELS / "causal_logistic.mdl", src)
    (tmp_path / "growth.loops.toml").write_text(
        '[[loop]]\nname = "saturation"\nvariables = ["Population", "Room to Grow", "Net Growth"]\n')
    g = model_graph(cx.load_model(src))
    # B1 (length 3) is named, R1 (length 2) is not: the named loop is listed first, ids unchanged
    assert [lp.id for lp in find_loops(g)] == ["B1", "R1"]
    assert [lp.id for lp in find_loops(g, named_first=False)] == ["R1", "B1"]
    only = find_loops(g, named=True)
    assert [(lp.id, lp.name) for lp in only] == [("B1", "saturation")] and only.total == 2
    assert "1 loop(s) of 2: 0 R, 1 B" in format_table(only)
    # a graph without names: --named lists nothing and says why
    none = find_loops(model_graph(cx.load_model(MODELS / "causal_logistic.mdl")), named=True)
    assert len(none) == 0 and any("names no loops" in n for n in none.notes)


def test_cx_service_named_loops_first():
    model = cx.load_model("cx_service")
    from cxsystems.causal.loops import loop_names_for_model

    names = loop_names_for_model(model)
    loops = cx.loops(model)
    named = cx.loops(model, named=True)
    assert len(names) == 13 and len(named) == 13 == sum(1 for lp in loops if lp.name)
    assert named.total == len(loops) == 7055
    assert [lp.id for lp in loops][:13] == [lp.id for lp in named]
    assert all(lp.name for lp in loops.loops[:13]) and not any(lp.name for lp in loops.loops[13:])
    # the rest keep their order: by length, then names (ids rise within each polarity)
    rest = [lp for lp in loops.loops[13:]]
    assert [lp.length for lp in rest] == sorted(lp.length for lp in rest)
