"""The study's report, from what is on disk: ``study.json`` (every number), ``study.md`` (tables, genotypes, verdicts)
and ``study.png`` (PSNR vs Mult-Adds)."""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any, Optional

import torch

from srnas.config.study import StudyOptions
from srnas.study.plan import Arch, plan, resolve_sets
from srnas.study.stats import arch_row, comparisons, load_runs
from srnas.utils.files import atomic_write_text

FAIRNESS = ("every architecture (searched, random, hand-designed) is retrained at the widest num_feat (a multiple "
            "of 4) whose network has at most the space's parameter budget, with the same train recipe, iterations "
            "and seeds")


def _fmt_psnr(p: Optional[dict]) -> str:
    if p is None:
        return "-"
    spread = f" ± {p['std']:.3f}" if p["std"] is not None else ""
    return f"{p['mean']:.3f}{spread}"


def _fmt_s(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:.0f}"


def _markdown(data: dict[str, Any], png: str = "study.png") -> str:
    """``study.md``: how the study was run, then a section per space and what is left."""
    sets = data["sets"]
    lines = [f"# Study `{data['name']}`: searched vs random vs hand-designed (x{data['scale']})", ""]
    if data.get("command"):
        lines += [f"Reproduce: `{data['command']}` (skip-if-done: the same command continues a stopped study)", ""]
    wall = data["wall_seconds"]
    lo, hi = data["load_average"]
    lines += [f"- status: **{data['status']}**",
              f"- wall time: {wall / 3600:.2f} h ({wall:.0f} s over {data['calls']} call(s)) on {data['machine']}"
              + (f"; 1-min load average {lo}-{hi} during the calls (a load above the core count means other "
                 "processes shared the cores: wall times are inflated)" if lo is not None else ""),
              *([f"- {data['killed_calls']} call(s) were killed without a traceback: their time after their last "
                 "finished stage is not counted"] if data["killed_calls"] else []),
              f"- fairness: {FAIRNESS}",
              f"- training: `{data['train']['opt']}` + {data['train']['set'] or 'no overrides'}; "
              f"{data['train']['iterations']} iterations per run (an iteration budget; wall times below); "
              f"seeds {data['seeds']}; benchmarked with the {data['bench_weights']} weights",
              f"- PSNR: Y channel, border = scale, mean ± sample std over seeds (± omitted for one seed); "
              f"sets: {', '.join(sets)}"]
    if data["max_images"]:
        lines.append("- **benchmark subsets** (CPU scale; the same images for every run): " + ", ".join(
            f"{k}: the first {v} images (sorted names)" for k, v in data["max_images"].items()))
    if data["missing_sets"]:
        lines.append(f"- **skipped sets** (not found under {data['set_roots']}): {', '.join(data['missing_sets'])}")
    lines.append("")
    for sp in data["spaces"]:
        lines += _space_markdown(data, sp)
    if data["pending"]:
        lines += ["## Not done yet", "", f"{len(data['pending'])} stage(s) left: " +
                  ", ".join(data["pending"][:40]) + (" ..." if len(data["pending"]) > 40 else ""), ""]
    lines += [f"![PSNR vs Mult-Adds]({png})", ""]
    return "\n".join(lines)


def _space_markdown(data: dict[str, Any], sp: dict[str, Any]) -> list[str]:
    """One space's section: its searches, the table of its architectures, their genotypes and the verdicts."""
    sets = data["sets"]
    lines = [f"## {sp['space']} space: budget {sp['params_budget']:,} params, {sp['num_block']} blocks", ""]
    its = sorted({r["search_iterations"] for r in sp["archs"] if r["search_iterations"] is not None})
    lines += [f"Searches: `{sp['search_opt']}` + {sp['search_set'] or 'no overrides'} + each method's own "
              f"({'; '.join(f'{m}: {o}' for m, o in sp['methods'].items())}); one search per method"
              f"{', ' + '/'.join(map(str, its)) + ' iterations' if its else ''}; random: {sp['random_n']} "
              f"uniform draws (seed {sp['random_seed']}).", ""]
    head = "| architecture | family | search decided | C | params (K) | Mult-Adds (G) | search (s) | train (s) | " + \
        " | ".join(f"{s} ({data['max_images'][s]})" if s in data["max_images"] else s for s in sets) + " |"
    lines += [head, "|" + "---|" * (8 + len(sets))]
    for r in sp["archs"]:
        cells = [_fmt_psnr(r["psnr"].get(s)) for s in sets]
        params = f"{r['params'] / 1e3:.1f}" if r["params"] is not None else "-"
        macs = f"{r['macs'] / 1e9:.2f}" if r["macs"] is not None else "-"
        lines.append(f"| {r['label']} | {r['family']} | {r.get('search_decision', '-')} | {r['num_feat'] or '-'} | "
                     f"{params} | {macs} | "
                     f"{_fmt_s(r['search_seconds'])} | {_fmt_s(r['train_seconds'])} | " + " | ".join(cells) + " |")
    lines += ["", "Genotypes (ops per position, shared by all blocks; DLSR: inputs of cells 3..N):", ""]
    for r in sp["archs"]:
        conn = f", connections {r['connections']}" if r["connections"] else ""
        lines.append(f"- {r['label']} (`{r['arch']}`): {r['ops'] or '(not searched yet)'}{conn}")
    lines += ["", "### Does the search beat the baselines?", ""]
    comps = [c for c in data["comparisons"] if c["space"] == sp["space"]]
    if not comps:
        lines.append("No comparison yet (no searched architecture with a finished run and a baseline).")
    for method in dict.fromkeys(c["method"] for c in comps):
        groups: dict[str, list[dict]] = {}
        for c in comps:
            if c["method"] == method:
                what = "the best random architecture (per set)" if c["baseline_kind"] == "best random" \
                    else c["baseline_label"]
                groups.setdefault(what, []).append(c)
        flag = next((r["search_decision"] for r in sp["archs"] if r["label"] == method), "-")
        caveat = f" (search {flag}: its genotype was not chosen by the data at every position)" \
            if flag.startswith("NOT") else ""
        for what, rows in groups.items():
            wins = sum(c["beats"] for c in rows)
            lines.append(f"- **{method}{caveat} vs {what}: ahead on {wins} of {len(rows)} sets.** "
                         + "; ".join(c["sentence"] for c in rows) + ".")
    lines.append("")
    return lines


def _plot(data: dict[str, Any], out: Path) -> Path:
    """PSNR (Set5 and Urban100 panels, else the first two sets) vs Mult-Adds; a marker per family, a colour per
    space, error bars = std over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for sp in data["spaces"] for r in sp["archs"] if r["psnr"] and r["macs"] is not None]
    sets = [s for s in ("Set5", "Urban100") if any(s in r["psnr"] for r in rows)] or data["sets"][:2]
    markers = {"searched": "o", "random": "s", "hand-designed": "^"}
    colors = {sp["space"]: c for sp, c in zip(data["spaces"], ("tab:blue", "tab:orange", "tab:green", "tab:red"))}
    fig, axes = plt.subplots(1, max(len(sets), 1), figsize=(6 * max(len(sets), 1), 4.5), squeeze=False)
    for ax, s in zip(axes[0], sets):
        for r in rows:
            if s not in r["psnr"]:
                continue
            p = r["psnr"][s]
            ax.errorbar(r["macs"] / 1e9, p["mean"], yerr=p["std"] or 0, fmt=markers[r["family"]],
                        color=colors[r["space"]], capsize=3, ms=7, mfc="none" if r["family"] == "random" else None)
            ax.annotate(f"{r['space']} {r['label']}", (r["macs"] / 1e9, p["mean"]), fontsize=7, xytext=(4, 3),
                        textcoords="offset points")
        ax.set_xlabel("Mult-Adds (G, 1280x720 output)")
        ax.set_ylabel(f"PSNR on {s} (dB, Y; mean ± std over seeds)")
        ax.grid(alpha=0.3)
    handles = [plt.Line2D([], [], ls="", marker=m, color="gray", label=f) for f, m in markers.items()]
    handles += [plt.Line2D([], [], ls="", marker="o", color=c, label=f"{sp} space") for sp, c in colors.items()]
    axes[0][0].legend(handles=handles, fontsize=7, loc="best")
    fig.suptitle(f"{data['name']}: each architecture at the width that fits its space's parameter budget", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=130)
    plt.close(fig)
    return out


def write_study_report(opt: StudyOptions, root: Path, archs: Optional[list[Arch]] = None,
                       missing_sets: Optional[list[str]] = None, option_file: Optional[str] = None,
                       command: Optional[str] = None, publish: Optional[str | Path] = None) -> dict[str, Any]:
    """Write ``study.json``, ``study.md`` and ``study.png`` from what is on disk (and, with ``publish``, the same as
    ``<publish>/study_<name>.*``); returns the JSON content."""
    archs = archs if archs is not None else plan(opt)
    if missing_sets is None:
        missing_sets = resolve_sets(opt)[1]
    root.mkdir(parents=True, exist_ok=True)
    load_runs(opt, root, archs)
    sets = [s for s in opt.bench.datasets if s not in missing_sets]
    gdir = root / "genotypes"
    stages = json.loads((root / "stages.json").read_text()) if (root / "stages.json").exists() else \
        {"stages": {}, "calls": []}
    pending = _pending(opt, root, archs)
    iters = sorted({r["iterations"] for a in archs for r in a.runs.values() if r["iterations"] is not None})
    # the machine(s) the calls ran on, not the one writing the report (calls before this record: the last report's)
    machines = list(dict.fromkeys(c["machine"] for c in stages["calls"] if c.get("machine")))
    previous = root / "study.json"
    device = ", ".join(machines) if machines else \
        (json.loads(previous.read_text()).get("machine") if previous.exists() else None) or machine(opt)
    data: dict[str, Any] = {
        "name": opt.name, "scale": opt.scale, "command": command, "option_file": option_file,
        "status": "complete" if not pending else f"incomplete: {len(pending)} stage(s) left",
        "fairness": FAIRNESS, "seeds": list(opt.seeds), "sets": sets, "missing_sets": missing_sets,
        "set_roots": [opt.bench.data_root, *opt.bench.fallback_roots], "bench_weights": opt.bench.weights,
        "max_images": dict(opt.bench.max_images),
        "train": {"opt": opt.train.opt, "set": list(opt.train.set), "iterations": iters[0] if len(iters) == 1
                  else iters},
        "wall_seconds": round(sum(c["seconds"] for c in stages["calls"]), 1), "calls": len(stages["calls"]),
        "killed_calls": sum(not c.get("ended", False) for c in stages["calls"][:-1]) if stages["calls"] else 0,
        "load_average": [min((c["load_min"] for c in stages["calls"] if "load_min" in c), default=None),
                         max((c["load_max"] for c in stages["calls"] if "load_max" in c), default=None)],
        "machine": device, "stages": stages["stages"], "pending": pending, "spaces": [], "comparisons": []}
    for s in opt.spaces:
        rows = [arch_row(a, gdir, sets) for a in archs if a.space is s]
        data["spaces"].append({"space": s.space, "params_budget": s.params_budget, "num_block": s.num_block,
                               "search_opt": s.search.opt, "search_set": list(s.search.set),
                               "methods": {m.title: list(m.set) for m in s.search.methods},
                               "random_n": s.random.n, "random_seed": s.random.seed, "archs": rows})
        data["comparisons"] += comparisons(rows, sets)
    outs = [(root, "study")]
    if publish is not None:
        Path(publish).mkdir(parents=True, exist_ok=True)
        outs.append((Path(publish), f"study_{opt.name}"))
    for folder, stem in outs:
        atomic_write_text(folder / f"{stem}.json", json.dumps(data, indent=2) + "\n")
        atomic_write_text(folder / f"{stem}.md", _markdown(data, f"{stem}.png"))
        _plot(data, folder / f"{stem}.png")
    return data


def _pending(opt: StudyOptions, root: Path, archs: list[Arch]) -> list[str]:
    """The stages not done yet (searches without a genotype, runs without a report), in the order run_study does
    them."""
    pending = []
    for s in opt.spaces:
        mine = [a for a in archs if a.space is s]
        pending += [f"search {a.id}" for a in mine if a.family == "searched" and
                    not (root / "searches" / a.id / "genotype.json").exists()]
        pending += [f"run {a.id}_seed{k}" for k in opt.seeds for a in mine if k not in a.runs]
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
