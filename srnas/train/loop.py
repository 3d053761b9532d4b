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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import nn

from srnas.archs.factory import build_network
from srnas.config.train import TrainOptions
from srnas.data import BenchmarkDataset
from srnas.errors import SrnasError
from srnas.eval.bench import evaluate
from srnas.losses import sr_loss
from srnas.data.stream import batches, make_dataset, validation_set
from srnas.harness import Run, find_checkpoint, open_run, restore, snapshot
from srnas.train.optim import build_optimizer, build_scheduler, step_scheduler
from srnas.train.precision import Precision
from srnas.train.ema import ModelEma
from srnas.train.model_file import load_pretrained, save_model_file
from srnas.utils.checkpoint import seed_everything
from srnas.utils.device import RunEnv, start_env
from srnas.utils.experiment import resolve_path
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
        progress: show progress (a bar on a terminal, log lines otherwise).
        callback: called as ``callback(iteration, losses)`` after every iteration (1-based), before checkpointing.

    Raises:
        SrnasError: bad data or weights, a non-finite loss with ``nonfinite: stop``.
        Interrupted: SIGINT/SIGTERM (a checkpoint was written first).
    """
    t = opt.train
    env = start_env(opt.device)  # torchrun: each rank its shard of the batch, gradients averaged
    precision = Precision(t.precision, env.device)
    seed_everything(opt.manual_seed)
    # everything that can fail on bad input comes before the experiment folder is touched
    model = build_network(opt.network_g, opt.scale, lq_patch=opt.datasets.train.lq_patch, source=option_file)
    data = make_dataset(opt.datasets.train, opt.scale, opt.manual_seed)
    val_data = validation_set(opt.datasets.val, opt.scale)
    found = find_checkpoint(opt, resume)
    if found is None and opt.path.pretrain_network_g:
        p = opt.path
        load_pretrained(model, resolve_path(p.pretrain_network_g), p.strict_load_g, p.pretrain_skip_upsampler,
                        p.param_key_g)
        log.info("initialized from %s", p.pretrain_network_g)
    model.to(env.device).train()
    if t.channels_last:
        model.to(memory_format=torch.channels_last)
    if env.world > 1 and env.device.type == "cuda":  # BatchNorm (IMDN-space _bn ops): statistics over all ranks
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    params = sum(p.numel() for p in model.parameters())
    optimizer = build_optimizer(list(model.parameters()), t.optim_g, t.optim_g.weight_decay or 0.0)
    sched = build_scheduler(optimizer, t.scheduler, t.total_iter)
    ema = ModelEma(model, t.ema_decay) if t.ema_decay is not None else None
    objects = {"model": model, "model_ema": ema, "optimizer": optimizer, "scheduler": sched, "scaler": precision}
    history: dict[str, Any] = {"best_psnr": None, "best_step": None, "last_val": None, "skipped": 0, "elapsed": 0.0}
    if found is not None:
        if ema is not None and found[1].get("kind") == "train" and found[1].get("model_ema") is None:
            raise SrnasError(f"{found[0]}: has no EMA weights, but train.ema_decay is set")
        history = restore(*found, "train", objects, "network_g")
    start = int(found[1]["step"]) if found is not None else 0
    evaluated = ema.module if ema is not None else model  # BasicSR validates and saves params_ema when enabled
    done = start
    with open_run(env, opt, "train", raw, option_file, resume, t.total_iter, found, history["elapsed"], "val.jsonl",
                  progress) as run:
        models_dir = run.exp / "models"
        log.info("network %s x%d: %d parameters; %d iterations", model.srnas_config["arch"], opt.scale, params,
                 t.total_iter)
        for step, batch in enumerate(batches(data, opt.datasets.train, opt.manual_seed, STREAM_TRAIN, start,
                                             t.total_iter, env.device), start=start):
            done = step + 1
            out = _guarded_step(model, batch, optimizer, t, done, precision, history, run.ckpt_dir)
            step_scheduler(sched, skipped=not out)
            if ema is not None and out:
                ema.update(model)
            run.tick(out, postfix=("l_pix",))
            run.log_losses(done, sched.get_last_lr()[0], "train/", "train/lr", reset=True)
            if env.main and val_data is not None and (done % opt.datasets.val.every == 0 or done == t.total_iter):
                rec = {"step": done, **_validate(evaluated, val_data, opt.scale, env.device)}
                _record_validation(rec, history, evaluated, models_dir, run)
            history["elapsed"] = run.elapsed
            if callback is not None:
                callback(done, out)
            if run.due(done):
                save_model_file(models_dir / "net_latest.pth", evaluated, done,
                                (history["last_val"] or {}).get("psnr"), ema=ema is not None)
            run.checkpoint(done, lambda: snapshot("train", done, objects, history, world_size=env.world,
                                                  srnas_config=model.srnas_config))
        seconds = run.elapsed
    env.barrier()
    return _finish(opt, env, run.exp, model, params, history, ema is not None, done, seconds)


def _guarded_step(model: nn.Module, batch: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer, t: Any,
                  done: int, precision: Precision, history: dict[str, Any], ckpt_dir: Path) -> dict[str, float]:
    """One training step; a non-finite one stops the run (``train.nonfinite: stop``) or is skipped and counted."""
    try:
        if t.channels_last:
            batch["lq"] = batch["lq"].contiguous(memory_format=torch.channels_last)
        return _train_step(model, batch, optimizer, t.loss.hfen_weight, t.grad_clip, done, precision)
    except _NonFinite as e:
        if t.nonfinite == "stop":
            raise SrnasError(f"{e}; stopped. The last good checkpoint is kept in {ckpt_dir} "
                             "(lower train.optim_g.lr, set train.grad_clip, or nonfinite: skip)") from None
        log.warning("%s: batch skipped", e)
        history["skipped"] += 1
        return {}


def _finish(opt: TrainOptions, env: RunEnv, exp: Path, model: nn.Module, params: int, history: dict[str, Any],
            ema: bool, done: int, seconds: float) -> TrainResult:
    """``results.json`` (rank 0) and the result."""
    t, models_dir = opt.train, exp / "models"
    final = history["last_val"] if history["last_val"] and history["last_val"]["step"] == t.total_iter else None
    result = TrainResult(exp, done, history["best_psnr"], history["best_step"], final["psnr"] if final else None,
                         seconds, params)
    if not env.main:
        return result
    results = {"name": opt.name, "arch": model.srnas_config["arch"], "scale": opt.scale, "params": params,
               "iterations": t.total_iter, "seconds": round(seconds, 1), "ema": ema,
               "val_set": opt.datasets.val.name if opt.datasets.val is not None else None,
               "best_psnr": history["best_psnr"], "best_step": history["best_step"],
               "final_psnr": final["psnr"] if final else None, "final_ssim": final["ssim"] if final else None,
               "skipped_iterations": history["skipped"],
               "best_model": str(models_dir / "net_best.pth") if history["best_step"] else None,
               "latest_model": str(models_dir / "net_latest.pth")}
    atomic_write_text(exp / "results.json", json.dumps(results, indent=2) + "\n")
    best = f", best {history['best_psnr']:.3f} dB at {history['best_step']}" if history["best_step"] else ""
    log.info("done: %d iterations in %.0f s%s; results in %s", t.total_iter, seconds, best, exp / "results.json")
    return result


def _record_validation(rec: dict[str, Any], history: dict[str, Any], model: nn.Module, models_dir: Path,
                       run: Run) -> None:
    """Log one validation, append it to ``val.jsonl`` and keep the model when it is the best so far."""
    history["last_val"] = rec
    is_best = history["best_psnr"] is None or rec["psnr"] > history["best_psnr"]
    if is_best:
        history["best_psnr"], history["best_step"] = rec["psnr"], rec["step"]
        save_model_file(models_dir / "net_best.pth", model, rec["step"], rec["psnr"], ssim=rec["ssim"])
    run.append_record(rec)
    run.scalar(f"val/{rec['set']}_psnr", rec["psnr"], rec["step"])
    run.scalar(f"val/{rec['set']}_ssim", rec["ssim"], rec["step"])
    log.info("validation at iter %d: %s %.4f dB / %.4f%s", rec["step"], rec["set"], rec["psnr"], rec["ssim"],
             " (best)" if is_best else f" (best {history['best_psnr']:.4f} dB at {history['best_step']})")
