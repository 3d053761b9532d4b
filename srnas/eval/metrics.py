"""PSNR and SSIM on the Y channel, the lightweight-SR convention (IMDN, DLSR, SA-DARTS tables).

Y = 16 + 65.481 R + 128.553 G + 24.966 B for RGB in [0, 1] (BT.601, MATLAB ``rgb2ycbcr``), **not rounded**, on
uint8 SR and GT; ``border`` pixels are removed on each side first. The arithmetic is basicsr's ``calculate_psnr`` /
``calculate_ssim`` with ``test_y_channel=True``; those expect **BGR** arrays (BasicSR reads with cv2), so the RGB
arrays of srnas are reversed before the call (otherwise R and B swap coefficients silently).

deviation: IMDN's ``test_IMDN.py`` rounds Y to uint8 and MATLAB evaluation takes a grayscale image's values as Y;
srnas keeps Y unrounded (basicsr) and evaluates grayscale images loaded as 3 equal channels (about 0.01 dB and, on
Set14 ``bridge``, +1.3 dB apart; see ``../shared/data/README.md``).
"""
from __future__ import annotations

import numpy as np
import torch
from basicsr.metrics.psnr_ssim import calculate_psnr, calculate_ssim

from srnas.errors import SrnasError


def _check(sr: np.ndarray, gt: np.ndarray, border: int) -> None:
    if sr.shape != gt.shape:
        raise SrnasError(f"metrics: SR shape {sr.shape} differs from GT shape {gt.shape}")
    if sr.ndim != 3 or sr.shape[2] != 3:
        raise SrnasError(f"metrics: expected RGB (H, W, 3) images, got {sr.shape}")
    if sr.dtype != np.uint8 or gt.dtype != np.uint8:
        raise SrnasError(f"metrics: expected uint8 images, got {sr.dtype} and {gt.dtype}")
    if border < 0 or 2 * border >= min(sr.shape[:2]):
        raise SrnasError(f"metrics: border {border} leaves nothing of a {sr.shape[1]}x{sr.shape[0]} image")


def calculate_psnr_y(sr: np.ndarray, gt: np.ndarray, border: int) -> float:
    """PSNR (dB) on unrounded Y of two uint8 RGB ``(H, W, 3)`` images, ``border`` pixels cropped per side.

    ``10 log10(255^2 / MSE)``; ``inf`` for identical images.
    """
    _check(sr, gt, border)
    return float(calculate_psnr(sr[..., ::-1], gt[..., ::-1], crop_border=border, test_y_channel=True))


def calculate_ssim_y(sr: np.ndarray, gt: np.ndarray, border: int) -> float:
    """SSIM on unrounded Y of two uint8 RGB ``(H, W, 3)`` images, ``border`` pixels cropped per side.

    11x11 Gaussian window (sigma 1.5), valid region, C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2 (Wang et al. 2004;
    same as the MATLAB ``ssim_index``). The image left after the border crop must be at least 11 x 11.
    """
    _check(sr, gt, border)
    if min(sr.shape[:2]) - 2 * border < 11:
        raise SrnasError(f"metrics: SSIM needs at least 11x11 pixels after cropping {border}, got {sr.shape[:2]}")
    return float(calculate_ssim(sr[..., ::-1], gt[..., ::-1], crop_border=border, test_y_channel=True))


def tensor_to_uint8(t: torch.Tensor, rgb_range: float = 1.0) -> np.ndarray:
    """Network output -> uint8 RGB image: clamp to ``[0, rgb_range]``, scale to 255, round, HWC.

    Rounding is ``torch.round`` (half to even, like BasicSR's ``tensor2img`` numpy round); float outputs hit exact
    halves only by accident.

    Args:
        t: ``(3, H, W)`` or ``(1, 3, H, W)`` float tensor in ``[0, rgb_range]``.
        rgb_range: 1 (IMDN, BasicSR) or 255 (EDSR, DLSR).

    Returns:
        uint8 ``(H, W, 3)`` numpy array.
    """
    if t.dim() == 4 and t.shape[0] == 1:
        t = t[0]
    if t.dim() != 3:
        raise SrnasError(f"tensor_to_uint8: expected a (3, H, W) or (1, 3, H, W) tensor, got {tuple(t.shape)}")
    x = t.detach().float().cpu().clamp(0, rgb_range)
    if rgb_range != 255:
        x = x * (255.0 / rgb_range)
    return x.round().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
