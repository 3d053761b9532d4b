"""``srnas pipeline``: search -> derive -> retrain -> bench -> export in one command.

Every stage writes under ``<experiments_root>/<name>/`` and is skipped when its output exists; a stage that stopped
half-way resumes from its checkpoint (:func:`srnas.utils.stages.run_stage`). ``pipeline.json`` records each stage's
wall time and results.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

import torch

from srnas.config.patch import load_patched
from srnas.config.pipeline import PipelineOptions
from srnas.errors import SrnasError
from srnas.utils.experiment import resolve_path
from srnas.utils.stages import StageRecord, run_stage

log = logging.getLogger("srnas")
EXPORT_SUFFIX = {"onnx": ".onnx", "torchscript": ".pt"}


def run_pipeline(opt: PipelineOptions, raw: dict, progress: bool = True) -> dict[str, Any]:
    """Run every stage that has not finished yet; returns the ``pipeline.json`` content."""
    from srnas.archs.factory import build_network
    from srnas.config.search import SearchOptions
    from srnas.config.train import TrainOptions
    from srnas.search.spaces import check_search

    root = Path(opt.experiments_root) / opt.name
    root.mkdir(parents=True, exist_ok=True)
    record = StageRecord(root / "pipeline.json")
    genotype = root / "search" / "genotype.json"

    def train_options():
        t_opt, t_raw = load_patched(TrainOptions, opt.train.opt, opt.train.set, name="train", experiments_root=root,
                                    device=opt.device, network_g={"genotype": str(genotype)})
        build_network(t_opt.network_g, t_opt.scale, lq_patch=t_opt.datasets.train.lq_patch, source=str(opt.train.opt))
        return t_opt, t_raw

    # validate both stage files before running anything (the train file needs the genotype)
    s_opt, s_raw = load_patched(SearchOptions, opt.search.opt, opt.search.set, name="search", experiments_root=root,
                                device=opt.device)
    check_search(s_opt, str(opt.search.opt))
    if genotype.exists():
        train_options()

    def search(resume: bool) -> dict:
        from srnas.search.loop import run_search

        log.info("pipeline: search (%s)", opt.search.opt)
        r = run_search(s_opt, s_raw, str(opt.search.opt), resume=resume, progress=progress)
        return dict(genotype=r.genotype.to_dict(), iterations=r.steps, decision=r.genotype.info.get("decision"))

    if not run_stage(record, "search", genotype, search, exp=root / "search"):
        log.info("pipeline: search done (%s)", genotype)

    def train(resume: bool) -> dict:
        from srnas.train.loop import run_train

        t_opt, t_raw = train_options()
        log.info("pipeline: retrain (%s)", opt.train.opt)
        r = run_train(t_opt, t_raw, str(opt.train.opt), resume=resume, progress=progress)
        return dict(best_psnr=r.best_psnr, best_step=r.best_step, iterations=r.steps)

    if not run_stage(record, "train", root / "train" / "results.json", train, exp=root / "train"):
        log.info("pipeline: retrain done (%s)", root / "train")

    from srnas.eval.bench import bench, self_ensemble, write_report
    from srnas.train.model_file import load_model_file

    # the final weights, not net_best: the validation set is usually a benchmark set (Set5 in the quickstart), and the
    # checkpoint that scored best on it would be benchmarked on the data that chose it
    model_file = root / "train" / "models" / "net_latest.pth"
    model = load_model_file(model_file).eval()
    scale = model.srnas_config["scale"]
    sets, data_root = opt.bench.datasets, resolve_path(opt.bench.data_root)

    def bench_stage(resume: bool) -> dict:
        with torch.inference_mode():
            results = bench(model, scale, sets, data_root, ssim=True)
            x8 = bench(self_ensemble(model), scale, sets, data_root, ssim=True) if opt.bench.self_ensemble else None
        report = write_report(root, model, scale, results, model_file, results_x8=x8)
        extra = {"results_x8": x8} if x8 else {}
        return dict(results=results, **extra, params=report["params"], macs=report["macs"])

    run_stage(record, "bench", root / "report.json", bench_stage)

    for fmt in opt.export.formats:
        out = root / "export" / f"model{EXPORT_SUFFIX[fmt]}"
        key = f"export_{fmt}"
        run_stage(record, key, out.exists() and key in record.stages,
                  lambda resume, out=out, fmt=fmt: _export(opt, model, scale, out, fmt, record.stages.get("bench")))

    from srnas.archs.genotype import Genotype
    from srnas.archs.genotype import verdict_line

    # every report of the pipeline carries the search's verdict (an undecided genotype is flagged, never just ranked)
    record.data["search_decision"] = verdict_line(Genotype.load(genotype).info.get("decision"))
    record.data["total_seconds"] = round(sum(s["seconds"] for s in record.stages.values()), 1)
    record.save()
    return record.data


def _export(opt: PipelineOptions, model: torch.nn.Module, scale: int, out: Path, fmt: str,
            ref: Optional[dict]) -> dict:
    """Export ``model`` to ``out``; with ``export.bench_exported``, benchmark the file too (its PSNR must match
    PyTorch's, the ``bench`` stage's ``ref``, within 0.01 dB). Returns the stage's info."""
    from srnas.eval.bench import bench
    from srnas.export import export_model
    from srnas.loader import load_model

    r = export_model(model, out, fmt, force=True)
    info: dict[str, Any] = {"file": str(out), "bytes": r.size_bytes, "max_abs_diff": r.max_abs_diff}
    if opt.export.bench_exported:
        exported = load_model(out, scale=scale).model  # the file itself, told apart by content
        with torch.inference_mode():
            res = bench(exported, scale, opt.bench.datasets, resolve_path(opt.bench.data_root), ssim=False)
        info["results"] = res
        info["psnr_diff_vs_pytorch"] = {k: res[k]["psnr"] - ref["results"][k]["psnr"] for k in res}
        worst = max(abs(v) for v in info["psnr_diff_vs_pytorch"].values())
        if worst > 0.01:
            raise SrnasError(f"{out}: exported model's PSNR differs from PyTorch by {worst:.4f} dB (> 0.01)")
    return info
