"""``srnas search``: the bi-level search run (SA-DARTS Algorithm 1), with records, checkpoints and exact resume.

Outputs in ``experiments/<name>/``: ``options.yml`` (with the command line), ``genotype.json``, ``alphas.jsonl`` (one
record per evaluation: softmax alpha per position, betas, penalties, losses, validation PSNR, derived genotype),
PNG plots, ``checkpoints/iter_*.pth`` (atomic, the last K kept), ``search_*.log`` and TensorBoard events in ``tb/``.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch

from srnas.archs.genotype import Genotype
from srnas.config.search import SearchOptions
from srnas.data import BenchmarkDataset
from srnas.errors import SrnasError
from srnas.eval.bench import evaluate
from srnas.registry import SPACES
from srnas.runtime import (Interrupted, Precision, batches, build_optimizer, build_scheduler, init_distributed,
                           make_dataset, select_device, step_scheduler, stop_signals)
from srnas.search.decision import Criterion, assess, decision_of_records, record_rows, summary_lines, verdict_line
from srnas.search.derive import top2_margin
from srnas.search.hessian import EarlyStop, dominant_eigenvalue, hessian_wrt
from srnas.search.plots import plot_search
from srnas.search.rdarts import AdaRollback, ScheduledDropPath
from srnas.search.single_path import SinglePathSampling
from srnas.search.step import (LambdaAlignment, NonFiniteError, SdartsPerturbation, StepContext, alpha_step,
                               weight_step)
from srnas.losses import sr_loss
from srnas.utils.checkpoint import (find_latest, list_checkpoints, load_checkpoint, rng_state, save_checkpoint,
                                    seed_everything, set_rng_state)
from srnas.utils.experiment import add_file_logger, prepare_experiment, resolve_path
from srnas.utils.files import atomic_write_text

log = logging.getLogger("srnas")
STREAM_W, STREAM_ARCH, STREAM_HESSIAN = 0, 1, 2


@dataclass
class SearchResult:
    exp_dir: Path
    genotype: Genotype
    steps: int
    stopped_early: bool
    last_change_epoch: Optional[int]
    seconds: float


def build_supernet(opt: SearchOptions) -> torch.nn.Module:
    """The supernet of ``network_g`` at ``opt.scale``."""
    import srnas.search.spaces  # noqa: F401  (registers the spaces)

    g = opt.network_g
    kw: dict[str, Any] = {"upscale": opt.scale, "partial_k": g.partial_k, "per_block_alphas": g.per_block_alphas,
                          "seed": opt.manual_seed, "impl": g.impl}
    if g.recompute:
        kw["recompute"] = True
    for key in ("num_feat", "num_block", "primitives"):
        if getattr(g, key) is not None:
            kw[key] = tuple(getattr(g, key)) if key == "primitives" else getattr(g, key)
    try:
        net = SPACES.get(g.type)(**kw)
    except ValueError as e:
        raise SrnasError(f"network_g: {e}") from None
    if g.fixed_scale:
        from srnas.search.mixed_op import MixedOp

        for m in net.modules():
            if isinstance(m, MixedOp):
                m.fix_scale()
    return net


def _penalty_specs(opt: SearchOptions, net: torch.nn.Module) -> list[tuple[str, dict]]:
    specs = []
    for spec in opt.search.regularizers:
        settings = {k: v for k, v in spec.items() if k != "type"}
        if spec["type"] == "flops":
            settings["costs"] = net.candidate_costs()  # measured by fvcore, not typed in (SA-DARTS Eq. 18 c_i)
        if spec["type"] == "latency":  # a measured lookup table (ProxylessNAS / FBNet), srnas.latency
            from srnas.latency.penalty import latency_costs

            settings["costs"], settings["fixed_ms"] = latency_costs(settings.get("table", ""), net)
        specs.append((spec["type"], settings))
    return specs


def _logit_rows(net: torch.nn.Module) -> list[list[float]]:
    """The raw op-alpha rows, all blocks' rows stacked (the positions of the decision diagnostics)."""
    return [r for a in net.op_alphas() for r in a.detach().cpu().tolist()]


def position_labels(net: torch.nn.Module) -> list[str]:
    """One name per op-alpha row: ``position j`` (shared alphas) or ``block b position j`` (per-block alphas)."""
    tensors = net.op_alphas()
    if len(tensors) == 1:
        return [f"position {j + 1}" for j in range(tensors[0].shape[0])]
    return [f"block {b + 1} position {j + 1}" for b, a in enumerate(tensors) for j in range(a.shape[0])]


def _decision(net: torch.nn.Module, history: list, criterion: Criterion, init_std: float,
              grads: Optional[dict]) -> dict[str, Any]:
    return assess(history, net.primitives, init_std, criterion, logits=_logit_rows(net),
                  grads=grads, labels=position_labels(net))


def _record(net: torch.nn.Module, step: int, epoch: int, penalty_epoch: float, specs: list, num_epochs: int,
            losses: dict[str, float], val: Optional[dict], scale: int) -> dict[str, Any]:
    from srnas.search.regularizers import alpha_loss

    with torch.no_grad():
        _, terms = alpha_loss(net.op_alphas(), penalty_epoch, num_epochs, specs)
        rec = {
            "step": step, "epoch": epoch,
            "alphas": [a.softmax(-1).cpu().tolist() for a in net.op_alphas()],
            "raw_alpha_stats": {"mean": float(torch.cat([a.flatten() for a in net.op_alphas()]).mean()),
                                "std": float(torch.cat([a.flatten() for a in net.op_alphas()]).std())},
            "betas": [b.softmax(-1).cpu().tolist() for b in net.path_alphas()],
            "penalties": {k: float(v) for k, v in terms.items()},
            "losses": losses,
            "top2_margin": top2_margin(net.op_alphas()),
            "genotype": net.genotype(scale).to_dict(),
        }
    if val is not None:
        rec["val"] = val
    return rec


def _validate(net: torch.nn.Module, dataset: Optional[BenchmarkDataset], scale: int,
              device: torch.device) -> Optional[dict]:
    if dataset is None:
        return None
    net.eval()
    try:
        r = evaluate(net, dataset, scale, device, ssim=False)
    finally:
        net.train()
    return {"psnr": r["psnr"], "set": dataset.name}


def _hessian_eigenvalue(net: torch.nn.Module, batch: dict, hfen_weight: float) -> float:
    """R-DARTS: dominant eigenvalue of the Hessian of L_val w.r.t. all architecture parameters (exact, by double
    backprop: 27-48 entries here; method notes §7)."""
    params = list(net.arch_parameters())
    was = net.training
    net.eval()  # fixed channel samples / BN statistics while differentiating twice
    try:
        h = hessian_wrt(lambda: sr_loss(net(batch["lq"]), batch["gt"], hfen_weight), params)
    finally:
        net.train(was)
    return dominant_eigenvalue(h)


def run_search(opt: SearchOptions, raw: dict, option_file: Optional[str] = None, resume: bool = False,
               progress: bool = True) -> SearchResult:
    """Run (or resume) the search described by ``opt``; returns where the results went."""
    s = opt.search
    rank, world = init_distributed(opt.device)  # torchrun: each rank its data shard, gradients averaged
    device = select_device(opt.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", torch.cuda.current_device())
    seed_everything(opt.manual_seed)
    # build everything that can fail on bad input before touching the experiment folder
    w_data = make_dataset(opt.datasets.train, opt.scale, opt.manual_seed)
    a_data = make_dataset(opt.datasets.arch, opt.scale, opt.manual_seed)
    val_data = None
    if opt.datasets.val is not None:
        val_data = BenchmarkDataset(resolve_path(opt.datasets.val.root), opt.datasets.val.name, opt.scale)
    net = build_supernet(opt)
    from srnas.search.teacher import teacher_of

    teacher = teacher_of(opt, device)  # known-answer task: targets = teacher(LR); None without one
    for split in ("train", "arch"):  # ESA's stride-2 conv and 7x7/3 max-pool need at least 15 LR pixels
        if opt.network_g.type == "dlsr" and getattr(opt.datasets, split).lq_patch < 15:
            raise SrnasError(f"datasets.{split}.lq_patch: the dlsr space needs LR patches of at least 15 pixels "
                             f"(ESA), got {getattr(opt.datasets, split).lq_patch}")
    init = s.alpha_init
    if init.bias_op is not None and init.bias_op not in net.primitives:
        raise SrnasError(f"search.alpha_init.bias_op: {init.bias_op!r} is not a candidate of this supernet "
                         f"({', '.join(net.primitives)})")
    net.init_alphas(init.mode, init.std, init.offset, init.bias_op, init.bias,
                    generator=torch.Generator().manual_seed(opt.manual_seed))
    net.to(device).train()
    if world > 1 and device.type == "cuda":  # BN candidates: batch statistics over all ranks (CUDA only)
        net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)
    specs = _penalty_specs(opt, net)
    opt_w = build_optimizer(net.weight_parameters(), s.optim_w,
                            s.optim_w.weight_decay if s.optim_w.weight_decay is not None else 1e-8)
    opt_a = build_optimizer(net.arch_parameters(), s.optim_alpha, s.alpha_weight_decay)
    sched = build_scheduler(opt_w, s.scheduler, s.iters)
    sched_a = build_scheduler(opt_a, s.scheduler_alpha, s.iters - s.warmup_steps)  # counts alpha steps only
    sdarts_gen = torch.Generator().manual_seed(opt.manual_seed + 17)
    perturb = SdartsPerturbation(s.sdarts.mode, s.sdarts.eps_min, s.sdarts.eps_max, s.sdarts.steps, sdarts_gen) \
        if s.sdarts else None
    single = SinglePathSampling(sdarts_gen) if s.weight_paths != "mixture" else None  # exclusive with SDARTS
    align = LambdaAlignment(s.lambda_darts.weight, s.lambda_darts.eps0) if s.lambda_darts else None
    early = EarlyStop(s.hessian.window, s.hessian.delta, s.hessian.factor, s.hessian.start_epoch) \
        if s.hessian and s.hessian.early_stop else None
    prec_w, prec_a = Precision(s.precision, device), Precision(s.precision, device)
    drop = ScheduledDropPath(net, s.drop_path, torch.Generator().manual_seed(opt.manual_seed + 29)) \
        if s.drop_path > 0 else None  # R-DARTS(DP)
    ada = AdaRollback(s.hessian.mul_factor, s.hessian.max_weight_decay) if early is not None and s.hessian.ada \
        else None

    main = rank == 0  # only rank 0 writes
    exp = prepare_experiment(opt.path.experiments_root, opt.name, resume, raw, option_file) if main \
        else Path(opt.path.experiments_root) / opt.name
    if world > 1:
        torch.distributed.barrier()
    handler = add_file_logger(exp, "search") if main else None
    ckpt_dir = exp / "checkpoints"
    history: dict[str, Any] = {"genotypes": {}, "last_change_epoch": None, "last_genotype": None, "elapsed": 0.0}
    start = 0
    found = find_latest(ckpt_dir) if resume else None
    if opt.path.resume_state and not found:
        found = (Path(opt.path.resume_state), load_checkpoint(opt.path.resume_state))
    if resume and found is None:
        log.warning("%s: no checkpoint to resume from; starting from step 0", ckpt_dir)

    def restore(path: Path, state: dict[str, Any]) -> dict[str, Any]:
        """Load a search checkpoint into the live objects (resume, DARTS-ADA rollback); returns its history."""
        if state.get("kind") != "search":
            raise SrnasError(f"{path}: not a search checkpoint")
        try:
            net.load_state_dict(state["model"])
        except RuntimeError as e:
            raise SrnasError(f"{path}: checkpoint does not match this supernet ({str(e).splitlines()[0]})") from None
        opt_w.load_state_dict(state["opt_w"])
        opt_a.load_state_dict(state["opt_a"])
        sched.load_state_dict(state["sched"])
        if state.get("sched_a") is not None:
            sched_a.load_state_dict(state["sched_a"])
        set_rng_state(state["rng"])
        sdarts_gen.set_state(state["sdarts_gen"])
        prec_w.load_state_dict(state.get("scaler_w", {}))
        prec_a.load_state_dict(state.get("scaler_a", {}))
        if early is not None and state.get("early_stop"):
            early.load_state_dict(state["early_stop"])
        if drop is not None and state.get("drop_path_gen") is not None:
            drop.generator.set_state(state["drop_path_gen"])
        return state["history"]

    if found is not None:
        history = restore(*found)
        start = int(found[1]["step"])
        log.info("resumed from %s at step %d", found[0], start)

    def snapshot(step: int) -> dict[str, Any]:
        return {"kind": "search", "step": step, "model": net.state_dict(), "opt_w": opt_w.state_dict(),
                "opt_a": opt_a.state_dict(), "sched": sched.state_dict(), "sched_a": sched_a.state_dict(),
                "rng": rng_state(),
                "sdarts_gen": sdarts_gen.get_state(), "history": history,
                "scaler_w": prec_w.state_dict(), "scaler_a": prec_a.state_dict(),
                "early_stop": early.state_dict() if early else None, "world_size": world,
                "drop_path_gen": drop.generator.get_state() if drop else None,
                "srnas_version": 1}

    tb = None
    if opt.logger.use_tb_logger and main:
        from torch.utils.tensorboard import SummaryWriter
        tb = SummaryWriter(str(exp / "tb"))
    eval_every = s.record_every or (opt.datasets.val.every if opt.datasets.val is not None else s.epoch_length)
    records_path = exp / "alphas.jsonl"
    if main and start == 0 and records_path.exists():
        records_path.unlink()
    elif main and records_path.exists():  # drop records written after the checkpoint we resumed from
        _keep_records(records_path, start)
    criterion = Criterion(s.decision.window, s.decision.z, s.decision.min_ratio)
    init_std = s.alpha_init.std if s.alpha_init.mode != "zeros" else 0.0
    recent = _recent_rows(records_path, criterion.window) if main and start > 0 else []
    hess_batch = None
    if s.hessian:
        # the same whole batch on every rank, so every rank computes the same eigenvalue and early-stop decision
        hess_batch = next(batches(a_data, opt.datasets.arch, opt.manual_seed, STREAM_HESSIAN, 0, 1, device,
                                  shard=False))
        if teacher is not None:
            hess_batch = {"lq": hess_batch["lq"], "gt": teacher(hess_batch["lq"])}

    def streams(first: int) -> tuple[Any, Any]:
        """The weight-split and architecture-split batches of steps ``first..iters-1``."""
        its = (batches(w_data, opt.datasets.train, opt.manual_seed, STREAM_W, first, s.iters, device),
               batches(a_data, opt.datasets.arch, opt.manual_seed, STREAM_ARCH, first, s.iters, device))
        if teacher is None:
            return its
        from srnas.search.teacher import teach

        return teach(its[0], teacher), teach(its[1], teacher)

    w_iter, a_iter = streams(start)
    bar = None
    if progress and main:
        from tqdm import tqdm
        bar = tqdm(total=s.iters, initial=start, desc=f"search {opt.name}", unit="it", dynamic_ncols=True)
    t0 = time.perf_counter() - float(history.get("elapsed", 0.0))
    running: dict[str, list[float]] = {}
    stopped_early = False
    step = start
    steps = _Steps(start, s.iters)  # DARTS-ADA can move it back
    rollback_to = None
    try:
        with stop_signals() as signals:
            for step in steps:
                epoch = step // s.epoch_length + 1
                ctx = StepContext(step, epoch, s.num_epochs, s.penalty_epoch(step))
                if drop is not None:
                    drop.set_epoch(epoch, s.num_epochs)
                w_batch, a_batch = next(w_iter), next(a_iter)
                try:
                    def w_step() -> dict[str, float]:
                        hook = single if s.weight_paths == "single" or (
                            s.weight_paths == "single_warmup" and step < s.warmup_steps) else perturb
                        return weight_step(net, w_batch, opt_w, ctx, s.loss.hfen_weight, s.grad_clip, hook,
                                           align, prec_w)

                    def a_step(extra_batch: Optional[dict] = None) -> dict[str, float]:
                        if step < s.warmup_steps:  # warm-up: alpha frozen (Algorithm 1 / brief §1.5)
                            return {}
                        return alpha_step(net, a_batch, opt_a, specs, ctx, s.loss.hfen_weight, extra_batch=extra_batch,
                                          regularize_betas=s.regularize_betas, precision=prec_a)

                    if s.order == "darts":  # SA-DARTS Algorithm 1: alpha step, then w step
                        out = {**a_step(), **w_step()}
                    else:  # DLSR: w step, then alpha on L_train + L_val (brief §1.5)
                        out = w_step()
                        out.update(a_step(extra_batch=w_batch))
                except NonFiniteError as e:
                    if s.nonfinite == "stop":
                        raise SrnasError(f"{e}; the last good checkpoint is kept in {ckpt_dir}") from None
                    log.warning("%s: batch skipped", e)
                    opt_w.zero_grad(set_to_none=True)
                    opt_a.zero_grad(set_to_none=True)
                    out = {}
                step_scheduler(sched, skipped=not out)
                if step >= s.warmup_steps:  # the alpha schedule starts with the first alpha step
                    step_scheduler(sched_a, skipped="l_val" not in out)
                for k, v in out.items():
                    running.setdefault(k, []).append(v)
                done = step + 1
                if bar is not None:
                    bar.update(1)
                    if out:
                        bar.set_postfix({k: f"{v:.4f}" for k, v in out.items() if k in ("l_train", "l_val")})
                if world > 1:  # a signal seen by any rank stops all of them at the same step
                    flag = torch.tensor([float(signals["stop"])], device=device)
                    torch.distributed.all_reduce(flag)
                    signals["stop"] = bool(flag.item())
                if done % opt.logger.print_freq == 0 and main:
                    msg = ", ".join(f"{k} {sum(v) / len(v):.5f}" for k, v in running.items()
                                    if v and not k.startswith("grad_"))
                    log.info("iter %d/%d epoch %d lr %.3g: %s", done, s.iters, epoch, sched.get_last_lr()[0], msg)
                    if tb is not None:
                        for k, v in running.items():
                            if v:
                                tb.add_scalar(f"loss/{k}", sum(v) / len(v), done)
                        tb.add_scalar("lr", sched.get_last_lr()[0], done)
                if (done % eval_every == 0 or done == s.iters) and main:
                    means = {k: sum(v) / len(v) for k, v in running.items() if v}
                    running = {}
                    losses = {k: v for k, v in means.items() if not k.startswith("grad_")}
                    grads = {k[5:]: v for k, v in means.items() if k.startswith("grad_")} or None
                    rec = _record(net, done, epoch, s.penalty_epoch(step), specs, s.num_epochs, losses,
                                  _validate(net, val_data, opt.scale, device), opt.scale)
                    recent.append(record_rows(rec))  # the softmax rows just recorded
                    del recent[:-criterion.window]
                    rec["decision"] = _decision(net, recent, criterion, init_std, grads)
                    if rec["genotype"] != history["last_genotype"]:
                        history["last_genotype"] = rec["genotype"]
                        history["last_change_epoch"] = epoch  # the paper's "converged" cost (§5.4, test vector 20)
                    rec["last_change_epoch"] = history["last_change_epoch"]
                    with open(records_path, "a") as f:
                        f.write(json.dumps(rec) + "\n")
                    if tb is not None:
                        if "val" in rec:
                            tb.add_scalar("val/psnr", rec["val"]["psnr"], done)
                        for k, v in rec["penalties"].items():
                            tb.add_scalar(f"penalty/{k}", v, done)
                        tb.add_scalar("alpha/top2_margin", rec["top2_margin"], done)
                        _tb_decision(tb, rec["decision"], done)
                    val_txt = f", val {rec['val']['psnr']:.3f} dB" if "val" in rec else ""
                    d = rec["decision"]
                    log.info("eval at iter %d (epoch %d)%s: %s; decided %d/%d, top-1 weight %s x uniform%s", done,
                             epoch, val_txt, rec["genotype"]["ops"], d["num_decided"], d["num_positions"],
                             "/".join(f"{p['ratio']:.2f}" for p in d["positions"]), _grad_text(grads))
                if done % s.epoch_length == 0:
                    history["genotypes"][str(epoch)] = net.genotype(opt.scale).to_dict()
                    if s.hessian and epoch % s.hessian.every_epochs == 0:
                        eig = _hessian_eigenvalue(net, hess_batch, s.loss.hfen_weight)
                        history.setdefault("eigenvalues", []).append([epoch, eig])
                        log.info("epoch %d: dominant Hessian eigenvalue %.5g", epoch, eig)
                        if tb is not None:
                            tb.add_scalar("alpha/hessian_eigenvalue", eig, done)
                        if early is not None and early.record(epoch, eig):
                            if ada is None:
                                stopped_early = True
                                log.info("DARTS-ES: eigenvalue jump; stopping and deriving from epoch %d",
                                         early.stop_epoch)
                            elif ada.can_increase(opt_w):  # R-DARTS early_stop 3
                                rollback_to = early.stop_epoch
                            else:
                                log.info("DARTS-ADA: eigenvalue jump at the maximum weight decay; continuing")
                        if ada is not None and main:
                            ada.save(ckpt_dir, epoch, snapshot(done), early)
                history["elapsed"] = time.perf_counter() - t0
                if main and (done % opt.logger.save_checkpoint_freq == 0 or done == s.iters or stopped_early or
                             signals["stop"]):
                    save_checkpoint(ckpt_dir, done, snapshot(done), opt.logger.keep_checkpoints)
                if signals["stop"]:
                    raise Interrupted(f"interrupted at iteration {done}; checkpoint saved in {ckpt_dir}: "
                                      f"continue with --resume")
                if stopped_early:
                    break
                if rollback_to is not None:  # DARTS-ADA: back to the stop epoch with a larger w weight decay
                    if world > 1:
                        torch.distributed.barrier()
                    path = ada.path(ckpt_dir, rollback_to)
                    entry = {"epoch": epoch, "rollback_to": rollback_to, "eigenvalues": history.get("eigenvalues")}
                    ada_log, elapsed = history.get("ada", []) + [entry], history["elapsed"]
                    wd = ada.weight_decay(opt_w)
                    state = load_checkpoint(path)
                    history = restore(path, state)
                    history["ada"], history["elapsed"] = ada_log, elapsed
                    entry["weight_decay"] = ada.increase(opt_w, wd)
                    start = steps.next = int(state["step"])
                    w_iter, a_iter = streams(start)
                    running, rollback_to = {}, None
                    if main:  # drop the abandoned branch: records, checkpoints, snapshots after the stop epoch
                        _keep_records(records_path, start)
                        recent = _recent_rows(records_path, criterion.window)
                        for old in list_checkpoints(ckpt_dir):
                            if int(old.stem.split("_")[1]) > start:
                                old.unlink()
                        ada.drop_after(ckpt_dir, entry["rollback_to"])
                        save_checkpoint(ckpt_dir, start, snapshot(start), opt.logger.keep_checkpoints)
                    if bar is not None:
                        bar.n = start
                        bar.refresh()
                    log.info("DARTS-ADA: eigenvalue jump at epoch %d; rolled back to epoch %d with w weight decay "
                             "%.3g", entry["epoch"], entry["rollback_to"], entry["weight_decay"])
    finally:
        if bar is not None:
            bar.close()
        if tb is not None:
            tb.close()
        if handler is not None:
            logging.getLogger("srnas").removeHandler(handler)

    if stopped_early:
        genotype = Genotype.from_dict(history["genotypes"][str(early.stop_epoch)])
    else:
        genotype = net.genotype(opt.scale)
    seconds = time.perf_counter() - t0
    records = [json.loads(ln) for ln in records_path.read_text().splitlines() if ln] \
        if main and records_path.exists() else []
    # the verdict of the evaluation the genotype comes from (the last one, or the early-stop epoch's)
    decision = decision_of_records(records, net.primitives, init_std, criterion,
                                   early.stop_epoch * s.epoch_length if stopped_early else None)
    info = {"method": _method_name(opt), "space": opt.network_g.type, "iterations": step + 1,
            "search_seconds": round(seconds, 1), "last_change_epoch": history["last_change_epoch"],
            "stopped_early_at_epoch": early.stop_epoch if stopped_early else None,
            "alphas": [a.detach().cpu().tolist() for a in net.op_alphas()],
            "betas": [b.detach().cpu().tolist() for b in net.path_alphas()],
            "decision": decision}
    if s.hessian:  # R-DARTS: [epoch, dominant eigenvalue] of every evaluation, also in TensorBoard and the log
        info["hessian_eigenvalues"] = history.get("eigenvalues", [])
    genotype = Genotype.make(genotype.space, genotype.ops, genotype.num_feat, genotype.num_block,
                             genotype.connections, scale=opt.scale, primitives=net.primitives, info=info)
    if world > 1:
        torch.distributed.barrier()
    if not main:
        return SearchResult(exp, genotype, step + 1, stopped_early, history["last_change_epoch"], seconds)
    genotype.save(exp / "genotype.json")
    plot_search(records, net.primitives, exp)
    if decision:  # one line per position, then the verdict; undecided ones as warnings
        for p, line in zip(decision["positions"], summary_lines(decision)):
            (log.info if p["decided"] else log.warning)("%s", line)
        (log.info if decision["decided"] else log.warning)("%s", verdict_line(decision))
    else:
        log.warning("search decision: no evaluation recorded")
    log.info("genotype written to %s (%.1f s)", exp / "genotype.json", seconds)
    return SearchResult(exp, genotype, step + 1, stopped_early, history["last_change_epoch"], seconds)


def _recent_rows(path: Path, window: int) -> list:
    """softmax(alpha) rows of the last ``window`` records (the decision history, rebuilt on resume)."""
    if not path.exists():
        return []
    recs = [json.loads(ln) for ln in path.read_text().splitlines() if ln][-window:]
    return [record_rows(rec) for rec in recs]


def _grad_text(grads: Optional[dict]) -> str:
    if not grads or not grads.get("val"):
        return ""
    pens = [f"{k} {v / grads['val']:.3g}x" for k, v in grads.items() if k != "val"]
    return f"; alpha-gradient norm L_val {grads['val']:.3g}" + (f" (penalties: {', '.join(pens)})" if pens else "")


def _tb_decision(tb: Any, d: dict, step: int) -> None:
    tb.add_scalar("decision/decided_positions", d["num_decided"], step)
    for i, p in enumerate(d["positions"]):
        for key in ("ratio", "margin", "entropy", "gap", "noise", "alpha_mean", "alpha_std"):
            if key in p:
                tb.add_scalar(f"decision/{key}/{i + 1}", p[key], step)
    for k, v in (d["grads"] or {}).items():
        tb.add_scalar(f"alpha_grad/{k}", v, step)


def _keep_records(path: Path, step: int) -> None:
    """Drop the ``alphas.jsonl`` records written after ``step`` (resume, DARTS-ADA rollback)."""
    kept = [ln for ln in path.read_text().splitlines() if ln and json.loads(ln)["step"] <= step]
    atomic_write_text(path, "".join(k + "\n" for k in kept))


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
