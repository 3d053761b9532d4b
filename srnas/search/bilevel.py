"""Everything one bi-level search iteration needs, built from the options, and the iteration itself (SA-DARTS
Algorithm 1): the supernet, the w and alpha optimizers and schedules, the step hooks (SDARTS, single-path,
Lambda-DARTS, R-DARTS(DP)), precision, the data streams (with a known-answer teacher), and what a checkpoint keeps."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterator, Optional

import torch

from srnas.config.search import SearchOptions
from srnas.data.stream import batches, make_dataset, validation_set
from srnas.errors import SrnasError
from srnas.search.rdarts import ScheduledDropPath
from srnas.search.single_path import SinglePathSampling
from srnas.search.spaces import build_supernet
from srnas.search.step import (LambdaAlignment, NonFiniteError, SdartsPerturbation, StepContext, alpha_step,
                               weight_step)
from srnas.search.teacher import teach, teacher_of
from srnas.train.optim import build_optimizer, build_scheduler, step_scheduler
from srnas.train.precision import Precision
from srnas.utils.device import RunEnv

log = logging.getLogger("srnas")
STREAM_W, STREAM_ARCH, STREAM_HESSIAN = 0, 1, 2
Batch = dict[str, torch.Tensor]


class BilevelSearch:
    """The live objects of one search (built before the experiment folder is touched, so bad input fails first)."""

    def __init__(self, opt: SearchOptions, env: RunEnv, source: Optional[str] = None):
        s, self.opt, self.env = opt.search, opt, env
        net = build_supernet(opt, source)  # checks the names against the registries first (before any data is read)
        self.w_data = make_dataset(opt.datasets.train, opt.scale, opt.manual_seed)
        self.a_data = make_dataset(opt.datasets.arch, opt.scale, opt.manual_seed)
        self.val_data = validation_set(opt.datasets.val, opt.scale)
        self.teacher = teacher_of(opt, env.device)  # known-answer task: targets = teacher(LR); None without one
        init = s.alpha_init
        net.init_alphas(init.mode, init.std, init.offset, init.bias_op, init.bias,
                        generator=torch.Generator().manual_seed(opt.manual_seed))
        net.to(env.device).train()
        if env.world > 1 and env.device.type == "cuda":  # BN candidates: batch statistics over all ranks (CUDA only)
            net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)
        self.net, self.specs = net, penalty_specs(opt, net)
        self.opt_w = build_optimizer(net.weight_parameters(), s.optim_w,
                                     s.optim_w.weight_decay if s.optim_w.weight_decay is not None else 1e-8)
        self.opt_a = build_optimizer(net.arch_parameters(), s.optim_alpha, s.alpha_weight_decay)
        self.sched = build_scheduler(self.opt_w, s.scheduler, s.iters)
        self.sched_a = build_scheduler(self.opt_a, s.scheduler_alpha, s.iters - s.warmup_steps)  # alpha steps only
        self.sdarts_gen = torch.Generator().manual_seed(opt.manual_seed + 17)
        self.perturb = SdartsPerturbation(s.sdarts.mode, s.sdarts.eps_min, s.sdarts.eps_max, s.sdarts.steps,
                                          self.sdarts_gen) if s.sdarts else None
        self.single = SinglePathSampling(self.sdarts_gen) if s.weight_paths != "mixture" else None  # not with SDARTS
        self.align = LambdaAlignment(s.lambda_darts.weight, s.lambda_darts.eps0) if s.lambda_darts else None
        self.prec_w, self.prec_a = Precision(s.precision, env.device), Precision(s.precision, env.device)
        self.drop = ScheduledDropPath(net, s.drop_path, torch.Generator().manual_seed(opt.manual_seed + 29)) \
            if s.drop_path > 0 else None  # R-DARTS(DP)

    def objects(self) -> dict[str, Any]:
        """What a checkpoint keeps, under the keys search checkpoints have always used."""
        return {"model": self.net, "opt_w": self.opt_w, "opt_a": self.opt_a, "sched": self.sched,
                "sched_a": self.sched_a, "sdarts_gen": self.sdarts_gen, "scaler_w": self.prec_w,
                "scaler_a": self.prec_a, "drop_path_gen": self.drop.generator if self.drop else None}

    def streams(self, first: int) -> tuple[Iterator[Batch], Iterator[Batch]]:
        """The weight-split and architecture-split batches of steps ``first..iters-1``."""
        o = self.opt
        its = (batches(self.w_data, o.datasets.train, o.manual_seed, STREAM_W, first, o.search.iters, self.env.device),
               batches(self.a_data, o.datasets.arch, o.manual_seed, STREAM_ARCH, first, o.search.iters,
                       self.env.device))
        return its if self.teacher is None else (teach(its[0], self.teacher), teach(its[1], self.teacher))

    def hessian_batch(self) -> Optional[Batch]:
        """R-DARTS: one fixed architecture batch, the same whole batch on every rank (so every rank computes the same
        eigenvalue and early-stop decision)."""
        o = self.opt
        b = next(batches(self.a_data, o.datasets.arch, o.manual_seed, STREAM_HESSIAN, 0, 1, self.env.device,
                         shard=False))
        return b if self.teacher is None else {"lq": b["lq"], "gt": self.teacher(b["lq"])}

    def step(self, step: int, w_batch: Batch, a_batch: Batch) -> dict[str, float]:
        """One iteration: alpha then w (``order: darts``), or w then alpha on L_train + L_val (``order: dlsr``); the
        schedules advance. A non-finite one stops the run (``nonfinite: stop``) or is skipped (empty result)."""
        s = self.opt.search
        epoch = step // s.epoch_length + 1
        ctx = StepContext(step, epoch, s.num_epochs, s.penalty_epoch(step))
        if self.drop is not None:
            self.drop.set_epoch(epoch, s.num_epochs)
        try:
            if s.order == "darts":  # SA-DARTS Algorithm 1: alpha step, then w step
                out = {**self._alpha_step(ctx, a_batch), **self._weight_step(ctx, w_batch)}
            else:  # DLSR: w step, then alpha on L_train + L_val (brief §1.5)
                out = self._weight_step(ctx, w_batch)
                out.update(self._alpha_step(ctx, a_batch, extra_batch=w_batch))
        except NonFiniteError as e:
            if s.nonfinite == "stop":
                ckpt_dir = Path(self.opt.path.experiments_root) / self.opt.name / "checkpoints"
                raise SrnasError(f"{e}; the last good checkpoint is kept in {ckpt_dir}") from None
            log.warning("%s: batch skipped", e)
            self.opt_w.zero_grad(set_to_none=True)
            self.opt_a.zero_grad(set_to_none=True)
            out = {}
        step_scheduler(self.sched, skipped=not out)
        if step >= s.warmup_steps:  # the alpha schedule starts with the first alpha step
            step_scheduler(self.sched_a, skipped="l_val" not in out)
        return out

    def _weight_step(self, ctx: StepContext, batch: Batch) -> dict[str, float]:
        s = self.opt.search
        single = s.weight_paths == "single" or (s.weight_paths == "single_warmup" and ctx.step < s.warmup_steps)
        return weight_step(self.net, batch, self.opt_w, ctx, s.loss.hfen_weight, s.grad_clip,
                           self.single if single else self.perturb, self.align, self.prec_w)

    def _alpha_step(self, ctx: StepContext, batch: Batch, extra_batch: Optional[Batch] = None) -> dict[str, float]:
        s = self.opt.search
        if ctx.step < s.warmup_steps:  # warm-up: alpha frozen (Algorithm 1 / brief §1.5)
            return {}
        return alpha_step(self.net, batch, self.opt_a, self.specs, ctx, s.loss.hfen_weight, extra_batch=extra_batch,
                          regularize_betas=s.regularize_betas, precision=self.prec_a)


def penalty_specs(opt: SearchOptions, net: torch.nn.Module) -> list[tuple[str, dict]]:
    """``[(regularizer name, settings), ...]`` of ``search.regularizers``, with the measured costs the FLOPs and
    latency terms need."""
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
