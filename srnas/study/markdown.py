"""``study.md`` from ``study.json``'s content: the protocol, the width check, the searches (decided flags, alpha
margins), random search at equal cost, the runs (failed trainings flagged), the paired comparisons with their
intervals, the rank stability and the wall time per stage. Every number and every verdict comes from the data."""
from __future__ import annotations

from typing import Any, Optional


def _f(v: Optional[float], fmt: str = ".3f") -> str:
    return "-" if v is None else format(v, fmt)


def protocol(data: dict[str, Any]) -> list[str]:
    lines = ["## Protocol (declared in the option file before running)", ""]
    lines += [f"- {p}" for p in data["protocol"]] or ["- (the option file declares no protocol text)"]
    sub = ", ".join(f"{k}: first {v}" for k, v in data["max_images"].items())
    st = data["stats"]
    lines += ["", "Generated from the options:", "",
              f"- primary metric: mean Y PSNR (border = scale, final weights) over {', '.join(data['primary_sets'])}"
              + (f" ({sub} images, sorted names)" if sub else ""),
              f"- fairness: {data['fairness']}",
              f"- retraining: `{data['train']['opt']}` + {data['train']['set'] or 'no overrides'}; "
              f"{data['train']['iterations']} iterations; units (retraining seeds) {data['seeds']}",
              f"- failed training: non-finite, or below bicubic on a primary set; retried with seed + 1000 x attempt "
              f"(at most {st['retries']} times), never ranked",
              f"- statistics: paired differences of the primary metric over units, {st['level']:.0%} percentile "
              f"bootstrap intervals ({st['bootstrap']} resamples, seed {st['seed']}); \"beats\" only when the "
              "interval excludes 0, else \"no difference shown\""]
    if data["stability_options"]:
        so = data["stability_options"]
        lines.append(f"- rank stability: the runs of units {so['seeds']} trained {so['factor']}x longer; Kendall "
                     "tau between the two rankings")
    bic = ", ".join(f"{k} {v:.3f}" for k, v in data["bicubic"].items())
    lines += [f"- bicubic (same images): {bic or '-'} dB", ""]
    return lines


def _space(data: dict[str, Any], sp: dict[str, Any]) -> list[str]:
    tol = sp["params_tolerance"]
    lines = [f"## {sp['space']} space: budget {sp['params_budget']:,} params"
             + (f" ± {tol:.0%}, num_block {sp['num_block_range'][0]}-{sp['num_block_range'][1]}" if tol else ""), ""]
    lines += ["### Width check and searches", "",
              "| network | family | C | blocks | params | vs budget | search decided | alpha margin per position "
              "(top-1 - top-2) | ops |", "|---|---|---|---|---|---|---|---|---|"]
    for r in sp["archs"]:
        dev = f"{r['params_deviation']:+.1%}" if r["params_deviation"] is not None else "-"
        margins = ", ".join(_f(m) for m in r.get("margins") or []) or "-"
        lines.append(f"| {r['label']} | {r['family']} | {r['num_feat'] or '-'} | {r['num_block'] or '-'} | "
                     f"{r['params'] or '-':,} | {dev} | {r['decision']} | {margins} | {r['ops'] or '-'} |"
                     if r["params"] else f"| {r['label']} | {r['family']} | - | - | - | - | {r['decision']} | "
                     f"{margins} | (not yet) |")
    devs = [abs(r["params_deviation"]) for r in sp["archs"] if r["params_deviation"] is not None]
    if devs:
        lines += ["", f"Largest deviation from the budget: {max(devs):.1%} ({len(devs)} networks)."]
    searched = [r for r in sp["archs"] if r["family"] == "searched" and r["decision"] != "-"]
    if searched:
        n = sum(r["decision"] == "decided" for r in searched)
        lines.append(f"Searches decided (every position): {n} of {len(searched)}.")
    lines.append("")
    if sp["random_search"]:
        lines += ["### Random search at equal cost", "",
                  "| random search | budget (s) | spent (s) | candidates | iterations each | winner | held-out PSNR |",
                  "|---|---|---|---|---|---|---|"]
        for k, w in sp["random_search"].items():
            lines.append(f"| {k} | {w['budget_seconds']:.0f} | {w['spent_seconds']:.0f} | {w['candidates']} | "
                         f"{w['iters_per_candidate']} | candidate {w['winner']} | {w['val_psnr']:.3f} |")
        lines += ["", f"Held-out split: {next(iter(sp['random_search'].values()))['heldout']} (not a reported "
                  "benchmark set).", ""]
    lines += _runs(data, sp)
    lines += _verdicts(data, sp)
    return lines


def _runs(data: dict[str, Any], sp: dict[str, Any]) -> list[str]:
    sets = data["sets"]
    lines = ["### Runs (primary metric per unit; per-set PSNR averaged over the successful units)", "",
             "| network | group | " + " | ".join(f"unit {u}" for u in data["seeds"]) + " | " +
             " | ".join(sets) + " | failed trainings |", "|" + "---|" * (2 + len(data["seeds"]) + len(sets) + 1)]
    for r in sp["archs"]:
        units = {int(u): v for u, v in r["units"].items()}
        cells = [(_f(units[u]["primary"]) if units[u]["ok"] else "failed") if u in units else
                 ("pending" if u in r["seeds"] else "") for u in data["seeds"]]
        ok = [v for v in units.values() if v["ok"]]
        per_set = [_f(sum(v["psnr"][s] for v in ok) / len(ok)) if ok and all(s in v["psnr"] for v in ok) else "-"
                   for s in sets]
        failed = "; ".join(f"{f['run']} ({f['why']})" for v in units.values() for f in v["failed"]) or "-"
        lines.append(f"| {r['label']} | {r['group']} | " + " | ".join(cells) + " | " + " | ".join(per_set) +
                     f" | {failed} |")
    lines += ["", "Group values (mean primary over the group's networks in each unit):", ""]
    for g, units in sp["groups"].items():
        ordered = sorted(units.items(), key=lambda x: int(x[0]))
        lines.append(f"- {g}: " + ", ".join(f"unit {u} {v:.3f}" for u, v in ordered))
    lines.append("")
    return lines


def _verdicts(data: dict[str, Any], sp: dict[str, Any]) -> list[str]:
    lines = ["### Does the search beat the baselines? (generated from the intervals)", ""]
    comps = sp["comparisons"]
    if not comps:
        lines.append("No comparison yet (two groups need two common units).")
    lines += [f"- {c['sentence']}" for c in comps]
    lines += ["", "**" + summary(sp) + "**", ""]
    st, we = sp["stability"], sp["width_explains"]
    lines += ["### Rank stability and what the shape explains", ""]
    if st["tau"] is None:
        lines.append(f"Rank stability: not measured yet ({st['n']} runs with a longer twin).")
    else:
        lines.append(f"Kendall tau between the ranking at the budget and at the longer budget: **{st['tau']:.2f}** "
                     f"over {st['n']} runs (" + "; ".join(f"{x['run']} {x['primary']:.3f} -> {x['long_primary']:.3f}"
                                                         for x in st["runs"]) + ").")
    if we["n"] >= 3:
        lines.append(f"Spearman with the primary metric over {we['n']} networks: num_feat {_f(we['num_feat'], '.2f')}, "
                     f"num_block {_f(we['num_block'], '.2f')}, params {_f(we['params'], '.2f')}, Mult-Adds "
                     f"{_f(we['macs'], '.2f')}.")
    lines += ["", *(f"- {s}" for s in readings(sp))]
    return lines + [""]


STRONG = 0.7  # |Spearman| or tau at or above this is read as "orders the networks" / "stable"


def readings(sp: dict[str, Any]) -> list[str]:
    """Generated readings of the rank-stability tau and of the shape correlations (thresholds: ``STRONG``)."""
    st, we, out = sp["stability"], sp["width_explains"], []
    if st["tau"] is not None:
        out.append(f"The ranking at the budget {'holds' if st['tau'] >= STRONG else 'does not hold'} at the longer "
                   f"budget (Kendall tau {st['tau']:.2f} over {st['n']} runs, {'>=' if st['tau'] >= STRONG else '<'} "
                   f"{STRONG}).")
        swaps = st.get("swaps", [])
        if swaps:
            out.append("Pairs whose order flips at the longer budget: " + "; ".join(
                f"{s['passed_by']} passes {s['ahead']}" for s in swaps) + ".")
        for c in sp["comparisons"]:
            if not (c["beats"] or c["beaten"]):
                continue
            winner, loser = (c["method"], c["baseline"]) if c["beats"] else (c["baseline"], c["method"])
            for s in swaps:  # the verdict's winner was ahead in this unit at the budget, and is passed when longer
                if (s["ahead_group"], s["passer_group"]) == (winner, loser):
                    out.append(f"The verdict '{c['sentence'].split(' (')[0]}' (at the budget) reverses for "
                               f"{s['ahead']} at the longer budget ({s['passed_by']} passes it): it may not hold for "
                               "networks trained longer.")
    shapes = {k: we[k] for k in ("num_feat", "num_block", "params", "macs") if we.get(k) is not None}
    if shapes:
        k, rho = max(shapes.items(), key=lambda x: abs(x[1]))
        name = {"num_feat": "the width (num_feat)", "num_block": "the depth (num_block)", "params": "params",
                "macs": "Mult-Adds"}[k]
        if abs(rho) >= STRONG:
            out.append(f"At one params budget {name} still orders the networks (Spearman {rho:+.2f} over {we['n']}): "
                       "the comparisons rank what shape each genotype's ops leave room for as much as the ops.")
        else:
            out.append(f"No shape measure orders the networks (largest |Spearman| {abs(rho):.2f}, {name}, < {STRONG}).")
    return out


def summary(sp: dict[str, Any]) -> str:
    """One generated sentence: what the searched methods gain over random search and random genotypes."""
    comps = [c for c in sp["comparisons"] if c["baseline"] in ("random search", "random genotype")
             and c["method"] not in ("random search",)]
    if not comps:
        return "What the search gains: not measured yet."
    wins = [f"{c['method']} over {c['baseline']}" for c in comps if c["beats"]]
    losses = [f"{c['method']} under {c['baseline']}" for c in comps if c["beaten"]]
    if not wins:
        tail = f"; worse shown: {', '.join(losses)}" if losses else ""
        return (f"What the search gains at this scale: nothing shown ({len(comps)} comparisons with random search "
                f"and random genotypes, none whose interval excludes 0 in the search's favour{tail}).")
    return (f"What the search gains at this scale: shown for {', '.join(wins)} ({len(wins)} of {len(comps)} "
            "comparisons with random search and random genotypes).")


def markdown(data: dict[str, Any], png: str = "study.png") -> str:
    lines = [f"# Study `{data['name']}`: searched vs random search vs random vs hand-designed (x{data['scale']})", ""]
    if data.get("command"):
        lines += [f"Reproduce: `{data['command']}` (skip-if-done: the same command continues a stopped study)", ""]
    wall, (lo, hi) = data["wall_seconds"], data["load_average"]
    lines += [f"- status: **{data['status']}**",
              f"- wall time: {wall / 3600:.2f} h ({wall:.0f} s over {data['calls']} call(s)) on {data['machine']}"
              + (f"; 1-min load average {lo}-{hi} during the calls (above the core count: other processes shared "
                 "the cores, wall times are inflated)" if lo is not None else ""), ""]
    lines += protocol(data)
    for sp in data["spaces"]:
        lines += _space(data, sp)
    lines += ["## Wall time per stage", "", "CPU = this process's CPU time (one thread): the cost without the time "
              "other processes took from the shared cores.", "",
              "| stage kind | stages | wall (s) | wall (h) | CPU (s) |", "|---|---|---|---|---|"]
    lines += [f"| {k} | {v['count']} | {v['seconds']:.0f} | {v['seconds'] / 3600:.2f} | {v.get('cpu_seconds', 0):.0f} |"
              for k, v in data["stage_summary"].items()]
    lines += ["", "Every stage: " + "; ".join(f"{k} {v['seconds']:.0f} s" for k, v in data["stages"].items()), ""]
    if data["pending"]:
        lines += ["## Not done yet", "", f"{len(data['pending'])} stage(s) left: " + ", ".join(data["pending"]), ""]
    lines += [f"![primary metric vs params]({png})", ""]
    return "\n".join(lines)
