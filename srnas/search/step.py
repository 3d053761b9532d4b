"""One bi-level search iteration, first order (SA-DARTS Algorithm 1).

``alpha_step``: descend ``L_val(w, alpha) + sum_i reg_i(alpha, epoch)`` on an architecture-split batch (lambda_e
applied once, method notes §1.5). ``weight_step``: descend ``L_train(w, alpha)`` on a weight-split batch; the penalties
never enter it. Methods that change the weight step rather than add a penalty plug in as a ``WeightHook``:
SDARTS (perturbed mixing weights, ``perturb.py``), single-path sampling (one candidate per position,
``single_path.py``) and Lambda-DARTS (an extra gradient on w, ``lambda_reg.py``).
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Union

import torch
from torch import Tensor, nn

from srnas.errors import SrnasError
from srnas.losses import sr_loss
from srnas.train.precision import Precision
from srnas.search.lambda_reg import alignment_direction, finite_difference_weight_grad, lambda_schedule
from srnas.search.perturb import adversarial, random_smoothing, sdarts_epsilon
from srnas.search.regularizers import alpha_loss
from srnas.search.single_path import SinglePathSampling, skip_zero_weights

Batch = dict[str, Tensor]


class NonFiniteError(SrnasError):
    """A loss or alpha went NaN/Inf (the loop stops and keeps the last good checkpoint, or skips the batch)."""


def _check_finite(value: Tensor, what: str, step: int) -> None:
    if not torch.isfinite(value).all():
        raise NonFiniteError(f"step {step}: {what} is not finite ({value.detach().flatten()[:4].tolist()})")


def per_block(net: nn.Module, rows: Sequence[Tensor]) -> list[Tensor]:
    """Per-block mixing weights from one tensor per op-alpha tensor (shared alphas: the same tensor for every block)."""
    rows = list(rows)
    return rows * net.num_block if len(rows) == 1 else rows


@dataclass
class StepContext:
    step: int          # 0-based iteration
    epoch: int         # 1-based search epoch (Algorithm 1)
    num_epochs: int
    penalty_epoch: Optional[float] = None  # the epoch the penalty schedules see (None: ``epoch``)

    @property
    def reg_epoch(self) -> float:
        return self.epoch if self.penalty_epoch is None else self.penalty_epoch


def alpha_step(net: nn.Module, batch: Batch, optimizer: torch.optim.Optimizer, specs: Sequence[tuple[str, dict]],
               ctx: StepContext, hfen_weight: float = 0.0, extra_batch: Optional[Batch] = None,
               regularize_betas: bool = False, precision: Optional[Precision] = None) -> dict[str, float]:
    """Architecture step: ``L_val + L_reg`` backpropagated to the architecture parameters only.

    Args:
        net: the supernet (``arch_parameters()``, ``op_alphas()``, ``path_alphas()``).
        batch: architecture-split batch ``{lq, gt}``.
        optimizer: over ``net.arch_parameters()`` (Adam: Eq. 8 acts only through Adam, method notes §1.4).
        specs: ``[(regularizer name, settings), ...]``.
        ctx: step and epoch.
        hfen_weight: DLSR's HFEN term weight (0 = L1 only).
        extra_batch: DLSR order: the weight-split batch, whose loss DLSR's alpha step adds (brief §1.5).
        regularize_betas: apply the penalties to DLSR's network-level betas as well (method notes §1.6 option).
        precision: autocast / loss scaling / data-parallel gradient averaging (default: fp32, one process).
    """
    precision = precision or Precision("fp32", batch["lq"].device)
    optimizer.zero_grad(set_to_none=True)
    with precision.autocast():
        l_val = sr_loss(net(batch["lq"]), batch["gt"], hfen_weight)
        if extra_batch is not None:
            l_val = l_val + sr_loss(net(extra_batch["lq"]), extra_batch["gt"], hfen_weight)
    l_val = l_val.float()
    reg, terms = alpha_loss(net.op_alphas(), ctx.reg_epoch, ctx.num_epochs, specs, keep_graph=True)
    if regularize_betas:  # each path-logit vector on its own (they differ in length); FLOPs costs do not apply
        beta_specs = [(name, kw) for name, kw in specs if name != "flops"]
        for b in net.path_alphas():
            reg = reg + alpha_loss(b, ctx.reg_epoch, ctx.num_epochs, beta_specs)[0]
    _check_finite(l_val + reg.detach(), f"alpha-step loss (L_val {l_val.item():.4g}, penalties {reg.item():.4g})",
                  ctx.step)
    arch = list(net.arch_parameters())
    ops = net.op_alphas()
    # L_val first (its gradient, averaged over ranks and unscaled, is measured on its own), then the penalties'
    # gradients added: the same sum as one backward of L_val + reg, up to float rounding
    precision.backward(l_val, arch)  # no weight gradients are computed here
    precision.unscale_and_clip(optimizer, arch)
    out = {"l_val": l_val.item(), **{f"reg_{k}": v.item() for k, v in terms.items()},
           "grad_val": _norm([a.grad for a in ops])}
    for k, v in terms.items():  # per-penalty alpha-gradient norm (the "does it swamp L_val" ratio, issue 20)
        out[f"grad_{k}"] = _norm(_grads(v, ops))
    if reg.requires_grad:
        for a, g in zip(arch, _grads(reg, arch)):
            a.grad = g if a.grad is None else a.grad.add_(g)
    precision.apply(optimizer)
    for a in net.arch_parameters():
        _check_finite(a, "alpha", ctx.step)
    return out


def _grads(value: Tensor, params: Sequence[Tensor]) -> list[Tensor]:
    """d value / d params (zeros where a param does not enter), keeping the graph for the next call."""
    if not value.requires_grad:
        return [torch.zeros_like(p) for p in params]
    gs = torch.autograd.grad(value, list(params), retain_graph=True, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, gs)]


def _norm(grads: Sequence[Optional[Tensor]]) -> float:
    return float(torch.sqrt(sum((g.detach().float() ** 2).sum() for g in grads if g is not None)))


WeightHook = Callable[[nn.Module, Batch, StepContext, float], Optional[list[Tensor]]]


def weight_step(net: nn.Module, batch: Batch, optimizer: torch.optim.Optimizer, ctx: StepContext,
                hfen_weight: float = 0.0, grad_clip: Optional[float] = None,
                perturb: Optional[Union["SdartsPerturbation", SinglePathSampling]] = None,
                align: Optional["LambdaAlignment"] = None,
                precision: Optional[Precision] = None) -> dict[str, float]:
    """Weight step: ``L_train`` backpropagated to the network weights only (the penalties never enter it)."""
    precision = precision or Precision("fp32", batch["lq"].device)
    params = list(net.weight_parameters())
    optimizer.zero_grad(set_to_none=True)
    mixing = [w.detach() for w in net.mixing_weights()]
    if perturb is not None:
        mixing = perturb(net, batch, mixing, ctx, hfen_weight)
    if align is not None:
        mixing = [w.clone().requires_grad_(True) for w in mixing]
    sparse = skip_zero_weights(net) if isinstance(perturb, SinglePathSampling) else nullcontext()
    with precision.autocast(), sparse:
        loss = sr_loss(net(batch["lq"], mixing), batch["gt"], hfen_weight).float()
    _check_finite(loss, "weight-step loss L_train", ctx.step)
    precision.backward(loss, params + (mixing if align is not None else []))
    out = {"l_train": loss.item()}
    if align is not None:
        if precision.scaler is not None:
            raise SrnasError("search.lambda_darts does not combine with fp16 loss scaling; use bf16 or fp32")
        out.update(align(net, batch, mixing, params, ctx, hfen_weight))
    precision.step(optimizer, params, grad_clip)
    return out


@dataclass
class SdartsPerturbation:
    """SDARTS (brief §4.4): the weight step sees ``clip(softmax(alpha) + delta)``; RS draws delta ~ U(-eps, eps), ADV
    runs L-inf PGD on L_train. One delta per alpha row, shared by all blocks [I] (method notes §7)."""

    mode: str
    eps_min: float
    eps_max: float
    steps: int
    generator: torch.Generator

    def __call__(self, net: nn.Module, batch: Batch, mixing: list[Tensor], ctx: StepContext,
                 hfen_weight: float) -> list[Tensor]:
        eps = sdarts_epsilon(ctx.epoch - 1, ctx.num_epochs, self.eps_min, self.eps_max)  # official: epoch from 0
        rows = [a.detach().softmax(-1) for a in net.op_alphas()]
        if self.mode == "rs":
            rows = random_smoothing(rows, eps, self.generator)
        else:
            def loss_fn(w: list[Tensor]) -> Tensor:
                return sr_loss(net(batch["lq"], per_block(net, w)), batch["gt"], hfen_weight)

            was_training = net.training
            net.eval()  # official: the attack runs with the supernet in eval mode
            rows = adversarial(rows, eps, loss_fn, self.steps, self.generator)
            net.train(was_training)
        return per_block(net, rows)


@dataclass
class LambdaAlignment:
    """Lambda-DARTS (brief §4.6): align the per-block gradients of the mixing weights by adding
    ``lambda_t * (grad_w L(omega - eps d) - grad_w L(omega + eps d)) / (2 eps)`` to ``w.grad``."""

    weight: float
    eps0: float

    def __call__(self, net: nn.Module, batch: Batch, mixing: list[Tensor], params: list[Tensor], ctx: StepContext,
                 hfen_weight: float) -> dict[str, float]:
        grads = [w.grad.detach().flatten() for w in mixing]
        d = [di.reshape(w.shape) for di, w in zip(alignment_direction(grads), mixing)]

        def loss_at(omegas: list[Tensor]) -> Tensor:
            return sr_loss(net(batch["lq"], omegas), batch["gt"], hfen_weight)

        reg = finite_difference_weight_grad(loss_at, mixing, d, params, self.eps0)
        lam = lambda_schedule(ctx.epoch - 1, ctx.num_epochs, self.weight)  # official: epoch from 0
        for p, r in zip(params, reg):
            if p.grad is None:
                p.grad = lam * r
            else:
                p.grad.add_(r, alpha=lam)
        cos = [torch.nn.functional.cosine_similarity(a, b, dim=0).item()
               for i, a in enumerate(grads) for b in grads[i + 1:]]
        return {"lambda_align": sum(cos) / len(cos) if cos else 0.0}
