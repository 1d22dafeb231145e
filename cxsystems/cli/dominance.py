"""``cxsystems dominance``: which feedback loops drive the behaviour, and when (Loops That Matter)."""

from __future__ import annotations

import argparse

from .common import PARAMS_EPILOG, add_command, add_params_options, check_count, table, truncate

DESCRIPTION = """
Loop dominance of one run (Loops That Matter: Schoenberg, Davidsen & Eberlein 2020, with the
flow-to-stock link score of Schoenberg, Hayward & Eberlein 2023). Every causal link gets a score for
the interval [t, t+dt] starting at each of the model's SAVEPER times, as Stella reports them
(--every-step: at every TIME STEP): the share of its target's change it explains, signed; every loop
the product of its link scores, and each loop a relative score: its share of the absolute loop
scores of its cycle partition. A loop or set of loops dominates while it explains at least 50%. The
score of the interval [t, t+dt] is labelled t. --format table prints the loops (named first, then the
strongest) and the dominant periods of the --outcome's partition; csv prints the scores at the
model's SAVEPER times (every TIME STEP with --every-step) with the columns time,loop,name,polarity,score,relative_score (named and --top strongest loops of the
outcome's partition, or every loop with --all-loops); json prints all of it. --chart writes the
Stella-style chart (the outcome on top, the relative loop scores stacked below). With --n N the
run is repeated in N worlds sampled from the model's [uncertain] parameters (Latin hypercube, --seed)
and the output is, per named and --top loop, the share of worlds in which it belongs to the dominant
set or is the strongest loop, and its mean relative score, at the SAVEPER times (csv columns
time,loop,name,polarity,dominant_share,strongest_share,mean_relative; --chart: those shares over time).
""" + PARAMS_EPILOG


def register(subparsers) -> None:
    p = add_command(subparsers, "dominance", run_dominance,
                    summary="which feedback loops drive the behaviour, and when (Loops That Matter)",
                    description=DESCRIPTION)
    p.add_argument("--scenario", metavar="S", help="the scenario (default: the baseline)")
    p.add_argument("--outcome", metavar="VAR",
                   help="the variable whose loops are reported (default: the model's first key outcome)")
    p.add_argument("--top", type=int, default=8, metavar="K",
                   help="besides the named loops, the K strongest loops (default: 8)")
    p.add_argument("--all-loops", action="store_true", help="csv/json: every loop, not only named and top")
    p.add_argument("--n", type=int, default=None, metavar="N",
                   help="an ensemble: N worlds sampled from the model's [uncertain] parameters; reports the "
                        "share of worlds in which each loop dominates the outcome")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampled worlds (default: 0)")
    p.add_argument("--every-step", action="store_true",
                   help="score the interval starting at every TIME STEP, not only at the SAVEPER times (one run)")
    p.add_argument("--format", default="table", choices=("table", "csv", "json"),
                   help="output format (default: table)")
    p.add_argument("--out", metavar="FILE", help="write the output to FILE instead of printing it")
    p.add_argument("--chart", metavar="FILE", help="also write the chart (.png, .svg or .pdf)")
    add_params_options(p)


def _outcome(model, given: str | None) -> str:
    if given is not None:
        return model.variable(given, "--outcome")
    outs = model.outcomes
    if not outs:
        from ..errors import CxError

        raise CxError(f"{model.name}: no key outcome: give --outcome VAR")
    return outs[0].variable


def _table_text(res, ids: list[str]) -> str:
    summ = res.summary.set_index("loop").loc[ids].reset_index()
    rows = [[r.loop, r.name or "", r.polarity, f"{r.mean_share:.3f}", f"{r.dominant_share:.0%}"]
            for r in summ.itertuples()]
    lines = [f"{res.model} / {res.scenario}: loops of {res.outcome!r} ({res.method}, "
             f"{int((res.partition == res.partition_of_outcome(res.outcome)).sum())} loops in its partition); "
             f"score of [t, t+dt] shown at t",
             table(["loop", "name", "pol", "mean |share|", "in dominant set"], rows,
                   ["<", "<", "<", ">", ">"]),
             "", "dominant periods (loops explaining >= 50%):"]
    per = res.dominant_periods
    prows = [[f"{r.start:g}", f"{r.end:g}", r.polarity or "-", f"{r.share:.0%}", truncate(r.names or "(no change)", 70)]
             for r in per.itertuples()]
    shown = prows[:40]
    lines.append(table(["from", "to", "pol", "share", "loops"], shown, [">", ">", "<", ">", "<"]))
    if len(prows) > len(shown):
        lines.append(f"... {len(prows) - len(shown)} more periods (--format csv/json for all)")
    lines.extend(f"note: {n}" for n in res.notes)
    return "\n".join(lines)


def run_dominance(args: argparse.Namespace) -> int:
    import json

    from ..analysis.dominance import dominance
    from ..files import check_output_file, escaped
    from .common import load_with_overrides

    check_count(args.top, "--top", 0)
    out = check_output_file(args.out) if args.out else None
    chart = check_output_file(args.chart, "--chart") if args.chart else None
    if args.n is not None:
        check_count(args.n, "--n", 1)
        if args.every_step:
            from ..errors import CxError

            raise CxError("--every-step is for one run: an ensemble (--n) scores the SAVEPER times")
    model, _, _ = load_with_overrides(args)
    outcome = _outcome(model, args.outcome)
    if args.n is not None:
        return _run_ensemble(args, model, outcome, out, chart)
    res = dominance(model, args.scenario, outcome, every_step=args.every_step)
    ids = res.top(args.top, outcome)
    if args.format == "table":
        text = _table_text(res, ids) + "\n"
    else:
        scores = res.scores_for(None if args.all_loops else ids, every=None if args.every_step else res.saveper)
        if args.format == "csv":
            text = escaped(scores, index=False).to_csv(index=False, lineterminator="\n")
        else:
            text = json.dumps(dict(model=res.model, scenario=res.scenario, outcome=res.outcome,
                                   method=res.method, time_label="start of [t, t+dt]", notes=list(res.notes),
                                   loops=res.summary.to_dict("records"),
                                   dominant_periods=res.dominant_periods.to_dict("records"),
                                   scores=scores.to_dict("records")), indent=1) + "\n"
    if chart is not None:
        _write_chart(res.plot(outcome, loops=ids), chart)
    _write(text, out)
    return 0


def _write_chart(fig, chart) -> None:
    """Write ``fig`` to ``chart`` and close it."""
    import matplotlib.pyplot as plt

    from ..files import write_figure

    try:
        write_figure(fig, chart)
    finally:
        plt.close(fig)


def _write(text: str, out) -> None:
    from ..files import atomic_write

    if out is None:
        print(text, end="")
        return
    with atomic_write(out, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    print(f"wrote {out}")


def _run_ensemble(args: argparse.Namespace, model, outcome: str, out, chart) -> int:
    import json

    from ..analysis.dominance import dominance
    from ..files import escaped
    from ..model.uncertain import check_seed

    check_seed(args.seed, "--seed")
    ens = dominance(model, args.scenario, outcome, n=args.n, seed=args.seed, top=args.top)
    if args.format == "table":
        rows = [[r.loop, r.name or "", r.polarity, f"{r.dominant_share:.0%}", f"{r.strongest_share:.0%}",
                 f"{r.mean_relative:+.3f}"] for r in ens.summary.itertuples()]
        text = "\n".join([
            f"{ens.one.model} / {ens.one.scenario}: loops of {outcome!r} across {ens.n:,} worlds (seed {ens.seed}; "
            f"sampled: {', '.join(ens.sampled)})",
            table(["loop", "name", "pol", "dominant", "strongest", "mean share"], rows,
                  ["<", "<", "<", ">", ">", ">"]),
            "dominant: share of worlds x weeks in which the loop is in the set explaining >= 50%; "
            "strongest: in which it has the largest share",
            *(f"note: {n}" for n in ens.notes)]) + "\n"
    elif args.format == "csv":
        text = escaped(ens.shares, index=False).to_csv(index=False, lineterminator="\n")
    else:
        text = json.dumps(dict(model=ens.one.model, scenario=ens.one.scenario, outcome=outcome, n=ens.n,
                               seed=ens.seed, sampled=list(ens.sampled), notes=list(ens.notes),
                               loops=ens.summary.to_dict("records"), shares=ens.shares.to_dict("records")),
                          indent=1) + "\n"
    if chart is not None:
        _write_chart(ens.plot(), chart)
    _write(text, out)
    return 0
