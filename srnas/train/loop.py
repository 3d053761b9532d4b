"""``srnas train``: retrain a derived (or hand-designed) network, with validation, best-model keeping and exact resume.

Outputs in ``<experiments_root>/<name>/``: ``options.yml`` (with the command line), ``models/net_best.pth`` (best
validation PSNR) and ``models/net_latest.pth`` (model files: weights + ``srnas_config``, see
:mod:`srnas.train.model_file`), ``checkpoints/iter_*.pth`` (model, optimizer, scheduler, EMA, RNG, history; atomic,
the last K kept), ``val.jsonl`` (one record per validation), ``results.json``, ``train_*.log`` and TensorBoard events
in ``tb/``. Batches are a pure function of ``(seed, step)``, so a resumed run is bit-identical to an uninterrupted one
(same device and thread count).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import nn

from srnas.config.train import TrainOptions, build_network
from srnas.data import BenchmarkDataset
from srnas.errors import SrnasError
from srnas.eval.bench import evaluate
from srnas.losses import sr_loss
from srnas.runtime import (Interrupted, Precision, batches, build_optimizer, build_scheduler, init_distributed,
                           make_dataset, select_device, step_scheduler, stop_signals)
from srnas.train.ema import ModelEma
from srnas.train.model_file import load_pretrained, save_model_file
from srnas.utils.checkpoint import find_latest, load_checkpoint, rng_state, save_checkpoint, seed_everything, \
    set_rng_state
from srnas.utils.experiment import add_file_logger, prepare_experiment, resolve_path
from srnas.utils.files import atomic_write_text

log = logging.getLogger("srnas")
STREAM_TRAIN = 0


@dataclass
class TrainResult:
    exp_dir: Path
    steps: int
    best_psnr: Optional[float]
    best_step: Optional[int]
    final_psnr: Optional[float]
    seconds: float
    params: int


class _NonFinite(SrnasError):
    """A NaN/Inf loss or gradient norm (handled by ``train.nonfinite``)."""


def _validate(model: nn.Module, dataset: BenchmarkDataset, scale: int, device: torch.device) -> dict[str, Any]:
    """PSNR/SSIM (Y, border = scale) of ``model`` on the validation set; its train/eval mode is restored."""
    was = model.training
    model.eval()
    try:
        with torch.inference_mode():
            r = evaluate(model, dataset, scale, device, ssim=True)
    finally:
        model.train(was)
    return {"psnr": r["psnr"], "ssim": r["ssim"], "set": dataset.name}


def _train_step(model: nn.Module, batch: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer,
                hfen_weight: float, grad_clip: Optional[float], step: int,
                precision: Optional[Precision] = None) -> dict[str, float]:
    """One step of ``L1 (+ hfen_weight * HFEN)``; raises ``_NonFinite`` before the update when the loss or the
    gradient norm is NaN/Inf (the weights are then untouched). Under torchrun the gradients are averaged over the
    ranks first, so every rank takes the same decision."""
    precision = precision or Precision("fp32", batch["lq"].device)
    optimizer.zero_grad(set_to_none=True)
    with precision.autocast():
        sr = model(batch["lq"])
    loss = sr_loss(sr.float(), batch["gt"], hfen_weight)
    if not torch.isfinite(loss):
        raise _NonFinite(f"step {step}: training loss is not finite ({loss.item()})")
    params = list(model.parameters())
    precision.backward(loss, params)
    # DLSR retraining clips the gradient norm at 50 (brief §1.6); the norm is checked either way
    norm = precision.unscale_and_clip(optimizer, params, grad_clip, norm=True)
    if not torch.isfinite(norm) and precision.scaler is None:  # fp16: the GradScaler skips the step, lowers the scale
        raise _NonFinite(f"step {step}: gradient norm is not finite ({norm.item()})")
    precision.apply(optimizer)
    return {"l_pix": loss.item(), "grad_norm": norm.item()}


def run_train(opt: TrainOptions, raw: dict, option_file: Optional[str] = None, resume: bool = False,
              progress: bool = True, callback: Optional[Callable[[int, dict[str, float]], None]] = None
              ) -> TrainResult:
    """Train (or, with ``resume``, continue) the network of ``opt``; returns where the results went.

    Args:
        opt: typed options (:func:`srnas.config.train.load_train_options`).
        raw: the merged option dict, copied into the experiment folder.
        option_file: its path, noted in that copy.
        resume: continue ``<experiments_root>/<name>`` from its newest readable checkpoint.
        progress: show a tqdm bar.
        callback: called as ``callback(iteration, losses)`` after every iteration (1-based), before checkpointing.

    Raises:
        SrnasError: bad data or weights, a non-finite loss with ``nonfinite: stop``.
        Interrupted: SIGINT/SIGTERM (a checkpoint was written first).
    """
    t = opt.train
    rank, world = init_distributed(opt.device)  # torchrun: each rank its shard of the batch, gradients averaged
    device = select_device(opt.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", torch.cuda.current_device())
    precision = Precision(t.precision, device)
    seed_everything(opt.manual_seed)
    # everything that can fail on bad input comes before the experiment folder is touched
    data = make_dataset(opt.datasets.train, opt.scale, opt.manual_seed)
    val_data = None
    if opt.datasets.val is not None:
        val_data = BenchmarkDataset(resolve_path(opt.datasets.val.root), opt.datasets.val.name, opt.scale)
    model = build_network(opt.network_g, opt.scale)
    found = None
    exp_dir = Path(opt.path.experiments_root) / opt.name
    if resume:
        found = find_latest(exp_dir / "checkpoints")
    if found is None and opt.path.resume_state:
        found = (Path(opt.path.resume_state), load_checkpoint(opt.path.resume_state))
    if found is None and opt.path.pretrain_network_g:
        p = opt.path
        load_pretrained(model, resolve_path(p.pretrain_network_g), p.strict_load_g, p.pretrain_skip_upsampler,
                        p.param_key_g)
        log.info("initialized from %s", p.pretrain_network_g)
    model.to(device).train()
    if t.channels_last:
        model.to(memory_format=torch.channels_last)
    if world > 1 and device.type == "cuda":  # BatchNorm (IMDN-space _bn ops): statistics over all ranks
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    params = sum(p.numel() for p in model.parameters())
    optimizer = build_optimizer(list(model.parameters()), t.optim_g, t.optim_g.weight_decay or 0.0)
    sched = build_scheduler(optimizer, t.scheduler, t.total_iter)
    ema = ModelEma(model, t.ema_decay) if t.ema_decay is not None else None
    history: dict[str, Any] = {"best_psnr": None, "best_step": None, "last_val": None, "skipped": 0, "elapsed": 0.0}
    start = 0
    if found is not None:
        path, state = found
        if state.get("kind") != "train":
            raise SrnasError(f"{path}: not a training checkpoint")
        try:
            model.load_state_dict(state["model"])
            if ema is not None:
                if state.get("model_ema") is None:
                    raise SrnasError(f"{path}: has no EMA weights, but train.ema_decay is set")
                ema.load_state_dict(state["model_ema"])
        except RuntimeError as e:
            raise SrnasError(f"{path}: checkpoint does not match network_g ({str(e).splitlines()[0]})") from None
        optimizer.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        precision.load_state_dict(state.get("scaler", {}))
        set_rng_state(state["rng"])
        history = state["history"]
        start = int(state["step"])

    main = rank == 0  # only rank 0 writes, validates and logs
    exp = prepare_experiment(opt.path.experiments_root, opt.name, resume, raw, option_file) if main \
        else Path(opt.path.experiments_root) / opt.name
    if world > 1:
        torch.distributed.barrier()
    handler = add_file_logger(exp, "train") if main else None
    ckpt_dir, models_dir = exp / "checkpoints", exp / "models"
    if resume and found is None:
        log.warning("%s: no checkpoint to resume from; starting from iteration 0", ckpt_dir)
    elif found is not None:
        log.info("resumed from %s at iteration %d", found[0], start)
    log.info("network %s x%d: %d parameters; %d iterations", model.srnas_config["arch"], opt.scale, params,
             t.total_iter)
    records_path = exp / "val.jsonl"
    if main and start == 0 and records_path.exists():
        records_path.unlink()
    elif main and records_path.exists():  # drop records written after the checkpoint we resumed from
        kept = [ln for ln in records_path.read_text().splitlines() if ln and json.loads(ln)["step"] <= start]
        atomic_write_text(records_path, "".join(k + "\n" for k in kept))
    evaluated = ema.module if ema is not None else model  # BasicSR validates and saves params_ema when enabled

    def snapshot(step: int) -> dict[str, Any]:
        return {"kind": "train", "step": step, "model": model.state_dict(),
                "model_ema": ema.state_dict() if ema is not None else None, "optimizer": optimizer.state_dict(),
                "scheduler": sched.state_dict(), "scaler": precision.state_dict(), "rng": rng_state(),
                "history": history, "world_size": world,
                "srnas_config": model.srnas_config, "srnas_version": 1}

    tb = None
    if opt.logger.use_tb_logger and main:
        from torch.utils.tensorboard import SummaryWriter
        tb = SummaryWriter(str(exp / "tb"))
    bar = None
    if progress and main:
        from tqdm import tqdm
        bar = tqdm(total=t.total_iter, initial=start, desc=f"train {opt.name}", unit="it", dynamic_ncols=True)
    t0 = time.perf_counter() - float(history.get("elapsed", 0.0))
    running: dict[str, list[float]] = {}
    done = start
    try:
        with stop_signals() as signals:
            for step, batch in enumerate(batches(data, opt.datasets.train, opt.manual_seed, STREAM_TRAIN, start,
                                                 t.total_iter, device), start=start):
                done = step + 1
                try:
                    if t.channels_last:
                        batch["lq"] = batch["lq"].contiguous(memory_format=torch.channels_last)
                    out = _train_step(model, batch, optimizer, t.loss.hfen_weight, t.grad_clip, done, precision)
                except _NonFinite as e:
                    if t.nonfinite == "stop":
                        raise SrnasError(f"{e}; stopped. The last good checkpoint is kept in {ckpt_dir} "
                                         "(lower train.optim_g.lr, set train.grad_clip, or nonfinite: skip)") from None
                    log.warning("%s: batch skipped", e)
                    history["skipped"] += 1
                    out = {}
                step_scheduler(sched, skipped=not out)
                if ema is not None and out:
                    ema.update(model)
                for k, v in out.items():
                    running.setdefault(k, []).append(v)
                if bar is not None:
                    bar.update(1)
                    if out:
                        bar.set_postfix(l_pix=f"{out['l_pix']:.4f}")
                if world > 1:  # a signal seen by any rank stops all of them at the same step
                    flag = torch.tensor([float(signals["stop"])], device=device)
                    torch.distributed.all_reduce(flag)
                    signals["stop"] = bool(flag.item())
                if done % opt.logger.print_freq == 0 and main:
                    _log_running(running, done, t.total_iter, sched.get_last_lr()[0], tb)
                    running = {}
                if main and val_data is not None and (done % opt.datasets.val.every == 0 or done == t.total_iter):
                    rec = {"step": done, **_validate(evaluated, val_data, opt.scale, device)}
                    _record_validation(rec, history, evaluated, models_dir, records_path, tb)
                history["elapsed"] = time.perf_counter() - t0
                if callback is not None:
                    callback(done, out)
                if main and (done % opt.logger.save_checkpoint_freq == 0 or done == t.total_iter or signals["stop"]):
                    save_model_file(models_dir / "net_latest.pth", evaluated, done,
                                    (history["last_val"] or {}).get("psnr"), ema=ema is not None)
                    save_checkpoint(ckpt_dir, done, snapshot(done), opt.logger.keep_checkpoints)
                if signals["stop"]:
                    raise Interrupted(f"interrupted at iteration {done}; checkpoint saved in {ckpt_dir}: "
                                      f"continue with --resume")
    finally:
        if bar is not None:
            bar.close()
        if tb is not None:
            tb.close()
        if handler is not None:
            logging.getLogger("srnas").removeHandler(handler)

    seconds = time.perf_counter() - t0
    if world > 1:
        torch.distributed.barrier()
    final = history["last_val"] if history["last_val"] and history["last_val"]["step"] == t.total_iter else None
    results = {"name": opt.name, "arch": model.srnas_config["arch"], "scale": opt.scale, "params": params,
               "iterations": t.total_iter, "seconds": round(seconds, 1), "ema": ema is not None,
               "val_set": opt.datasets.val.name if opt.datasets.val is not None else None,
               "best_psnr": history["best_psnr"], "best_step": history["best_step"],
               "final_psnr": final["psnr"] if final else None, "final_ssim": final["ssim"] if final else None,
               "skipped_iterations": history["skipped"],
               "best_model": str(models_dir / "net_best.pth") if history["best_step"] else None,
               "latest_model": str(models_dir / "net_latest.pth")}
    if not main:
        return TrainResult(exp, done, history["best_psnr"], history["best_step"], results["final_psnr"], seconds,
                           params)
    atomic_write_text(exp / "results.json", json.dumps(results, indent=2) + "\n")
    best = f", best {history['best_psnr']:.3f} dB at {history['best_step']}" if history["best_step"] else ""
    log.info("done: %d iterations in %.0f s%s; results in %s", t.total_iter, seconds, best, exp / "results.json")
    return TrainResult(exp, done, history["best_psnr"], history["best_step"], results["final_psnr"], seconds, params)


def _log_running(running: dict[str, list[float]], done: int, total: int, lr: float, tb: Any) -> None:
    msg = ", ".join(f"{k} {sum(v) / len(v):.5f}" for k, v in running.items() if v)
    log.info("iter %d/%d lr %.3g: %s", done, total, lr, msg or "all batches skipped")
    if tb is not None:
        for k, v in running.items():
            if v:
                tb.add_scalar(f"train/{k}", sum(v) / len(v), done)
        tb.add_scalar("train/lr", lr, done)


def _record_validation(rec: dict[str, Any], history: dict[str, Any], model: nn.Module, models_dir: Path,
                       records_path: Path, tb: Any) -> None:
    """Log one validation, append it to ``val.jsonl`` and keep the model when it is the best so far."""
    history["last_val"] = rec
    is_best = history["best_psnr"] is None or rec["psnr"] > history["best_psnr"]
    if is_best:
        history["best_psnr"], history["best_step"] = rec["psnr"], rec["step"]
        save_model_file(models_dir / "net_best.pth", model, rec["step"], rec["psnr"], ssim=rec["ssim"])
    with open(records_path, "a") as f:
        f.write(json.dumps(rec) + "\n")
    if tb is not None:
        tb.add_scalar(f"val/{rec['set']}_psnr", rec["psnr"], rec["step"])
        tb.add_scalar(f"val/{rec['set']}_ssim", rec["ssim"], rec["step"])
    log.info("validation at iter %d: %s %.4f dB / %.4f%s", rec["step"], rec["set"], rec["psnr"], rec["ssim"],
             " (best)" if is_best else f" (best {history['best_psnr']:.4f} dB at {history['best_step']})")
