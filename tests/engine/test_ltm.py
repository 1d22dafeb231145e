"""The IR's Loops That Matter augmentation (engine/ltm.py): what each link's score evaluates."""

from __future__ import annotations

import cxsystems as cx
from cxsystems.engine import compile_model
from cxsystems.engine.ir import Op, Ref, norm_name
from cxsystems.engine.ltm import LtmLink, ltm_links, rate_expression

MODEL = """{UTF-8}
Stock = INTEG(Inflow - Outflow, 10) ~ units ~ |
Inflow = Rate * Stock ~ units/Week ~ |
Outflow = Stock / Lifetime ~ units/Week ~ |
Rate = 0.1 ~ 1/Week ~ |
Lifetime = 20 ~ Week ~ |
Smoothed = SMOOTH(Inflow, 3) ~ units/Week ~ |
Delayed = DELAY3(Outflow, 4) ~ units/Week ~ |
Start = INITIAL(Stock) ~ units ~ |
FINAL TIME = 10 ~ Week ~ |
INITIAL TIME = 0 ~ Week ~ |
SAVEPER = 1 ~ Week ~ |
TIME STEP = 0.5 ~ Week ~ |
"""


def test_rate_expressions_by_kind_and_links_in_order(tmp_path):
    (tmp_path / "m.mdl").write_text(MODEL)
    ir = compile_model(cx.load_model(tmp_path / "m.mdl")).ir
    slot = {n: ir.by_name[norm_name(n)] for n in ("Stock", "Inflow", "Outflow", "Rate", "Smoothed", "Delayed", "Start")}
    kinds = {n: rate_expression(ir, s)[1] for n, s in slot.items() if n != "Rate"}
    assert kinds == {"Stock": "stock", "Inflow": "auxiliary", "Outflow": "auxiliary", "Smoothed": "smooth",
                     "Delayed": "composite", "Start": "initial holds no causal link"}
    # a stock's rate is its net flow; a first-order SMOOTH's is its internal flow (input - output) / time
    net = rate_expression(ir, slot["Stock"])[0]
    assert isinstance(net, Op) and net.op == "-" and [a.slot for a in net.args] == [slot["Inflow"], slot["Outflow"]]
    smooth = rate_expression(ir, slot["Smoothed"])[0]
    assert smooth.op == "/" and smooth.args[0].args == (Ref(slot["Inflow"]), Ref(slot["Smoothed"]))
    assert rate_expression(ir, slot["Delayed"])[0] == Ref(slot["Outflow"])  # a DELAY's input
    assert rate_expression(ir, slot["Start"])[0] is None
    links = ltm_links(ir, [(slot["Rate"], slot["Inflow"]), (slot["Stock"], slot["Inflow"]), (None, slot["Stock"]),
                           (slot["Inflow"], slot["Stock"])])
    assert [(lk.source, lk.target, lk.how) for lk in links] == [
        (slot["Rate"], slot["Inflow"], "auxiliary"), (slot["Stock"], slot["Inflow"], "auxiliary"),
        (-1, slot["Stock"], "no slot"), (slot["Inflow"], slot["Stock"], "stock")]
    assert links[0].rate is links[1].rate  # one rate expression per target
    assert links[2] == LtmLink(-1, slot["Stock"], None, "no slot")
