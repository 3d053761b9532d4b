"""``srnas search``: the bi-level search run (SA-DARTS Algorithm 1), with records, checkpoints and exact resume.

Outputs in ``experiments/<name>/``: ``options.yml`` (with the command line), ``genotype.json``, ``alphas.jsonl`` (one
record per evaluation: softmax alpha per position, betas, penalties, losses, validation PSNR, derived genotype),
PNG plots, ``checkpoints/iter_*.pth`` (atomic, the last K kept), ``search_*.log`` and TensorBoard events in ``tb/``.
The iteration is :class:`srnas.search.bilevel.BilevelSearch`, the records :mod:`srnas.search.records`, R-DARTS
:class:`srnas.search.rdarts.HessianMonitor`, and the folder, progress, signals and checkpoints :mod:`srnas.harness`.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch

from srnas.config.search import SearchOptions
from srnas.errors import SrnasError
from srnas.harness import find_checkpoint, open_run, restore, snapshot
from srnas.search.bilevel import BilevelSearch
from srnas.archs.genotype import Genotype, verdict_line
from srnas.search.decision import Criterion, decision_of_records, summary_lines
from srnas.search.plots import plot_search
from srnas.search.rdarts import HessianMonitor
from srnas.search.records import Recorder, validate
from srnas.utils.checkpoint import seed_everything
from srnas.utils.device import RunEnv, start_env

log = logging.getLogger("srnas")


@dataclass
class SearchResult:
    exp_dir: Path
    genotype: Genotype
    steps: int
    stopped_early: bool
    last_change_epoch: Optional[int]
    seconds: float


def run_search(opt: SearchOptions, raw: dict, option_file: Optional[str] = None, resume: bool = False,
               progress: bool = True) -> SearchResult:
    """Run (or resume) the search described by ``opt``; returns where the results went."""
    s = opt.search
    env = start_env(opt.device)  # torchrun: each rank its data shard, gradients averaged
    seed_everything(opt.manual_seed)
    search = BilevelSearch(opt, env, option_file)  # all that can fail on bad input, before the experiment folder
    rd = HessianMonitor(search.net, s.hessian, search.hessian_batch(), s.loss.hfen_weight) if s.hessian else None
    objects = {**search.objects(), "early_stop": rd.early if rd else None}
    history: dict[str, Any] = {"genotypes": {}, "last_change_epoch": None, "last_genotype": None, "elapsed": 0.0}
    found = find_checkpoint(opt, resume)
    if found is not None:
        history = restore(*found, "search", objects, "this supernet")
    start = step = int(found[1]["step"]) if found is not None else 0
    eval_every = s.record_every or (opt.datasets.val.every if opt.datasets.val is not None else s.epoch_length)
    init_std = s.alpha_init.std if s.alpha_init.mode != "zeros" else 0.0
    criterion = Criterion(s.decision.window, s.decision.z, s.decision.min_ratio)

    def snap(at: int, hist: dict) -> dict[str, Any]:
        return snapshot("search", at, objects, hist, world_size=env.world)

    with open_run(env, opt, "search", raw, option_file, resume, s.iters, found, history["elapsed"], "alphas.jsonl",
                  progress) as run:
        recorder = Recorder(run, criterion, init_std, start)
        w_iter, a_iter = search.streams(start)
        steps = _Steps(start, s.iters)  # DARTS-ADA can move it back
        for step in steps:
            epoch, done = step // s.epoch_length + 1, step + 1
            out = search.step(step, next(w_iter), next(a_iter))
            run.tick(out, postfix=("l_train", "l_val"))
            run.log_losses(done, search.sched.get_last_lr()[0], "loss/", "lr", where=f" epoch {epoch}")
            if (done % eval_every == 0 or done == s.iters) and env.main:
                val = validate(search.net, search.val_data, opt.scale, env.device)
                recorder.evaluate(search.net, done, epoch, s.penalty_epoch(step), search.specs, s.num_epochs, val,
                                  opt.scale, history)
            if done % s.epoch_length == 0:
                history["genotypes"][str(epoch)] = search.net.genotype(opt.scale).to_dict()
                if rd is not None:
                    rd.epoch_end(epoch, done, history, run, snap, search.opt_w)
            history["elapsed"] = run.elapsed
            run.checkpoint(done, lambda: snap(done, history), force=rd is not None and rd.stopped)
            if rd is not None and rd.stopped:
                break
            if rd is not None and rd.rollback_to is not None:
                steps.next, history = rd.rollback(epoch, run, objects, history, snap, search.opt_w)
                w_iter, a_iter = search.streams(steps.next)
                if env.main:
                    recorder.rewind()
        seconds = run.elapsed
    stop_epoch = rd.early.stop_epoch if rd is not None and rd.stopped else None
    return _finish(opt, env, search.net, run.records, history, step + 1, stop_epoch, init_std, criterion, seconds)


def _finish(opt: SearchOptions, env: RunEnv, net: torch.nn.Module, records_path: Path, history: dict,
            iterations: int, stop_epoch: Optional[int], init_std: float, criterion: Criterion,
            seconds: float) -> SearchResult:
    """The derived genotype (the last alpha's, or DARTS-ES's stop epoch's) with the search's info, written with its
    plots and the decision lines (rank 0)."""
    s = opt.search
    genotype = Genotype.from_dict(history["genotypes"][str(stop_epoch)]) if stop_epoch is not None \
        else net.genotype(opt.scale)
    records = [json.loads(ln) for ln in records_path.read_text().splitlines() if ln] \
        if env.main and records_path.exists() else []
    # the verdict of the evaluation the genotype comes from (the last one, or the early-stop epoch's)
    decision = decision_of_records(records, net.primitives, init_std, criterion,
                                   stop_epoch * s.epoch_length if stop_epoch is not None else None)
    info = {"method": _method_name(opt), "space": opt.network_g.type, "iterations": iterations,
            "search_seconds": round(seconds, 1), "last_change_epoch": history["last_change_epoch"],
            "stopped_early_at_epoch": stop_epoch,
            "alphas": [a.detach().cpu().tolist() for a in net.op_alphas()],
            "betas": [b.detach().cpu().tolist() for b in net.path_alphas()],
            "decision": decision}
    if s.hessian:  # R-DARTS: [epoch, dominant eigenvalue] of every evaluation, also in TensorBoard and the log
        info["hessian_eigenvalues"] = history.get("eigenvalues", [])
    genotype = Genotype.make(genotype.space, genotype.ops, genotype.num_feat, genotype.num_block,
                             genotype.connections, scale=opt.scale, primitives=net.primitives, info=info)
    result = SearchResult(records_path.parent, genotype, iterations, stop_epoch is not None,
                          history["last_change_epoch"], seconds)
    env.barrier()
    if not env.main:
        return result
    genotype.save(result.exp_dir / "genotype.json")
    plot_search(records, net.primitives, result.exp_dir)
    if decision:  # one line per position, then the verdict; undecided ones as warnings
        for p, line in zip(decision["positions"], summary_lines(decision)):
            (log.info if p["decided"] else log.warning)("%s", line)
        (log.info if decision["decided"] else log.warning)("%s", verdict_line(decision))
    else:
        log.warning("search decision: no evaluation recorded")
    log.info("genotype written to %s (%.1f s)", result.exp_dir / "genotype.json", seconds)
    return result


class _Steps:
    """``range(start, stop)`` whose next value can be moved (DARTS-ADA rollback)."""

    def __init__(self, start: int, stop: int):
        self.next, self.stop = start, stop

    def __iter__(self) -> "_Steps":
        return self

    def __next__(self) -> int:
        if self.next >= self.stop:
            raise StopIteration
        self.next += 1
        return self.next - 1


def _method_name(opt: SearchOptions) -> str:
    regs = [r["type"] for r in opt.search.regularizers]
    base = "SAC" if opt.network_g.partial_k > 1 and "sa" in regs else ("SA" if "sa" in regs else "DARTS")
    extra = [r for r in regs if r != "sa"]
    if opt.search.sdarts:
        extra.append(f"SDARTS-{opt.search.sdarts.mode.upper()}")
    if opt.search.lambda_darts:
        extra.append("Lambda-DARTS")
    if opt.search.hessian and opt.search.hessian.early_stop:
        extra.append("DARTS-ADA" if opt.search.hessian.ada else "DARTS-ES")
    if opt.search.drop_path > 0:
        extra.append("DP")
    if opt.network_g.partial_k > 1 and "sa" not in regs:
        extra.append(f"PC(K={opt.network_g.partial_k})")
    return "+".join([base] + extra)
