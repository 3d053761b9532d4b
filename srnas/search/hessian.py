"""R-DARTS: curvature of L_val in alpha and the DARTS-ES early stop (brief §4.5; method notes §7).

Collapse coincides with a growing dominant eigenvalue of the Hessian of L_val w.r.t. alpha. The SR spaces are small
(DLSR 27 alpha entries, +14 with eta; IMDN 48), so the exact Hessian by double backprop is cheap; a Hessian-vector
power iteration is provided for bigger spaces.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import Tensor


def _flat_grad(output: Tensor, params: Sequence[Tensor], create_graph: bool = False) -> Tensor:
    """``d output / d params`` flattened and concatenated; unused params give zeros."""
    grads = torch.autograd.grad(output, params, create_graph=create_graph, retain_graph=True, allow_unused=True)
    return torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, params)])


def hessian_wrt(loss_fn: Callable[[], Tensor], params: Sequence[Tensor]) -> Tensor:
    """Exact Hessian of ``loss_fn()`` w.r.t. the flattened ``params``, row by row by double backprop.

    R-DARTS ``src/search/analyze.py`` does the same on one fixed val batch. Unlike the official code, no alpha
    weight-decay term is added (the caller adds ``wd * I`` if wanted).

    Args:
        loss_fn: closure computing the scalar loss from the current ``params`` (e.g. L1 on a fixed alpha-split batch).
        params: leaf tensors with ``requires_grad`` (the alphas), ``n`` entries in total.

    Returns:
        ``(n, n)`` detached Hessian, in ``params`` order.
    """
    g = _flat_grad(loss_fn(), params, create_graph=True)
    if not g.requires_grad:  # loss linear in params
        return torch.zeros(g.numel(), g.numel(), dtype=g.dtype, device=g.device)
    return torch.stack([_flat_grad(g[i], params) for i in range(g.numel())]).detach()


def dominant_eigenvalue(hessian: Tensor) -> float:
    """Largest eigenvalue of the symmetrised Hessian ``(H + H^T) / 2`` via ``eigvalsh``.

    deviation: the official code takes ``max(numpy.linalg.eigvals(H))`` of the raw (numerically slightly asymmetric)
    matrix, and its H includes the alpha weight-decay term ``arch_wd * I`` (method notes §7 [I]).
    """
    return torch.linalg.eigvalsh(0.5 * (hessian + hessian.T)).max().item()


def hvp_power_iteration(loss_fn: Callable[[], Tensor], params: Sequence[Tensor], iters: int = 20,
                        generator: torch.Generator | None = None) -> float:
    """Eigenvalue of largest magnitude of the Hessian of ``loss_fn()`` by power iteration on Hessian-vector products.

    For spaces too big for :func:`hessian_wrt`. It converges to the dominant eigenvalue when that one is also the
    largest in magnitude (the usual case near a minimum of L_val); the rate is ``|lambda_2 / lambda_1|`` per step.

    Args:
        loss_fn: closure computing the scalar loss from the current ``params``.
        params: leaf tensors with ``requires_grad``.
        iters: number of Hessian-vector products.
        generator: random source for the start vector.

    Returns:
        Rayleigh quotient ``v^T H v`` of the last iterate (0.0 if H v vanishes).
    """
    grads = torch.autograd.grad(loss_fn(), params, create_graph=True, allow_unused=True)
    pairs = [(g, p) for g, p in zip(grads, params) if g is not None and g.requires_grad]
    if not pairs:
        return 0.0
    gs, ps = [g for g, _ in pairs], [p for _, p in pairs]
    device = generator.device if generator is not None else ps[0].device
    v = [torch.randn(p.shape, generator=generator, dtype=p.dtype, device=device).to(p.device) for p in ps]
    eig = 0.0
    for _ in range(iters):
        norm = torch.sqrt(sum((vi * vi).sum() for vi in v))
        v = [vi / norm for vi in v]
        hv = torch.autograd.grad(gs, ps, grad_outputs=v, retain_graph=True, allow_unused=True)
        hv = [h if h is not None else torch.zeros_like(p) for h, p in zip(hv, ps)]
        eig = sum((h * vi).sum() for h, vi in zip(hv, v)).item()
        if all(not h.any() for h in hv):
            return 0.0
        v = [h.detach() for h in hv]
    return eig


class EarlyStop:
    """DARTS-ES: stop when the local average of the dominant eigenvalue grows too fast (R-DARTS ``EVLocalAvg``).

    ``record(epoch, eigenvalue)`` after each Hessian evaluation (every 2 epochs in R-DARTS). The local average (LA)
    of an evaluation is the mean over a centred window of ``window`` evaluations (truncated at the start), available
    once the window's right half exists, so it lags ``window // 2`` evaluations. The search stops when
    ``LA_now / LA_{delta evaluations earlier} > factor`` and that earlier evaluation's epoch is ``>= start_epoch``;
    :attr:`stop_epoch` is then that earlier epoch, the one to roll back to (DARTS-ES returns its genotype).

    deviation: epochs are the recorded ones, not ``epoch - ev_freq * floor(window / 2)`` arithmetic (identical for
    evenly spaced evaluations); the official last-epoch flush of truncated right windows is not needed here.
    """

    def __init__(self, window: int = 5, delta: int = 4, factor: float = 1.3, start_epoch: int = 10):
        if window < 1 or window % 2 == 0:
            raise ValueError(f"window must be odd and positive, got {window}")
        self.window, self.delta, self.factor, self.start_epoch = window, delta, factor, start_epoch
        self.epochs: list[int] = []
        self.eigenvalues: list[float] = []
        self.stop_epoch: int | None = None

    @property
    def stopped(self) -> bool:
        return self.stop_epoch is not None

    def local_average(self, index: int) -> float:
        """Mean eigenvalue over the centred window around evaluation ``index`` (truncated at the start)."""
        half = self.window // 2
        values = self.eigenvalues[max(0, index - half): index + half + 1]
        return sum(values) / len(values)

    def record(self, epoch: int, eigenvalue: float) -> bool:
        """Add one evaluation; return True once the stop criterion has fired (it stays fired)."""
        if self.epochs and epoch <= self.epochs[-1]:
            raise ValueError(f"epochs must increase: got {epoch} after {self.epochs[-1]}")
        self.epochs.append(int(epoch))
        self.eigenvalues.append(float(eigenvalue))
        now = len(self.eigenvalues) - 1 - self.window // 2  # newest evaluation whose window is complete on the right
        before = now - self.delta
        if not self.stopped and before >= 0 and self.epochs[before] >= self.start_epoch:
            # R-DARTS early_stop: current_la / previous_la > factor
            if self.local_average(now) / self.local_average(before) > self.factor:
                self.stop_epoch = self.epochs[before]
        return self.stopped

    def state_dict(self) -> dict[str, Any]:
        return {"window": self.window, "delta": self.delta, "factor": self.factor, "start_epoch": self.start_epoch,
                "epochs": list(self.epochs), "eigenvalues": list(self.eigenvalues), "stop_epoch": self.stop_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.window, self.delta = int(state["window"]), int(state["delta"])
        self.factor, self.start_epoch = float(state["factor"]), int(state["start_epoch"])
        self.epochs = [int(e) for e in state["epochs"]]
        self.eigenvalues = [float(v) for v in state["eigenvalues"]]
        self.stop_epoch = None if state["stop_epoch"] is None else int(state["stop_epoch"])
