"""Pixel losses of the search and retraining: L1 (SA-DARTS, IMDN) and DLSR's optional HFEN term."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _log_kernel(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """DLSR ``losses/l1_loss.py`` HFEN filter: 5x5 Gaussian (sigma 1.5) followed by the 3x3 Laplacian, as one 7x7."""
    ax = torch.arange(5, dtype=torch.float64) - 2
    g = torch.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2 * 1.5 ** 2))
    g = g / g.sum()
    lap = torch.tensor([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=torch.float64)
    k = F.conv2d(F.pad(g, (2, 2, 2, 2))[None, None], lap.flip(0, 1)[None, None], padding=1)[0, 0]
    return k.to(device=device, dtype=dtype)


def hfen(sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """High-frequency error norm: L1 between the LoG responses of SR and GT (each divided by its max; DLSR)."""
    c = sr.shape[1]
    k = _log_kernel(sr.device, sr.dtype)[None, None].repeat(c, 1, 1, 1)
    a = F.conv2d(sr, k, padding=3, groups=c)
    b = F.conv2d(gt, k, padding=3, groups=c)
    return F.l1_loss(a / a.abs().max().clamp_min(1e-12), b / b.abs().max().clamp_min(1e-12))


def sr_loss(sr: torch.Tensor, gt: torch.Tensor, hfen_weight: float = 0.0) -> torch.Tensor:
    """``L1(sr, gt) + hfen_weight * HFEN(sr, gt)`` (SA-DARTS: L1 only; DLSR: hfen_weight 0.2)."""
    loss = F.l1_loss(sr, gt)
    return loss + hfen_weight * hfen(sr, gt) if hfen_weight else loss
