"""Random search at the cost of one search (Li and Talwalkar, "Random search and reproducibility for NAS", 2019):
random genotypes, each fitted to the budget like every other network of the study, are trained briefly one after
the other (the study's recipe, ``random_search.iters`` iterations, on the search's weight split) until the wall time
of one search is spent (counted in CPU seconds of the study's process, so other processes sharing the cores do
not shrink it; the searches' own times are their wall times, each run on its own core); each is ranked by Y PSNR on
a held-out split that is not a reported benchmark set (the search's architecture split, whole images); the best is
retrained like the searched networks.

Layout under ``<study>/random_search/<arch>/``: ``budget.json`` (the wall-time budget, fixed when the search starts),
``candidates.jsonl`` (one line per finished candidate: genotype, params, held-out PSNR, seconds), ``cand<i>/``
(its training run), ``winner.json``. A stopped random search continues after its last finished candidate (the time
of an unfinished one is not counted).
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch
from torch.utils.data import Dataset

from srnas.archs.genotype import Genotype
from srnas.config.study import RandomSearch, StudyOptions
from srnas.errors import SrnasError
from srnas.study.plan import Arch, fitted_draws, primitives_of, train_options
from srnas.utils.experiment import resolve_path
from srnas.utils.files import atomic_write_text


class HeldOut(Dataset):
    """Whole images ``index_range`` of an HR folder as LR/HR pairs (LR: MATLAB-exact bicubic), items as
    :class:`srnas.data.BenchmarkDataset`'s: ``dict(lq, gt, name)`` uint8 RGB HWC."""

    def __init__(self, hr_dir: str | Path, index_range: tuple[int, int], scale: int):
        from srnas.data.folders import select_range
        from srnas.data.imageio import list_images

        self.paths = select_range(list_images(resolve_path(hr_dir)), index_range, f"random_search: {hr_dir}")
        self.scale = scale
        self.items: dict[int, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> dict[str, Any]:
        from srnas.data.imageio import read_image
        from srnas.data.resize import downscale
        from srnas.data.transforms import mod_crop

        if i not in self.items:
            hr = mod_crop(read_image(self.paths[i]), self.scale)
            self.items[i] = {"lq": downscale(hr, self.scale), "gt": np.ascontiguousarray(hr),
                             "name": self.paths[i].stem}
        return self.items[i]


def candidate_sets(rs: RandomSearch, space: str) -> list[str]:
    """The overrides of a candidate's training: brief, on the weight split, no validation, one checkpoint."""
    return [f"train.total_iter={rs.iters}", f"datasets.train.hr_dir={rs.hr_dir}",
            f"datasets.train.index_range=[{rs.train_range[0]}, {rs.train_range[1]}]", "datasets.val=null",
            f"logger.save_checkpoint_freq={rs.iters}", "logger.use_tb_logger=false"]


def _read_lines(path: Path) -> list[dict]:
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()] if path.exists() else []


def run_random_search(opt: StudyOptions, arch: Arch, root: Path, budget_seconds: float, device: torch.device,
                      progress: bool = False, log: Optional[Callable[[str], None]] = None) -> dict[str, Any]:
    """Run (or continue) the random search of ``arch`` (family ``random search``); returns ``winner.json``'s content:
    ``{budget_seconds, spent_seconds, candidates, winner (draw index), val_psnr, genotype (its JSON)}``."""
    from srnas.eval.bench import evaluate
    from srnas.train.loop import run_train
    from srnas.train.model_file import load_model_file

    rs, space = arch.space.random_search, arch.space
    folder = root / "random_search" / arch.id
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / "winner.json").exists():
        return json.loads((folder / "winner.json").read_text())
    budget_file = folder / "budget.json"
    if not budget_file.exists():  # fixed when the search starts, so a continued search keeps its budget
        atomic_write_text(budget_file, json.dumps({"budget_seconds": round(budget_seconds, 1)}) + "\n")
    budget = json.loads(budget_file.read_text())["budget_seconds"]
    lines = folder / "candidates.jsonl"
    done = _read_lines(lines)
    spent = sum(c["seconds"] for c in done)
    heldout = HeldOut(rs.hr_dir, rs.val_range, opt.scale)
    draws = fitted_draws(opt, arch, 10_000 + arch.search_seed, primitives_of(opt, space, root))
    for n, (draw, g) in enumerate(draws):
        if n < len(done):
            continue
        if done and (spent >= budget or n >= rs.max_candidates):  # at least one candidate
            break
        t0, c0 = time.perf_counter(), time.process_time()
        gpath = folder / f"cand{n}.json"
        g.save(gpath)
        t_opt, t_raw = train_options(opt, space, f"cand{n}", arch.search_seed, gpath, root,
                                     extra=candidate_sets(rs, space.space), folder=f"random_search/{arch.id}")
        exp = folder / f"cand{n}"
        from srnas.utils.stages import can_resume

        run_train(t_opt, t_raw, str(opt.train.opt), resume=can_resume(exp), progress=progress)
        model = load_model_file(exp / "models" / "net_latest.pth", scale=opt.scale).eval().to(device)
        with torch.inference_mode():
            psnr = evaluate(model, heldout, opt.scale, device, ssim=False)["psnr"]
        seconds = time.process_time() - c0  # CPU seconds: other processes sharing the cores do not shrink the budget
        spent += seconds
        rec = {"candidate": n, "draw": draw, "ops": [list(r) for r in g.ops], "num_feat": g.num_feat,
               "num_block": g.num_block, "params": g.info["params"], "val_psnr": psnr, "seconds": round(seconds, 1),
               "wall_seconds": round(time.perf_counter() - t0, 1)}
        with lines.open("a") as f:
            f.write(json.dumps(rec) + "\n")
        done.append(rec)
        if log:
            log(f"random search {arch.id}: candidate {n} {rec['ops'][0]} {psnr:.3f} dB ({spent:.0f}/{budget:.0f} s)")
    ok = [c for c in done if math.isfinite(c["val_psnr"])]
    if not ok:
        raise SrnasError(f"random search {arch.id}: no candidate with a finite held-out PSNR ({len(done)} tried)")
    best = max(ok, key=lambda c: c["val_psnr"])
    winner = Genotype.load(folder / f"cand{best['candidate']}.json")
    out = {"budget_seconds": budget, "spent_seconds": round(spent, 1), "candidates": len(done),
           "iters_per_candidate": rs.iters, "heldout": f"{rs.hr_dir} images {rs.val_range[0]}-{rs.val_range[1]}",
           "winner": best["candidate"], "val_psnr": best["val_psnr"], "genotype": json.loads(winner.to_json())}
    atomic_write_text(folder / "winner.json", json.dumps(out, indent=2) + "\n")
    return out
