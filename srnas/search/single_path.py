"""Single-path weight steps: each candidate trained to work on its own (SPOS, Guo et al. 2020, uniform sampling).

Why (issue 20, measured in ``benchmarks/alpha_gradients.py``): when the weight step trains the softmax mixture, the
candidates of a position co-adapt (each carries a part of the output, and the weights can undo any alpha: the scale
symmetry of ``MixedOp.fix_scale``), so the alpha gradient ``w_o <dL/dy, op_o(x) - y>`` measures how each seed's
division of labour happens to lie, not which candidate is better: seeds disagree. If instead every weight step runs
one candidate per position, drawn uniformly, each candidate ``op_o`` is trained to stand in for the whole position,
``op_o(x) = f + e_o``; at the mixture ``y = f + mean(e)`` the alpha gradient is then, to first order, the difference
between the loss with ``op_o`` alone and the loss of the mixture: the alpha step ranks candidates by their standalone
loss. The alpha step is unchanged (first-order DARTS on the softmax mixture, with its penalties).

deviation: DARTS/SA-DARTS train the weights on the mixture; ``search.weight_paths: uniform`` (off by default, README
"Why the small search did not decide") replaces that in the weight step only. A weight step then runs one candidate per
position instead of all of them.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import Tensor, nn

from srnas.search.mixed_op import MixedOp


@contextmanager
def skip_zero_weights(net: nn.Module) -> Iterator[None]:
    """Within the block, mixed ops evaluate only their candidates of non-zero weight (a one-hot row runs one op)."""
    ops = [m for m in net.modules() if isinstance(m, MixedOp)]
    for m in ops:
        m.skip_zero = True
    try:
        yield
    finally:
        for m in ops:
            m.skip_zero = False


def uniform_paths(shapes: list[tuple[int, int]], generator: torch.Generator, device: torch.device) -> list[Tensor]:
    """One-hot rows, one candidate per position drawn uniformly: ``(N_e, N_o)`` tensors of the given shapes."""
    out = []
    for rows, cols in shapes:
        idx = torch.randint(cols, (rows,), generator=generator)
        out.append(torch.nn.functional.one_hot(idx, cols).float().to(device))
    return out


@dataclass
class SinglePathSampling:
    """Weight-step hook (same call as ``SdartsPerturbation``): every block draws its own one-hot rows."""

    generator: torch.Generator

    def __call__(self, net: nn.Module, batch: dict, mixing: list[Tensor], ctx, hfen_weight: float) -> list[Tensor]:
        return uniform_paths([tuple(w.shape) for w in mixing], self.generator, mixing[0].device)
