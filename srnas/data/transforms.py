"""Array transforms for paired SR data (BasicSR ``basicsr/data/transforms.py``, numpy HWC uint8, RGB).

All functions take an explicit ``np.random.Generator`` so that the caller owns the randomness.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from srnas.errors import SrnasError


def mod_crop(img: np.ndarray, scale: int) -> np.ndarray:
    """Top-left crop of an ``(H, W[, C])`` image to ``H - H % scale, W - W % scale`` (a view, not a copy)."""
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale, ...]


def paired_random_crop(
    lq: np.ndarray, gt: np.ndarray, lq_patch: int, scale: int, rng: np.random.Generator, name: str = "image"
) -> tuple[np.ndarray, np.ndarray]:
    """Aligned random patches: LQ ``lq_patch`` square at ``(top, left)``, GT ``lq_patch * s`` at ``(top*s, left*s)``.

    Args:
        lq: ``(h, w, C)`` low-quality image.
        gt: ``(h*s, w*s, C)`` ground truth (already cropped to the LQ size times ``scale``).
        lq_patch: LQ patch side in pixels.
        scale: SR factor s.
        rng: source of the crop position.
        name: file name used in error messages.

    Returns:
        ``(lq_patch_array, gt_patch_array)``, views into the inputs.
    """
    h, w = lq.shape[:2]
    if gt.shape[0] != h * scale or gt.shape[1] != w * scale:  # BasicSR paired_random_crop check
        raise SrnasError(f"{name}: GT {gt.shape[1]}x{gt.shape[0]} is not {scale}x the LQ {w}x{h} (W x H)")
    if h < lq_patch or w < lq_patch:
        raise SrnasError(
            f"{name}: {gt.shape[1]}x{gt.shape[0]} (W x H) is smaller than the GT patch {lq_patch * scale} "
            f"(LQ {w}x{h} < {lq_patch})"
        )
    top = int(rng.integers(0, h - lq_patch + 1))
    left = int(rng.integers(0, w - lq_patch + 1))
    gp = lq_patch * scale
    return (
        lq[top : top + lq_patch, left : left + lq_patch, ...],
        gt[top * scale : top * scale + gp, left * scale : left * scale + gp, ...],
    )


def augment(
    imgs: Sequence[np.ndarray], hflip: bool = True, rot: bool = True, rng: np.random.Generator | None = None
) -> list[np.ndarray]:
    """The same random flip / rotation on every image (BasicSR ``augment``; EDSR/IMDN use the same 8 variants).

    Horizontal flip (if ``hflip``), vertical flip and transpose (if ``rot``), each with probability 1/2; with both
    enabled the result is one of the 8 dihedral transforms of the square, uniformly.

    Args:
        imgs: ``(H, W[, C])`` arrays (LQ and GT patches).
        hflip: allow the horizontal flip.
        rot: allow the vertical flip and the transpose (together: rotations by 90, 180, 270 degrees).
        rng: source of the three coin flips (required when either option is on).

    Returns:
        list of contiguous arrays, in the order given.
    """
    if (hflip or rot) and rng is None:
        raise SrnasError("augment: rng is required when hflip or rot is on")
    do_h = hflip and bool(rng.random() < 0.5)
    do_v = rot and bool(rng.random() < 0.5)
    do_t = rot and bool(rng.random() < 0.5)
    out = []
    for img in imgs:
        if do_h:
            img = img[:, ::-1, ...]
        if do_v:
            img = img[::-1, :, ...]
        if do_t:
            img = img.swapaxes(0, 1)
        out.append(np.ascontiguousarray(img))
    return out


def img2tensor(img: np.ndarray, rgb_range: float = 1.0) -> torch.Tensor:
    """uint8 ``(H, W, C)`` (or ``(H, W)``) -> float32 ``(C, H, W)`` in ``[0, rgb_range]`` (``x / 255 * rgb_range``)."""
    if img.ndim == 2:
        img = img[:, :, None]
    t = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float().div_(255.0)
    if rgb_range != 1:
        t.mul_(rgb_range)
    return t
