"""The study's report, from what is on disk: ``study.json`` (every number), ``study.md`` (protocol, tables and the
generated verdicts, :mod:`srnas.study.markdown`) and ``study.png`` (primary metric vs params)."""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any, Optional

import torch

from srnas.config.study import StudyOptions
from srnas.study.plan import Arch, plan, resolve_sets, train_options
from srnas.study.stats import arch_row, comparisons, group_values, load_runs, primary_sets, stability, width_explains
from srnas.utils.files import atomic_write_text

FAIRNESS = ("every architecture (searched, random, hand-designed) is retrained at the widest num_feat (a multiple "
            "of 4) whose network has at most the space's parameter budget, with the same train recipe, iterations "
            "and seeds")


def fairness(opt: StudyOptions) -> str:
    tols = {s.params_tolerance for s in opt.spaces}
    if tols == {None}:
        return FAIRNESS
    return ("every architecture (searched, random search, random, hand-designed) is retrained at the num_feat (a "
            "multiple of 4) and num_block whose params are within the space's tolerance of its budget (num_block "
            "nearest the space's first), with the same train recipe, iterations and seeds")


def stage_summary(stages: dict[str, dict]) -> dict[str, dict[str, float]]:
    """Wall and CPU time per kind of stage (search, random_search, train, bench, train/runs_long, ...); a reused
    search counts its copy, not its own search time."""
    out: dict[str, dict[str, float]] = {}
    for name, st in stages.items():
        kind, seconds = name.rsplit("/", 1)[0], st["seconds"]
        if st.get("reused_from"):  # copied from an earlier run: its own wall time, not this study's
            kind, seconds = "search (reused; their own wall time, not part of this study's)", st["search_seconds"]
        k = out.setdefault(kind, {"count": 0, "seconds": 0.0, "cpu_seconds": 0.0})
        k["count"] += 1
        k["seconds"] = round(k["seconds"] + seconds, 1)
        k["cpu_seconds"] = round(k["cpu_seconds"] + st.get("cpu_seconds", 0.0), 1)
    return out


def _pending(opt: StudyOptions, root: Path, archs: list[Arch]) -> list[str]:
    """The stages not done yet, in the order run_study does them."""
    pending = []
    for s in opt.spaces:
        mine = [a for a in archs if a.space is s]
        pending += [f"search {a.id}" for a in mine if a.family == "searched" and
                    not (root / "searches" / a.id / "genotype.json").exists()]
        pending += [f"random search {a.id}" for a in mine if a.family == "random search" and
                    not (root / "random_search" / a.id / "winner.json").exists()]
        pending += [f"run {a.id}_seed{k}" for k in opt.seeds for a in mine if k in a.seeds and
                    (k not in a.runs or (a.runs[k]["ok"] is None and
                                         len(a.runs[k]["attempts"]) <= opt.stats.retries))]
        if opt.stability is not None:
            pending += [f"long run {a.id}_seed{k}" for k in opt.stability.seeds for a in mine if k in a.seeds and
                        (k not in a.runs or (a.runs[k]["ok"] is not None and a.runs[k]["long"] is None))]
    return pending


def machine(opt: StudyOptions) -> str:
    """The machine the runs use, in words (the CUDA device, or the CPU model, cores and torch threads)."""
    from srnas.utils.device import select_device

    device = select_device(opt.device or "auto")
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA)"
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                   if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"CPU ({cpu}), {os.cpu_count()} cores, {torch.get_num_threads()} torch thread(s)"


def _plot(data: dict[str, Any], out: Path) -> Path:
    """Primary metric (mean over units, min-max bars) vs params, a marker per family."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    markers = {"searched": "o", "random search": "D", "random": "s", "hand-designed": "^", "published NAS cell": "v"}
    fig, axes = plt.subplots(1, len(data["spaces"]), figsize=(7 * len(data["spaces"]), 4.8), squeeze=False)
    for ax, sp in zip(axes[0], data["spaces"]):
        for r in sp["archs"]:
            ys = [u["primary"] for u in r["units"].values() if u["ok"]]
            if not ys or r["params"] is None:
                continue
            m = sum(ys) / len(ys)
            ax.errorbar(r["params"] / 1e3, m, yerr=[[m - min(ys)], [max(ys) - m]], fmt=markers[r["family"]],
                        capsize=3, ms=7, mfc="none" if r["family"] == "random" else None)
            ax.annotate(r["label"], (r["params"] / 1e3, m), fontsize=7, xytext=(4, 3), textcoords="offset points")
        ax.axvspan(sp["params_budget"] * (1 - (sp["params_tolerance"] or 0)) / 1e3, sp["params_budget"] / 1e3 *
                   (1 + (sp["params_tolerance"] or 0)), color="gray", alpha=0.1)
        ax.set_xlabel("params (K); shaded: the budget's tolerance")
        ax.set_ylabel(f"primary: mean PSNR over {', '.join(data['primary_sets'])} (dB)")
        ax.set_title(f"{sp['space']} space", fontsize=9)
        ax.grid(alpha=0.3)
        handles = [plt.Line2D([], [], ls="", marker=mk, color="gray", label=f) for f, mk in markers.items()]
        ax.legend(handles=handles, fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(out, dpi=130)
    plt.close(fig)
    return out


def write_study_report(opt: StudyOptions, root: Path, archs: Optional[list[Arch]] = None,
                       missing_sets: Optional[list[str]] = None, option_file: Optional[str] = None,
                       command: Optional[str] = None, publish: Optional[str | Path] = None) -> dict[str, Any]:
    """Write ``study.json``, ``study.md`` and ``study.png`` from what is on disk (and, with ``publish``, the same as
    ``<publish>/study_<name>.*``); returns the JSON content."""
    from srnas.study.markdown import markdown

    archs = archs if archs is not None else plan(opt)
    if missing_sets is None:
        missing_sets = resolve_sets(opt)[1]
    root.mkdir(parents=True, exist_ok=True)
    sets = [s for s in opt.bench.datasets if s not in missing_sets]
    primary = primary_sets(opt, sets)
    bicubic = {k: v["psnr"] for k, v in json.loads((root / "bicubic.json").read_text()).items()} \
        if (root / "bicubic.json").exists() else {}
    load_runs(opt, root, archs, bicubic, primary)
    stages = json.loads((root / "stages.json").read_text()) if (root / "stages.json").exists() else \
        {"stages": {}, "calls": []}
    pending = _pending(opt, root, archs)
    machines = list(dict.fromkeys(c["machine"] for c in stages["calls"] if c.get("machine")))
    previous = root / "study.json"
    device = ", ".join(machines) if machines else \
        (json.loads(previous.read_text()).get("machine") if previous.exists() else None) or machine(opt)
    iters = sorted({t["iterations"] for a in archs for r in a.runs.values() for t in r["attempts"]
                    if t["iterations"] is not None})
    data: dict[str, Any] = {
        "name": opt.name, "scale": opt.scale, "command": command, "option_file": option_file,
        "status": "complete" if not pending else f"incomplete: {len(pending)} stage(s) left",
        "protocol": list(opt.protocol), "fairness": fairness(opt), "seeds": list(opt.seeds), "sets": sets,
        "primary_sets": primary, "missing_sets": missing_sets, "bicubic": bicubic,
        "set_roots": [opt.bench.data_root, *opt.bench.fallback_roots], "bench_weights": opt.bench.weights,
        "max_images": dict(opt.bench.max_images),
        "stats": {"bootstrap": opt.stats.bootstrap, "level": opt.stats.level, "seed": opt.stats.seed,
                  "retries": opt.stats.retries},
        "stability_options": {"seeds": list(opt.stability.seeds), "factor": opt.stability.factor}
        if opt.stability else None,
        "train": {"opt": opt.train.opt, "set": list(opt.train.set), "iterations": iters[0] if len(iters) == 1
                  else iters or train_options(opt, opt.spaces[0], "x", opt.seeds[0], None, root)[0].train.total_iter},
        "wall_seconds": round(sum(c["seconds"] for c in stages["calls"]), 1), "calls": len(stages["calls"]),
        "killed_calls": sum(not c.get("ended", False) for c in stages["calls"][:-1]) if stages["calls"] else 0,
        "load_average": [min((c["load_min"] for c in stages["calls"] if "load_min" in c), default=None),
                         max((c["load_max"] for c in stages["calls"] if "load_max" in c), default=None)],
        "machine": device, "stages": stages["stages"], "stage_summary": stage_summary(stages["stages"]),
        "pending": pending, "spaces": [], "comparisons": []}
    for s in opt.spaces:
        rows = [arch_row(a, root, sets) for a in archs if a.space is s]
        comps = comparisons(rows, opt)
        rs = {}
        for a in archs:
            w = root / "random_search" / a.id / "winner.json"
            if a.space is s and a.family == "random search" and w.exists():
                rs[a.id] = {k: v for k, v in json.loads(w.read_text()).items() if k != "genotype"}
        data["spaces"].append({
            "space": s.space, "params_budget": s.params_budget, "params_tolerance": s.params_tolerance,
            "num_block": s.num_block, "num_block_range": list(s.num_block_range), "search_opt": s.search.opt,
            "search_set": list(s.search.set), "search_seeds": list(s.search.seeds or []),
            "methods": {m.title: {"set": list(m.set), "reuse": m.reuse} for m in s.search.methods},
            "random_n": s.random.n, "random_seed": s.random.seed, "random_retrain": s.random.retrain,
            "random_search": rs, "archs": rows, "groups": {g: {str(u): v for u, v in units.items()}
                                                           for g, units in group_values(rows).items()},
            "comparisons": comps, "stability": stability(rows), "width_explains": width_explains(rows)})
        data["comparisons"] += comps
    outs = [(root, "study")]
    if publish is not None:
        Path(publish).mkdir(parents=True, exist_ok=True)
        outs.append((Path(publish), f"study_{opt.name}"))
    for folder, stem in outs:
        atomic_write_text(folder / f"{stem}.json", json.dumps(data, indent=2, default=str) + "\n")
        atomic_write_text(folder / f"{stem}.md", markdown(data, f"{stem}.png"))
        _plot(data, folder / f"{stem}.png")
    return data


__all__ = ["FAIRNESS", "machine", "write_study_report"]
