"""``cxsystems init``: write a starter scenario file and views file beside a user's own model."""

from __future__ import annotations

import argparse

from ..text import plural
from .common import add_command, load

DESCRIPTION = """
Write <model>.scenarios.toml and <model>.views.toml beside a model that has none, so that every
command works on it in one step: a baseline and one example policy, the model's constants with a
declared range listed as candidate levers, outcomes and metrics guessed from its stocks, a
placeholder [uncertain] table, and a diagram view of the outcomes and their neighbours. Every guess
is marked CHECK in the file. Existing files are never overwritten unless --force is given; both
files are written whole or not at all.
"""


def register(subparsers) -> None:
    p = add_command(subparsers, "init", run_init,
                    summary="write starter <model>.scenarios.toml and <model>.views.toml for your model",
                    description=DESCRIPTION)
    p.add_argument("--force", action="store_true", help="replace existing starter files")


def run_init(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import CxError
    from ..files import atomic_write
    from ..model.starter import guessed_outcomes, starter_scenarios, starter_views

    model = load(args)
    src = Path(model.path)
    targets = [src.with_name(f"{src.stem}.scenarios.toml"), src.with_name(f"{src.stem}.views.toml")]
    existing = [t for t in targets if t.exists()]
    if existing and not args.force:
        raise CxError(f"{existing[0]} exists; cxsystems init never overwrites it (use --force to replace it)")
    graph = None
    try:
        from ..causal.api import causal_graph

        graph = causal_graph(model)
    except CxError:  # the numpy engine cannot read the model: the view lists the stocks alone
        graph = None
    elements: dict[str, list[str]] = {}  # subscripted stock -> its element columns (Stock[a]), from the engine
    try:
        from ..engine import compile_model
        from ..engine.ir import norm_name

        arrays = compile_model(model).ir.arrays
        elements = {s: list(arrays.get(norm_name(s), ())) for s in model.stocks if s in model.subscripted}
    except CxError:  # a construct the numpy engine does not run: no element outcomes guessed
        elements = {}
    texts = [starter_scenarios(model, elements), starter_views(model, graph, elements)]
    for target, text in zip(targets, texts):
        with atomic_write(target) as fh:
            fh.write(text)
    loaded = load(args)  # the files must load: a starter that the loader refuses is a bug
    outcomes = guessed_outcomes(model, elements)
    counts = ", ".join(plural(n, w) for n, w in ((len(loaded.scenarios), "scenario"), (len(outcomes), "outcome"),
                                                 (len(loaded.analysis.uncertain), "uncertain parameter")))
    print(f"{model.name}: wrote {targets[0]} ({counts}) and {targets[1]}")
    print("Read every line marked CHECK, then try: cxsystems compare --model " + str(src))
    return 0
