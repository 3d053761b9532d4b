"""``srnas pipeline``: search -> derive -> retrain -> bench -> export in one command.

Every stage writes under ``<experiments_root>/<name>/`` and is skipped when its output exists; a stage that stopped
half-way resumes from its checkpoint. ``pipeline.json`` records each stage's wall time and results.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Optional

import torch

from srnas.config.pipeline import PipelineOptions
from srnas.errors import SrnasError
from srnas.utils.checkpoint import list_checkpoints
from srnas.utils.experiment import resolve_path
from srnas.utils.files import atomic_write_text

log = logging.getLogger("srnas")
EXPORT_SUFFIX = {"onnx": ".onnx", "torchscript": ".pt"}


def _stage_options(loader, stage, name: str, root: Path, extra: list[str], device: Optional[str]):
    sets = [*stage.set, f"name={name}", f"path.experiments_root={root}", *extra]
    if device is not None:
        sets.append(f"device={device}")
    return loader(resolve_path(stage.opt), sets)


def _resume(exp: Path) -> bool:
    return bool(list_checkpoints(exp / "checkpoints"))


def run_pipeline(opt: PipelineOptions, raw: dict, progress: bool = True) -> dict[str, Any]:
    """Run every stage that has not finished yet; returns the ``pipeline.json`` content."""
    from srnas.config.search import load_search_options
    from srnas.config.train import load_train_options

    root = Path(opt.experiments_root) / opt.name
    root.mkdir(parents=True, exist_ok=True)
    summary_path = root / "pipeline.json"
    summary: dict[str, Any] = json.loads(summary_path.read_text()) if summary_path.exists() else {"stages": {}}

    def done(stage: str, started: float, **info: Any) -> None:
        summary["stages"][stage] = {"seconds": round(time.perf_counter() - started, 1), **info}
        atomic_write_text(summary_path, json.dumps(summary, indent=2) + "\n")

    # validate both stage files before running anything
    s_opt, s_raw = _stage_options(load_search_options, opt.search, "search", root, [], opt.device)
    genotype = root / "search" / "genotype.json"
    t_extra = [f"network_g={{genotype: {genotype}}}"]
    if genotype.exists():
        t_opt, t_raw = _stage_options(load_train_options, opt.train, "train", root, t_extra, opt.device)

    if not genotype.exists():
        from srnas.search.loop import run_search

        t0 = time.perf_counter()
        log.info("pipeline: search (%s)", opt.search.opt)
        r = run_search(s_opt, s_raw, str(opt.search.opt), resume=_resume(root / "search"), progress=progress)
        done("search", t0, genotype=r.genotype.to_dict(), iterations=r.steps,
             decision=r.genotype.info.get("decision"))
        t_opt, t_raw = _stage_options(load_train_options, opt.train, "train", root, t_extra, opt.device)
    else:
        log.info("pipeline: search done (%s)", genotype)

    # the final weights, not net_best: the validation set is usually a benchmark set (Set5 in the quickstart), and the
    # checkpoint that scored best on it would be benchmarked on the data that chose it
    model_file = root / "train" / "models" / "net_latest.pth"
    if not (root / "train" / "results.json").exists():
        from srnas.train.loop import run_train

        t0 = time.perf_counter()
        log.info("pipeline: retrain (%s)", opt.train.opt)
        r = run_train(t_opt, t_raw, str(opt.train.opt), resume=_resume(root / "train"), progress=progress)
        done("train", t0, best_psnr=r.best_psnr, best_step=r.best_step, iterations=r.steps)
    else:
        log.info("pipeline: retrain done (%s)", root / "train")

    from srnas.eval.bench import bench, self_ensemble, write_report
    from srnas.train.model_file import load_model_file

    model = load_model_file(model_file).eval()
    scale = model.srnas_config["scale"]
    if not (root / "report.json").exists():
        t0 = time.perf_counter()
        sets, data_root = opt.bench.datasets, resolve_path(opt.bench.data_root)
        with torch.inference_mode():
            results = bench(model, scale, sets, data_root, ssim=True)
            x8 = bench(self_ensemble(model), scale, sets, data_root, ssim=True) if opt.bench.self_ensemble else None
        report = write_report(root, model, scale, results, model_file, results_x8=x8)
        extra = {"results_x8": x8} if x8 else {}
        done("bench", t0, results=results, **extra, params=report["params"], macs=report["macs"])

    from srnas.export import export_model
    from srnas.loader import load_model

    for fmt in opt.export.formats:
        out = root / "export" / f"model{EXPORT_SUFFIX[fmt]}"
        key = f"export_{fmt}"
        if out.exists() and key in summary["stages"]:
            continue
        t0 = time.perf_counter()
        r = export_model(model, out, fmt, force=True)
        info: dict[str, Any] = {"file": str(out), "bytes": r.size_bytes, "max_abs_diff": r.max_abs_diff}
        if opt.export.bench_exported:
            exported = load_model(out, scale=scale).model  # the file itself, told apart by content
            with torch.inference_mode():
                res = bench(exported, scale, opt.bench.datasets, resolve_path(opt.bench.data_root), ssim=False)
            ref = summary["stages"]["bench"]["results"]
            info["results"] = res
            info["psnr_diff_vs_pytorch"] = {k: res[k]["psnr"] - ref[k]["psnr"] for k in res}
            worst = max(abs(v) for v in info["psnr_diff_vs_pytorch"].values())
            if worst > 0.01:
                raise SrnasError(f"{out}: exported model's PSNR differs from PyTorch by {worst:.4f} dB (> 0.01)")
        done(key, t0, **info)
    from srnas.archs.genotype import Genotype
    from srnas.search.decision import verdict_line

    # every report of the pipeline carries the search's verdict (an undecided genotype is flagged, never just ranked)
    summary["search_decision"] = verdict_line(Genotype.load(genotype).info.get("decision"))
    summary["total_seconds"] = round(sum(s["seconds"] for s in summary["stages"].values()), 1)
    atomic_write_text(summary_path, json.dumps(summary, indent=2) + "\n")
    return summary
