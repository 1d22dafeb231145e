"""``cxsystems loops``, ``cld``, ``archetypes`` and ``lint``: causal-loop analysis from the command line."""

from __future__ import annotations

import argparse

from ..text import plural
from .common import add_command, add_data_file_option, add_params_options, read_overrides

LOOPS_DESCRIPTION = """
List the feedback loops of a model (or of a causal loop diagram given with --cld): id (R1, B2, ...
numbered by length, then names), polarity (R reinforcing, B balancing, or e.g. "R until week 40,
then B" when a link changes sign during the baseline run), length, number of delayed links, the
loop's name from <model>.loops.toml, and its variables in causal order. Link polarities come from
the equations' structure where it decides them, otherwise from partial derivatives measured along
the baseline run. Named loops are listed first, then the others. --named keeps only the named
loops, --through loops through one variable, --max-length short loops; ids stay those of the full
list.
"""

CLD_DESCRIPTION = """
Draw a causal loop diagram of a model view or of a diagram file (--cld) and write it to --out: .png,
.svg or .pdf (curved arrows, polarity at each arrowhead, delay marks, a marker for each named loop),
or .dot (Graphviz) / .mmd (Mermaid) text. For a model, --view names a view of <model>.views.toml
(default: main); hidden variables are collapsed into links whose polarity is the product along them.
"""

ARCHETYPES_DESCRIPTION = """
Find system archetypes (shifting the burden, fixes that fail, limits to success, eroding goals,
escalation, success to the successful, tragedy of the commons, growth and underinvestment, accidental
adversaries) in a model or a diagram (--cld), by how its feedback loops overlap, with the role each
variable plays. For a model they are built from the loops named in <model>.loops.toml and ranked
by plausibility: confirmed (the decision roles are variables a scenario's policy lever acts on, and
the scenarios show the story: a fixes-that-fail fix is better-before-worse on the symptom and its
side-effect loop gains dominance after it, by Loops That Matter), then
plausible, unchecked, and implausible (a "solution" nobody chooses, such as customers leaving, or a
vicious circle as the success engine), which are hidden unless --all is given (a note counts
them). Shows at most --per-kind instances of each archetype (best first) unless --all is given.
"""

LINT_DESCRIPTION = """
Compare the polarities drawn in a causal loop diagram (--cld) with what the model's equations do,
listing every mismatch, every link drawn that the model lacks, and diagram variables the model does
not know. A room's wording rarely matches the model's names: 'alias: "Drawn name" = "Model
Variable"' lines in the .cld file, or a mapping file (--aliases FILE.toml with "Drawn name" =
"Model Variable" lines), say which variable a drawn name stands for. Variables the diagram leaves
out are collapsed into the links between the ones it shows. Only the drawn links are checked: the
direct influences the model has that the diagram leaves out are listed as information (--strict
counts them as disagreements). A link drawn 'assumed' ("A -> B : + assumed": the room believes it)
that the model lacks is listed as information too (the model's runs cannot test it); a sign the model
contradicts is still a mismatch. Exit code 1 if the diagram disagrees with the model, 0 if it agrees.
"""


def _source_options(p: argparse.ArgumentParser, cld: bool = True) -> None:
    from ..model.loader import DEFAULT_MODEL

    p.add_argument("--model", metavar="NAME|PATH", default=None,
                   help=f"bundled model name or path to a Vensim .mdl or XMILE (.xmile, .stmx, .itmx) file (default: {DEFAULT_MODEL})")
    add_data_file_option(p)
    if cld:
        p.add_argument("--cld", metavar="FILE", default=None,
                       help="a causal loop diagram file (.cld) instead of a model")


def register(subparsers) -> None:
    p = add_command(subparsers, "loops", run_loops, model_option=False,
                    summary="list the feedback loops with polarity, ids and names",
                    description=LOOPS_DESCRIPTION)
    _source_options(p)
    add_params_options(p)
    p.add_argument("--through", metavar="VAR", help="only loops through this variable")
    p.add_argument("--max-length", type=int, metavar="N", help="only loops of at most N variables")
    p.add_argument("--named", action="store_true",
                   help="only the loops named in <model>.loops.toml (or a diagram's 'loop' lines)")
    p.add_argument("--limit", type=int, default=20000, metavar="N",
                   help="refuse to list more than N loops (default: 20000)")
    p.add_argument("--format", default="table", choices=("table", "csv", "json"),
                   help="output format (default: table)")

    p = add_command(subparsers, "cld", run_cld, model_option=False,
                    summary="draw a causal loop diagram (png, svg, pdf, dot, mmd)",
                    description=CLD_DESCRIPTION)
    _source_options(p)
    add_params_options(p)
    p.add_argument("--view", metavar="NAME", help="view of <model>.views.toml to draw (default: main)")
    p.add_argument("--out", required=True, metavar="FILE", help="file to write: .png .svg .pdf .dot .mmd")

    p = add_command(subparsers, "archetypes", run_archetypes, model_option=False,
                    summary="find system archetypes among the feedback loops",
                    description=ARCHETYPES_DESCRIPTION)
    _source_options(p)
    add_params_options(p)
    p.add_argument("--kind", metavar="NAME", help="only this archetype, e.g. 'fixes that fail'")
    p.add_argument("--per-kind", type=int, default=5, metavar="N",
                   help="at most N instances per archetype (default: 5)")
    p.add_argument("--all", action="store_true", help="show every instance, implausible ones too")
    p.add_argument("--format", default="text", choices=("text", "json"), help="output format (default: text)")

    p = add_command(subparsers, "lint", run_lint, model_option=False,
                    summary="check a diagram's polarities against the model's equations",
                    description=LINT_DESCRIPTION)
    _source_options(p, cld=False)
    add_params_options(p)
    p.add_argument("--cld", metavar="FILE", required=True, help="the causal loop diagram file (.cld) to check")
    p.add_argument("--aliases", metavar="FILE.toml", default=None,
                   help='drawn name -> model variable mapping file ("Drawn name" = "Model Variable" lines)')
    p.add_argument("--strict", action="store_true",
                   help="also count model links the diagram does not draw as disagreements")
    p.add_argument("--format", default="text", choices=("text", "json"), help="output format (default: text)")


def _graph(args: argparse.Namespace):
    """(graph, model or None) for --model / --cld."""
    from ..errors import CxError

    cld = getattr(args, "cld", None)
    if cld is not None and args.model is not None:
        raise CxError("give --model or --cld, not both")
    if cld is not None:
        from ..causal.cld_format import load_cld

        if args.set_values or args.params_file or args.calibration or args.data_files:
            raise CxError("--set, --params, --calibration and --data-file apply to a model (--model), "
                          "not to --cld")
        return load_cld(cld), None
    from ..causal import model_graph

    model = _model(args)
    return model_graph(model), model


def _model(args: argparse.Namespace):
    """The model of ``--model`` (default: the bundled one) with the values of --calibration,
    --params and --set: link signs are measured along its baseline run, which starts from them."""
    from ..model.loader import DEFAULT_MODEL, load_model
    from ..model.overrides import layered, with_values

    model = load_model(args.model or DEFAULT_MODEL, data_files=args.data_files)
    explicit, cal = read_overrides(args, model)
    return with_values(model, layered(dict(cal.estimates) if cal is not None else {}, explicit))


def run_loops(args: argparse.Namespace) -> int:
    from ..causal import find_loops
    from ..causal.loops import format_table, loops_csv

    graph, _ = _graph(args)
    loops = find_loops(graph, through=args.through, max_length=args.max_length, limit=args.limit,
                       named=args.named)
    if args.format == "json":
        print(loops.to_json())
    elif args.format == "csv":
        print(loops_csv(loops), end="")
    else:
        print(format_table(loops))
    return 0


def run_cld(args: argparse.Namespace) -> int:
    from ..errors import CxError
    from ..files import check_output_file, make_parent
    from ..plotting.diagrams import cld_diagram, model_diagram, write_diagram

    out = check_output_file(args.out)  # before the work, not after it
    graph, model = _graph(args)
    if model is None:
        if args.view is not None:
            raise CxError("--view applies to --model, not to --cld")
        diagram = cld_diagram(graph)
    else:
        diagram = model_diagram(model, graph, view=args.view)
    write_diagram(diagram, make_parent(out))
    print(f"{graph.name}: wrote {out} ({len(diagram.graph.nodes)} variables, "
          f"{len(diagram.graph.causal_edges())} links, {plural(len(diagram.markers), 'loop')} marked)")
    return 0


def run_archetypes(args: argparse.Namespace) -> int:
    from ..causal import find_loops
    from ..causal.archetypes import find_archetypes
    from ..errors import CxError

    if args.per_kind < 1:
        raise CxError(f"--per-kind must be a positive whole number, got {args.per_kind}")
    graph, model = _graph(args)
    loops = find_loops(graph)
    kinds = (args.kind.strip().lower(),) if args.kind else None
    rep = find_archetypes(graph, loops, kinds=kinds, per_kind=None if args.all else args.per_kind, model=model,
                          implausible=args.all)
    names = {lp.id: lp.name for lp in loops}
    print(rep.to_json(names) if args.format == "json" else rep.text(names))
    return 0


def run_lint(args: argparse.Namespace) -> int:
    from ..causal import model_graph
    from ..causal.cld_format import load_aliases, load_cld
    from ..causal.linter import lint

    diagram = load_cld(args.cld)
    aliases = load_aliases(args.aliases) if args.aliases else None
    rep = lint(model_graph(_model(args)), diagram, aliases=aliases, strict=args.strict)
    print(rep.to_json() if args.format == "json" else rep.text())
    return 0 if rep.ok else 1
