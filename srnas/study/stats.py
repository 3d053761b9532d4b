"""The study's numbers: the primary metric, failed trainings, each architecture's runs, the groups the verdicts
compare (a method over its search seeds, random search, the random genotypes, each hand-designed network), paired
differences over units with bootstrap intervals, the verdict sentences, and rank statistics (Kendall tau, Spearman).

A *unit* is a planned retraining seed: every network trained with seed k belongs to unit k (a searched network of
search seed j is retrained with the j-th retraining seed only, so a unit also pairs search seeds). A group's value at a
unit is the mean primary metric of its networks trained in that unit; two groups are compared on the units both have.
"""
from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import numpy as np

from srnas.archs.genotype import Genotype, decision_flag
from srnas.archs.space import space_spec
from srnas.config.study import StudyOptions
from srnas.search.decision import decision_from_records
from srnas.study.plan import Arch

RETRY_SEED_STEP = 1000  # attempt j of seed k trains with seed k + 1000 j


def primary_sets(opt: StudyOptions, found: Sequence[str]) -> list[str]:
    """The sets of the primary metric that were found (all found sets when ``stats.primary`` is empty)."""
    return [s for s in (opt.stats.primary or opt.bench.datasets) if s in found]


def attempts(a: Arch, seed: int, retries: int) -> list[tuple[str, int]]:
    """The run names and seeds of ``a``'s unit ``seed``: the planned run, then its retries."""
    return [(f"{a.id}_seed{seed}" + (f"_retry{j}" if j else ""), seed + RETRY_SEED_STEP * j)
            for j in range(retries + 1)]


def failure(psnr: dict[str, float], bicubic: dict[str, float], primary: Sequence[str],
            margin: float = 0.0) -> Optional[str]:
    """Why a training failed (non-finite, or below bicubic - ``margin`` dB on a primary set), or None."""
    bad = [s for s in primary if s in psnr and not math.isfinite(psnr[s])]
    if bad:
        return f"non-finite PSNR on {', '.join(bad)}"
    below = [f"{s} {psnr[s]:.2f} < bicubic {bicubic[s]:.2f} dB" for s in primary if s in psnr and s in bicubic
             and psnr[s] < bicubic[s] - margin]
    return "below bicubic: " + "; ".join(below) if below else None


def primary_value(psnr: dict[str, float], primary: Sequence[str]) -> Optional[float]:
    """Mean PSNR over the primary sets (None when one is missing)."""
    return statistics.fmean(psnr[s] for s in primary) if all(s in psnr for s in primary) else None


def bootstrap_interval(diffs: Sequence[float], samples: int, level: float, seed: int) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``diffs`` (resampling the units with replacement)."""
    d = np.asarray(diffs, dtype=float)
    means = np.random.default_rng(seed).choice(d, size=(samples, d.size), replace=True).mean(axis=1)
    return float(np.quantile(means, (1 - level) / 2)), float(np.quantile(means, (1 + level) / 2))


def mean_interval(values: Sequence[float], samples: int = 10000, level: float = 0.95,
                  seed: int = 0) -> dict[str, Any]:
    """``{n, mean, lo, hi, sd}``: the mean of ``values`` and its percentile-bootstrap interval. With 3 values the
    interval is about their range, so it excludes 0 only when all three have the same sign."""
    if not values:
        return {"n": 0, "mean": None, "lo": None, "hi": None, "sd": None}
    lo, hi = bootstrap_interval(list(values), samples, level, seed)
    return {"n": len(values), "mean": statistics.fmean(values), "lo": lo, "hi": hi,
            "sd": statistics.stdev(values) if len(values) > 1 else None}


def units_needed(iv: dict[str, Any], z: float = 1.96) -> Optional[int]:
    """About how many units (seeds) an interval that straddles 0 would need to exclude it at the observed effect and
    spread (normal approximation, (z sd / mean)^2); None when it already excludes 0 or there is no effect to find."""
    if iv["n"] == 0 or iv["lo"] > 0 or iv["hi"] < 0 or not iv["sd"] or not iv["mean"]:
        return None
    return math.ceil((z * iv["sd"] / abs(iv["mean"])) ** 2)


def differences(a: dict[int, float], b: dict[int, float]) -> dict[int, float]:
    """``a - b`` on the units (seeds) both have: paired differences."""
    return {u: a[u] - b[u] for u in sorted(set(a) & set(b))}


def paired(a: dict[int, float], b: dict[int, float], opt: StudyOptions) -> Optional[dict[str, Any]]:
    """``a - b`` over the units both have: ``{mean, lo, hi, n, sd, wins, needed, per_unit}``; None without two common
    units."""
    d = differences(a, b)
    if len(d) < 2:
        return None
    iv = mean_interval(list(d.values()), opt.stats.bootstrap, opt.stats.level, opt.stats.seed)
    return {**iv, "wins": sum(v > 0 for v in d.values()), "needed": units_needed(iv), "per_unit": d}


def verdict(a: str, b: str, diff: dict[str, Any], level: float) -> str:
    """The sentence, from the numbers: "beats" / "is beaten by" only when the interval excludes 0."""
    ci = f"{diff['mean']:+.3f} dB, {level:.0%} interval [{diff['lo']:+.3f}, {diff['hi']:+.3f}], {diff['n']} units"
    if diff["lo"] > 0:
        return f"{a} beats {b} ({ci})"
    if diff["hi"] < 0:
        return f"{a} is beaten by {b} ({ci})"
    need = f"; about {diff['needed']} units would decide at this effect" if diff.get("needed") else ""
    return f"{a} vs {b}: no difference shown ({ci}{need})"


def _ranks(x: Sequence[float]) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    r = np.empty(len(x))
    xs = np.asarray(x, dtype=float)[order]
    i = 0
    while i < len(xs):  # average ranks of ties
        j = i
        while j + 1 < len(xs) and xs[j + 1] == xs[i]:
            j += 1
        r[order[i:j + 1]] = (i + j) / 2
        i = j + 1
    return r


def spearman(x: Sequence[float], y: Sequence[float]) -> Optional[float]:
    """Spearman's rank correlation (None for fewer than 3 pairs or a constant side)."""
    if len(x) < 3:
        return None
    rx, ry = _ranks(x), _ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> Optional[float]:
    """Kendall's tau-b (None for fewer than 3 pairs)."""
    n = len(x)
    if n < 3:
        return None
    conc = disc = tx = ty = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                tx += 1
            elif dy == 0:
                ty += 1
            elif dx == dy:
                conc += 1
            else:
                disc += 1
    denom = math.sqrt((conc + disc + tx) * (conc + disc + ty))
    return (conc - disc) / denom if denom else None


def report_psnr(report: dict) -> dict[str, float]:
    """``{set: PSNR}`` of a run's ``report.json`` content."""
    return {k: v["psnr"] for k, v in report["results"].items()}


def _report(exp: Path) -> Optional[dict]:
    if not (exp / "report.json").exists():
        return None
    rep = json.loads((exp / "report.json").read_text())
    res = json.loads((exp / "results.json").read_text()) if (exp / "results.json").exists() else {}
    return {"params": rep["params"], "macs": rep["macs"], "train_seconds": res.get("seconds"),
            "iterations": res.get("iterations"), "psnr": report_psnr(rep)}


def unit_attempts(opt: StudyOptions, runs: Path, a: Arch, unit: int, bicubic: dict[str, float],
                  primary: Sequence[str]) -> Iterator[dict[str, Any]]:
    """The benchmarked attempts of ``a``'s unit ``unit`` under ``runs``, in order, up to the first successful one:
    params, macs, seconds, PSNR per set, ``run``, ``seed``, ``primary`` and ``failed`` (the reason, or None)."""
    for run, seed in attempts(a, unit, opt.stats.retries):
        r = _report(runs / run)
        if r is None:
            return
        r.update(run=run, seed=seed, primary=primary_value(r["psnr"], primary),
                 failed=failure(r["psnr"], bicubic, primary, opt.stats.fail_margin))
        yield r
        if r["failed"] is None:
            return


def unit_success(opt: StudyOptions, runs: Path, a: Arch, unit: int, bicubic: dict[str, float],
                 primary: Sequence[str]) -> Optional[dict[str, Any]]:
    """The successful attempt of ``a``'s unit ``unit`` (:func:`unit_attempts`), or None."""
    return next((r for r in unit_attempts(opt, runs, a, unit, bicubic, primary) if r["failed"] is None), None)


def load_runs(opt: StudyOptions, root: Path, archs: list[Arch], bicubic: dict[str, float],
              primary: Sequence[str]) -> None:
    """Fill each ``arch.runs[unit]`` with ``{attempts: [...], ok: the first successful attempt or None, long: its
    rank-stability run or None}``; each attempt as :func:`unit_attempts` gives it."""
    for a in archs:
        for unit in a.seeds:
            tried = list(unit_attempts(opt, root / "runs", a, unit, bicubic, primary))
            if not tried:
                continue
            ok = tried[-1] if tried[-1]["failed"] is None else None
            long = _report(root / "runs_long" / ok["run"]) if ok else None
            if long:
                long["primary"] = primary_value(long["psnr"], primary)
            a.runs[unit] = {"attempts": tried, "ok": ok, "long": long}


def search_record(a: Arch, g: Optional[Genotype], root: Path) -> dict[str, Any]:
    """A searched network's decided flag and its alpha margins (top-1 minus top-2 weight, top-1 ratio to uniform)."""
    if a.family != "searched" or g is None:
        return {"decision": "-"}
    d = g.info.get("decision") or decision_from_records(root / "searches" / a.id / "alphas.jsonl",
                                                        g.primitives or space_spec(g.space).ops)
    pos = (d or {}).get("positions") or []
    return {"decision": decision_flag({"decision": d}), "margins": [p.get("margin") for p in pos],
            "ratios": [p.get("ratio") for p in pos], "decided_positions": [bool(p.get("decided")) for p in pos]}


def arch_row(a: Arch, root: Path, sets: list[str]) -> dict[str, Any]:
    """``a``'s row: genotype, shape, params and deviation from the budget, search record, runs per unit."""
    gpath = root / "genotypes" / f"{a.id}.json"
    g = Genotype.load(gpath) if gpath.exists() else None
    info = (g.info.get("study") or {}) if g is not None else {}
    budget = a.space.params_budget
    params = g.info.get("params") if g else None
    row: dict[str, Any] = {
        "arch": a.id, "space": a.space.space, "family": a.family, "label": a.label, "group": a.group,
        "search_seed": a.search_seed, "seeds": list(a.seeds), "genotype": str(gpath) if g else None,
        "num_feat": g.num_feat if g else None, "num_block": g.num_block if g else None,
        "ops": list(g.ops[0]) if g and g.shared else ([list(r) for r in g.ops] if g else None),
        "connections": [list(c) for c in g.connections] if g and g.connections else None,
        "params": params, "params_deviation": params / budget - 1 if params else None,
        "search_seconds": info.get("search_seconds"), "search_iterations": info.get("search_iterations"),
        **search_record(a, g, root), "units": {}}
    for unit, r in sorted(a.runs.items()):
        ok = r["ok"]
        row["units"][unit] = {
            "ok": ok is not None, "run": ok["run"] if ok else None, "seed": ok["seed"] if ok else None,
            "primary": ok["primary"] if ok else None, "psnr": ok["psnr"] if ok else {},
            "macs": ok["macs"] if ok else None, "train_seconds": ok["train_seconds"] if ok else None,
            "failed": [{"run": t["run"], "seed": t["seed"], "why": t["failed"], "psnr": t["psnr"]}
                       for t in r["attempts"] if t["failed"]],
            "long_primary": r["long"]["primary"] if r["long"] else None}
        if ok and row["params"] is None:
            row["params"] = ok["params"]
    return row


def group_values(rows: list[dict]) -> dict[str, dict[int, float]]:
    """``{group: {unit: mean primary of its successful runs in that unit}}``."""
    acc: dict[str, dict[int, list[float]]] = {}
    for r in rows:
        for unit, u in r["units"].items():
            if u["ok"] and u["primary"] is not None:
                acc.setdefault(r["group"], {}).setdefault(int(unit), []).append(u["primary"])
    return {g: {u: statistics.fmean(v) for u, v in units.items()} for g, units in acc.items()}


def comparisons(rows: list[dict], opt: StudyOptions) -> list[dict[str, Any]]:
    """Each searched method vs random search, the random genotypes and each hand-designed network; random search vs
    the random genotypes and the hand-designed ones. Paired over units, on the primary metric."""
    values = group_values(rows)
    by_family: dict[str, list[str]] = {}
    for r in rows:
        if r["group"] not in by_family.setdefault(r["family"], []):
            by_family[r["family"]].append(r["group"])
    fixed = [*by_family.get("hand-designed", []), *by_family.get("published NAS cell", [])]
    baselines = [*by_family.get("random search", []), *by_family.get("random", []), *fixed]
    pairs = [(m, b) for m in by_family.get("searched", []) for b in baselines]
    pairs += [(m, b) for m in by_family.get("random search", []) for b in [*by_family.get("random", []), *fixed]]
    out = []
    for m, b in pairs:
        if m in values and b in values:
            diff = paired(values[m], values[b], opt)
            if diff is not None:
                out.append({"space": rows[0]["space"], "method": m, "baseline": b, "diff": diff,
                            "beats": diff["lo"] > 0, "beaten": diff["hi"] < 0,
                            "sentence": verdict(m, b, diff, opt.stats.level)})
    return out


def stability(rows: list[dict]) -> dict[str, Any]:
    """Kendall tau between the ranking at the budget and at ``factor`` times it, over the runs that have both."""
    runs = [{"run": f"{r['label']} (unit {unit})", "primary": u["primary"], "long_primary": u["long_primary"],
             "group": r["group"]} for r in rows for unit, u in r["units"].items()
            if u["ok"] and u["long_primary"] is not None]
    # the discordant pairs: (passed, passer), the one ahead at the budget first
    swaps = [(a, b) if a["primary"] > b["primary"] else (b, a) for i, a in enumerate(runs) for b in runs[i + 1:]
             if (a["primary"] - b["primary"]) * (a["long_primary"] - b["long_primary"]) < 0]
    return {"n": len(runs), "tau": kendall_tau([r["primary"] for r in runs], [r["long_primary"] for r in runs]),
            "runs": runs,
            "swaps": [{"ahead": a["run"], "ahead_group": a["group"], "passed_by": b["run"], "passer_group": b["group"]}
                      for a, b in swaps]}


def width_explains(rows: list[dict]) -> dict[str, Optional[float]]:
    """Spearman between each shape measure and the primary metric (mean over units), over the networks run."""
    done = [r for r in rows if any(u["ok"] for u in r["units"].values())]
    y = [statistics.fmean(u["primary"] for u in r["units"].values() if u["ok"]) for r in done]
    macs = [next(u["macs"] for u in r["units"].values() if u["ok"]) for r in done]
    return {"n": len(done), "num_feat": spearman([r["num_feat"] for r in done], y),
            "num_block": spearman([r["num_block"] for r in done], y),
            "params": spearman([r["params"] for r in done], y), "macs": spearman(macs, y)}
