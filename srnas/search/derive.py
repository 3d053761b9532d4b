"""Derivation of a discrete network from architecture logits: pure functions of tensors.

* Ops: per-row argmax of alpha (SA-DARTS Eq. 2; DLSR brief §1.4). Ties go to the lowest column index.
* DLSR paths: the top-2 earlier cells of each cell i >= 3 by its betas (brief §1.4), listed in ascending cell order.
* PC-DARTS edge score ``max_o softmax(alpha)_o * softmax(gamma)_edge`` (method notes §2): gamma scales a whole row, so
  it ranks edges but never changes the chosen op.
"""
from __future__ import annotations

from typing import Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor


def _argmax_first(row: Tensor) -> int:
    # lowest index among the maxima (torch.argmax documents the same, made explicit here)
    return int(torch.nonzero(row == row.max())[0, 0])


def derive_ops(alphas: Tensor, primitives: Sequence[str]) -> list[str]:
    """Per-row argmax of the op logits (SA-DARTS Eq. 2); ties -> the lowest column (primitive order).

    Args:
        alphas: ``(N_e, N_o)`` raw logits (argmax of alpha equals argmax of softmax(alpha)).
        primitives: the ``N_o`` op names in column order.

    Returns:
        ``N_e`` op names.
    """
    if alphas.dim() != 2 or alphas.shape[1] != len(primitives):
        raise ValueError(f"alphas must be (N_e, {len(primitives)}), got {tuple(alphas.shape)}")
    a = alphas.detach()
    return [primitives[_argmax_first(row)] for row in a]


def derive_connections(betas: Sequence[Tensor], k: int = 2) -> list[list[int]]:
    """The top-``k`` earlier cells of each DLSR cell i >= 3 (brief §1.3-1.4).

    ``betas[i - 3]`` has ``i - 1`` entries, one per earlier cell 1..i-1. The chosen cells are returned in ascending
    order (choice: the released DLSR x2 genotype lists them ascending, e.g. B5 <- [2, 4]; the order fixes the layout
    of the derived 1x1 fusion conv's input). Ties go to the lower cell index. A cell with fewer than ``k`` candidates
    keeps all of them.

    Args:
        betas: path logits, sizes 2, 3, ..., num_block - 1.
        k: cells kept per cell (2 in DLSR).

    Returns:
        One list of 1-based cell indices per cell 3..num_block.
    """
    out = []
    for b in betas:
        values = b.detach().flatten().tolist()
        ranked = sorted(range(len(values)), key=lambda j: (-values[j], j))
        out.append(sorted(j + 1 for j in ranked[:k]))
    return out


def edge_scores(alphas: Tensor, gammas: Tensor) -> Tensor:
    """PC-DARTS edge scores ``max_o softmax(alpha_e)_o * softmax(gamma)_e`` (method notes §2; brief §4.2).

    Never raw alpha times raw gamma. The op chosen on an edge stays ``derive_ops(alphas)``: gamma multiplies a whole
    row by one positive number.

    Args:
        alphas: ``(N_e, N_o)`` op logits of the edges entering one node.
        gammas: ``(N_e,)`` edge-normalisation logits of those edges (softmax over the node's incoming edges).

    Returns:
        ``(N_e,)`` scores; a node keeps its top-2 edges.
    """
    if gammas.shape != alphas.shape[:1]:
        raise ValueError(f"gammas must be ({alphas.shape[0]},), got {tuple(gammas.shape)}")
    return (F.softmax(alphas, dim=-1) * F.softmax(gammas, dim=0).unsqueeze(1)).max(dim=1).values


def top2_margin(alphas: Union[Tensor, Sequence[Tensor]]) -> float:
    """``min`` over rows of ``beta_top1 - beta_top2`` with ``beta = softmax(alpha)`` (SA-DARTS Table 1; method notes §6
    analysis 1). A list of tensors (per-block alphas) is taken as their stacked rows."""
    a = alphas if isinstance(alphas, Tensor) else torch.cat([t.reshape(-1, t.shape[-1]) for t in alphas])
    top = F.softmax(a.detach().float(), dim=-1).topk(2, dim=-1).values
    return float((top[:, 0] - top[:, 1]).min())
