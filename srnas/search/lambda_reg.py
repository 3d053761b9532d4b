"""Lambda-DARTS: align the cells' gradients of the shared mixing weights (brief §4.6; method notes §7).

Each of the L cells (DLSR) or blocks (IMDN) gets its own copy omega_l of softmax(alpha); g_l = dL_train/d omega_l.
The w step descends ``L_train - lambda_t * R`` with ``R = c * sum_{l<k} cos(g_l, g_k)``, ``c = 2 / (L (L-1))``. The
gradient of ``-R`` w.r.t. w is taken by a central finite difference along ``d = dR/dg`` in omega-space: two extra
forward+backward passes per step (``corr`` variant of the official ``sota/cnn/model_search.py``).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor


def _pair_constant(num_layers: int) -> float:
    """``c = 1 / (L (L-1) / 2)``, one over the number of cell pairs (1/15 for 6 cells)."""
    if num_layers < 2:
        raise ValueError(f"Lambda-DARTS needs at least 2 per-cell gradients, got {num_layers}")
    return 2.0 / (num_layers * (num_layers - 1))


def _unit(grads: Sequence[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
    """Flattened unit vectors u_l and norms ||g_l||; a zero gradient gives u_l = 0."""
    flat = [g.reshape(-1) for g in grads]
    norms = [f.norm() for f in flat]
    units = [f / n if n > 0 else torch.zeros_like(f) for f, n in zip(flat, norms)]
    return units, norms


def alignment_score(grads: Sequence[Tensor]) -> Tensor:
    """``R = c * sum_{l<k} cos(g_l, g_k)`` with ``c = 2 / (L (L-1))`` (Lambda-DARTS ``get_corr``).

    Args:
        grads: L per-cell gradients ``dL/d omega_l``, any equal shapes (flattened).

    Returns:
        Scalar tensor in [-1, 1] (differentiable w.r.t. ``grads``).
    """
    units, _ = _unit(grads)
    pairs = [units[l] @ units[k] for l in range(len(units)) for k in range(l + 1, len(units))]
    return _pair_constant(len(grads)) * torch.stack(pairs).sum()


def alignment_direction(grads: Sequence[Tensor]) -> list[Tensor]:
    """``d_l = c * P_l``, ``P_l = (I - u_l u_l^T) sum_k u_k / ||g_l||`` = ``dR/dg_l`` (Lambda-DARTS ``corr``).

    ``u_l = g_l / ||g_l||``. The sum over k includes k = l, as in the official code; the projection removes that
    term, so ``P_l = d/dg_l sum_{k != l} cos(g_l, g_k)`` and ``d_l`` is exactly the gradient of
    :func:`alignment_score` w.r.t. ``g_l``.

    deviation: a zero gradient g_l gets ``d_l = 0`` and ``u_l = 0`` (the official code would divide by zero).

    Args:
        grads: L per-cell gradients ``dL/d omega_l``.

    Returns:
        L detached directions, each shaped like its gradient.
    """
    c = _pair_constant(len(grads))
    units, norms = _unit([g.detach() for g in grads])
    total = torch.stack(units).sum(dim=0)
    out = []
    for g, u, n in zip(grads, units, norms):
        p = (total - u * (u @ total)) / n if n > 0 else torch.zeros_like(u)  # (I - u u^T) sum_k u_k / ||g||
        out.append((c * p).reshape(g.shape))
    return out


def lambda_schedule(epoch: int, num_epochs: int, lam: float = 0.125) -> float:
    """``lambda_t = lam * epoch / (E - 1)`` (Lambda-DARTS ``train_search.py``).

    ``epoch`` counts from 0 here, as in the official loop: 0 at the first epoch, ``lam`` at the last (E - 1). The
    srnas search loop counts from 1 and passes ``epoch - 1``. With E = 1 it returns ``lam``.
    """
    return lam if num_epochs <= 1 else lam * epoch / (num_epochs - 1)


def finite_difference_weight_grad(loss_at: Callable[[list[Tensor]], Tensor], omegas: Sequence[Tensor],
                                  d: Sequence[Tensor], weight_params: Sequence[Tensor],
                                  eps0: float = 1e-4) -> list[Tensor]:
    """``(grad_w L(omega - eps d) - grad_w L(omega + eps d)) / (2 eps)``, ``eps = eps0 / ||d||`` (Lambda-DARTS).

    This approximates ``-grad_w <grad_omega L, d>``; with ``d = dR/dg`` it is ``-grad_w R``, so the caller adds
    ``lambda_t * reg`` to ``w.grad`` before clipping and the SGD step (official ``get_reg_grads``).

    Args:
        loss_at: closure returning the scalar training loss of the step's batch for per-cell mixing weights.
        omegas: L per-cell mixing weights (``softmax(alpha)`` copies, detached here).
        d: L directions from :func:`alignment_direction`; ``||d||`` is the norm of their concatenation.
        weight_params: network weights w.
        eps0: finite-difference scale (official ``epsilon_0 = 1e-4``).

    Returns:
        One tensor per weight parameter (zeros for params the loss does not use, or when ``d`` is 0).
    """
    d_norm = torch.sqrt(sum((di.detach() ** 2).sum() for di in d))
    if d_norm == 0:
        return [torch.zeros_like(w) for w in weight_params]
    eps = eps0 / d_norm.item()

    def grad_w(sign: float) -> list[Tensor]:
        shifted = [o.detach() + sign * eps * di.detach() for o, di in zip(omegas, d)]
        grads = torch.autograd.grad(loss_at(shifted), weight_params, allow_unused=True)
        return [g if g is not None else torch.zeros_like(w) for g, w in zip(grads, weight_params)]

    minus, plus = grad_w(-1.0), grad_w(1.0)  # official: forward pass with pert = +eps d gives omega - eps d
    return [(gm - gp) / (2 * eps) for gm, gp in zip(minus, plus)]
