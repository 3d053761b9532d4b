"""MATLAB-exact bicubic ``imresize`` for uint8 images (the benchmark LR convention).

MATLAB's ``imresize(uint8_img, scale, 'bicubic')`` resizes one dimension at a time and stores each 1-D pass as
uint8. srnas reproduces it bit for bit (method of ``../shared/data/README.md``, "LR generation"):

1. Keys cubic kernel (a = -0.5); when shrinking, the kernel is widened by ``1/scale`` (antialiasing, width
   ``4/scale``, ``h(x) = scale * cubic(scale * x)``).
2. Output pixel ``x`` (1-based) samples input coordinate ``u = x / scale + 0.5 * (1 - 1 / scale)``; its taps
   ``floor(u - width/2) + 0 .. ceil(width) + 1`` are weighted ``h(u - index)``, normalised to sum 1, mirrored at
   the border (symmetric: the edge pixel is repeated), and tap columns that are zero for every output are dropped.
3. Rows (the vertical dimension) first, then columns; after each pass the float64 sums, accumulated tap by tap in
   order, are rounded half up and clamped to 0..255.

``basicsr.utils.matlab_functions.imresize`` follows steps 1-2 in float32 without the rounding of step 3, and differs
from MATLAB by 1-2 grey levels on ~10-15 % of the pixels; srnas does not use it for LR generation.
"""
from __future__ import annotations

import math

import numpy as np

from srnas.data.transforms import mod_crop
from srnas.errors import SrnasError


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys cubic kernel with a = -0.5, written as MATLAB's ``imresize>cubic``."""
    absx = np.abs(x)
    absx2 = absx * absx
    absx3 = absx2 * absx
    return (1.5 * absx3 - 2.5 * absx2 + 1) * (absx <= 1) + (-0.5 * absx3 + 2.5 * absx2 - 4 * absx + 2) * (
        (1 < absx) & (absx <= 2)
    )


def _contributions(in_len: int, out_len: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Weights and 0-based source indices of one 1-D resize, as MATLAB's ``imresize>contributions``.

    Returns:
        ``(weights, indices)``, both ``(out_len, taps)``; ``weights`` float64 rows sum to 1.
    """
    kernel_width = 4.0
    if scale < 1:  # antialiasing: widen the kernel by 1/scale
        kernel_width = kernel_width / scale

        def h(x: np.ndarray) -> np.ndarray:
            return scale * _cubic(scale * x)
    else:
        h = _cubic
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - kernel_width / 2)
    taps = int(math.ceil(kernel_width)) + 2
    indices = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]  # 1-based, may fall outside
    weights = h(u[:, None] - indices)
    weights = weights / _sum_in_order(weights)[:, None]
    # symmetric padding: aux = [1..in, in..1] (MATLAB), here 0-based
    aux = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    indices = aux[np.mod(indices.astype(np.int64) - 1, 2 * in_len)]
    keep = np.any(weights != 0, axis=0)  # drop tap columns that are zero for every output pixel
    return weights[:, keep], indices[:, keep]


def _sum_in_order(weights: np.ndarray) -> np.ndarray:
    """Row sums accumulated left to right (numpy's pairwise ``sum`` could round differently)."""
    total = np.zeros(weights.shape[0], dtype=np.float64)
    for k in range(weights.shape[1]):
        total += weights[:, k]
    return total


def _round_uint8(x: np.ndarray) -> np.ndarray:
    """Round half up and clamp to 0..255 (MATLAB's uint8 cast of a non-negative double; negatives go to 0)."""
    low = np.floor(x)
    out = low + (x - low >= 0.5)
    return np.clip(out, 0, 255)


def _resize_axis(img: np.ndarray, axis: int, out_len: int, scale: float) -> np.ndarray:
    """One 1-D pass along ``axis`` (0 = rows/vertical, 1 = columns) of a float64 HWC array of uint8 values."""
    weights, indices = _contributions(img.shape[axis], out_len, scale)
    moved = np.moveaxis(img, axis, 0)  # (L, other, C)
    acc = np.zeros((out_len,) + moved.shape[1:], dtype=np.float64)
    extra = (slice(None),) + (None,) * (moved.ndim - 1)
    for k in range(weights.shape[1]):  # accumulate taps in order, as MATLAB does
        acc += weights[:, k][extra] * moved[indices[:, k]]
    return np.moveaxis(_round_uint8(acc), 0, axis)


def imresize_matlab(img: np.ndarray, scale: float, output_shape: tuple[int, int] | None = None) -> np.ndarray:
    """MATLAB ``imresize(img, scale, 'bicubic')`` (antialiasing on) for a uint8 image, bit-exact.

    Args:
        img: uint8 ``(H, W, C)`` or ``(H, W)`` array.
        scale: resize factor, e.g. ``1/2`` to shrink by 2 or ``3`` to enlarge by 3 (same for both dimensions).
        output_shape: ``(H_out, W_out)``; default ``ceil(H * scale), ceil(W * scale)`` (MATLAB), computed after
            rounding ``H * scale`` to 9 decimals so that ``255 * (1/3)`` gives 85, not 86.

    Returns:
        uint8 array of shape ``(H_out, W_out[, C])``.
    """
    if img.dtype != np.uint8:
        raise SrnasError(f"imresize_matlab: expected a uint8 image, got dtype {img.dtype}")
    if img.ndim not in (2, 3):
        raise SrnasError(f"imresize_matlab: expected an HW or HWC image, got shape {img.shape}")
    if not scale > 0:
        raise SrnasError(f"imresize_matlab: scale must be > 0, got {scale}")
    if output_shape is None:
        output_shape = tuple(int(math.ceil(round(n * scale, 9))) for n in img.shape[:2])
    out = img.astype(np.float64)
    # MATLAB orders the dimensions by scale (smallest first); with one scale that is rows, then columns.
    out = _resize_axis(out, 0, output_shape[0], scale)
    out = _resize_axis(out, 1, output_shape[1], scale)
    return out.astype(np.uint8)


def downscale(hr: np.ndarray, scale: int) -> np.ndarray:
    """Benchmark LR of an HR image: ``imresize(modcrop(HR, s), 1/s, 'bicubic')``, bit-exact with MATLAB.

    Args:
        hr: uint8 ``(H, W[, C])``, at least ``scale`` pixels in each dimension.
        scale: integer factor s >= 1.

    Returns:
        uint8 ``(H // s, W // s[, C])``.
    """
    if int(scale) != scale or scale < 1:
        raise SrnasError(f"downscale: scale must be a positive integer, got {scale}")
    scale = int(scale)
    hr = mod_crop(hr, scale)
    if hr.shape[0] == 0 or hr.shape[1] == 0:
        raise SrnasError(f"downscale: image of {hr.shape[:2]} pixels is smaller than the scale {scale}")
    if scale == 1:
        return hr.copy()
    return imresize_matlab(hr, 1 / scale, (hr.shape[0] // scale, hr.shape[1] // scale))


def bicubic_upscale(lr: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB ``imresize(LR, s, 'bicubic')`` (the bicubic baseline), uint8 ``(H, W[, C])`` -> ``(sH, sW[, C])``."""
    if int(scale) != scale or scale < 1:
        raise SrnasError(f"bicubic_upscale: scale must be a positive integer, got {scale}")
    scale = int(scale)
    return imresize_matlab(lr, scale, (lr.shape[0] * scale, lr.shape[1] * scale))
