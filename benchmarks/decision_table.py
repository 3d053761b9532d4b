"""One table of search runs: their alpha settings and whether they decided (README "Why the small search did not
decide"). Reads each run folder's ``options.yml`` (the merged options and the command line), ``alphas.jsonl`` and
``genotype.json``; nothing is typed in.

    python benchmarks/decision_table.py experiments/x_* --out experiments/reports/search_settings
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _penalty(regs: list[dict], search: dict) -> str:
    if not regs:
        return "none (DARTS)"
    out = []
    for r in regs:
        if r["type"] != "sa":
            out.append(r["type"])
            continue
        nu, mu = r.get("nu", 1.0), r.get("mu", 1.0)
        form = "Eq. 8" if nu == 1.0 else ("GELU" if nu == 0.0 and abs(mu - 0.7071) < 1e-3 else f"nu {nu} mu {mu}")
        if r.get("lambda_const") is not None:
            lam = f"lambda {r['lambda_const']:g} constant"
        else:
            per = "iteration" if search.get("penalty_schedule") == "iteration" else "epoch"
            lam = f"lambda {r.get('lambda_slope', 0.2):g} x epoch (per {per}, epoch = {search['epoch_length']} it)"
        out.append(f"SA {form}, {lam}")
    return "; ".join(out)


def row(exp: Path) -> dict:
    sys.path.insert(0, str(REPO))
    from srnas.archs.space import space_spec
    from srnas.search.decision import decision_from_records

    opt = yaml.safe_load((exp / "options.yml").read_text())
    s, g = opt["search"], opt["network_g"]
    prims = g.get("primitives") or space_spec(g["type"]).ops
    recs = [json.loads(ln) for ln in (exp / "alphas.jsonl").read_text().splitlines() if ln]
    d = decision_from_records(exp / "alphas.jsonl", prims)
    grads = (recs[-1].get("decision") or {}).get("grads") or {}
    pens = {k: v / grads["val"] for k, v in grads.items() if k != "val" and grads.get("val")}
    geno = exp / "genotype.json"
    secs = json.loads(geno.read_text()).get("info", {}).get("search_seconds") if geno.exists() else None
    warm = s.get("warmup_iters", 0) or s.get("warmup_epochs", 0) * s.get("epoch_length", 1000)
    sched = (s.get("scheduler_alpha") or {}).get("type", "constant")
    oa = s["optim_alpha"]
    alpha_opt = f"{oa.get('type', 'Adam')} {float(oa['lr']):g}" + \
        (f" (momentum {oa.get('momentum', 0.9):g})" if oa.get("type") == "SGD" else "")
    return {"run": exp.name, "space": g["type"], "K": g.get("partial_k", 1), "seed": opt.get("manual_seed", 0),
            "fixed_scale": bool(g.get("fixed_scale", False)),
            "penalty": _penalty(s.get("regularizers") or [], s), "alpha_optimizer": alpha_opt,
            "alpha_schedule": sched, "warmup": warm, "iters": f"{recs[-1]['step']}/{s['iters']}",
            "ops": [p["op"] for p in d["positions"]], "ratios": [round(p["ratio"], 2) for p in d["positions"]],
            "decided": f"{d['num_decided']}/{d['num_positions']}", "penalty_over_val": {k: round(v, 1) for k, v in
                                                                                      pens.items()},
            "grad_val": grads.get("val"), "seconds": secs}


def markdown(rows: list[dict], command: str, notes: list[str] = ()) -> str:
    lines = ["# Does the small search decide? Settings compared", "", f"Command: `{command}`", "",
             "Each row: one search of the quickstart's IMDN supernet (32 channels, 4 blocks, T91, batch 16, 24x24 LR "
             "patches) unless the run says otherwise. `top-1 x uniform` = the chosen op's softmax weight times the "
             "number of candidates, per position; `K` = SAC's partial-channel K (1 = all channels), \"fixed scale\" = "
             "`network_g.fixed_scale` (README \"Why the small search did not decide\"); `decided` = positions passing the decision criterion (README "
             "\"Did the search decide?\"); `penalty / L_val` = the alpha-gradient norm of each penalty over L_val's at "
             "the last evaluation (mean over the steps since the previous one). Runs stopped early say so in "
             "`iterations`.", "",
             "| run | K | seed | penalty | alpha optimizer | alpha schedule | warm-up it | iterations | ops | top-1 x uniform "
             "| decided | penalty / L_val | search time |", "|" + "---|" * 13]
    for r in rows:
        secs = "-" if r["seconds"] is None else f"{r['seconds'] / 60:.1f} min"
        pol = ", ".join(f"{k} {v:g}x" for k, v in r["penalty_over_val"].items()) or "-"
        k = f"{r['K']}, fixed scale" if r.get("fixed_scale") else str(r["K"])
        lines.append(f"| {r['run']} | {k} | {r['seed']} | {r['penalty']} | {r['alpha_optimizer']} | "
                     f"{r['alpha_schedule']} | {r['warmup']} | {r['iters']} | {', '.join(r['ops'])} | "
                     f"{' / '.join(f'{x:.2f}' for x in r['ratios'])} | {r['decided']} | {pol} | {secs} |")
    from srnas.search.decision import seed_pairs

    pairs = {k: v for k, v in seed_pairs({r["run"]: r["ops"] for r in rows}).items() if v}
    if pairs:
        lines += ["", "Seeds of one setting compared (positions where two seeds derive the same op):", ""]
        lines += [f"- {k}: " + "; ".join(f"{p} {n}/{len(rows[0]['ops'])}" for p, n in v.items()) for k, v in pairs.items()]
    if notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--out", type=Path, help="write OUT.md and OUT.json")
    p.add_argument("--note", action="append", default=[], help="a line under the table (what the files cannot say)")
    args = p.parse_args(argv)
    rows = [row(e) for e in args.runs if (e / "alphas.jsonl").exists() and (e / "options.yml").exists()]
    command = "python benchmarks/decision_table.py " + " ".join(argv if argv is not None else sys.argv[1:])
    md = markdown(rows, command, args.note)
    print(md)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        Path(f"{args.out}.md").write_text(md)
        Path(f"{args.out}.json").write_text(json.dumps(rows, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main()
