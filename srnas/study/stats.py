"""The study's numbers: each architecture's runs (mean ± std over seeds), and each searched architecture against the
best random one and the hand-designed ones (per-seed paired differences, in a plain sentence)."""
from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any, Optional

from srnas.archs.genotype import Genotype
from srnas.archs.space import space_spec
from srnas.config.study import StudyOptions
from srnas.archs.genotype import decision_flag
from srnas.search.decision import decision_from_records
from srnas.study.plan import Arch


def _mean_std(xs: list[float]) -> dict[str, Any]:
    return {"mean": statistics.fmean(xs), "std": statistics.stdev(xs) if len(xs) > 1 else None, "n": len(xs)}


def paired_difference(a: dict[int, float], b: dict[int, float]) -> Optional[dict[str, Any]]:
    """``a - b`` over the seeds both have (the same seed: the same data order and init stream), with its spread:
    ``{"mean", "std" (None for one seed), "n", "wins" (seeds where a > b), "per_seed"}``; None without common seeds."""
    common = sorted(set(a) & set(b))
    if not common:
        return None
    d = {s: a[s] - b[s] for s in common}
    return {**_mean_std(list(d.values())), "wins": sum(v > 0 for v in d.values()), "per_seed": d}


def verdict(method: str, baseline: str, dataset: str, diff: dict[str, Any]) -> str:
    """A plain sentence: ``SA beats random 2 by +0.050 ± 0.030 dB on Set5`` / ``SA does not beat ...``."""
    spread = f" ± {diff['std']:.3f}" if diff["std"] is not None else ""
    seeds = f"{diff['n']} seed{'s' if diff['n'] > 1 else ''}"
    if diff["mean"] > 0:
        text = f"{method} beats {baseline} by {diff['mean']:+.3f}{spread} dB on {dataset} ({seeds}"
        if diff["wins"] < diff["n"]:
            text += f"; ahead on only {diff['wins']} of them"
        elif diff["std"] is not None and diff["mean"] < diff["std"]:
            text += "; less than the spread"
        return text + ")"
    return f"{method} does not beat {baseline} on {dataset}: {diff['mean']:+.3f}{spread} dB ({seeds})"


def load_runs(opt: StudyOptions, root: Path, archs: list[Arch]) -> None:
    """Fill each ``arch.runs`` with its benchmarked runs: ``{seed: {params, macs, train_seconds, iterations,
    psnr}}``."""
    for a in archs:
        for seed in opt.seeds:
            exp = root / "runs" / f"{a.id}_seed{seed}"
            if not (exp / "report.json").exists():
                continue
            rep = json.loads((exp / "report.json").read_text())
            res = json.loads((exp / "results.json").read_text()) if (exp / "results.json").exists() else {}
            a.runs[seed] = {"params": rep["params"], "macs": rep["macs"], "train_seconds": res.get("seconds"),
                            "iterations": res.get("iterations"),
                            "psnr": {k: v["psnr"] for k, v in rep["results"].items()}}


def arch_row(a: Arch, gdir: Path, sets: list[str]) -> dict[str, Any]:
    """``a``'s row of the report: its genotype (from ``gdir``), size, times and PSNR per set over its seeds."""
    gpath = gdir / f"{a.id}.json"
    g = Genotype.load(gpath) if gpath.exists() else None
    info = (g.info.get("study") or {}) if g is not None else {}
    row: dict[str, Any] = {
        "arch": a.id, "space": a.space.space, "family": a.family, "label": a.label,
        "genotype": str(gpath) if g is not None else None,
        "num_feat": g.num_feat if g else None, "num_block": g.num_block if g else None,
        "ops": [list(r) for r in g.ops] if g and not g.shared else (list(g.ops[0]) if g else None),
        "connections": [list(c) for c in g.connections] if g and g.connections else None,
        "params": g.info.get("params") if g else None, "macs": None,
        "search_seconds": info.get("search_seconds"), "search_iterations": info.get("search_iterations"),
        "seeds": sorted(a.runs), "train_seconds": None, "psnr": {}, "search_decision": "-"}
    if a.family == "searched" and g is not None:  # an undecided search is flagged wherever its network is compared
        decision = g.info.get("decision") or decision_from_records(
            gdir.parent / "searches" / a.id / "alphas.jsonl", g.primitives or space_spec(g.space).ops)
        row["search_decision"] = decision_flag({"decision": decision})
    if a.runs:
        first = a.runs[min(a.runs)]
        row["params"], row["macs"] = first["params"], first["macs"]
        secs = [r["train_seconds"] for r in a.runs.values() if r["train_seconds"] is not None]
        row["train_seconds"] = statistics.fmean(secs) if secs else None
        for s in sets:
            per_seed = {seed: r["psnr"][s] for seed, r in a.runs.items() if s in r["psnr"]}
            if per_seed:
                row["psnr"][s] = {**_mean_std(list(per_seed.values())), "per_seed": per_seed}
    return row


def comparisons(rows: list[dict], sets: list[str]) -> list[dict[str, Any]]:
    """Each searched architecture vs the best random one (per set, by mean PSNR) and vs each hand-designed one."""
    out = []
    searched = [r for r in rows if r["family"] == "searched"]
    randoms = [r for r in rows if r["family"] == "random"]
    hands = [r for r in rows if r["family"] == "hand-designed"]
    for r in searched:
        for s in sets:
            if s not in r["psnr"]:
                continue
            base = []
            done_random = [b for b in randoms if s in b["psnr"]]
            if done_random:
                best = max(done_random, key=lambda b: b["psnr"][s]["mean"])
                base.append(("best random", best))
            base += [("hand-designed", h) for h in hands if s in h["psnr"]]
            for kind, b in base:
                diff = paired_difference(r["psnr"][s]["per_seed"], b["psnr"][s]["per_seed"])
                if diff is None:
                    continue
                name = f"the best random ({b['label']})" if kind == "best random" else b["label"]
                out.append({"space": r["space"], "method": r["label"], "arch": r["arch"], "set": s,
                            "baseline_kind": kind, "baseline": b["arch"], "baseline_label": b["label"],
                            "diff": diff, "beats": diff["mean"] > 0,
                            "sentence": verdict(r["label"], name, s, diff)})
    return out
