"""``srnas study``: does the search earn its cost? Searched vs random vs hand-designed networks, one recipe.

For every space of the option file: one search per method (DARTS, SA, SAC, ...), ``random.n`` uniform random
genotypes and the hand-designed ones (IMDN all conv3, the released DLSR genotype) are each refitted to the space's
parameter budget (:func:`srnas.search.width.fit_width`), retrained with the identical recipe, iterations and seeds,
and benchmarked. Layout under ``<experiments_root>/<name>/``::

    searches/<arch>/            one search experiment per method (srnas search)
    genotypes/<arch>.json       every architecture at its fitted width
    runs/<arch>_seed<k>/        one training experiment per architecture and seed, with report.json (srnas bench)
    stages.json                 wall time of every stage and of every call
    study.json, study.md, study.png

Every search, run and benchmark is skipped when its output exists; a half-done search or run resumes from its
checkpoint. Spaces go one after the other (searches, then runs seed by seed: every architecture of seed 0 first), so
a stopped study has finished its first spaces and compared every architecture of the next on its first seeds.
"""
from __future__ import annotations

import json
import logging
import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
import yaml

from srnas.archs.genotype import SPACE_OPS, Genotype
from srnas.search.decision import decision_flag, decision_from_records
from srnas.config.schema import apply_overrides, build, read_yaml
from srnas.config.study import Method, SpaceStudy, StudyOptions
from srnas.errors import SrnasError
from srnas.utils.checkpoint import list_checkpoints
from srnas.utils.experiment import resolve_path
from srnas.utils.files import atomic_write_text

log = logging.getLogger("srnas")
FAIRNESS = ("every architecture (searched, random, hand-designed) is retrained at the widest num_feat (a multiple "
            "of 4) whose network has at most the space's parameter budget, with the same train recipe, iterations "
            "and seeds")


@dataclass
class Arch:
    """One architecture of the study (a row of the report)."""

    id: str                       # "<space>-<name>": folder names
    space: SpaceStudy
    family: str                   # searched | random | hand-designed
    label: str                    # report name: SA, random 2, IMDN
    method: Optional[Method] = None
    source: Optional[str] = None  # hand-designed: its genotype file
    index: int = 0                # random: 0-based draw
    runs: dict[int, dict] = field(default_factory=dict)  # seed -> run record (report)


def plan(opt: StudyOptions) -> list[Arch]:
    """Every architecture of the study, in report order (per space: searched, random, hand-designed)."""
    archs = []
    for s in opt.spaces:
        archs += [Arch(f"{s.space}-{m.name}", s, "searched", m.title, method=m) for m in s.search.methods]
        archs += [Arch(f"{s.space}-random{i + 1}", s, "random", f"random {i + 1}", index=i) for i in range(s.random.n)]
        archs += [Arch(f"{s.space}-{h.name}", s, "hand-designed", h.name, source=h.genotype) for h in s.baselines]
    return archs


def _resume(exp: Path) -> bool:
    return bool(list_checkpoints(exp / "checkpoints"))


def _experiments_root(raw: dict, root: Path) -> None:
    raw["path"] = {**(raw.get("path") or {}), "experiments_root": str(root)}


def search_options(opt: StudyOptions, arch: Arch, root: Path):
    """The search options of a searched ``arch``: the space's base file + its overrides + the method's, run under
    ``root/searches/<arch>`` at the study's scale, depth (and device)."""
    from srnas.config.search import SearchOptions

    s, m = arch.space, arch.method
    source = f"{s.search.opt} ({arch.id})"
    raw = apply_overrides(read_yaml(resolve_path(s.search.opt)), [*s.search.set, *m.set], source=source)
    if not isinstance(raw.get("network_g"), dict) or raw["network_g"].get("type") != s.space:
        raise SrnasError(f"{s.search.opt}: network_g.type must be {s.space!r} for this space")
    raw.update(name=arch.id, scale=opt.scale)
    raw["network_g"]["num_block"] = s.num_block
    _experiments_root(raw, root / "searches")
    if opt.device is not None:
        raw["device"] = opt.device
    return build(SearchOptions, raw, source=source), raw


def train_options(opt: StudyOptions, space: SpaceStudy, run: str, seed: int, genotype: Optional[Path], root: Path):
    """The options of one run: the study's train file + overrides, ``network_g`` = the genotype (or, to validate the
    recipe before any genotype exists, the space's default arch), seed ``seed``."""
    from srnas.config.train import TrainOptions

    source = f"{opt.train.opt} ({run})"
    raw = apply_overrides(read_yaml(resolve_path(opt.train.opt)), [*opt.train.set, *space.train_set], source=source)
    raw.update(name=run, scale=opt.scale, manual_seed=seed)
    raw["network_g"] = {"genotype": str(genotype)} if genotype is not None else {"type": space.space}
    _experiments_root(raw, root / "runs")
    if opt.device is not None:
        raw["device"] = opt.device
    return build(TrainOptions, raw, source=source), raw


def resolve_sets(opt: StudyOptions) -> tuple[dict[str, Path], list[str]]:
    """``({set: root}, [missing sets])``: each set from ``bench.data_root`` or else the first fallback root."""
    roots = [resolve_path(r) for r in (opt.bench.data_root, *opt.bench.fallback_roots)]
    found, missing = {}, []
    for name in opt.bench.datasets:
        root = next((r for r in roots if (r / name / "HR").is_dir()), None)
        if root is None:
            missing.append(name)
        else:
            found[name] = root
    return found, missing


class _Stages:
    """``stages.json``: seconds of every finished stage, and the wall time of every call (updated as it goes)."""

    def __init__(self, path: Path, machine: str):
        self.path = path
        self.data = json.loads(path.read_text()) if path.exists() else {"stages": {}, "calls": []}
        self.data["calls"].append({"started": time.strftime("%Y-%m-%d %H:%M:%S"), "seconds": 0.0, "finished": False,
                                   "machine": machine})
        self.t0 = time.perf_counter()
        self.save()

    def done(self, key: str, seconds: float, **info: Any) -> None:
        self.data["stages"][key] = {"seconds": round(seconds, 1), **info}
        self.save()

    def save(self, finished: bool = False, ended: bool = False) -> None:
        call = self.data["calls"][-1]
        call["seconds"] = round(time.perf_counter() - self.t0, 1)
        call["finished"] = finished
        call["ended"] = ended  # False after the call: killed (its time after the last finished stage is lost)
        load = round(os.getloadavg()[0], 1)  # other processes on the machine inflate the wall times
        call["load_min"] = min(call.get("load_min", load), load)
        call["load_max"] = max(call.get("load_max", load), load)
        atomic_write_text(self.path, json.dumps(self.data, indent=2) + "\n")


def _write_genotype(path: Path, g: Genotype) -> None:
    """Write ``g`` once; an existing file must describe the same network (else the options changed under it)."""
    if path.exists():
        old = Genotype.load(path)
        if old != g:
            raise SrnasError(f"{path}: exists and describes another network than the options give now "
                             f"(num_feat {old.num_feat} vs {g.num_feat}, ops {old.ops[0]} vs {g.ops[0]}); "
                             "use a new study name or delete the study folder")
        return
    g.save(path)


def _fitted(g: Genotype, arch: Arch, opt: StudyOptions, **info: Any) -> Genotype:
    from srnas.search.width import fit_width, with_shape

    s = arch.space
    try:
        g = fit_width(with_shape(g, num_block=s.num_block), s.params_budget, opt.scale)
    except SrnasError as e:
        raise SrnasError(f"spaces[{opt.spaces.index(s)}].params_budget ({arch.id}): {e}") from None
    study = {"arch": arch.id, "family": arch.family, "label": arch.label, **info}
    return Genotype.make(g.space, g.ops, g.num_feat, g.num_block, g.connections, scale=opt.scale,
                         primitives=g.primitives, info={**g.info, "study": study})


def baseline_genotypes(opt: StudyOptions, archs: list[Arch], root: Path) -> list[tuple[Path, Genotype]]:
    """The random and hand-designed genotypes, width-fitted, with their files (cheap: computed on every call and
    checked against the files written by an earlier one)."""
    from srnas.search.sample import sample_genotypes

    out = []
    for s in opt.spaces:
        mine = [a for a in archs if a.space is s]
        randoms = [a for a in mine if a.family == "random"]
        if randoms:
            primitives = None
            if s.search.methods:  # draw from the candidates the searches choose from
                primitives = search_options(opt, next(a for a in mine if a.family == "searched"),
                                            root)[0].network_g.primitives
            # uniform over the space at its default width: the width is refitted to the budget afterwards
            drawn = sample_genotypes(s.space, len(randoms), s.random.seed, None, opt.scale, num_block=s.num_block,
                                     primitives=primitives)
            out += [(root / "genotypes" / f"{a.id}.json", _fitted(g, a, opt, seed=s.random.seed))
                    for a, g in zip(randoms, drawn)]
        for a in mine:
            if a.family == "hand-designed":
                g = Genotype.load(resolve_path(a.source))
                if g.space != s.space:
                    raise SrnasError(f"{a.source}: a {g.space} genotype, listed under the {s.space} space")
                g = Genotype.make(g.space, g.ops, g.num_feat, g.num_block, g.connections, primitives=g.primitives,
                                  info={"method": "hand-designed", "name": a.label, "source": a.source})
                out.append((root / "genotypes" / f"{a.id}.json", _fitted(g, a, opt)))
    return out


def _images(opt: StudyOptions, sets: dict[str, Path]) -> dict[str, int]:
    """How many images of each set a run is benchmarked on (``bench.max_images`` caps a set)."""
    from srnas.data import list_images

    out = {}
    for name, root in sets.items():
        n = len(list_images(root / name / "HR"))
        out[name] = min(n, opt.bench.max_images.get(name, n))
    return out


def _bench_run(opt: StudyOptions, exp: Path, sets: dict[str, Path], images: dict[str, int],
               device: torch.device) -> dict:
    """Benchmark a finished run on the sets its report.json lacks (or has on another image count); returns the
    report."""
    from torch.utils.data import Subset

    from srnas.data import BenchmarkDataset
    from srnas.eval.bench import evaluate, write_report
    from srnas.train.model_file import load_model_file

    old = json.loads((exp / "report.json").read_text()) if (exp / "report.json").exists() else None
    todo = [n for n in sets if old is None or old["results"].get(n, {}).get("images") != images[n]]
    if not todo:
        return old
    model_file = exp / "models" / ("net_best.pth" if opt.bench.weights == "best" else "net_latest.pth")
    if not model_file.exists():
        model_file = exp / "models" / "net_latest.pth"
    model = load_model_file(model_file, scale=opt.scale).eval().to(device)
    results = dict(old["results"]) if old else {}
    with torch.inference_mode():
        for name in todo:
            ds = BenchmarkDataset(sets[name], name, opt.scale)
            results[name] = evaluate(model, Subset(ds, range(images[name])), opt.scale, device, ssim=opt.bench.ssim)
    results = {n: results[n] for n in [*opt.bench.datasets, *results] if n in results}  # option order
    return write_report(exp, model, opt.scale, results, model_file)


def _search(opt: StudyOptions, a: Arch, root: Path, stages: _Stages, progress: bool) -> None:
    """Run (or resume, or skip) the search of ``a``; write its width-fitted genotype."""
    from srnas.search.loop import run_search

    exp = root / "searches" / a.id
    if not (exp / "genotype.json").exists():
        s_opt, s_raw = search_options(opt, a, root)
        log.info("study: search %s (%d iterations)", a.id, s_opt.search.iters)
        t0 = time.perf_counter()
        r = run_search(s_opt, s_raw, f"{a.space.search.opt} + {list(a.method.set)}", resume=_resume(exp),
                       progress=progress)
        stages.done(f"search/{a.id}", time.perf_counter() - t0, search_seconds=round(r.seconds, 1),
                    iterations=r.steps)
    g = Genotype.load(exp / "genotype.json")
    _write_genotype(root / "genotypes" / f"{a.id}.json",
                    _fitted(g, a, opt, search_seconds=g.info.get("search_seconds"),
                            search_iterations=g.info.get("iterations")))


def _run(opt: StudyOptions, a: Arch, seed: int, root: Path, stages: _Stages, progress: bool,
         sets: dict[str, Path], images: dict[str, int], device: torch.device) -> None:
    """Train (or resume, or skip) ``a`` with ``seed``, then benchmark it on the sets its report lacks."""
    from srnas.train.loop import run_train

    run = f"{a.id}_seed{seed}"
    exp = root / "runs" / run
    if not (exp / "results.json").exists():
        t_opt, t_raw = train_options(opt, a.space, run, seed, root / "genotypes" / f"{a.id}.json", root)
        log.info("study: train %s (%d iterations)", run, t_opt.train.total_iter)
        t0 = time.perf_counter()
        r = run_train(t_opt, t_raw, opt.train.opt, resume=_resume(exp), progress=progress)
        stages.done(f"train/{run}", time.perf_counter() - t0, train_seconds=round(r.seconds, 1), iterations=r.steps)
    report = json.loads((exp / "report.json").read_text()) if (exp / "report.json").exists() else None
    if report is None or any(report["results"].get(n, {}).get("images") != k for n, k in images.items()):
        log.info("study: bench %s on %s", run, ", ".join(sets))
        t0 = time.perf_counter()
        _bench_run(opt, exp, sets, images, device)
        stages.done(f"bench/{run}", time.perf_counter() - t0)


def run_study(opt: StudyOptions, raw: dict, option_file: Optional[str] = None, command: Optional[str] = None,
              progress: bool = True, report_only: bool = False, publish: Optional[str | Path] = None
              ) -> dict[str, Any]:
    """Run every search, run and benchmark not done yet, then write the report; returns ``study.json``'s content.

    Args:
        opt: typed options (:func:`srnas.config.study.load_study_options`).
        raw: the merged option dict (copied to ``options.yml``).
        option_file: its path; command: the command line (both noted in the report).
        progress: tqdm bars for searches and runs.
        report_only: run nothing; write the report of what is done (and list what is left).
        publish: also write the report as ``<publish>/study_<name>.{md,json,png}`` (e.g. experiments/reports).

    Raises:
        SrnasError: bad options or data; Interrupted: SIGINT/SIGTERM (the running stage checkpointed first).
    """
    from srnas.runtime import select_device

    root = Path(opt.experiments_root) / opt.name
    gdir = root / "genotypes"
    archs = plan(opt)
    sets, missing = resolve_sets(opt)
    if not sets:
        raise SrnasError(f"bench.datasets: none of {list(opt.bench.datasets)} found under "
                         f"{[opt.bench.data_root, *opt.bench.fallback_roots]}")
    for name in missing:
        log.warning("benchmark set %s not found under %s: skipped", name, [opt.bench.data_root,
                                                                          *opt.bench.fallback_roots])
    if report_only:
        return write_study_report(opt, root, archs, missing, option_file, command, publish)

    # validate every search and the train recipe before running anything
    for a in archs:
        if a.family == "searched":
            search_options(opt, a, root)
    for s in opt.spaces:
        train_options(opt, s, "validate", opt.seeds[0], None, root)
    baselines = baseline_genotypes(opt, archs, root)
    gdir.mkdir(parents=True, exist_ok=True)
    header = f"# {command}\n" if command else ""
    atomic_write_text(root / "options.yml", header + yaml.safe_dump(raw, sort_keys=False))
    stages = _Stages(root / "stages.json", _machine(opt))
    finished = False
    try:
        for path, g in baselines:
            _write_genotype(path, g)
        device = select_device(opt.device or "auto")
        images = _images(opt, sets)
        for space in opt.spaces:  # space by space, so a stopped study has finished its first spaces
            mine = [a for a in archs if a.space is space]
            for a in mine:
                if a.family == "searched":
                    _search(opt, a, root, stages, progress)
            for seed in opt.seeds:  # seed-major: a stopped space has compared every architecture on the first seeds
                for a in mine:
                    _run(opt, a, seed, root, stages, progress, sets, images, device)
        finished = True
    finally:
        stages.save(finished=finished, ended=True)
    return write_study_report(opt, root, archs, missing, option_file, command, publish)


# ----------------------------------------------------------------------------------------------------------- report

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


def _load_runs(opt: StudyOptions, root: Path, archs: list[Arch]) -> None:
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


def _arch_row(a: Arch, gdir: Path, sets: list[str]) -> dict[str, Any]:
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
            gdir.parent / "searches" / a.id / "alphas.jsonl", g.primitives or SPACE_OPS[g.space])
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


def _comparisons(rows: list[dict], sets: list[str]) -> list[dict[str, Any]]:
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


def _fmt_psnr(p: Optional[dict]) -> str:
    if p is None:
        return "-"
    spread = f" ± {p['std']:.3f}" if p["std"] is not None else ""
    return f"{p['mean']:.3f}{spread}"


def _fmt_s(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:.0f}"


def _markdown(data: dict[str, Any], png: str = "study.png") -> str:
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
        lines += [f"## {sp['space']} space: budget {sp['params_budget']:,} params, {sp['num_block']} blocks", ""]
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
    if data["pending"]:
        lines += ["## Not done yet", "", f"{len(data['pending'])} stage(s) left: " +
                  ", ".join(data["pending"][:40]) + (" ..." if len(data["pending"]) > 40 else ""), ""]
    lines += [f"![PSNR vs Mult-Adds]({png})", ""]
    return "\n".join(lines)


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
    _load_runs(opt, root, archs)
    sets = [s for s in opt.bench.datasets if s not in missing_sets]
    gdir = root / "genotypes"
    stages = json.loads((root / "stages.json").read_text()) if (root / "stages.json").exists() else \
        {"stages": {}, "calls": []}
    pending = []  # in the order run_study does them
    for s in opt.spaces:
        mine = [a for a in archs if a.space is s]
        pending += [f"search {a.id}" for a in mine if a.family == "searched" and
                    not (root / "searches" / a.id / "genotype.json").exists()]
        pending += [f"run {a.id}_seed{k}" for k in opt.seeds for a in mine if k not in a.runs]
    iters = sorted({r["iterations"] for a in archs for r in a.runs.values() if r["iterations"] is not None})
    # the machine(s) the calls ran on, not the one writing the report (calls before this record: the last report's)
    machines = list(dict.fromkeys(c["machine"] for c in stages["calls"] if c.get("machine")))
    previous = root / "study.json"
    device = ", ".join(machines) if machines else \
        (json.loads(previous.read_text()).get("machine") if previous.exists() else None) or _machine(opt)
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
    all_rows = []
    for s in opt.spaces:
        rows = [_arch_row(a, gdir, sets) for a in archs if a.space is s]
        all_rows += rows
        data["spaces"].append({"space": s.space, "params_budget": s.params_budget, "num_block": s.num_block,
                               "search_opt": s.search.opt, "search_set": list(s.search.set),
                               "methods": {m.title: list(m.set) for m in s.search.methods},
                               "random_n": s.random.n, "random_seed": s.random.seed, "archs": rows})
        data["comparisons"] += _comparisons(rows, sets)
    outs = [(root, "study")]
    if publish is not None:
        Path(publish).mkdir(parents=True, exist_ok=True)
        outs.append((Path(publish), f"study_{opt.name}"))
    for folder, stem in outs:
        atomic_write_text(folder / f"{stem}.json", json.dumps(data, indent=2) + "\n")
        atomic_write_text(folder / f"{stem}.md", _markdown(data, f"{stem}.png"))
        _plot(data, folder / f"{stem}.png")
    return data


def _machine(opt: StudyOptions) -> str:
    """The machine the runs use, in words (the CUDA device, or the CPU model, cores and torch threads)."""
    from srnas.runtime import select_device

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
