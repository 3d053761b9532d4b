"""SDARTS: perturbation-based smoothing of the mixing weights in the w step (brief §4.4; method notes §7).

The w step runs its forward pass with perturbed mixing weights ``softmax(alpha) + delta`` (clipped rows) instead of
``softmax(alpha)``; the alpha step stays plain first-order DARTS. ``weights`` below are the softmaxed rows, one
``(N_e, N_o)`` tensor or a list of them; the functions return the same structure, detached (no gradient reaches
alpha). SR: one delta per alpha row, shared by all cells; DLSR's network-level eta is not perturbed [I].
"""
from __future__ import annotations

from typing import Callable, Sequence, Union

import torch
from torch import Tensor

Weights = Union[Tensor, Sequence[Tensor]]


def _as_list(weights: Weights) -> list[Tensor]:
    return [weights] if isinstance(weights, Tensor) else list(weights)


def _like(weights: Weights, parts: list[Tensor]) -> Weights:
    return parts[0] if isinstance(weights, Tensor) else parts


def sdarts_epsilon(epoch: int, num_epochs: int, eps_min: float = 0.03, eps_max: float = 0.3) -> float:
    """Perturbation radius ``eps = eps_min + (eps_max - eps_min) * epoch / E`` (SDARTS ``sota/cnn/train_search.py``).

    ``epoch`` counts from 0 here, as in the official loop (``for epoch in range(args.epochs)``): 0.03 at epoch 0,
    0.165 at E/2, ``0.3 - 0.27 / E`` at the last epoch. The srnas search loop counts from 1 and passes ``epoch - 1``.
    """
    return eps_min + (eps_max - eps_min) * epoch / num_epochs


def clip_rows(w: Tensor) -> Tensor:
    """Clamp each row to [0, 1] and renormalise it to sum 1 (SDARTS ``Network.clip``).

    A row that clamps to all zeros becomes one-hot at the argmax of the row before clamping.

    Args:
        w: ``(..., N_o)`` perturbed mixing weights.

    Returns:
        ``(..., N_o)`` rows in [0, 1] summing to 1; e.g. ``[0.7, 0.5, -0.2] -> [0.583333, 0.416667, 0]``.
    """
    top = w.argmax(dim=-1, keepdim=True)
    x = w.clamp(0.0, 1.0)
    one_hot = torch.zeros_like(x).scatter_(-1, top, 1.0)
    x = torch.where(x.sum(dim=-1, keepdim=True) == 0, one_hot, x)
    return x / x.sum(dim=-1, keepdim=True)


def _uniform(w: Tensor, eps: float, generator: torch.Generator | None) -> Tensor:
    """``U(-eps, eps)`` noise shaped like ``w``, drawn on the generator's device."""
    device = generator.device if generator is not None else w.device
    u = torch.rand(w.shape, generator=generator, dtype=w.dtype, device=device).to(w.device)
    return (2 * u - 1) * eps


def random_smoothing(weights: Weights, eps: float, generator: torch.Generator | None = None) -> Weights:
    """SDARTS-RS: ``clip_rows(weights + U(-eps, eps))`` (SDARTS ``attacker/perturb.py: Random_alpha``).

    The noise lies in the L-inf eps-ball; the clip's renormalisation can move a row slightly outside it (as in the
    official code).

    Args:
        weights: ``softmax(alpha)`` rows, ``(N_e, N_o)`` or a list of them.
        eps: perturbation radius (see :func:`sdarts_epsilon`).
        generator: random source (None: torch's global one).

    Returns:
        Perturbed rows in [0, 1] summing to 1, detached, same structure as ``weights``.
    """
    parts = [clip_rows(w.detach() + _uniform(w, eps, generator)) for w in _as_list(weights)]
    return _like(weights, parts)


def adversarial(weights: Weights, eps: float, loss_fn: Callable[[Weights], Tensor], steps: int = 7,
                generator: torch.Generator | None = None) -> Weights:
    """SDARTS-ADV: L-inf PGD on the training loss over the mixing weights (SDARTS ``perturb.py: Linf_PGD_alpha``).

    Random start ``clip_rows(w + U(-eps, eps))``, then ``steps`` sign-gradient ascent steps of size ``2 eps / steps``,
    each followed by projection onto the eps-ball around the clean weights and :func:`clip_rows`. If the attacked loss
    ends below the clean loss, the clean weights are returned. Gradients are taken with ``torch.autograd.grad`` on the
    weights only, so network ``.grad`` buffers are untouched.

    Args:
        weights: clean ``softmax(alpha)`` rows, ``(N_e, N_o)`` or a list of them.
        eps: L-inf radius.
        loss_fn: closure returning the scalar training loss of a batch for given mixing weights (same structure as
            ``weights``). The official code evaluates it with the supernet in ``eval()`` mode; the closure decides.
        steps: number of PGD steps (official: 7).
        generator: random source for the random start.

    Returns:
        The perturbed weights (detached, same structure), or the clean ones.
    """
    clean = [w.detach() for w in _as_list(weights)]
    with torch.no_grad():
        loss_clean = loss_fn(_like(weights, clean))
    x = _as_list(random_smoothing(clean, eps, generator))
    step = 2 * eps / steps  # SDARTS: Linf_SGD(lr = 2 * epsilon / steps)
    for _ in range(steps):
        x = [xi.detach().requires_grad_(True) for xi in x]
        grads = torch.autograd.grad(loss_fn(_like(weights, x)), x, allow_unused=True)
        with torch.no_grad():
            x = [xi + step * (g.sign() if g is not None else 0.0) for xi, g in zip(x, grads)]  # ascent on L_train
            x = [clip_rows(c + (xi - c).clamp(-eps, eps)) for xi, c in zip(x, clean)]  # project, then clip
    x = [xi.detach() for xi in x]
    with torch.no_grad():
        loss_adv = loss_fn(_like(weights, x))
    if loss_adv < loss_clean:  # SDARTS: "if loss_before > loss_after: revert"
        return _like(weights, clean)
    return _like(weights, x)
